"""Training: from a model spec, configs and a dataset to a complete run directory."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math
import sys
import time
import warnings
from collections.abc import Iterator
import contextlib
import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np
import tensorflow as tf

from genmodels.core.model_config import ModelConfig
from genmodels.core.train_config import TrainConfig
from genmodels.core.model_spec import ModelSpec
from genmodels.data.dataset import HOLD_OUT_SEED, Dataset, split_digests
from genmodels.training.distributed import DistributedLoop, ProcessGroup
from genmodels.nn.random import uniform_like_batch
from genmodels.core.errors import ConfigError, TrainingError, TrainingWarning
from genmodels.nn.latent import EVAL_BATCH_SIZE, encode
from genmodels.training.loops import StepLoop, first_non_finite
from genmodels.nn.model import GenerativeModel, check_labels, generate_in_chunks
from genmodels.core.plots import save_image_grid, save_training_curves
from genmodels.core.pixels import BINARY
from genmodels.runs.format import (
    BEST_WEIGHTS_FILE,
    CURVES_FILE,
    SAMPLES_FILE,
    RunConfig,
    package_versions,
    check_same_data,
    read_config,
    start_fresh,
    write_config,
    write_metrics,
)
from genmodels.runs.checkpoints import (
    best_epoch,
    kept_weights,
    restore_checkpoint,
    save_best_weights,
    save_checkpoint,
    still_improving,
)
from genmodels.runs.lock import run_lock
from genmodels.samplers.fitting import DEFAULT_SAMPLER, SamplerCatalog, drawn_codings, fitted_sampler
from genmodels.training.tracking import TrackerCatalog, Trackers
from genmodels.runs.weights import load_weights


class TrainingCatalog(TrackerCatalog, SamplerCatalog, Protocol):
    """What a training needs of a registry (`genmodels.registry.Registry` is one): trackers by name, and the
    default sampler to fit at the end."""


SAMPLE_GRID_SIZE = 60


@contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Layers built inside compute in `precision` ("bfloat16": Keras' mixed_bfloat16, float32 weights)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@dataclass
class TrainResult:
    """What a finished training returns: the model, where its run lives and its per-epoch metrics."""

    model: GenerativeModel
    run_dir: Path
    history: list[dict[str, Any]]
    kept_epoch: int  # the epoch whose weights the run keeps: the last, or the best on validation
    wrote: bool = True  # False on a distributed training's workers other than the chief, which write nothing

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's record."""
        return self.history[-1]

    @property
    def kept(self) -> dict[str, Any]:
        """The record of the epoch whose weights the run keeps."""
        return self.history[self.kept_epoch - 1]


