"""The models that add a term to the VAE's or the autoencoder's cost: wae, info-vae (MMD), rae (penalties), beta-tcvae
(total correlation), dip-vae (covariance), factor-vae and aae (a discriminator's terms)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import genmodels
from genmodels.components import MaximumMeanDiscrepancy, StandardNormalPrior
from genmodels.interfaces import ForwardPass


def mmd_of(codings, seed=0):
    z = keras.ops.convert_to_tensor(codings.astype(np.float32))
    forward = ForwardPass(
        x=None,
        posterior=None,
        z=z,
        likelihood=None,
        prior=StandardNormalPrior(codings.shape[1]),
        seed=keras.random.SeedGenerator(seed),
    )
    values = np.asarray(MaximumMeanDiscrepancy()(forward))
    assert values.shape == (len(codings),) and np.all(values == values[0])  # the batch's estimate, to every image
    return float(values[0])


def test_the_mmd_is_near_zero_for_draws_of_the_prior_and_grows_with_the_distance_from_it():
    rng = np.random.default_rng(0)
    same = mmd_of(rng.standard_normal((400, 4)))
    near, far = mmd_of(rng.standard_normal((400, 4)) + 0.5), mmd_of(rng.standard_normal((400, 4)) + 3.0)
    assert abs(same) < 0.02 < near < far
    assert mmd_of(0.1 * rng.standard_normal((400, 4))) > near  # too narrow is far from N(0, I) too


def test_the_total_correlation_is_larger_for_dependent_codings_than_for_independent_ones():
    from genmodels.distributions import DiagonalGaussian
    from genmodels_plugins.beta_tcvae import BetaTCVAEConfig, build

    model = build(BetaTCVAEConfig(latent_dim=2, hidden=(8,)).fitted_to((28, 28, 1), "binary", "test"))
    tc = next(term for term in model.loss_terms if term.name == "tc")
    assert tc.auxiliary and tc.weight == pytest.approx(5.0)  # beta - 1, on top of the KL's own share
    rng = np.random.default_rng(0)

    def estimate(loc):
        posterior = DiagonalGaussian(loc.astype(np.float32), np.full(loc.shape, np.log(0.01), np.float32))
        z = posterior.sample(keras.random.SeedGenerator(0))
        return float(np.mean(tc(ForwardPass(x=None, posterior=posterior, z=z, likelihood=None, prior=None))))

    independent = rng.standard_normal((500, 2))
    dependent = np.repeat(rng.standard_normal((500, 1)), 2, axis=1)  # both dimensions the same factor
    assert abs(estimate(independent)) < 0.3 < 1.0 < estimate(dependent)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "objective", "auxiliary", "options"),
    [
        ("wae", ("reconstruction", "mmd"), (), {}),
        ("info-vae", ("reconstruction", "kl"), ("mmd",), {}),
        ("rae", ("reconstruction", "coding"), ("decay",), {}),
        ("dip-vae", ("reconstruction", "kl"), ("dip",), {}),
        ("factor-vae", ("reconstruction", "kl"), ("tc", "discriminator"), {"critic_hidden": (16,)}),
        ("aae", ("reconstruction",), ("adversarial", "discriminator"), {"critic_hidden": (16,)}),
    ],
)
def test_each_model_trains_reports_its_terms_and_selects_on_its_objective(
    model, objective, auxiliary, options, tiny_npz, tmp_path
):
    run = genmodels.train(
        model, dataset=str(tiny_npz), run_dir=tmp_path / model, epochs=2, hidden=(32,), verbose=0, **options
    )
    for record in run.history:
        valid = record["valid"]
        assert set(valid) == {"loss", *objective, *auxiliary}
        assert valid["loss"] == pytest.approx(sum(valid[name] for name in objective), rel=1e-5)
    best = min(run.history, key=lambda record: record["valid"]["loss"])["epoch"]
    assert run.epoch == best
    images = run.sample(8, seed=0)
    assert images.shape == (8, 28, 28, 1) and np.all((images >= 0) & (images <= 1))


def test_the_dip_penalty_is_near_zero_for_codings_of_identity_covariance_and_grows_with_their_correlation():
    from genmodels.distributions import DiagonalGaussian
    from genmodels_plugins.dip_vae import DIPVAEConfig, build

    model = build(DIPVAEConfig(latent_dim=3, hidden=(8,)).fitted_to((28, 28, 1), "binary", "test"))
    dip = next(term for term in model.loss_terms if term.name == "dip")
    assert dip.auxiliary
    rng = np.random.default_rng(1)

    def penalty(loc):
        posterior = DiagonalGaussian(loc.astype(np.float32), np.zeros(loc.shape, np.float32))
        values = np.asarray(dip(ForwardPass(x=None, posterior=posterior, z=None, likelihood=None, prior=None)))
        assert np.all(values == values[0])  # the batch's penalty, to every image
        return float(values[0])

    independent = rng.standard_normal((4000, 3))
    correlated = independent @ np.array([[1.0, 0.9, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert penalty(independent) < 1.0 < 10.0 < penalty(correlated)


def test_the_factor_vae_critic_tells_the_codings_from_each_dimension_shuffled_on_its_own():
    import tensorflow as tf

    from genmodels_plugins.factor_vae import FactorVAEConfig, build

    model = build(FactorVAEConfig(latent_dim=4, hidden=(8,), critic_hidden=(8,)).fitted_to((28, 28, 1), "binary", "t"))
    critic = model.critics[0]
    z = tf.constant(np.arange(400, dtype=np.float32).reshape(100, 4))
    forward = ForwardPass(x=None, posterior=None, z=z, likelihood=None, prior=None, seed=keras.random.SeedGenerator(0))
    real, fake = np.asarray(critic.real(forward)), np.asarray(critic.fake(forward))
    np.testing.assert_array_equal(real, z)
    for d in range(4):  # every column a permutation of its own values
        np.testing.assert_array_equal(np.sort(fake[:, d]), np.asarray(z)[:, d])
    rows = (fake // 4).astype(int)  # which image each value came from, column by column
    assert not np.all(rows == rows[:, :1])  # the columns were shuffled apart, not rows moved whole
    tc = next(term for term in model.loss_terms if term.name == "tc")
    np.testing.assert_allclose(tc(forward), critic.logit(z), rtol=1e-6)  # the total correlation's estimate
