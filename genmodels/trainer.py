"""Training: from a model spec, configs and a dataset to a complete run directory."""

from __future__ import annotations

import genmodels.backend  # noqa: F401  (TensorFlow, imported quietly)

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from genmodels.config import ModelConfig, TrainConfig
from genmodels.data import Dataset
from genmodels.errors import TrainingError
from genmodels.latent import EVAL_BATCH_SIZE, encode
from genmodels.model import GenerativeModel
from genmodels.plots import save_image_grid, save_training_curves
from genmodels.runs import (
    CURVES_FILE,
    SAMPLES_FILE,
    RunConfig,
    restore_checkpoint,
    run_lock,
    save_checkpoint,
    start_fresh,
    write_config,
    write_metrics,
)
from genmodels.specs import ModelSpec

SAMPLE_GRID_SIZE = 60


@dataclass
class TrainResult:
    """What a finished training returns: the model, where its run lives and its per-epoch metrics."""

    model: GenerativeModel
    run_dir: Path
    history: list[dict[str, Any]]

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's record."""
        return self.history[-1]


class _EpochRecorder(keras.callbacks.Callback):
    """Saves each epoch's train and test metrics with a checkpoint (see `save_checkpoint`).

    The first NaN or infinite loss stops training with a TrainingError naming the epoch, the step
    and the loss terms, before anything is saved: the last complete epoch's weights stay as they were.
    """

    def __init__(self, run_dir: Path, history: list[dict[str, Any]], config: RunConfig):
        super().__init__()
        self.run_dir = run_dir
        self.history = history
        self.config = config
        self.epoch = len(history)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, f"step {batch + 1} of epoch {self.epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"the test pass after epoch {self.epoch}")
        logs = {key: float(value) for key, value in (logs or {}).items()}
        record = {
            "epoch": epoch + 1,
            "seconds": round(time.perf_counter() - self.started, 3),
            "train": {key: value for key, value in logs.items() if not key.startswith("val_")},
            "test": {key[4:]: value for key, value in logs.items() if key.startswith("val_")},
        }
        self.history.append(record)
        save_checkpoint(self.model, self.run_dir, self.history, self.config)

    def _check(self, logs, where: str) -> None:
        bad = {key: float(value) for key, value in (logs or {}).items() if not math.isfinite(float(value))}
        if bad:
            terms = ", ".join(f"{key} = {value}" for key, value in bad.items())
            kept = f"the weights of epoch {len(self.history)} are kept" if self.history else "no weights were saved"
            raise TrainingError(
                f"training stopped at {where}: {terms}. Nothing of this epoch was saved; {kept} in {self.run_dir}. "
                "A lower --learning-rate often helps."
            )


def train(
    spec: ModelSpec,
    model_config: ModelConfig,
    train_config: TrainConfig,
    dataset: Dataset,
    run_dir: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int | str = "auto",
) -> TrainResult:
    """Train `spec`'s model on `dataset` with Adam and write the run directory.

    The run is repeatable: the seed fixes initialisation, each epoch's shuffling and sampling. The
    config is written first, and a checkpoint (weights, optimizer state, epoch, random state) after
    every epoch, so an interrupted run loses at most the epoch in progress; `resume=True` continues
    from the last complete epoch. One training at a time may write a run directory, and a fresh
    training refuses a directory that already holds a run unless `overwrite` (which removes it).
    """
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        return _train(spec, model_config, train_config, dataset, run_dir, resume, overwrite, verbose)


def _train(spec, model_config, train_config, dataset, run_dir: Path, resume: bool, overwrite: bool, verbose) -> TrainResult:
    model_config = model_config.replace(input_dim=dataset.input_dim)
    history: list[dict[str, Any]] = []
    keras.utils.set_random_seed(train_config.seed)
    model = spec.build(model_config)
    model.build_for(model_config.input_dim)
    model.compile(optimizer=keras.optimizers.Adam(train_config.learning_rate), jit_compile=True)
    run_config = RunConfig(
        model=spec.name,
        model_config=model_config.to_dict(),
        train=train_config.to_dict(),
        dataset={
            "name": dataset.name,
            "image_shape": list(dataset.image_shape),
            "train_size": len(dataset.train),
            "test_size": len(dataset.test),
        },
    )
    if resume:  # the run's files change only with its next checkpoint, all together
        model.optimizer.build(model.trainable_variables)
        history = restore_checkpoint(model, run_dir)
    else:
        start_fresh(run_dir, overwrite)
        write_config(run_dir, run_config)
        write_metrics(run_dir, history)
    start = len(history)
    steps = math.ceil(len(dataset.train) / train_config.batch_size)
    model.fit(
        _epochs_of_batches(dataset.train, train_config, start),
        epochs=train_config.epochs,
        initial_epoch=start,
        steps_per_epoch=steps,
        validation_data=tf.data.Dataset.from_tensor_slices(dataset.test).batch(EVAL_BATCH_SIZE),
        callbacks=[_EpochRecorder(run_dir, history, run_config)],
        shuffle=False,  # each epoch is shuffled by _epochs_of_batches
        verbose=(1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose,
    )
    model.prior.adapt(encode(model, dataset.train))
    save_checkpoint(model, run_dir, history, run_config)
    images = np.asarray(model.generate(SAMPLE_GRID_SIZE, seed=train_config.seed))
    save_image_grid(images, run_dir / SAMPLES_FILE, dataset.image_shape)
    save_training_curves(history, run_dir / CURVES_FILE)
    return TrainResult(model=model, run_dir=run_dir, history=history)


def _epochs_of_batches(images: np.ndarray, config: TrainConfig, start: int) -> tf.data.Dataset:
    """Batches of epochs start+1 .. config.epochs, each shuffled by a seed that depends only on (seed, epoch),
    so a resumed run sees exactly the batches the uninterrupted one would have."""
    pixels = tf.constant(images)
    count = len(images)

    def epoch(index):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=tf.stack([tf.constant(config.seed, tf.int64), index])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(config.batch_size).map(lambda rows: tf.gather(pixels, rows))

    return tf.data.Dataset.range(start, config.epochs).flat_map(epoch).prefetch(tf.data.AUTOTUNE)