class _Epochs:
    """Runs the epochs of a training: compiled steps over resident images, a validation pass, and after
    each epoch its record and a checkpoint saved together (see `save_checkpoint`), with the weights of
    the best epoch so far when the run keeps the best.

    The first NaN or infinite loss stops training with a TrainingError naming the epoch, the step
    and the loss terms, before anything of that epoch is saved: the last complete epoch stays as it was.
    With `early_stopping` N, training ends once N epochs have passed without a better validation loss.
    Each epoch's record goes to the `trackers` once its checkpoint is saved.
    """

    def __init__(
        self,
        model: GenerativeModel,
        config: TrainConfig,
        dataset: Dataset,
        labels,
        run_dir: Path,
        history,
        run_config: RunConfig,
        verbose,
        trackers: Trackers | None = None,
        group: ProcessGroup | None = None,
    ):
        self.model = model
        self.writes = group is None or group.chief  # only the chief of a distributed training writes the run
        self.trackers = trackers or Trackers()
        self.config = config
        self.run_dir = run_dir
        self.history = history
        self.run_config = run_config
        self.verbose = verbose
        self.names = [metric.name for metric in model.metrics]
        # bfloat16 reaches the CPU's bf16 units through oneDNN, not XLA; so do convolutions (docs/performance.md)
        jit = config.xla and config.precision == "float32"
        self.train_size = len(dataset.train)
        self.passes = config.passes(self.train_size)  # passes over the training images in one epoch (epoch_images)
        self.steps = config.steps_per_epoch(self.train_size)
        model.warmup_steps = config.kl_warmup * self.steps
        draw = _pixel_draws(model.seed_generator) if config.dynamic_binarize else None
        train_labels, valid_labels = labels  # from labels_for: (None, None) for an unconditional model
        loops = dict(jit_compile=jit, scale=dataset.scale)
        if group is None:
            self.train_loop = StepLoop(
                model.train_step, self.names, dataset.train, transform=draw, labels=train_labels, **loops
            )
            self.valid_loop = StepLoop(model.test_step, self.names, dataset.valid, labels=valid_labels, **loops)
        else:
            loops.update(strategy=group.strategy, model=model, metric_names=self.names, cluster=group.cluster)
            self.train_loop = DistributedLoop(
                images=dataset.train, training=True, transform=draw, labels=train_labels, **loops
            )
            self.valid_loop = DistributedLoop(images=dataset.valid, training=False, labels=valid_labels, **loops)
        # a fixed shuffle: held-out sets may be sorted by class, which would skew any batch-level term
        self.valid_order = np.random.default_rng(0).permutation(len(dataset.valid))

    def run(self) -> None:
        for epoch in range(len(self.history) + 1, self.config.epochs + 1):
            if self.patience_spent():
                break
            self._epoch(epoch)

    def patience_spent(self) -> bool:
        """Whether early stopping ends the training: `early_stopping` epochs have passed since the best one."""
        best = best_epoch(self.history)
        return bool(
            self.config.early_stopping and best is not None and len(self.history) - best >= self.config.early_stopping
        )

    def _epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        rate = learning_rate_at(self.config, epoch)
        self.model.optimizer.learning_rate.assign(rate)
        steps = self.steps
        if self.verbose:
            passes = f" ({self.passes} passes over the {self.train_size} training images)" if self.passes > 1 else ""
            print(f"Epoch {epoch}/{self.config.epochs}{passes}", flush=True)
        bar = keras.utils.Progbar(steps, verbose=self.verbose, stateful_metrics=self.names) if self.verbose else None
        order = epoch_order(self.train_size, self.config.seed, epoch, self.passes)
        train = self._pass(self.train_loop, order, self.config.batch_size, epoch, bar)
        train_seconds = time.perf_counter() - started
        valid = self._pass(self.valid_loop, self.valid_order, EVAL_BATCH_SIZE, epoch, None)
        if bar is not None:
            bar.update(
                steps, [*train.items(), *((f"val_{name}", value) for name, value in valid.items())], finalize=True
            )
        record = {
            "epoch": epoch,
            "seconds": round(time.perf_counter() - started, 3),  # the whole epoch, validation pass included
            "train_seconds": round(train_seconds, 3),  # the training steps alone
            "learning_rate": rate,
            "steps": steps,
            "train": train,
            "valid": valid,
        }
        self.history.append(record)
        if self.writes:
            save_checkpoint(
                self.model, self.run_dir, self.history, self.run_config, keep_best=self.config.keep == "best"
            )
        self.trackers.epoch_end(epoch, record, self.model)

    def _pass(self, loop: StepLoop, order, batch_size: int, epoch: int, bar) -> dict[str, float]:
        """One pass of `loop` over `order`; the metrics' means over the pass (checked finite)."""
        if isinstance(loop, StepLoop):  # a DistributedLoop keeps its own sums
            for metric in self.model.metrics:
                metric.reset_state()
        done = 0
        for logs in loop.run(order, batch_size):
            bad = first_non_finite(logs)
            if bad is not None:
                where = (
                    f"step {done + bad + 1} of epoch {epoch}"
                    if loop is self.train_loop
                    else f"the validation pass after epoch {epoch}"
                )
                self._stop(where, logs[bad])
            done += len(logs)
            if bar is not None and done < bar.target:
                bar.update(done, list(zip(self.names, logs[-1].tolist())))
        return dict(zip(self.names, logs[-1].tolist()))

    def _stop(self, where: str, values) -> None:
        terms = ", ".join(
            f"{name} = {value}" for name, value in zip(self.names, values.tolist()) if not math.isfinite(value)
        )
        kept = f"the weights of epoch {len(self.history)} are kept" if self.history else "no weights were saved"
        raise TrainingError(
            f"training stopped at {where}: {terms}. Nothing of this epoch was saved; {kept} in {self.run_dir}. "
            "A lower --learning-rate often helps."
        )


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """The step size of epoch `epoch` (from 1) under the recipe's `lr_schedule`."""
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / config.epochs))
    return config.learning_rate


