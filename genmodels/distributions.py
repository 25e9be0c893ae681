"""Probability distributions over batches of vectors, written with keras.ops (no TF Probability).

Every `log_prob` sums over the last axis and returns one value per example.
"""

from __future__ import annotations

import genmodels.backend  # noqa: F401  (TensorFlow, imported quietly)

import copy
import math
from abc import ABC, abstractmethod

import keras
import tensorflow as tf
from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


def philox_seed(seed_generator: keras.random.SeedGenerator):
    """The next seed pair of `seed_generator`, for TensorFlow's stateless draws with alg="philox".

    Draws name Philox because Keras' default ("auto_select") compiles under XLA on a CPU into code
    8x slower, a tenth of a training epoch; both give the same numbers."""
    return tf.cast(tf.math.floormod(seed_generator.next(), 2**31 - 1), tf.int32)


def standard_normal(shape, seed: keras.random.SeedGenerator | int | None = None, dtype="float32"):
    """N(0, 1) draws; from a SeedGenerator through Philox (see `philox_seed`)."""
    if isinstance(seed, keras.random.SeedGenerator):
        return tf.random.stateless_normal(shape, seed=philox_seed(seed), dtype=dtype, alg="philox")
    return keras.random.normal(shape, seed=seed, dtype=dtype)


def as_float32(tensor):
    """`tensor` in float32: the probability maths stays in full precision when layers compute in bfloat16."""
    return ops.cast(tensor, "float32")


class Distribution(ABC):
    """A batch of distributions, one per row."""

    @abstractmethod
    def sample(self, seed: keras.random.SeedGenerator | int | None = None):
        """One draw per row."""

    @abstractmethod
    def mean(self):
        """The expected value per row."""

    def log_prob(self, value):
        """log density (or mass) of `value`, summed over the last axis."""
        raise NotImplementedError(f"{type(self).__name__} has no density.")

    def repeat(self, k: int) -> Distribution:
        """The whole batch k times over, stacked along the first axis (rows 0..B-1, then again).

        This default tiles every tensor attribute; a distribution with other state overrides it.
        """
        repeated = copy.copy(self)
        for name, value in vars(self).items():
            if keras.ops.is_tensor(value):
                setattr(repeated, name, ops.tile(value, [k] + [1] * (len(value.shape) - 1)))
        return repeated


class DiagonalGaussian(Distribution):
    """N(mean, diag(exp(log_var))), sampled by reparameterisation so gradients reach both parameters."""

    def __init__(self, mean, log_var):
        self.loc = as_float32(mean)
        self.log_var = as_float32(log_var)

    def sample(self, seed=None):
        eps = standard_normal(ops.shape(self.loc), seed=seed, dtype=self.loc.dtype)
        return self.loc + ops.exp(0.5 * self.log_var) * eps

    def mean(self):
        return self.loc

    def log_prob(self, value):
        squared = ops.square(value - self.loc) * ops.exp(-self.log_var)
        return -0.5 * ops.sum(LOG_2PI + self.log_var + squared, axis=-1)

    def kl_to_standard_normal(self):
        """KL(self || N(0, I)) in closed form: 0.5 * sum(exp(log_var) + mean^2 - 1 - log_var)."""
        return 0.5 * ops.sum(ops.exp(self.log_var) + ops.square(self.loc) - 1.0 - self.log_var, axis=-1)


class Bernoulli(Distribution):
    """Independent Bernoulli variables given by their logits; the decoder's output for binary images."""

    def __init__(self, logits):
        self.logits = as_float32(logits)

    def sample(self, seed=None):
        uniform = keras.random.uniform(ops.shape(self.logits), seed=seed, dtype=self.logits.dtype)
        return ops.cast(uniform < self.mean(), self.logits.dtype)

    def mean(self):
        return ops.sigmoid(self.logits)

    def log_prob(self, value):
        # -(sigmoid cross-entropy), in the stable form max(l, 0) - l*x + log(1 + exp(-|l|)).
        logits = self.logits
        cross_entropy = ops.relu(logits) - logits * value + ops.log1p(ops.exp(-ops.abs(logits)))
        return -ops.sum(cross_entropy, axis=-1)


class PointMass(Distribution):
    """A deterministic value (the plain autoencoder's coding): sampling returns it, it has no density."""

    def __init__(self, value):
        self.value = as_float32(value)

    def sample(self, seed=None):
        return self.value

    def mean(self):
        return self.value
