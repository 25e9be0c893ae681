"""What a sampler plugin provides: a FittedSampler (codings drawn from a density fitted after training) and its
SamplerSpec. Fitting, saving and loading a run's sampler is genmodels.samplers.fitting's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


PRIOR = "prior"  # the model's own prior, fitted to nothing


class FittedSampler(ABC):
    """A density over codings, fitted after training: what a `SamplerSpec`'s `fit` returns and `load` rebuilds."""

    @abstractmethod
    def sample(self, n: int, seed: int) -> np.ndarray:
        """`n` codings, float32, shaped as the model's codings, (n, *coding_shape), or flat, (n, D); the same seed
        gives the same codings."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """Everything `load` needs to rebuild this sampler, as named NumPy arrays (saved with np.savez, no pickle)."""

    def info(self) -> dict[str, Any]:
        """JSON-ready facts about the fit (its settings, its score on the validation codings), shown and stored."""
        return {}

    def graph_sample(self, n, seed):
        """Optional: `n` codings drawn with TensorFlow operations only (import TensorFlow inside), for an exported
        model's `sample` to run in its SavedModel. `n` is a scalar int32 tensor and `seed` a scalar int64 tensor;
        the same seed must give the same codings (use stateless random operations seeded from `seed`). The draws
        follow the distribution of `sample`'s, not its numbers (NumPy's generator is not TensorFlow's). A sampler
        without it (the default raises NotImplementedError) is not exported: see `in_graph`."""
        raise NotImplementedError(f"{type(self).__name__} draws its codings in NumPy only.")

    @property
    def in_graph(self) -> bool:
        """Whether this sampler can draw inside a TensorFlow graph (its class overrides `graph_sample`)."""
        return type(self).graph_sample is not FittedSampler.graph_sample


def standardized_rows(
    train: np.ndarray, valid: np.ndarray, rng: np.random.Generator, limit: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Codings as a sampler that works on standardized rows fits them: `train` and `valid` flattened to rows, at most
    `limit` training rows (drawn with `rng`), each dimension centred and scaled by the training rows' mean and
    standard deviation. Returns (train rows, validation rows or None when there are none, center, scale), the rows
    float32; a draw x in that space is x * scale + center in the codings'."""
    train, valid = (np.asarray(c, np.float64).reshape(len(c), int(np.prod(np.shape(c)[1:]))) for c in (train, valid))
    if len(train) > limit:
        train = train[rng.choice(len(train), limit, replace=False)]
    center, scale = train.mean(axis=0), train.std(axis=0) + 1e-6
    x_valid = ((valid - center) / scale).astype(np.float32) if len(valid) else None
    return ((train - center) / scale).astype(np.float32), x_valid, center, scale


@dataclass(frozen=True)
class SamplerSpec:
    """A latent sampler fitted after training (`genmodels sample MODEL --sampler NAME`, `evaluate --sampler`).

    `fit(train_codings, valid_codings, seed)` receives the posterior means of the run's training and validation
    images, float64 arrays shaped (N, *coding_shape) (`GenerativeModel.coding_shape`: (N, D) rows for most
    models, (N, 7, 7, 16) maps of code vectors for vq-vae on digits; the validation ones may be empty; a sampler
    that treats codings as rows flattens them), and returns a `genmodels.samplers.FittedSampler`: what `sample`
    and the sample metrics then draw codings from. Its draws may be shaped as the codings or flat; genmodels
    flattens them, in row-major order, before decoding. A sampler that cannot model the codings it is given
    raises ConfigError with one line that says why (the pixelcnn sampler refuses flat rows). Choose any setting
    of the fit on the validation codings, never on test images. `load(arrays)` rebuilds a fitted sampler from the
    arrays its `arrays()` returned (genmodels saves them in the run directory, with the digest of the weights
    they were fitted to, and fits again when the weights change). A `fit` that takes a keyword argument `log`
    is given a function that shows one line of progress to the user (the pixelcnn sampler reports every
    500th of its steps), or None. `load` and the sampler's `sample` run without
    TensorFlow (the maf, two-stage and pixelcnn samplers run their networks in NumPy from weights kept as
    arrays); `fit` may import it inside itself (the two-stage sampler trains a second VAE, the pixelcnn sampler
    a PixelCNN).
    """

    name: str
    description: str
    fit: Callable[[Any, Any, int], FittedSampler]
    load: Callable[[dict[str, Any]], FittedSampler]
    plugin: str = ""
    package: str = ""
