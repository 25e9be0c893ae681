"""FactorVAE (Kim & Mnih 2018): the VAE plus gamma times the total correlation of its codings, estimated by a
discriminator trained on an optimizer of its own.

The discriminator (`genmodels.components.CodingCritic`, a critic in genmodels' terms) learns to tell the batch's
codings, draws of the aggregate posterior q(z), from the same codings with each dimension shuffled across the
batch, draws of the product of its marginals. Its logit then estimates log q(z) / prod_d q(z_d), whose mean is the
total correlation: the `tc` term, weighted by gamma in the VAE's cost, presses the codings towards independent
dimensions. After each step of the VAE the discriminator takes one step of its own (Adam 1e-4, beta_1 0.5); its
loss is reported as `discriminator`. `tc` is auxiliary: `loss` stays the negative ELBO, and the likelihood
estimate is the VAE's.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class FactorVAEConfig(MLPConfig):
    """The VAE's architecture, the weight of the total correlation and the discriminator's size."""

    gamma: float = option(10.0, "Weight of the discriminator's total-correlation estimate in the cost.")
    critic_hidden: tuple[int, ...] = option((1000, 1000), "Hidden layers of the discriminator, comma-separated.")

    def validate(self) -> None:
        super().validate()
        if not self.gamma >= 0:
            raise ConfigError(f"gamma must be 0 or more, received {self.gamma!r}.")


def build(config: FactorVAEConfig):
    """The seed's VAE, an auxiliary total-correlation term weighted by gamma, and the discriminator behind it."""
    from genmodels.components import CodingCritic, KLDivergence, Reconstruction, mlp_vae
    from genmodels.interfaces import Loss

    import keras  # after genmodels, which imports TensorFlow quietly
    from keras import ops

    class ShuffledDimensionsCritic(CodingCritic):
        """Real: the batch's codings; fake: each dimension of them shuffled across the batch on its own."""

        def real(self, forward):
            return forward.z

        def fake(self, forward):
            z = forward.z
            order = ops.argsort(keras.random.uniform(ops.shape(z), seed=forward.seed), axis=0)
            return ops.take_along_axis(z, order, axis=0)

    critic = ShuffledDimensionsCritic(hidden=config.critic_hidden, name="discriminator")

    class TotalCorrelation(Loss):
        """The discriminator's logit of each image's coding: their mean estimates TC(q(z))."""

        name, auxiliary = "tc", True

        def __init__(self, weight: float):
            self.weight = weight

        def __call__(self, forward):
            return critic.logit(forward.z)

    return mlp_vae(
        config,
        losses=[Reconstruction(), KLDivergence(), TotalCorrelation(config.gamma)],
        critics=[critic],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="factor-vae",
            description="FactorVAE: the VAE with a discriminator's total-correlation estimate weighted by gamma.",
            build=build,
            config=FactorVAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
