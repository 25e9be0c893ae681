"""The variational autoencoder of Kingma & Welling (2014), with the recipe of Geron's Hands-On ML, ch. 15."""

from __future__ import annotations

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl


def build(config: MLPConfig):
    """Gaussian reparameterised codings, an N(0, I) prior, KL latent loss and Bernoulli reconstruction loss."""
    from genmodels.components import mlp_vae

    return mlp_vae(config)


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vae",
            description="Variational autoencoder: Gaussian codings, N(0, I) prior, Bernoulli pixels.",
            build=build,
            config=MLPConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
