"""The VampPrior VAE of Tomczak & Welling (2018): the seed's VAE whose prior is learned.

    p(z) = (1/K) sum_k q(z | u_k)

is a mixture of the encoder's own posteriors at K pseudo-inputs u_k, images learned with the rest
of the model. There is no closed-form KL to it, so the KL term is the one-sample Monte Carlo
estimate log q(z|x) - log p(z) that every prior inherits. Only the prior differs from `vae`; the prior
itself is `genmodels.components.VampPrior`, for any model to use.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option


@dataclass
class VampConfig(MLPConfig):
    """The VAE's architecture and the number of pseudo-inputs of its prior."""

    components: int = option(500, "Pseudo-inputs: the mixture components of the prior.", minimum=1)


def build(config: VampConfig):
    """The seed's VAE with a VampPrior over its codings."""
    from genmodels.components import VampPrior, mlp_vae

    return mlp_vae(config, prior=lambda encoder: VampPrior(encoder, config.components, config.input_dim))


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vamp",
            description="VampPrior VAE: a prior mixing the encoder's posteriors at learned pseudo-inputs.",
            build=build,
            config=VampConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
