"""Training: from a model spec, configs and a dataset to a complete run directory."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import contextlib
import dataclasses
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np
import tensorflow as tf

from genmodels.core.errors import ConfigError, TrainingError, TrainingWarning
from genmodels.core.model_config import ModelConfig
from genmodels.core.model_spec import ModelSpec
from genmodels.core.pixels import BINARY
from genmodels.core.plots import save_image_grid, save_training_curves
from genmodels.core.train_config import TrainConfig
from genmodels.data.dataset import HOLD_OUT_SEED, Dataset, split_digests
from genmodels.nn.latent import encode
from genmodels.nn.model import GenerativeModel, check_labels, generate_in_chunks
from genmodels.runs.checkpoints import (
    best_epoch,
    kept_weights,
    restore_checkpoint,
    save_best_weights,
    save_checkpoint,
    still_improving,
)
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
from genmodels.runs.lock import run_lock
from genmodels.runs.weights import load_weights
from genmodels.samplers.fitting import SamplerCatalog, drawn_codings, fitted_sampler
from genmodels.samplers.sampler import PRIOR
from genmodels.training.distributed import ProcessGroup
from genmodels.training.epochs import EpochRunner
from genmodels.training.tracker_list import Trackers
from genmodels.training.tracking import TrackerCatalog


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


def labels_for(model: GenerativeModel, dataset: Dataset) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The train and validation labels a conditional model is given (None, None for an unconditional one);
    a DatasetError when the dataset has none or they fall outside the model's classes."""
    if not model.conditional:
        return None, None
    return tuple(
        check_labels(model, labels, f"{dataset.name} {split}")
        for split, labels in (("train", dataset.train_labels), ("validation", dataset.valid_labels))
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
    unless `allow_data_change`. With a `registry`, the model's latent sampler (`spec.sampler`, genmodels.samplers)
    is fitted to the kept weights' training codings at the end, saved in the run, and draws samples.png; without,
    the prior does.
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
            run_dir=run_dir,
            resume=resume,
            overwrite=overwrite,
            verbose=verbose,
            trackers=trackers,
            group=group,
            allow_data_change=allow_data_change,
            registry=registry,
        )


def _train(
    spec,
    model_config,
    train_config,
    dataset,
    *,
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
        model.optimizer.build(model.generative_variables)
    if group is not None and (model.critics or model.step_updates):
        raise ConfigError(
            f"{spec.name} trains a critic or updates variables without gradients, which genmodels runs in one "
            "process only: train it without --distribute."
        )
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
        EpochRunner(
            model,
            train_config,
            dataset,
            labels=labels,
            run_dir=run_dir,
            history=history,
            run_config=run_config,
            verbose=verbose,
            trackers=trackers,
            group=group,
        ).run()
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
    if registry is not None and verbose and spec.sampler != PRIOR:
        print(f"Fitting the {spec.sampler} sampler to the training images' codings (samples draw from it)...")
    sampler = (
        None
        if registry is None
        else fitted_sampler(
            spec.sampler,
            registry,
            model,
            dataset,
            run_dir=run_dir,
            weights=kept_weights(run_dir, train_config),
            log=print if verbose else None,
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
