"""The probability maths of the VAE, checked against independent numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from genmodels.nn.losses import KLDivergence, Reconstruction
from genmodels.nn.priors import FittedGaussianPrior, StandardNormalPrior
from genmodels.nn.distributions import Bernoulli, DiagonalGaussian
from genmodels.nn.interfaces import ForwardPass, LatentPrior

RNG = np.random.default_rng(0)


def normal_log_density(z, mean, log_var):
    """log N(z; mean, diag(exp(log_var))) summed over the last axis, in float64."""
    return np.sum(-0.5 * (np.log(2 * np.pi) + log_var + (z - mean) ** 2 / np.exp(log_var)), axis=-1)


def test_gaussian_log_density_matches_the_formula():
    mean, log_var, z = RNG.normal(size=(3, 4, 5))
    ours = DiagonalGaussian(tf.constant(mean, tf.float32), tf.constant(log_var, tf.float32)).log_prob(
        tf.constant(z, tf.float32)
    )
    np.testing.assert_allclose(ours, normal_log_density(z, mean, log_var), rtol=1e-5, atol=1e-4)


def test_closed_form_kl_agrees_with_a_monte_carlo_estimate():
    mean = RNG.normal(size=(4, 6)) * 1.5
    log_var = RNG.normal(size=(4, 6))
    samples = 400_000
    eps = RNG.standard_normal((samples, 4, 6))
    z = mean + np.exp(log_var / 2) * eps
    log_ratio = normal_log_density(z, mean, log_var) - normal_log_density(z, 0.0, 0.0)
    estimate, stderr = log_ratio.mean(axis=0), log_ratio.std(axis=0) / np.sqrt(samples)
    closed = DiagonalGaussian(tf.constant(mean, tf.float32), tf.constant(log_var, tf.float32)).kl_to_standard_normal()
    assert np.all(np.abs(np.asarray(closed) - estimate) < 5 * stderr + 1e-3)
    # and the closed form is exactly 0.5 * sum(exp(g) + m^2 - 1 - g)
    np.testing.assert_allclose(closed, 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=-1), rtol=1e-5)


def test_the_kl_loss_term_uses_the_closed_form_and_the_default_prior_kl_estimates_it():
    mean = tf.constant(RNG.normal(size=(2, 3)), tf.float32)
    log_var = tf.constant(RNG.normal(size=(2, 3)) * 0.3, tf.float32)
    posterior = DiagonalGaussian(mean, log_var)
    closed = posterior.kl_to_standard_normal()
    z = posterior.sample(seed=1)
    forward = ForwardPass(x=None, posterior=posterior, z=z, likelihood=None, prior=StandardNormalPrior(3))
    np.testing.assert_allclose(KLDivergence()(forward), closed, rtol=1e-6)

    class SameButNoClosedForm(LatentPrior):
        def log_prob(self, z):
            return StandardNormalPrior(self.latent_dim).log_prob(z)

    prior = SameButNoClosedForm(3)
    tiled = DiagonalGaussian(tf.tile(mean, [50_000, 1]), tf.tile(log_var, [50_000, 1]))
    estimates = prior.kl(tiled, tiled.sample(seed=2)).numpy().reshape(50_000, 2)
    np.testing.assert_allclose(estimates.mean(axis=0), closed, atol=0.05)


@pytest.mark.parametrize("binary", [True, False])
def test_reconstruction_loss_is_the_summed_sigmoid_cross_entropy(binary):
    logits = RNG.normal(size=(5, 784)) * 8
    logits[0, :3] = [60.0, -60.0, 0.0]  # extreme logits stay finite
    x = (RNG.random((5, 784)) < 0.3).astype(float) if binary else RNG.random((5, 784))
    expected = np.sum(x * np.logaddexp(0, -logits) + (1 - x) * np.logaddexp(0, logits), axis=-1)
    likelihood = Bernoulli(tf.constant(logits, tf.float32))
    forward = ForwardPass(x=tf.constant(x, tf.float32), posterior=None, z=None, likelihood=likelihood, prior=None)
    np.testing.assert_allclose(Reconstruction()(forward), expected, rtol=1e-5)


@pytest.mark.parametrize("shape", [(6, 784), (4, 13), (2, 3, 9)], ids=["mnist", "odd-pixels", "rank-3"])
def test_inside_a_graph_the_bernoulli_likelihood_is_the_fused_kernel_with_the_same_values_and_gradient(shape):
    logits = RNG.normal(size=shape) * 8
    logits.reshape(-1)[:4] = [90.0, -90.0, 0.0, 17.0]  # factors of exactly 1 and 2 stay exact
    x = (RNG.random(shape) < 0.4).astype(float)
    expected = -np.sum(x * np.logaddexp(0, -logits) + (1 - x) * np.logaddexp(0, logits), axis=-1)
    logits_t, x_t = tf.constant(logits, tf.float32), tf.constant(x, tf.float32)

    @tf.function
    def in_a_graph(logits, x):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            log_prob = Bernoulli(logits).log_prob(x)
            total = tf.reduce_sum(log_prob * 2.0)
        return log_prob, tape.gradient(total, logits)

    log_prob, gradient = in_a_graph(logits_t, x_t)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-6, atol=1e-6 * shape[-1])
    np.testing.assert_allclose(gradient, 2.0 * (x - 1 / (1 + np.exp(-logits))), atol=1e-6)
    graph = in_a_graph.get_concrete_function(logits_t, x_t).graph
    assert not any(op.type in ("Log1p", "Softplus") for op in graph.get_operations())  # not the eager ops
    np.testing.assert_allclose(
        Bernoulli(logits_t).log_prob(x_t), log_prob, rtol=1e-6
    )  # eagerly: the plain ops, same values


def test_gradients_reach_mean_and_log_variance_through_the_reparameterisation():
    mean = tf.Variable(RNG.normal(size=(3, 4)), dtype=tf.float32)
    log_var = tf.Variable(RNG.normal(size=(3, 4)), dtype=tf.float32)
    with tf.GradientTape() as tape:
        z = DiagonalGaussian(mean, log_var).sample(seed=7)
        total = tf.reduce_sum(z)
    d_mean, d_log_var = tape.gradient(total, [mean, log_var])
    eps = (z - mean) / tf.exp(log_var / 2)
    np.testing.assert_allclose(d_mean, np.ones((3, 4)))  # dz/dmu = 1
    np.testing.assert_allclose(d_log_var, 0.5 * np.exp(log_var.numpy() / 2) * eps.numpy(), rtol=1e-5)  # dz/dgamma
    assert np.all(np.abs(d_log_var) > 0)


def test_samples_of_a_gaussian_have_its_mean_and_variance():
    mean = tf.fill((100_000, 2), 3.0)
    log_var = tf.fill((100_000, 2), np.log(0.25).astype(np.float32))
    z = DiagonalGaussian(mean, log_var).sample(seed=3).numpy()
    np.testing.assert_allclose(z.mean(axis=0), [3.0, 3.0], atol=0.01)
    np.testing.assert_allclose(z.var(axis=0), [0.25, 0.25], rtol=0.02)


def test_a_fitted_prior_takes_the_mean_and_variance_of_the_codings():
    codings = RNG.normal(loc=[1.0, -2.0], scale=[0.5, 3.0], size=(2000, 2)).astype(np.float32)
    prior = FittedGaussianPrior(2)
    prior.build(None)
    prior.adapt(codings)
    np.testing.assert_allclose(prior.loc.numpy(), codings.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.exp(prior.log_var.numpy()), codings.var(axis=0), rtol=1e-4)
    draws = prior.sample(20_000, seed=0).numpy()
    np.testing.assert_allclose(draws.std(axis=0), codings.std(axis=0), rtol=0.05)
