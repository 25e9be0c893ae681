"""The VAE with an inverse autoregressive flow posterior (IAF, Kingma et al. 2016).

The encoder gives a diagonal Gaussian and, for each step, a context vector h; -o flows inverse autoregressive steps follow
(`genmodels.components.AutoregressiveStep`): in each, a MADE of z and h gives every dimension a shift m and a
gate sigma from the dimensions before it, z <- sigma z + (1 - sigma) m, the order of the dimensions reversed
from one step to the next. All dimensions move in one parallel pass, and log q(z|x) stays exact (the sum of
log sigma). `loss` is the negative ELBO; the likelihood is estimated with the flow as the proposal.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class IAFVAEConfig(MLPConfig):
    """The VAE's architecture, the number of IAF steps, their MADEs' hidden layers and the context's width."""

    flows: int = option(4, "Inverse autoregressive steps after the encoder's Gaussian.")
    made_hidden: tuple[int, ...] = option((320, 320), "Hidden layers of each step's MADE, comma-separated.")
    context: int = option(100, "Width of the context h the encoder gives every step.")

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.flows <= 50:
            raise ConfigError(f"flows must be between 1 and 50, received {self.flows!r}.")
        if not self.made_hidden or min(self.made_hidden) < 1 or self.context < 1:
            raise ConfigError(
                f"made_hidden needs at least one layer of 1 or more units and context 1 or more; received "
                f"made_hidden={self.made_hidden!r}, context={self.context!r}."
            )


def build(config: IAFVAEConfig):
    """The seed's VAE whose encoder ends in `flows` IAF steps, each given a context from the encoder's hidden layers."""
    from genmodels.components import FlowMLPEncoder, autoregressive_steps, mlp_vae

    steps = autoregressive_steps(config.flows, config.latent_dim, config.context, config.made_hidden)
    encoder = FlowMLPEncoder(
        config.latent_dim, steps, hidden=config.hidden, activation=config.activation, initializer=config.initializer
    )
    return mlp_vae(config, encoder=encoder)


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="iaf-vae",
            description="The VAE with an inverse autoregressive flow posterior (-o flows=4).",
            build=build,
            config=IAFVAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
