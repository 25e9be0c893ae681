"""Flow posteriors: planar and inverse autoregressive steps, and the density a flow keeps at its own codings."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from genmodels.components import AutoregressiveStep, FlowPosterior, PlanarStep, StandardNormalPrior
from genmodels.distributions import DiagonalGaussian

DIM = 5
RNG = np.random.default_rng(0)


def jacobian_log_det(step, z, context):
    with tf.GradientTape() as tape:
        tape.watch(z)
        out, log_det = step(z, context)
    jacobian = tape.batch_jacobian(out, z).numpy()
    return jacobian, np.linalg.slogdet(jacobian)[1], log_det.numpy()


def planar():
    return PlanarStep(DIM, amortized=True), RNG.normal(size=(4, 2 * DIM + 1)).astype(np.float32)


def global_planar():
    step = PlanarStep(DIM)
    step(tf.zeros((4, DIM)))
    for variable in step.trainable_variables:
        variable.assign(RNG.normal(size=variable.shape).astype(np.float32))
    return step, None


def autoregressive(reverse):
    step = AutoregressiveStep(DIM, 7, (16, 16), reverse=reverse, gate_bias=0.0)
    context = RNG.normal(size=(4, 7)).astype(np.float32)
    step(tf.zeros((4, DIM)), context)
    for variable in step.trainable_variables:  # far from the identity it starts near
        variable.assign(0.5 * RNG.normal(size=variable.shape).astype(np.float32))
    return step, context


@pytest.mark.parametrize("make", [planar, global_planar, lambda: autoregressive(False), lambda: autoregressive(True)])
def test_each_step_reports_the_log_determinant_of_its_jacobian(make):
    step, context = make()
    z = tf.constant(RNG.normal(size=(4, DIM)).astype(np.float32))
    _, exact, reported = jacobian_log_det(step, z, context)
    np.testing.assert_allclose(reported, exact, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("reverse", [False, True])
def test_an_inverse_autoregressive_step_moves_each_dimension_by_the_ones_before_it_in_its_order(reverse):
    step, context = autoregressive(reverse)
    jacobian, _, _ = jacobian_log_det(step, tf.constant(RNG.normal(size=(4, DIM)).astype(np.float32)), context)
    later = np.triu(jacobian[0], 1) if not reverse else np.tril(jacobian[0], -1)  # d out_i / d z_j, j after i
    assert np.allclose(later, 0.0) and not np.allclose(jacobian[0], np.diag(np.diag(jacobian[0])))


def flow_posterior(steps, contexts, rows=4):
    base = DiagonalGaussian(RNG.normal(size=(rows, DIM)).astype(np.float32), np.full((rows, DIM), -1.0, np.float32))
    return FlowPosterior(base, steps, contexts)


def test_a_flow_posterior_knows_its_density_at_its_draws_and_mean_and_nowhere_else():
    step, context = planar()
    posterior = flow_posterior([step, step], [context, context[::-1]])
    seed = keras.random.SeedGenerator(1)
    z = posterior.sample(seed)
    z0 = posterior.base.sample(keras.random.SeedGenerator(1))  # the same base draw, pushed by hand
    first, log_det1 = step(z0, context)
    second, log_det2 = step(first, context[::-1])
    np.testing.assert_allclose(z, second, rtol=1e-5, atol=1e-6)
    expected = posterior.base.log_prob(z0) - log_det1 - log_det2
    np.testing.assert_allclose(posterior.log_prob(z), expected, rtol=1e-5, atol=1e-5)
    assert np.isfinite(posterior.log_prob(posterior.mean())).all()
    with pytest.raises(NotImplementedError, match="only at the codings it produced"):
        posterior.log_prob(tf.identity(z))


def test_a_repeated_flow_posterior_draws_each_images_coding_from_that_images_flow():
    step, context = planar()
    posterior = flow_posterior([step], [context])
    repeated = posterior.repeat(3)
    np.testing.assert_allclose(repeated.mean()[4:8], posterior.mean(), rtol=1e-6)
    z = repeated.sample(keras.random.SeedGenerator(2))
    assert z.shape == (12, DIM) and repeated.log_prob(z).shape == (12,)


def test_through_identity_steps_the_kl_estimate_averages_to_the_gaussians_closed_form():
    identity = np.zeros((4, 2 * DIM + 1), np.float32)  # u = w = 0: f(z) = z, log det 0
    posterior = flow_posterior([PlanarStep(DIM, amortized=True)] * 3, [identity] * 3).repeat(4000)
    prior = StandardNormalPrior(DIM)
    z = posterior.sample(keras.random.SeedGenerator(3))
    estimate = np.reshape(np.asarray(prior.kl(posterior, z)), (4000, 4)).mean(axis=0)
    closed = np.asarray(posterior.base.kl_to_standard_normal())[:4]
    np.testing.assert_allclose(estimate, closed, atol=0.15)


def test_a_two_layer_posterior_with_a_flow_over_z1_knows_its_density_at_its_own_codings_only():
    from genmodels.components import FlowMLPEncoder, GaussianMLPEncoder, TwoLayerEncoder

    keras.utils.set_random_seed(0)
    bottom = FlowMLPEncoder(
        3, [AutoregressiveStep(3, 4, (8,)), AutoregressiveStep(3, 4, (8,), reverse=True)], hidden=(8,)
    )
    encoder = TwoLayerEncoder(top=GaussianMLPEncoder(2, hidden=(8,)), bottom=bottom, input_dim=6)
    x = tf.constant(np.random.default_rng(0).random((5, 6)), tf.float32)
    posterior = encoder(x)
    z = posterior.sample(keras.random.SeedGenerator(1))
    z1, z2 = z[:, :3], z[:, 3:]
    top = encoder.top(x)
    # z1's flow density is that of the very q(z1 | x, z2) that drew it: the base density less the log-dets
    lower = posterior._known[-1][1]
    np.testing.assert_allclose(
        posterior.log_prob(z), top.log_prob(z2) + lower.log_prob(posterior._known[-1][2]), rtol=1e-6
    )
    assert np.all(np.isfinite(posterior.log_prob(posterior.mean())))
    with pytest.raises(NotImplementedError):  # another tensor, even of equal values: the flow cannot invert it
        posterior.log_prob(tf.identity(z) + 0.0 * z1[:, :1])


@pytest.mark.slow
def test_hvae_with_a_flow_over_z1_trains_and_its_likelihood_estimate_lies_above_its_bound(tiny_npz, tmp_path):
    import genmodels

    run = genmodels.train(
        "hvae",
        dataset=str(tiny_npz),
        run_dir=tmp_path / "run",
        epochs=2,
        hidden=(16,),
        latent_dim=3,
        top_dim=2,
        components=3,
        flows=2,
        made_hidden=(8,),
        context=4,
        epoch_images=0,
        verbose=0,
    )
    figures = run.evaluate(metrics=("nll",), n=40, k=64)
    assert np.isfinite(figures["nll"]) and figures["nll"] <= figures["negative_elbo"] + 1e-3
    assert run.sample(4, seed=0).shape == (4, 28, 28, 1)
