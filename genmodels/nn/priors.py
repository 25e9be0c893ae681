"""Priors over the codings: N(0, I), a Gaussian fitted to the codings after training, and the VampPrior."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math
from typing import Any

import keras
from keras import ops

from genmodels.nn.distributions import LOG_2PI, DiagonalGaussian
from genmodels.nn.interfaces import Encoder, LatentPrior
from genmodels.nn.random import standard_normal


class StandardNormalPrior(LatentPrior):
    """p(z) = N(0, I), with the closed-form KL for Gaussian posteriors."""

    def sample(self, n, seed=None):
        return standard_normal((n, self.latent_dim), seed=seed)

    def log_prob(self, z):
        return -0.5 * ops.sum(LOG_2PI + ops.square(z), axis=-1)

    def marginal_log_prob(self, z):
        return -0.5 * (LOG_2PI + ops.square(z))

    def kl(self, posterior, z):
        if isinstance(posterior, DiagonalGaussian):
            return posterior.kl_to_standard_normal()
        return super().kl(posterior, z)


class FittedGaussianPrior(LatentPrior):
    """A diagonal Gaussian fitted to the training codings after training (for models with no prior of their own).

    Its mean and log-variance are non-trainable weights, so they are saved with the model.
    """

    def build(self, input_shape=None):
        self.loc = self.add_weight(shape=(self.latent_dim,), initializer="zeros", trainable=False, name="loc")
        self.log_var = self.add_weight(shape=(self.latent_dim,), initializer="zeros", trainable=False, name="log_var")
        self.built = True

    def _distribution(self, n):
        loc = ops.broadcast_to(self.loc, (n, self.latent_dim))
        return DiagonalGaussian(loc, ops.broadcast_to(self.log_var, (n, self.latent_dim)))

    def sample(self, n, seed=None):
        return self._distribution(n).sample(seed)

    def log_prob(self, z):
        return self._distribution(ops.shape(z)[0]).log_prob(z)

    def marginal_log_prob(self, z):
        return -0.5 * (LOG_2PI + self.log_var + ops.square(z - self.loc) * ops.exp(-self.log_var))

    def adapt(self, codings):
        codings = ops.convert_to_tensor(codings)
        self.loc.assign(ops.mean(codings, axis=0))
        self.log_var.assign(ops.log(ops.var(codings, axis=0) + 1e-6))


class VampPrior(LatentPrior):
    """The VampPrior of Tomczak & Welling (2018): (1/K) sum_k q(z | u_k), the mixture of `encoder`'s own Gaussian
    posteriors at K learned pseudo-inputs u_k = sigmoid(w_k) in [0, 1]^input_dim.

    The encoder's weights belong to the model's encoder; the prior adds only the pseudo-inputs' logits.
    """

    def __init__(self, encoder: Encoder, components: int, input_dim: int, **kwargs: Any):
        super().__init__(encoder.latent_dim, **kwargs)
        object.__setattr__(self, "_encoder", encoder)  # not tracked by Keras: its weights are saved with the encoder
        self.components, self.input_dim = components, input_dim

    def build(self, input_shape=None):
        self.pseudo_logits = self.add_weight(
            shape=(self.components, self.input_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.5),
            name="pseudo_logits",
        )
        self.built = True

    def _mixture(self):
        posterior = self._encoder(ops.sigmoid(self.pseudo_logits))
        return posterior.loc, posterior.log_var  # (K, latent_dim) each

    def log_prob(self, z):
        loc, log_var = self._mixture()
        precision = ops.exp(-log_var)
        # sum_d (z - loc)^2 / var for every (row, component), as matrix products: (B, K)
        squared = ops.matmul(ops.square(z), ops.transpose(precision)) - 2.0 * ops.matmul(
            z, ops.transpose(loc * precision)
        )
        squared = squared + ops.sum(ops.square(loc) * precision, axis=-1)
        log_components = -0.5 * (self.latent_dim * LOG_2PI + ops.sum(log_var, axis=-1) + squared)
        return ops.logsumexp(log_components, axis=-1) - math.log(self.components)

    def marginal_log_prob(self, z):
        loc, log_var = self._mixture()  # (K, d): each coordinate's marginal is a mixture of K normals
        squared = ops.square(z[:, None, :] - loc[None]) * ops.exp(-log_var)[None]
        return ops.logsumexp(-0.5 * (LOG_2PI + log_var[None] + squared), axis=1) - math.log(self.components)

    def sample(self, n, seed=None):
        loc, log_var = self._mixture()
        which = keras.random.randint((n,), 0, self.components, seed=seed)
        loc, log_var = ops.take(loc, which, axis=0), ops.take(log_var, which, axis=0)
        return loc + ops.exp(0.5 * log_var) * standard_normal((n, self.latent_dim), seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "components": self.components, "input_dim": self.input_dim}
