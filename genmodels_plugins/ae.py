"""A plain autoencoder beside the VAE: deterministic codings and only the reconstruction loss.

It has no prior of its own; after training, a diagonal Gaussian is fitted to the training codings
and decoded draws from it serve as samples, which shows what the VAE's latent loss buys.
"""

from __future__ import annotations

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl


def build(config: MLPConfig):
    """The VAE's MLPs with a deterministic coding, a fitted Gaussian prior and reconstruction loss only."""
    from genmodels.components import FittedGaussianPrior, Reconstruction, mlp_autoencoder

    return mlp_autoencoder(config, prior=FittedGaussianPrior(config.latent_dim), losses=[Reconstruction()])


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="ae",
            description="Plain autoencoder: deterministic codings; samples from a Gaussian fitted to them.",
            build=build,
            config=MLPConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
