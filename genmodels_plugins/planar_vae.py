"""The VAE with a planar-flow posterior (Rezende & Mohamed 2015).

The encoder's diagonal Gaussian is pushed through -o flows planar steps f(z) = z + u tanh(w.z + b)
(`genmodels.components.FlowMLPEncoder`, `PlanarStep`): a posterior that can bend and skew, so the gap between the
ELBO and the likelihood narrows. Each step's u, w and b are its own weights, the same for every image; with
-o amortized=true the encoder gives them per image, a richer posterior that trains less stably. The KL term is the one-draw estimate
log q(z_K|x) - log p(z_K), with log q exact through the flow's log-determinants; `loss` is the negative ELBO and
the likelihood is estimated by importance sampling with the flow as the proposal, as for the plain VAE.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class PlanarVAEConfig(MLPConfig):
    """The VAE's architecture and the number of planar steps of its posterior."""

    flows: int = option(10, "Planar steps after the encoder's Gaussian.")
    amortized: bool = option(False, "Whether the encoder gives each image its own steps (else the steps' own weights).")

    def validate(self) -> None:
        super().validate()
        if not 1 <= self.flows <= 100:
            raise ConfigError(f"flows must be between 1 and 100, received {self.flows!r}.")


def build(config: PlanarVAEConfig):
    """The seed's VAE whose encoder ends in `flows` planar steps."""
    from genmodels.components import FlowMLPEncoder, PlanarStep, mlp_vae

    steps = [PlanarStep(config.latent_dim, config.amortized, name=f"planar{i}") for i in range(1, config.flows + 1)]
    encoder = FlowMLPEncoder(
        config.latent_dim, steps, hidden=config.hidden, activation=config.activation, initializer=config.initializer
    )
    return mlp_vae(config, encoder=encoder)


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="planar-vae",
            description="The VAE with a posterior of planar flows after the encoder's Gaussian (-o flows=10).",
            build=build,
            config=PlanarVAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