def labels_for(model: GenerativeModel, dataset: Dataset) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The train and validation labels a conditional model is given (None, None for an unconditional one);
    a DatasetError when the dataset has none or they fall outside the model's classes."""
    if not model.conditional:
        return None, None
    return tuple(
        check_labels(model, labels, f"{dataset.name} {split}")
        for split, labels in (("train", dataset.train_labels), ("validation", dataset.valid_labels))
    )


def _pixel_draws(seed_generator):
    """Dynamic binarization: each pixel of a batch drawn as Bernoulli(grey), from the model's seed
    generator, whose state is checkpointed, so a resumed run draws what the uninterrupted one would."""

    def draw(batch):
        uniform = uniform_like_batch(tf.shape(batch), seed_generator)
        return tf.cast(uniform < batch, batch.dtype)

    return draw


def epoch_order(count: int, seed: int, epoch: int, passes: int = 1) -> tf.Tensor:
    """The training images' order in `epoch` (counted from 1) of `passes` passes: pass p of the whole
    training is shuffled by `shuffled_order(count, seed, p)`, so an epoch of one pass is as it always was."""
    first = (epoch - 1) * passes
    if passes == 1:
        return shuffled_order(count, seed, first)
    return tf.concat([shuffled_order(count, seed, first + p) for p in range(passes)], axis=0)


