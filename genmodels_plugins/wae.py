"""The Wasserstein autoencoder with an MMD penalty (WAE-MMD, Tolstikhin et al. 2018).

Deterministic codings, as the plain autoencoder's, pressed towards N(0, I) as a whole rather than image by
image: the cost is the reconstruction plus lambda times the MMD between the batch's codings and as many draws
of the prior (`genmodels.components.MaximumMeanDiscrepancy`). Its `loss` is that sum unweighted; it has no
ELBO and no likelihood estimate (the posterior is a point mass). Samples decode draws of the sampler fitted
after training (`--sampler prior`: the N(0, I) the MMD aimed at).
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class WAEConfig(MLPConfig):
    """The VAE's architecture and the weight of the MMD penalty."""

    mmd_weight: float = option(10.0, "Weight (lambda) of the MMD between the codings and N(0, I) in the cost.")

    def validate(self) -> None:
        super().validate()
        if not self.mmd_weight >= 0:
            raise ConfigError(f"mmd_weight must be 0 or more, received {self.mmd_weight!r}.")


def build(config: WAEConfig):
    """The VAE's MLPs with a deterministic coding, N(0, I) as the target of the MMD, reconstruction + MMD."""
    from genmodels.components import MaximumMeanDiscrepancy, Reconstruction, StandardNormalPrior, mlp_autoencoder

    return mlp_autoencoder(
        config,
        prior=StandardNormalPrior(config.latent_dim),
        losses=[Reconstruction(), MaximumMeanDiscrepancy(weight=config.mmd_weight)],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="wae",
            description="Wasserstein autoencoder (WAE-MMD): deterministic codings pressed to N(0, I) by an MMD penalty.",
            build=build,
            config=WAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
