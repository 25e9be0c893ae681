"""genmodels: autoencoder-family generative models on Keras 3, extended through plugins.

Importing this package is cheap: TensorFlow is imported only when a model is built or one of
the Keras-based names below (`Encoder`, `GenerativeModel`, ...) is first used.

The Python API (docs/python.md): `genmodels.train(...)` and `genmodels.load(run_dir)` return a
`Run` with `sample`, `encode`, `decode`, `reconstruct` and `log_likelihood`; `genmodels.models()`
and `genmodels.datasets()` list the registry.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from genmodels.core.config import option
from genmodels.core.model_config import LikelihoodConfig, MLPConfig, ModelConfig
from genmodels.core.model_spec import ModelSpec
from genmodels.core.train_config import EPOCH_IMAGES, TrainConfig
from genmodels.core.version import __version__
from genmodels.plugins.hookspecs import hookimpl
from genmodels.training.tracking import Tracker, TrackerSpec

# Keras must use TensorFlow: the trainer's train_step is TensorFlow code.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

_LAZY = {
    "Distribution": "genmodels.nn.distributions",
    "DiagonalGaussian": "genmodels.nn.distributions",
    "Bernoulli": "genmodels.nn.distributions",
    "PointMass": "genmodels.nn.distributions",
    "Encoder": "genmodels.nn.interfaces",
    "Decoder": "genmodels.nn.interfaces",
    "LatentPrior": "genmodels.nn.interfaces",
    "Loss": "genmodels.nn.interfaces",
    "ForwardPass": "genmodels.nn.interfaces",
    "GenerativeModel": "genmodels.nn.model",
    "Dataset": "genmodels.data.dataset",
    "DatasetSpec": "genmodels.data.dataset",  # with NumPy: imported on first use
    "MetricSpec": "genmodels.evaluation.metric_context",
    "SamplerSpec": "genmodels.samplers.sampler",
    "Run": "genmodels.api",
    "load": "genmodels.api",
    "train": "genmodels.api",
    "models": "genmodels.api",
    "datasets": "genmodels.api",
}

__all__ = [
    "__version__",
    "EPOCH_IMAGES",
    "LikelihoodConfig",
    "MLPConfig",
    "ModelConfig",
    "ModelSpec",
    "TrainConfig",
    "Tracker",
    "TrackerSpec",
    "hookimpl",
    "option",
    *_LAZY,
]

if TYPE_CHECKING:  # the lazy names above, for type checkers
    from genmodels.api import Run, datasets, load, models, train  # noqa: F401
    from genmodels.data.dataset import Dataset, DatasetSpec  # noqa: F401
    from genmodels.evaluation.metric_context import MetricSpec  # noqa: F401
    from genmodels.samplers.sampler import SamplerSpec  # noqa: F401
    from genmodels.nn.distributions import Bernoulli, DiagonalGaussian, Distribution, PointMass  # noqa: F401
    from genmodels.nn.interfaces import Decoder, Encoder, ForwardPass, LatentPrior, Loss  # noqa: F401
    from genmodels.nn.model import GenerativeModel  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genmodels' has no attribute {name!r}")
