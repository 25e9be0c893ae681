"""Model variants that change one part: weighted and warmed-up loss terms (beta-VAE), dynamic binarization."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import random_binary_images, run_main
from genmodels.components import KLDivergence, Reconstruction, mlp_vae
from genmodels.config import MLPConfig, TrainConfig
from genmodels.data import Dataset
from genmodels.errors import ConfigError
from genmodels.loops import StepLoop
from genmodels.plugins import build_registry
from genmodels.trainer import _pixel_draws, train

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
    model.warmup_steps = 10
    model.optimizer.iterations.assign(step)
    terms = model.loss_terms_of(random_binary_images(8).astype(np.float32))
    reconstruction, kl = (float(np.mean(terms[name])) for name in ("reconstruction", "kl"))
    assert float(model._cost(terms)) == pytest.approx(reconstruction + 2.0 * factor * kl, rel=1e-5)


def test_beta_vae_is_registered_like_a_third_party_plugin_and_checks_beta():
    spec = build_registry().model("beta-vae")
    assert spec.plugin == "beta-vae" and spec.config().beta == 4.0
    model = spec.build(spec.config().replace(beta=0.5, latent_dim=3, hidden=(8,)))
    assert [(term.name, term.weight) for term in model.loss_terms] == [("reconstruction", 1.0), ("kl", 0.5)]
    with pytest.raises(ConfigError, match="beta must be positive, received 0.0"):
        spec.config().replace(beta=0)


def test_a_beta_vae_run_reports_the_unweighted_elbo_and_reloads(tmp_path):
    spec = build_registry().model("beta-vae")
    images = random_binary_images(400, seed=3)
    data = Dataset(name="synthetic", train=images[:300], test=images[300:])
    result = train(spec, spec.config(latent_dim=4, hidden=(32,), beta=8.0), TrainConfig(epochs=2, batch_size=100, kl_warmup=1),
                   data, tmp_path / "run", verbose=0)
    test = result.final["test"]
    assert test["loss"] == pytest.approx(test["reconstruction"] + test["kl"], rel=1e-5)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["model_config"]["beta"] == 8.0 and stored["train"]["kl_warmup"] == 1


def test_dynamic_binarization_draws_fresh_binary_pixels_with_the_grey_as_probability():
    greys = np.full((400, 784), 0.3, np.float32)
    probe = lambda x: {"binary": tf.reduce_all((x == 0) | (x == 1)), "mean": tf.reduce_mean(x)}  # noqa: E731
    loop = StepLoop(lambda x: {k: tf.cast(v, tf.float32) for k, v in probe(x).items()}, ["binary", "mean"], greys,
                    transform=_pixel_draws(keras.random.SeedGenerator(0)))
    first, second = (np.concatenate(list(loop.run(np.arange(400), batch_size=100))) for _ in range(2))
    assert first[:, 0].all() and second[:, 0].all()
    assert np.allclose(first[:, 1], 0.3, atol=0.01)
    assert not np.array_equal(first[:, 1], second[:, 1])  # drawn anew at every pass


def test_dynamic_binarization_fixes_the_test_set_by_the_seed(tmp_path):
    from genmodels.data import load_dataset

    greys = np.random.default_rng(0).random((50, 784)).astype(np.float32)
    path = tmp_path / "greys.npz"
    np.savez(path, train=greys, test=greys[:20])
    registry = build_registry()
    one, again, other = (load_dataset(str(path), registry, dynamic_binarize=True, seed=s) for s in (1, 1, 2))
    assert set(np.unique(one.test)) <= {0.0, 1.0} and np.array_equal(one.test, again.test)
    assert not np.array_equal(one.test, other.test)
    assert np.array_equal(one.train, greys)  # the training images stay grey: the trainer draws them
    assert abs(one.test.mean() - greys[:20].mean()) < 0.01


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
