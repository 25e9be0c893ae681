"""The adversarial autoencoder (Makhzani et al. 2016): a deterministic autoencoder whose codings a discriminator
presses towards the prior N(0, I).

The discriminator (`genmodels.components.CodingCritic`) learns to tell draws of the prior from the batch's codings
on an optimizer of its own, one step after each step of the autoencoder; its loss is reported as
`discriminator`. The encoder is trained to fool it: the `adversarial` term -log D(z) per image, weighted by
-o adversarial_weight, joins the reconstruction in the cost. The adversarial term is auxiliary (it measures the
discriminator as much as the codings), so `loss` is the reconstruction: the run is selected on it, and its
samples are judged by FID. The posterior is a point mass: no likelihood estimate. Samples decode draws of the
sampler fitted after training (`--sampler prior`: the N(0, I) the codings were pressed to).
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class AAEConfig(MLPConfig):
    """The VAE's architecture, the weight of the adversarial term and the discriminator's size."""

    adversarial_weight: float = option(1.0, "Weight of the encoder's adversarial term -log D(z) in the cost.")
    critic_hidden: tuple[int, ...] = option((1000, 1000), "Hidden layers of the discriminator, comma-separated.")

    def validate(self) -> None:
        super().validate()
        if not self.adversarial_weight >= 0:
            raise ConfigError(f"adversarial_weight must be 0 or more, received {self.adversarial_weight!r}.")


def build(config: AAEConfig):
    """The VAE's MLPs with a deterministic coding, a discriminator of codings against N(0, I) draws, and the
    reconstruction plus the weighted adversarial term."""
    from genmodels.components import CodingCritic, Reconstruction, StandardNormalPrior, mlp_autoencoder
    from genmodels.interfaces import Loss

    from keras import ops  # after genmodels, which imports TensorFlow quietly

    critic = CodingCritic(hidden=config.critic_hidden, name="discriminator")

    class Adversarial(Loss):
        """-log D(z) = softplus(-logit(z)) per image: small when the discriminator takes the coding for a prior draw."""

        name, auxiliary = "adversarial", True

        def __init__(self, weight: float):
            self.weight = weight

        def __call__(self, forward):
            return ops.softplus(-critic.logit(forward.z))

    return mlp_autoencoder(
        config,
        prior=StandardNormalPrior(config.latent_dim),
        losses=[Reconstruction(), Adversarial(config.adversarial_weight)],
        critics=[critic],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="aae",
            description="Adversarial autoencoder: deterministic codings pressed to N(0, I) by a discriminator.",
            build=build,
            config=AAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
