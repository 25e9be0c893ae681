"""The beta-VAE of Higgins et al. (2017): the seed's VAE with its KL term weighted by beta.

beta > 1 presses the codings towards the prior (smoother, more disentangled latent factors, blurrier
reconstructions); beta < 1 loosens it. The reported `loss` stays the unweighted negative ELBO, so
runs with different betas compare directly. Combine with `--kl-warmup EPOCHS` for a warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class BetaVAEConfig(MLPConfig):
    """The VAE's architecture and the weight of its KL term."""

    beta: float = option(4.0, "Weight of the KL term in the cost (1: the plain VAE).")

    def validate(self) -> None:
        super().validate()
        if not self.beta > 0:
            raise ConfigError(f"beta must be positive, received {self.beta!r}.")


def build(config: BetaVAEConfig):
    """The seed's VAE whose KL term counts beta times in the cost."""
    from genmodels.components import KLDivergence, Reconstruction, mlp_vae

    return mlp_vae(config, losses=[Reconstruction(), KLDivergence(weight=config.beta)])


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="beta-vae",
            description="beta-VAE: the VAE with its KL term weighted by beta (-o beta=4).",
            build=build,
            config=BetaVAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
