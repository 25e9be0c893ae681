"""genmodels: autoencoder-family generative models on Keras 3, extended through plugins.

Importing this package is cheap: TensorFlow is imported only when a model is built or one of
the Keras-based names below (`Encoder`, `GenerativeModel`, ...) is first used.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from genmodels.config import LikelihoodConfig, MLPConfig, ModelConfig, TrainConfig, option
from genmodels.hookspecs import hookimpl
from genmodels.specs import DatasetSpec, ModelSpec

__version__ = "0.1.0"

# Keras must use TensorFlow: the trainer's train_step is TensorFlow code.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

_LAZY = {
    "Distribution": "genmodels.distributions",
    "DiagonalGaussian": "genmodels.distributions",
    "Bernoulli": "genmodels.distributions",
    "PointMass": "genmodels.distributions",
    "Encoder": "genmodels.interfaces",
    "Decoder": "genmodels.interfaces",
    "LatentPrior": "genmodels.interfaces",
    "Loss": "genmodels.interfaces",
    "ForwardPass": "genmodels.interfaces",
    "GenerativeModel": "genmodels.model",
}

__all__ = ["DatasetSpec", "LikelihoodConfig", "MLPConfig", "ModelConfig", "ModelSpec", "TrainConfig", "hookimpl", "option", *_LAZY]

if TYPE_CHECKING:
    from genmodels.distributions import Bernoulli, DiagonalGaussian, Distribution, PointMass
    from genmodels.interfaces import Decoder, Encoder, ForwardPass, LatentPrior, Loss
    from genmodels.model import GenerativeModel


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genmodels' has no attribute {name!r}")
