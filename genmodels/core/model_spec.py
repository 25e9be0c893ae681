"""What a model plugin registers (ModelSpec: a name, a config class, a build function, a training recipe) and the names
it may take.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genmodels.core.model_config import ModelConfig
from genmodels.core.train_config import TrainConfig


# the sampler a model's samples draw their codings from unless its spec or the user names another: a Gaussian
# mixture fitted to the training codings (genmodels.samplers)
DEFAULT_SAMPLER = "gmm"

# A registered name: lower-case letters, digits, '.', '_' and '-'.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

# a name as a user may give it: NAME, or PROVIDER:NAME for one that more than one plugin registers
QUALIFIED_NAME_PATTERN = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*:)?[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model: its name, its config class and a function that builds it from a config.

    `build` receives an instance of `config` and returns a `genmodels.GenerativeModel`. Import
    TensorFlow inside `build` (not at module level) so that `genmodels list` stays instant.
    `sampler` names the latent sampler that `train` fits at its end and that `sample`, `evaluate`, the
    Python API and `genmodels serve` draw codings from unless told otherwise ("prior": the model's own prior;
    vq-vae names "pixelcnn").
    """

    name: str
    description: str
    build: Callable[[ModelConfig], Any]  # returns a genmodels.GenerativeModel
    config: type[ModelConfig] = ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: str = DEFAULT_SAMPLER
    plugin: str = ""
    package: str = ""
