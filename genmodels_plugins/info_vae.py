"""InfoVAE (Zhao et al. 2019) in its MMD form: the VAE plus an MMD between the codings and the prior.

The cost is the reconstruction, (1 - alpha) times the KL term, and (alpha + lambda - 1) times the MMD between the
batch's codings and draws of N(0, I) (`genmodels.components.MaximumMeanDiscrepancy`): with alpha = 0 the full
ELBO with an extra push of the aggregate posterior towards the prior, which keeps the codings informative where
the KL alone lets the decoder ignore them. The MMD is an auxiliary term, so `loss` stays the negative ELBO and the
likelihood estimate is the VAE's: runs compare directly with `vae`.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class InfoVAEConfig(MLPConfig):
    """The VAE's architecture, alpha (the KL's weight is 1 - alpha) and lambda (the MMD's is alpha + lambda - 1)."""

    alpha: float = option(0.0, "The KL term counts 1 - alpha in the cost (0: the whole KL, 1: none).")
    lbd: float = option(100.0, "lambda: the MMD term counts alpha + lambda - 1 in the cost.")

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be between 0 and 1, received {self.alpha!r}.")
        if not self.alpha + self.lbd - 1.0 >= 0:
            raise ConfigError(
                f"alpha + lbd - 1 (the MMD's weight) must be 0 or more, received {self.alpha + self.lbd - 1}."
            )


def build(config: InfoVAEConfig):
    """The seed's VAE with its KL weighted by 1 - alpha and an auxiliary MMD term weighted by alpha + lambda - 1."""
    from genmodels.components import KLDivergence, MaximumMeanDiscrepancy, Reconstruction, mlp_vae

    return mlp_vae(
        config,
        losses=[
            Reconstruction(),
            KLDivergence(weight=1.0 - config.alpha),
            MaximumMeanDiscrepancy(weight=config.alpha + config.lbd - 1.0, auxiliary=True),
        ],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="info-vae",
            description="InfoVAE: the VAE plus an MMD between its codings and N(0, I) (-o alpha=0 -o lbd=100).",
            build=build,
            config=InfoVAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
