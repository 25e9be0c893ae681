"""The compiled training loop trains exactly as keras.Model.fit would, and --precision bfloat16 is mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import random_binary_images
from genmodels.core.train_config import TrainConfig
from genmodels.data.dataset import Dataset
from genmodels.training.loops import StepLoop, first_non_finite
from genmodels.plugins.loader import build_registry
from genmodels.runs.loading import load_model
from genmodels.training.trainer import dtype_policy, train
from genmodels.training.epochs import shuffled_order


def batch_probe(x):
    """A 'step' whose metrics say which batch it saw: its first row's id and its size."""
    return {"first": x[0, 0], "size": tf.cast(tf.shape(x)[0], tf.float32)}


@pytest.mark.parametrize("chunk", [1, 3, 40])
def test_a_pass_visits_the_order_in_batches_the_last_one_smaller_whatever_the_chunk(chunk):
    images = np.arange(23, dtype=np.float32)[:, None]  # row i holds i
    order = np.random.default_rng(0).permutation(23)
    loop = StepLoop(batch_probe, ["first", "size"], images, chunk=chunk)
    calls = list(loop.run(order, batch_size=5))
    logs = np.concatenate(calls)
    assert logs[:, 0].tolist() == order[::5].tolist()
    assert logs[:, 1].tolist() == [5, 5, 5, 5, 3]
    assert [len(call) for call in calls[:-1]] == [min(chunk, 4 - i * chunk) for i in range(len(calls) - 1)]


def test_one_compiled_program_serves_every_chunk_of_an_epoch():
    loop = StepLoop(batch_probe, ["first", "size"], np.zeros((1000, 1), np.float32), chunk=7)
    for _ in range(2):
        list(loop.run(np.arange(1000), batch_size=10))
    assert sorted(loop._compiled) == [10]
    assert loop._compiled[10].experimental_get_tracing_count() == 1


def test_first_non_finite_finds_the_first_bad_step():
    logs = np.array([[1.0, 2.0], [3.0, np.inf], [np.nan, 1.0]])
    assert first_non_finite(logs) == 1
    assert first_non_finite(logs[:1]) is None


def _model(spec, config, seed=0):
    keras.utils.set_random_seed(seed)
    model = spec.build(config)
    model.build_for(config.input_dim)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.mark.slow
def test_the_compiled_loop_takes_the_same_steps_as_keras_fit_over_the_same_batches():
    spec = build_registry().model("vae")
    config = spec.config(latent_dim=4, hidden=(32,), input_dim=784)
    images = random_binary_images(130, seed=1).astype(np.float32)
    order = np.asarray(shuffled_order(len(images), seed=0, epoch=0))
    batches = [images[order[start : start + 50]] for start in range(0, len(images), 50)]  # 50, 50, 30

    by_fit = _model(spec, config)
    by_fit.fit(
        tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=tf.TensorSpec((None, 784))),
        epochs=1,
        steps_per_epoch=3,
        shuffle=False,
        verbose=0,
    )
    by_loop = _model(spec, config)
    loop = StepLoop(by_loop.train_step, [metric.name for metric in by_loop.metrics], images, chunk=2)
    logs = np.concatenate(list(loop.run(order, batch_size=50)))

    assert len(logs) == 3
    for fitted, looped in zip(by_fit.get_weights(), by_loop.get_weights()):
        np.testing.assert_allclose(looped, fitted, rtol=1e-4, atol=1e-5)
    assert logs[-1, 0] == pytest.approx(float(by_fit.metrics[0].result()), rel=1e-5)


def test_bfloat16_layers_compute_in_bfloat16_while_weights_and_losses_stay_float32():
    spec = build_registry().model("vae")
    config = spec.config(latent_dim=4, hidden=(16,), input_dim=784)
    with dtype_policy("bfloat16"):
        model = spec.build(config)
    model.build_for(784)
    dense = model.decoder.logits_head
    assert dense.compute_dtype == "bfloat16" and dense.kernel.dtype == "float32"
    terms = model.loss_terms_of(random_binary_images(8).astype(np.float32))
    assert all(value.dtype == "float32" for value in terms.values())
    assert keras.config.dtype_policy().name == "float32"  # the policy does not leak out of the trainer


@pytest.mark.slow
def test_a_bfloat16_run_learns_like_float32_and_loads_for_sampling_in_float32(tmp_path):
    spec = build_registry().model("vae")
    images = random_binary_images(1200, seed=2)
    data = Dataset(name="synthetic", train=images[:1000], test=images[1000:], image_shape=(28, 28))
    config = spec.config(latent_dim=8, hidden=(64,))
    losses = {}
    for precision in ("float32", "bfloat16"):
        recipe = TrainConfig(epochs=3, batch_size=100, precision=precision)
        losses[precision] = train(spec, config, recipe, data, tmp_path / precision, verbose=0).final["valid"]["loss"]
    # Independent 0.2-Bernoulli pixels: about 392 nats per image at best; both must get near it alike.
    assert abs(losses["bfloat16"] - losses["float32"]) < 0.02 * losses["float32"]
    model, _config = load_model(tmp_path / "bfloat16", build_registry(), "vae")
    assert model.decoder.logits_head.compute_dtype == "float32"
    assert np.isfinite(np.asarray(model.generate(4, seed=0))).all()
