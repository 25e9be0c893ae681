"""What plugins register: model, dataset, tracker, metric and sampler specs. None of them imports TensorFlow."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genmodels.config import ModelConfig, TrainConfig

if TYPE_CHECKING:
    from genmodels.data import Dataset, TrainingImages
    from genmodels.metrics import MetricContext
    from genmodels.model import GenerativeModel
    from genmodels.samplers import FittedSampler
    from genmodels.tracking import Tracker

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# a name as a user may give it: NAME, or PROVIDER:NAME for one that more than one plugin registers
QUALIFIED_NAME_PATTERN = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*:)?[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model: its name, its config class and a function that builds it from a config.

    `build` receives an instance of `config` and returns a `genmodels.GenerativeModel`. Import
    TensorFlow inside `build` (not at module level) so that `genmodels list` stays instant.
    """

    name: str
    description: str
    build: Callable[[ModelConfig], GenerativeModel]
    config: type[ModelConfig] = ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    plugin: str = ""
    package: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: `load(data_dir)` returns a `genmodels.data.Dataset`, downloading into data_dir if needed.

    `features(data_dir)`, if given, returns the `genmodels.data.TrainingImages` that the dataset's feature
    network (for FID and precision/recall) is trained on: datasets of one family share them (binarized-mnist
    and mnist both give labelled MNIST digits). Without it the network is trained on the dataset's own
    training images: a classifier of its labels, or a reference autoencoder where it has none.
    """

    name: str
    description: str
    load: Callable[[Path], Dataset]
    features: Callable[[Path], TrainingImages] | None = None
    plugin: str = ""
    package: str = ""


@dataclass(frozen=True)
class TrackerSpec:
    """A named tracker, which receives training events (`genmodels.tracking.Tracker`): `create()` returns a new
    Tracker for one training, named in its `track` option.

    `create` is called when training starts, before anything is written to the run directory: raise a
    `genmodels.errors.ConfigError` there when an optional dependency is missing. Import heavy packages
    inside `create` or the tracker's methods, so that `genmodels list` stays instant.
    """

    name: str
    description: str
    create: Callable[[], Tracker]
    plugin: str = ""
    package: str = ""


@dataclass(frozen=True)
class MetricSpec:
    """A named evaluation metric (`genmodels evaluate MODEL --metrics NAME,...`).

    `compute(context)` receives a `genmodels.metrics.MetricContext` (the trained model, the scored split,
    the seed, the number of samples to draw, and shared helpers: generated samples, feature networks,
    cached real-data features) and returns its figures as a JSON-ready dict of numbers, strings and
    lists; evaluate adds the seed and the seconds taken and writes them to evaluation-SPLIT.json under
    the metric's name. Raise `genmodels.errors.NotApplicableError` when the metric does not apply to the
    model (the reason is recorded and the other metrics go on). `summary(figures)`, if given, returns the
    (label, value) rows evaluate prints; else every number is printed.
    """

    name: str
    description: str
    compute: Callable[[MetricContext], dict[str, Any]]
    summary: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None
    plugin: str = ""
    package: str = ""


@dataclass(frozen=True)
class SamplerSpec:
    """A latent sampler fitted after training (`genmodels sample MODEL --sampler NAME`, `evaluate --sampler`).

    `fit(train_codings, valid_codings, seed)` receives the posterior means of the run's training and validation
    images, (N, D) float64 arrays (the validation ones may be empty), and returns a
    `genmodels.samplers.FittedSampler`: what `sample` and the sample metrics then draw codings from. Choose any
    setting of the fit on the validation codings, never on test images. `load(arrays)` rebuilds a fitted sampler
    from the arrays its `arrays()` returned (genmodels saves them in the run directory, with the digest of the
    weights they were fitted to, and fits again when the weights change). Both run without TensorFlow.
    """

    name: str
    description: str
    fit: Callable[[Any, Any, int], FittedSampler]
    load: Callable[[dict[str, Any]], FittedSampler]
    plugin: str = ""
    package: str = ""
