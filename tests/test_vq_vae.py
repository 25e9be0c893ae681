"""Auxiliary loss terms, and the VQ-VAE plugin that needs them: a spatial map of discrete codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import genmodels
from genmodels.components import KLDivergence, Reconstruction, mlp_vae
from genmodels.config import MLPConfig
from genmodels.interfaces import Loss
from genmodels.evaluation.likelihood import loss_terms

from conftest import random_binary_images


class Penalty(Loss):
    """A large auxiliary term: minimised with the others, but no part of the model's objective."""

    name, auxiliary = "penalty", True

    def __call__(self, forward):
        return 1000.0 + 0.0 * forward.z[:, 0]


def test_an_auxiliary_term_is_reported_and_minimised_but_left_out_of_the_loss():
    model = mlp_vae(MLPConfig(latent_dim=2, hidden=(8,)), losses=[Reconstruction(), KLDivergence(), Penalty()])
    model.compile(optimizer="adam")
    images = random_binary_images(16).astype(np.float32)
    terms = model.loss_terms_of(images)
    objective = float(np.mean(terms["reconstruction"])) + float(np.mean(terms["kl"]))
    assert float(np.mean(model.objective(terms))) == pytest.approx(objective, rel=1e-5)
    assert float(model._cost(terms)) == pytest.approx(objective + 1000.0, rel=1e-5)  # still minimised
    record = model._record(terms)  # what a step reports
    assert float(record["loss"]) == pytest.approx(objective, rel=1e-5) and float(record["penalty"]) == 1000.0
    scored = loss_terms(model, images)
    assert scored["penalty"] == pytest.approx(1000.0) and scored["loss"] == pytest.approx(
        scored["reconstruction"] + scored["kl"], rel=1e-5
    )


@pytest.mark.slow
def test_a_vq_vae_is_selected_on_its_reconstruction_and_draws_maps_of_its_codes(tiny_npz, tmp_path):
    run = genmodels.train(
        "vq-vae", dataset=str(tiny_npz), run_dir=tmp_path / "run", epochs=3, codes=16, seed=1, verbose=0
    )
    positions, dim = 7 * 7, run.model_config.latent_dim
    for record in run.history:  # the codebook terms are reported, but the loss is reconstruction + log K a position
        valid = record["valid"]
        assert valid["kl"] == pytest.approx(positions * np.log(16), rel=1e-5)
        assert valid["loss"] == pytest.approx(valid["reconstruction"] + valid["kl"], rel=1e-5)
        assert valid["codebook"] > 0 and valid["commitment"] > 0
    best = min(run.history, key=lambda record: record["valid"]["reconstruction"])["epoch"]
    assert run.epoch == best
    codebook = next(w for w in run.model.weights if "codes" in w.path).numpy()
    codings = run.encode(run.dataset().test[:5]).reshape(-1, dim)  # every position holds one of the codes
    distances = ((codings[:, None, :] - codebook[None, :, :]) ** 2).sum(axis=-1)
    assert codings.shape == (5 * positions, dim) and np.allclose(distances.min(axis=1), 0.0, atol=1e-8)
    assert (run.run_dir / "sampler-pixelcnn.npz").is_file()  # its own sampler, fitted at the end of training
    np.testing.assert_array_equal(run.sample(6, seed=0), run.sample(6, seed=0, sampler="pixelcnn"))
    for sampler in ("gmm", "prior"):
        images = run.sample(6, seed=0, sampler=sampler)
        assert images.shape == (6, 28, 28, 1) and np.all((images >= 0) & (images <= 1))
    import tensorflow as tf

    exported = tf.saved_model.load(str(run.export(tmp_path / "export")))  # the pixelcnn goes into the SavedModel
    codings = exported.sample_codings(n=5, seed=3).numpy().reshape(-1, dim)
    distances = ((codings[:, None, :] - codebook[None, :, :]) ** 2).sum(axis=-1)
    assert codings.shape == (5 * positions, dim) and np.allclose(distances.min(axis=1), 0.0, atol=1e-8)
    np.testing.assert_array_equal(exported.sample(n=5, seed=3).numpy(), exported.sample(n=5, seed=3).numpy())
    info = json.loads((tmp_path / "export" / "genmodels-export.json").read_text())
    assert info["sampler"] == "pixelcnn"


def test_a_moving_average_codebook_follows_the_vectors_each_code_is_given_and_no_gradient():
    import keras
    import tensorflow as tf
    from keras import ops

    from genmodels_plugins.vq_vae import VQConfig, build

    config = VQConfig(codes=8, channels=(4, 8), codebook_update="ema", decay=0.5).fitted_to((28, 28, 1), "binary", "t")
    model = build(config)
    model.build_for(784)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    book = model.encoder.codebook
    assert all(variable is not book.codes for variable in model.trainable_variables)
    before_codes, before_counts, before_sums = (np.array(v) for v in (book.codes, book.counts, book.sums))
    images = tf.constant(random_binary_images(20, seed=5).astype(np.float32))
    rows = np.reshape(np.array(model.encoder(images).encoded), (-1, config.latent_dim))  # what the step will see
    given = np.eye(8)[np.array(book.nearest(ops.convert_to_tensor(rows)))]
    model.train_step(images)
    counts = 0.5 * before_counts + 0.5 * given.sum(axis=0)
    sums = 0.5 * before_sums + 0.5 * given.T @ rows
    np.testing.assert_allclose(np.array(book.counts), counts, rtol=1e-5)
    np.testing.assert_allclose(np.array(book.sums), sums, rtol=1e-4, atol=1e-6)
    smoothed = (counts + 1e-5) / (counts.sum() + 8e-5) * counts.sum()
    np.testing.assert_allclose(np.array(book.codes), sums / smoothed[:, None], rtol=1e-4, atol=1e-6)
    assert not np.allclose(np.array(book.codes), before_codes)
    model.test_step(images)  # evaluating changes no code
    np.testing.assert_allclose(np.array(book.codes), sums / smoothed[:, None], rtol=1e-4, atol=1e-6)
