"""The VampPrior VAE of Tomczak & Welling (2018): the seed's VAE whose prior is learned.

    p(z) = (1/K) sum_k q(z | u_k)

is a mixture of the encoder's own posteriors at K pseudo-inputs u_k, images learned with the rest
of the model. There is no closed-form KL to it, so the KL term is the one-sample Monte Carlo
estimate log q(z|x) - log p(z) that every prior inherits. Only the prior differs from `vae`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genmodels import MLPConfig, ModelSpec, TrainConfig, hookimpl, option


@dataclass
class VampConfig(MLPConfig):
    """The VAE's architecture and the number of pseudo-inputs of its prior."""

    components: int = option(500, "Pseudo-inputs: the mixture components of the prior.", minimum=1)


def vamp_prior(encoder, components: int, input_dim: int):
    """A LatentPrior mixing `encoder`'s posteriors at `components` learned pseudo-inputs."""
    import keras
    from keras import ops

    from genmodels.distributions import LOG_2PI, standard_normal
    from genmodels.interfaces import LatentPrior

    class VampPrior(LatentPrior):
        """(1/K) sum_k q(z | u_k), with pseudo-inputs u_k = sigmoid(w_k) in [0, 1]."""

        def build(self, input_shape=None):
            self.pseudo_logits = self.add_weight(
                shape=(components, input_dim), initializer=keras.initializers.RandomNormal(stddev=0.5), name="pseudo_logits"
            )
            self.built = True

        def _components(self):
            posterior = encoder(ops.sigmoid(self.pseudo_logits))
            return posterior.loc, posterior.log_var  # (K, latent_dim) each

        def log_prob(self, z):
            loc, log_var = self._components()
            precision = ops.exp(-log_var)
            # sum_d (z - loc)^2 / var for every (row, component), as matrix products: (B, K)
            squared = ops.matmul(ops.square(z), ops.transpose(precision)) - 2.0 * ops.matmul(z, ops.transpose(loc * precision))
            squared = squared + ops.sum(ops.square(loc) * precision, axis=-1)
            log_components = -0.5 * (self.latent_dim * LOG_2PI + ops.sum(log_var, axis=-1) + squared)
            return ops.logsumexp(log_components, axis=-1) - math.log(components)

        def marginal_log_prob(self, z):
            loc, log_var = self._components()  # (K, d): each coordinate's marginal is a mixture of K normals
            squared = ops.square(z[:, None, :] - loc[None]) * ops.exp(-log_var)[None]
            return ops.logsumexp(-0.5 * (LOG_2PI + log_var[None] + squared), axis=1) - math.log(components)

        def sample(self, n, seed=None):
            loc, log_var = self._components()
            which = keras.random.randint((n,), 0, components, seed=seed)
            loc, log_var = ops.take(loc, which, axis=0), ops.take(log_var, which, axis=0)
            return loc + ops.exp(0.5 * log_var) * standard_normal((n, self.latent_dim), seed=seed)

    return VampPrior(encoder.latent_dim)


def build(config: VampConfig):
    """The seed's VAE with a VampPrior over its codings."""
    from genmodels.components import mlp_vae

    return mlp_vae(config, prior=lambda encoder: vamp_prior(encoder, config.components, config.input_dim))


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vamp",
            description="VampPrior VAE: a prior mixing the encoder's posteriors at learned pseudo-inputs.",
            build=build,
            config=VampConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3),
        )
    )
