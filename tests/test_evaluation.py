"""The importance-weighted likelihood estimator against exact answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from keras import ops

from genmodels.nn.components import BernoulliMLPDecoder, DeterministicMLPEncoder
from genmodels.nn.losses import Reconstruction
from genmodels.nn.priors import FittedGaussianPrior, StandardNormalPrior
from genmodels.nn.distributions import Bernoulli, DiagonalGaussian
from genmodels.evaluation.likelihood import ImportanceSampler, evaluate
from genmodels.nn.interfaces import Decoder, Encoder
from genmodels.nn.model import GenerativeModel

SLOPES = np.array([2.0, -1.5, 0.7, 3.0])
OFFSETS = np.array([0.5, 0.0, -1.0, -0.3])
PATTERNS = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float32)


class FixedGaussianEncoder(Encoder):
    """q(z|x) = N(0.3, 0.6) whatever x: a deliberately poor posterior, so the ELBO is loose."""

    def call(self, x, training=False):
        n = ops.shape(x)[0]
        return DiagonalGaussian(ops.full((n, 1), 0.3), ops.full((n, 1), math.log(0.6)))


class LinearBernoulliDecoder(Decoder):
    """p(x_i|z) = Bernoulli(sigmoid(a_i z + b_i)), four pixels, one latent dimension."""

    def call(self, z, training=False):
        return Bernoulli(z * ops.convert_to_tensor(SLOPES, "float32") + ops.convert_to_tensor(OFFSETS, "float32"))


def exact_log_likelihood(x: np.ndarray) -> np.ndarray:
    """log p(x) = log of the integral of N(z; 0, 1) prod_i p(x_i|z) dz, by quadrature in float64."""
    z = np.linspace(-12, 12, 48001)
    logits = z[:, None] * SLOPES + OFFSETS
    log_lik = -(x[:, None, :] * np.logaddexp(0, -logits) + (1 - x[:, None, :]) * np.logaddexp(0, logits)).sum(-1)
    log_integrand = log_lik - 0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    peak = log_integrand.max(axis=1, keepdims=True)
    return np.log(np.trapezoid(np.exp(log_integrand - peak), z, axis=1)) + peak[:, 0]


@pytest.fixture(scope="module")
def toy_model():
    return GenerativeModel(FixedGaussianEncoder(), LinearBernoulliDecoder(), StandardNormalPrior(1), [Reconstruction()])


@pytest.mark.slow
def test_the_estimate_converges_to_the_exact_log_likelihood_as_k_grows(toy_model):
    exact = exact_log_likelihood(PATTERNS.astype(np.float64))
    errors = {}
    for k in (1, 10, 100, 20_000):
        runs = [
            ImportanceSampler(toy_model, k, seed=s, samples_per_step=4000).log_likelihood(PATTERNS)[0] for s in range(5)
        ]
        errors[k] = np.abs(np.mean(runs, axis=0) - exact).mean()
    assert errors[20_000] < 0.01
    assert errors[1] > errors[10] > errors[100] > errors[20_000]


def test_the_one_sample_estimate_is_the_elbo_and_lies_below_the_log_likelihood(toy_model):
    exact = exact_log_likelihood(PATTERNS.astype(np.float64))
    log_px, mean_log_w = ImportanceSampler(toy_model, 50_000, seed=0).log_likelihood(PATTERNS)
    assert np.all(mean_log_w < exact - 0.05)  # Jensen: E[log w] <= log E[w], strictly for a poor q
    np.testing.assert_allclose(log_px, exact, atol=0.01)


def test_chunking_does_not_change_the_estimate(toy_model):
    whole = ImportanceSampler(toy_model, 3000, seed=4, samples_per_step=10**6).log_likelihood(PATTERNS)[0]
    chunked = ImportanceSampler(toy_model, 3000, seed=4, samples_per_step=700).log_likelihood(PATTERNS)[0]
    np.testing.assert_allclose(whole, chunked, atol=0.05)


def test_a_deterministic_encoder_reports_its_loss_and_why_the_likelihood_is_undefined():
    model = GenerativeModel(
        DeterministicMLPEncoder(2, hidden=(8,)),
        BernoulliMLPDecoder(4, hidden=(8,)),
        FittedGaussianPrior(2),
        [Reconstruction()],
    )
    model.build_for(4)
    result = evaluate(model, PATTERNS, model_name="ae", split="test", k=10)
    assert result.nll is None and result.negative_elbo is None
    assert "point mass with no density" in result.note
    assert set(result.terms) == {"loss", "reconstruction"} and result.terms["loss"] > 0


def test_k_below_one_is_refused(toy_model):
    with pytest.raises(ValueError, match="k must be at least 1, received 0"):
        ImportanceSampler(toy_model, 0)