def shuffled_order(count: int, seed: int, epoch: int) -> tf.Tensor:
    """The order of the training images in `epoch` (counted from 0): a function of (seed, epoch) only,
    so a resumed run sees exactly the batches the uninterrupted one would have."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(count, dtype=tf.int64), seed=tf.constant([seed, epoch], dtype=tf.int64)
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
    strategy: tf.distribute.Strategy | None = None,
    allow_data_change: bool = False,
    registry: TrainingCatalog | None = None,
) -> TrainResult:
    """Train `spec`'s model on `dataset` with Adam, monitored on its validation split, and write the run directory.

    The run is repeatable: the seed fixes initialisation, each epoch's shuffling and sampling. The
    config is written first, and a checkpoint (weights, optimizer state, epoch, random state) after
    every epoch, so an interrupted run loses at most the epoch in progress; `resume=True` continues
    from the last complete epoch. One training at a time may write a run directory, and a fresh
    training refuses a directory that already holds a run unless `overwrite` (which removes it).

    The trackers named in `train_config.track` are created first, before anything is written (an unknown
    name or a tracker's missing optional dependency leaves no run behind); they receive the training's
    events (`genmodels.tracking.Tracker`) and are closed at the end, also after an error.
    With `train_config.distribute`, every worker of the cluster runs this with the same arguments
    (`genmodels.training.distributed`); only the chief takes the lock, writes the run and calls the trackers.
    `strategy` replaces the strategy `distribute` would choose (a MirroredStrategy over devices of your choice).
    A resumed run refuses data whose splits differ from those it recorded (`genmodels.runs.check_same_data`)
    unless `allow_data_change`. With a `registry`, the default latent sampler (`genmodels.samplers`) is fitted to
    the kept weights' training codings at the end, saved in the run, and draws samples.png; without, the prior does.
    """
    run_dir = Path(run_dir)
    if strategy is not None and not train_config.distribute:
        raise ConfigError("a strategy is given, but the training recipe does not distribute: set distribute=True.")
    group = (
        (ProcessGroup(strategy, None) if strategy is not None else ProcessGroup.start())
        if train_config.distribute
        else None
    )
    writes = group is None or group.chief
    trackers = Trackers.create(train_config.track, registry) if writes else Trackers()
    with trackers, run_lock(run_dir) if writes else contextlib.nullcontext():
        return _train(
            spec,
            model_config,
            train_config,
            dataset,
            run_dir,
            resume,
            overwrite,
            verbose,
            trackers,
            group,
            allow_data_change,
            registry,
        )


def _train(
    spec,
    model_config,
    train_config,
    dataset,
    run_dir: Path,
    resume: bool,
    overwrite: bool,
    verbose,
    trackers: Trackers,
    group: ProcessGroup | None = None,
    allow_data_change: bool = False,
    registry: TrainingCatalog | None = None,
) -> TrainResult:
    dataset = dataset.with_validation(train_config.validation_fraction, seed=HOLD_OUT_SEED)
    pixels = BINARY if train_config.dynamic_binarize else dataset.pixels  # what the steps see
    model_config = model_config.fitted_to(dataset.image_shape, pixels, dataset.name)
    history: list[dict[str, Any]] = []
    keras.utils.set_random_seed(train_config.seed)
    writes = group is None or group.chief
    with group.strategy.scope() if group else contextlib.nullcontext():
        with dtype_policy(train_config.precision):
            model = spec.build(model_config)
        model.build_for(model_config.input_dim)
        model.compile(optimizer=keras.optimizers.Adam(train_config.learning_rate))
        model.optimizer.build(model.trainable_variables)
    labels = labels_for(model, dataset)  # a conditional model's labels are checked before anything is written
    run_config = RunConfig(
        model=spec.name,
        model_config=model_config.to_dict(),
        train=train_config.to_dict(),
        dataset={
            "name": dataset.name,
            "image_shape": list(dataset.image_shape),
            "pixels": pixels,
            "train_size": len(dataset.train),
            "valid_size": len(dataset.valid),
            "test_size": len(dataset.test),
            "splits_sha256": split_digests(dataset),
        },
        versions=package_versions(spec.package),  # a third party's model records its package's version too
    )
    if group is not None:  # every worker must run the same training, or the collectives would never meet
        group.check_same(dataclasses.asdict(run_config), resume)
    if resume:  # the run's files change only with its next checkpoint, all together
        check_same_data(read_config(run_dir), dataset, ("train", "valid", "test"), allow=allow_data_change)
        history = restore_checkpoint(model, run_dir)
        if train_config.epochs < len(
            history
        ):  # resuming would only rewrite config.json with fewer epochs than it holds
            raise TrainingError(
                f"{run_dir} already holds {len(history)} epochs, more than the {train_config.epochs} asked for; "
                f"--resume --epochs N continues it to N epochs (N above {len(history)})."
            )
    elif writes:
        start_fresh(run_dir, overwrite)
        write_config(run_dir, run_config)
        write_metrics(run_dir, history)
    verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose
    verbose = verbose if writes else 0
    trackers.start(run_dir, run_config, history)
    with group.peers_watched() if group else contextlib.nullcontext():
        _Epochs(model, train_config, dataset, labels, run_dir, history, run_config, verbose, trackers, group).run()
    if not writes:  # the chief saves the run; the other workers are done
        return TrainResult(
            model=model,
            run_dir=run_dir,
            history=history,
            kept_epoch=best_epoch(history) if train_config.keep == "best" else len(history),
            wrote=False,
        )
    model.prior.adapt(encode(model, dataset.train, labels[0], scale=dataset.scale))
    save_checkpoint(model, run_dir, history, run_config, keep_best=train_config.keep == "best")
    kept = len(history)
    if train_config.keep == "best":
        kept = best_epoch(history)
        load_weights(model, run_dir / BEST_WEIGHTS_FILE, "the best epoch's weights")
        model.prior.adapt(encode(model, dataset.train, labels[0], scale=dataset.scale))
        save_best_weights(model, run_dir)
    sampler = (
        None
        if registry is None
        else fitted_sampler(
            DEFAULT_SAMPLER, registry, model, dataset, run_dir=run_dir, weights=kept_weights(run_dir, train_config)
        )
    )
    codings = drawn_codings(sampler, SAMPLE_GRID_SIZE, train_config.seed)
    images = generate_in_chunks(model, SAMPLE_GRID_SIZE, seed=train_config.seed, codings=codings)
    save_image_grid(images, run_dir / SAMPLES_FILE, dataset.image_shape, pixels=pixels)
    save_training_curves(history, run_dir / CURVES_FILE, kept=kept)
    trackers.finish(history, kept)
    unfinished = still_improving(history)
    if unfinished:
        # stacklevel: from the Python API, the line that called genmodels.train
        warnings.warn(unfinished, TrainingWarning, stacklevel=5)
    return TrainResult(model=model, run_dir=run_dir, history=history, kept_epoch=kept)
