"""What plugins register: model, dataset and tracker specs. None of them imports TensorFlow."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genmodels.config import ModelConfig, TrainConfig

if TYPE_CHECKING:
    from genmodels.data import Dataset
    from genmodels.model import GenerativeModel
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
    """A named dataset: `load(data_dir)` returns a `genmodels.data.Dataset`, downloading into data_dir if needed."""

    name: str
    description: str
    load: Callable[[Path], Dataset]
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
