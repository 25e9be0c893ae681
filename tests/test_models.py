"""Model variants that change one part: weighted and warmed-up loss terms (beta-VAE), dynamic binarization."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import random_binary_images, run_main
from keras import ops

from genmodels.nn.components import mlp_vae
from genmodels.nn.losses import KLDivergence, Reconstruction
from genmodels.core.model_config import MLPConfig
from genmodels.core.train_config import TrainConfig
from genmodels.data.dataset import Dataset
from genmodels.core.errors import ConfigError
from genmodels.nn.interfaces import Loss
from genmodels.specs import ModelSpec
from genmodels.training.loops import StepLoop
from genmodels.plugins.loader import build_registry
from genmodels.training.trainer import train
from genmodels.training.epochs import _pixel_draws, learning_rate_at

SMALL = MLPConfig(latent_dim=4, hidden=(16,), input_dim=784)


def _compiled(model):
    model.build_for(784)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    return model


def test_a_terms_weight_scales_it_in_the_cost_only():
    model = _compiled(mlp_vae(SMALL, losses=[Reconstruction(), KLDivergence(weight=4.0)]))
    terms = model.loss_terms_of(random_binary_images(8).astype(np.float32))
    reconstruction, kl = (float(np.mean(terms[name])) for name in ("reconstruction", "kl"))
    assert float(model._cost(terms)) == pytest.approx(reconstruction + 4.0 * kl, rel=1e-5)
    record = model._record(terms)
    assert float(record["loss"]) == pytest.approx(reconstruction + kl, rel=1e-5)  # the unweighted -ELBO


@pytest.mark.parametrize("step, factor", [(0, 0.1), (4, 0.5), (9, 1.0), (50, 1.0)])
def test_kl_warmup_raises_the_kl_weight_linearly_over_its_steps(step, factor):
    model = _compiled(mlp_vae(SMALL, losses=[Reconstruction(), KLDivergence(weight=2.0)]))
    model.warm_up_over(10)
    model.optimizer.iterations.assign(step)
    terms = model.loss_terms_of(random_binary_images(8).astype(np.float32))
    reconstruction, kl = (float(np.mean(terms[name])) for name in ("reconstruction", "kl"))
    assert float(model._cost(terms)) == pytest.approx(reconstruction + 2.0 * factor * kl, rel=1e-5)


def test_a_cosine_schedule_falls_from_the_learning_rate_towards_zero_over_the_epochs():
    recipe = TrainConfig(epochs=10, learning_rate=2e-3, lr_schedule="cosine")
    rates = [learning_rate_at(recipe, epoch) for epoch in range(1, 11)]
    assert rates[0] == pytest.approx(2e-3) and rates[5] == pytest.approx(1e-3)  # epoch 6 of 10 is half way
    assert all(later < earlier for earlier, later in zip(rates, rates[1:])) and 0 < rates[-1] < 1e-4
    assert {learning_rate_at(recipe.replace(lr_schedule="constant"), epoch) for epoch in (1, 5, 10)} == {2e-3}
    with pytest.raises(ConfigError, match="lr_schedule"):
        recipe.replace(lr_schedule="linear")


@pytest.mark.slow
def test_the_steps_train_at_the_schedules_rate_and_each_epoch_records_it(tmp_path):
    spec = build_registry().model("vae")
    images = random_binary_images(400, seed=5)
    data = Dataset(name="synthetic", train=images[:300], test=images[300:])
    runs = {
        schedule: train(
            spec,
            spec.config(latent_dim=4, hidden=(32,)),
            TrainConfig(epochs=3, batch_size=100, lr_schedule=schedule, keep="last"),
            data,
            tmp_path / schedule,
            verbose=0,
        )
        for schedule in ("constant", "cosine")
    }
    assert [record["learning_rate"] for record in runs["cosine"].history] == pytest.approx([1e-3, 7.5e-4, 2.5e-4])
    assert [record["learning_rate"] for record in runs["constant"].history] == pytest.approx([1e-3] * 3)
    assert float(runs["cosine"].model.optimizer.learning_rate) == pytest.approx(2.5e-4)
    constant, cosine = ([record["valid"]["loss"] for record in runs[name].history] for name in ("constant", "cosine"))
    assert constant[0] == cosine[0] and constant[1] != cosine[1]  # the same first epoch, then smaller steps


def test_beta_vae_is_registered_like_a_third_party_plugin_and_checks_beta():
    spec = build_registry().model("beta-vae")
    assert spec.plugin == "beta-vae" and spec.config().beta == 4.0
    model = spec.build(spec.config().replace(beta=0.5, latent_dim=3, hidden=(8,)))
    assert [(term.name, term.weight) for term in model.loss_terms] == [("reconstruction", 1.0), ("kl", 0.5)]
    with pytest.raises(ConfigError, match="beta must be positive, received 0.0"):
        spec.config().replace(beta=0)


@pytest.mark.slow
def test_a_beta_vae_run_reports_the_unweighted_elbo_and_reloads(tmp_path):
    spec = build_registry().model("beta-vae")
    images = random_binary_images(400, seed=3)
    data = Dataset(name="synthetic", train=images[:300], test=images[300:])
    result = train(
        spec,
        spec.config(latent_dim=4, hidden=(32,), beta=8.0),
        TrainConfig(epochs=2, batch_size=100, kl_warmup=1),
        data,
        tmp_path / "run",
        verbose=0,
    )
    test = result.final["valid"]
    assert test["loss"] == pytest.approx(test["reconstruction"] + test["kl"], rel=1e-5)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["model_config"]["beta"] == 8.0 and stored["train"]["kl_warmup"] == 1


def test_dynamic_binarization_draws_fresh_binary_pixels_with_the_grey_as_probability():
    greys = np.full((400, 784), 0.3, np.float32)
    probe = lambda x: {"binary": tf.reduce_all((x == 0) | (x == 1)), "mean": tf.reduce_mean(x)}  # noqa: E731
    loop = StepLoop(
        lambda x: {k: tf.cast(v, tf.float32) for k, v in probe(x).items()},
        ["binary", "mean"],
        greys,
        transform=_pixel_draws(keras.random.SeedGenerator(0)),
    )
    first, second = (np.concatenate(list(loop.run(np.arange(400), batch_size=100))) for _ in range(2))
    assert first[:, 0].all() and second[:, 0].all()
    assert np.allclose(first[:, 1], 0.3, atol=0.01)
    assert not np.array_equal(first[:, 1], second[:, 1])  # drawn anew at every pass


def test_dynamic_binarization_fixes_the_test_set_by_the_seed(tmp_path):
    from genmodels.data.sources import load_dataset

    greys = np.random.default_rng(0).random((50, 784)).astype(np.float32)
    path = tmp_path / "greys.npz"
    np.savez(path, train=greys, valid=greys[:10], test=greys[:20])
    registry = build_registry()
    one, again, other = (load_dataset(str(path), registry, dynamic_binarize=True, seed=s) for s in (1, 1, 2))
    assert set(np.unique(one.rows("test"))) <= {0.0, 1.0} and np.array_equal(one.test, again.test)
    assert set(np.unique(one.rows("valid"))) <= {0.0, 1.0} and np.array_equal(one.valid, again.valid)
    assert not np.array_equal(one.test, other.test)
    assert np.array_equal(one.rows("train"), greys)  # the training images stay grey: the trainer draws them
    assert abs(one.rows("test").mean() - greys[:20].mean()) < 0.01


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "vae", "--binarize", "--dynamic-binarize"], "dynamic_binarize draws them anew: choose one"),
        (["train", "beta-vae", "-o", "beta=-1"], "beta must be positive, received -1.0"),
        (["train", "vae", "--kl-warmup", "-2"], "Invalid value for '--kl-warmup'"),
    ],
)
def test_the_cli_refuses_bad_variant_options_in_one_line(tmp_path, capsys, args, fragment):
    run_main(capsys, *args, "--run-dir", tmp_path / "run").assert_one_error_line(fragment)
    assert not (tmp_path / "run").exists()


def test_the_vamp_prior_is_the_mean_of_the_encoders_posteriors_at_its_pseudo_inputs():
    spec = build_registry().model("vamp")
    model = spec.build(spec.config().replace(latent_dim=3, hidden=(8,), components=5))
    model.build_for(784)
    z = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    components = model.encoder(tf.sigmoid(model.prior.pseudo_logits))
    loc, log_var = np.asarray(components.loc, np.float64), np.asarray(components.log_var, np.float64)
    densities = np.exp(
        -0.5 * (np.log(2 * np.pi) + log_var[None] + (z[:, None] - loc[None]) ** 2 / np.exp(log_var[None])).sum(-1)
    )
    np.testing.assert_allclose(
        np.asarray(model.prior.log_prob(z)), np.log(densities.mean(axis=1)), rtol=1e-4, atol=1e-4
    )
    assert np.asarray(model.generate(4, seed=0)).shape == (4, 784)


def _gaussian_log_density(z, distribution):
    loc, log_var = np.asarray(distribution.loc, np.float64), np.asarray(distribution.log_var, np.float64)
    return -0.5 * (np.log(2 * np.pi) + log_var + (z - loc) ** 2 / np.exp(log_var)).sum(-1)


@pytest.mark.parametrize("components, branches", [(0, 0), (5, 0), (5, 4)])
def test_the_two_layer_vae_scores_codings_layer_by_layer(components, branches):
    """log q(z1, z2 | x) = log q(z2 | x) + log q(z1 | x, z2) and log p(z1, z2) = log p(z2) + log p(z1 | z2),
    whether the coding was just drawn (its lower layer reused) or comes from elsewhere."""
    spec = build_registry().model("hvae")
    model = spec.build(
        spec.config().replace(latent_dim=3, top_dim=2, hidden=(8,), components=components, branches=branches)
    )
    model.build_for(784)
    x = random_binary_images(6).astype(np.float32)
    posterior = model.encoder(x)
    z = posterior.sample(model.seed_generator)
    z_np = np.asarray(z, np.float64)
    z1, z2 = z_np[:, :3], z_np[:, 3:]
    expected_q = _gaussian_log_density(z2, model.encoder.top(x)) + _gaussian_log_density(
        z1, model.encoder.bottom(x, condition=z2.astype(np.float32))
    )
    np.testing.assert_allclose(np.asarray(posterior.log_prob(z)), expected_q, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(posterior.log_prob(tf.identity(z))), expected_q, rtol=1e-4, atol=1e-3)
    top = model.prior.top_prior
    expected_p = np.asarray(top.log_prob(z2.astype(np.float32))) + _gaussian_log_density(
        z1, model.prior.bottom(z2.astype(np.float32))
    )
    if components == 0:
        np.testing.assert_allclose(
            np.asarray(top.log_prob(z2.astype(np.float32))), -0.5 * (np.log(2 * np.pi) + z2**2).sum(-1), rtol=1e-5
        )
    np.testing.assert_allclose(np.asarray(model.prior.log_prob(z)), expected_p, rtol=1e-4, atol=1e-3)
    assert np.asarray(model.generate(4, seed=0)).shape == (4, 784) and model.encode(x).shape == (6, 5)


def test_the_two_layer_vae_trains_on_iwaes_bound_when_given_k():
    spec = build_registry().model("hvae")
    model = spec.build(spec.config().replace(latent_dim=3, top_dim=2, hidden=(8,), components=4, k=3))
    model.build_for(784)
    assert [term.name for term in model.loss_terms] == ["iwae"]
    assert np.isfinite(np.asarray(model.loss_terms_of(random_binary_images(4).astype(np.float32))["iwae"])).all()
    with pytest.raises(ConfigError, match="top_dim and k must be at least 1"):
        spec.config().replace(k=0)


def test_the_iwae_bound_tightens_with_k_and_at_k_1_is_the_elbo_in_expectation():
    spec = build_registry().model("iwae")
    images = random_binary_images(256, seed=5).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = spec.build(spec.config().replace(latent_dim=4, hidden=(16,), k=1))
    model.build_for(784)

    def draws(estimate, repeats=20):
        """Independent estimates for every image, and their mean with its standard error."""
        values = np.concatenate([np.asarray(estimate()) for _ in range(repeats)])
        return values.mean(), values.std() / np.sqrt(len(values))

    one_sample, error1 = draws(lambda: model.loss_terms_of(images)["iwae"])
    elbo, error2 = draws(lambda: sum(term(model.forward(images)) for term in (Reconstruction(), KLDivergence())))
    assert abs(one_sample - elbo) < 4 * np.hypot(error1, error2)  # the same expectation, two estimators
    model.loss_terms[0] = spec.build(spec.config().replace(latent_dim=4, hidden=(16,), k=50)).loss_terms[0]
    assert draws(lambda: model.loss_terms_of(images)["iwae"], repeats=3)[0] < elbo - 1.0


SMALL_OPTIONS = {
    "iwae": {"hidden": (32,)},
    "vamp": {"hidden": (32,), "components": 10},
    "conv-vae": {"channels": (4, 8)},
    "cvae": {"hidden": (32,), "classes": 3},
    "hvae": {"hidden": (32,), "top_dim": 3, "components": 5},
    "planar-vae": {"hidden": (32,), "flows": 2},
    "iaf-vae": {"hidden": (32,), "flows": 2, "made_hidden": (16,), "context": 8},
    "factor-vae": {"hidden": (32,), "critic_hidden": (16,)},
    "dip-vae": {"hidden": (32,), "variant": "ii"},
}


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
@pytest.mark.slow
def test_each_variant_trains_samples_and_evaluates_through_the_same_code_as_vae(name, tmp_path):
    from genmodels.evaluation.likelihood import evaluate
    from genmodels.runs.loading import load_model

    registry = build_registry()
    spec = registry.model(name)
    images, labels = random_binary_images(400, seed=6), np.arange(400) % 3  # labels: only cvae uses them
    data = Dataset(
        name="synthetic", train=images[:300], test=images[300:], train_labels=labels[:300], test_labels=labels[300:]
    )
    config = spec.config().replace(latent_dim=4, **SMALL_OPTIONS[name])
    result = train(spec, config, TrainConfig(epochs=2, batch_size=100), data, tmp_path / "run", verbose=0)
    assert np.isfinite(result.final["valid"]["loss"])
    model, _ = load_model(tmp_path / "run", registry, name)
    scored = evaluate(model, data.rows("test")[:20], model_name=name, split="test", k=100, labels=data.test_labels[:20])
    assert np.isfinite(scored.nll) and scored.nll <= scored.negative_elbo + 1e-3
    assert np.asarray(model.generate(3, seed=0)).shape == (3, 784)


def test_conv_vae_refuses_images_its_strides_cannot_halve():
    spec = build_registry().model("conv-vae")
    with pytest.raises(ConfigError, match="height and width divide by 8; received 28x28"):
        spec.config().replace(channels=(8, 8, 8)).fitted_to((28, 28, 1), "binary", "mnist")  # 28 is not divisible by 8
    with pytest.raises(ConfigError, match="divide by 4; received 30x20"):
        spec.config().replace(image_shape=(30, 20, 3), input_dim=1800)
    assert spec.config().replace(image_shape=(32, 20, 3), input_dim=1920).image_shape == (32, 20, 3)


class GreyPixels(Loss):
    """A probe term: the share of the pixels a step trains on that are neither 0 nor 1."""

    name = "grey"
    weight = 0.0  # reported, never optimised

    def __call__(self, forward):
        x = forward.x
        return ops.mean(ops.cast((x > 0) & (x < 1), "float32"), axis=-1)


@pytest.mark.slow
def test_a_dynamically_binarized_training_sees_only_binary_pixels_and_records_the_option(tmp_path):
    spec = ModelSpec(
        name="probed",
        description="vae with a probe",
        config=MLPConfig,
        train=TrainConfig(),
        build=lambda config: mlp_vae(config, losses=[Reconstruction(), KLDivergence(), GreyPixels()]),
    )
    greys = np.random.default_rng(7).uniform(0.1, 0.9, (300, 784)).astype(np.float32)
    data = Dataset(name="greys", train=greys[:200], test=greys[200:])
    runs = {}
    for dynamic in (False, True):
        recipe = TrainConfig(epochs=1, batch_size=100, dynamic_binarize=dynamic)
        runs[dynamic] = train(spec, SMALL, recipe, data, tmp_path / str(dynamic), verbose=0).final
    assert runs[False]["train"]["grey"] == 1.0 and runs[True]["train"]["grey"] == 0.0
    assert runs[True]["valid"]["grey"] == 1.0  # train() scores the validation set it is given; load_dataset draws it
    assert json.loads((tmp_path / "True" / "config.json").read_text())["train"]["dynamic_binarize"] is True


@pytest.mark.slow
def test_warmup_and_dynamic_binarization_resume_to_the_uninterrupted_result(tmp_path):
    spec = build_registry().model("vae")
    greys = np.random.default_rng(8).uniform(0.0, 0.6, (500, 784)).astype(np.float32)
    data = Dataset(name="greys", train=greys[:400], test=(greys[400:] > 0.3).astype(np.float32))
    recipe = TrainConfig(epochs=3, batch_size=100, kl_warmup=2, dynamic_binarize=True)
    whole = train(spec, SMALL, recipe, data, tmp_path / "whole", verbose=0).history
    train(spec, SMALL, recipe.replace(epochs=1), data, tmp_path / "split", verbose=0)
    resumed = train(spec, SMALL, recipe, data, tmp_path / "split", resume=True, verbose=0).history
    assert [r["valid"] for r in resumed] == [r["valid"] for r in whole]


def test_gated_hidden_layers_multiply_a_linear_map_by_a_sigmoid_gate():
    from genmodels.nn.components import GatedDense

    layer = GatedDense(5, kernel_initializer="he_normal")
    x = np.random.default_rng(0).normal(size=(4, 7)).astype("float32")
    got = np.asarray(layer(x))
    linear, gate = (np.asarray(part.kernel) for part in (layer.linear, layer.gate))
    linear_bias, gate_bias = np.asarray(layer.linear.bias), np.asarray(layer.gate.bias)
    expected = (x @ linear + linear_bias) / (1.0 + np.exp(-(x @ gate + gate_bias)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name, options",
    [("vae", {}), ("hvae", {"top_dim": 3, "components": 5}), ("hvae", {"top_dim": 3, "components": 5, "branches": 6})],
)
@pytest.mark.slow
def test_any_mlp_model_takes_gated_hidden_layers_and_reloads_them(name, options, tmp_path):
    from genmodels.runs.loading import load_model

    registry = build_registry()
    spec = registry.model(name)
    images = random_binary_images(300, seed=8)
    data = Dataset(name="synthetic", train=images[:200], test=images[200:])
    config = spec.config().replace(latent_dim=4, hidden=(16, 8), activation="gated", **options)
    result = train(spec, config, TrainConfig(epochs=1, batch_size=100), data, tmp_path / "run", verbose=0)
    assert np.isfinite(result.final["valid"]["loss"])
    gated = [layer for layer in result.model.encoder._flatten_layers() if type(layer).__name__ == "GatedDense"]
    assert gated, "the encoder's hidden layers are gated"
    model, _ = load_model(tmp_path / "run", registry, name)
    x = data.rows("test")[:5]
    np.testing.assert_allclose(
        np.asarray(model.encoder(x).mean()), np.asarray(result.model.encoder(x).mean()), atol=1e-6
    )
    z = np.asarray(result.model.encode(x))
    np.testing.assert_allclose(
        np.asarray(model.decoder(z).mean()), np.asarray(result.model.decoder(z).mean()), atol=1e-6
    )


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _dense(layer, x):
    return x @ np.asarray(layer.kernel) + np.asarray(layer.bias)


def test_branches_pass_the_input_and_the_condition_through_layers_of_their_own_before_joining():
    """Tomczak & Welling's wiring: h = f(W [f(A x), f(C c)]); a decoder given no condition splits its coding."""
    from genmodels.nn.components import GaussianMLPEncoder, MLPDecoder

    rng = np.random.default_rng(1)
    x, c = rng.normal(size=(4, 7)).astype("float32"), rng.normal(size=(4, 2)).astype("float32")
    encoder = GaussianMLPEncoder(3, hidden=(6,), branches=5)
    got = np.asarray(encoder(x, condition=c).mean())
    joined = np.concatenate(
        [_elu(_dense(encoder.input_branch.layers[0], x)), _elu(_dense(encoder.condition_branch.layers[0], c))], -1
    )
    np.testing.assert_allclose(
        got, _dense(encoder.mean_head, _elu(_dense(encoder.body.layers[0], joined))), rtol=1e-4, atol=1e-5
    )

    decoder = MLPDecoder(10, hidden=(6,), branches=5, split=7)
    z = np.concatenate([x, c], -1)
    got = np.asarray(decoder(z).mean())
    joined = np.concatenate(
        [_elu(_dense(decoder.input_branch.layers[0], x)), _elu(_dense(decoder.condition_branch.layers[0], c))], -1
    )
    logits = _dense(decoder.logits_head, _elu(_dense(decoder.body.layers[0], joined)))
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-5)
    assert MLPDecoder.from_config(decoder.get_config()).split == 7
