"""The variational autoencoder of Kingma & Welling (2014), with the recipe of Geron's Hands-On ML, ch. 15."""

from __future__ import annotations

from genmodels import MLPConfig, ModelSpec, TrainConfig, hookimpl


def build(config: MLPConfig):
    """Gaussian reparameterised codings, an N(0, I) prior, KL latent loss and Bernoulli reconstruction loss."""
    from genmodels import GenerativeModel
    from genmodels.components import (
        BernoulliMLPDecoder,
        GaussianMLPEncoder,
        KLDivergence,
        Reconstruction,
        StandardNormalPrior,
    )

    mlp = dict(activation=config.activation, initializer=config.initializer)
    return GenerativeModel(
        encoder=GaussianMLPEncoder(config.latent_dim, hidden=config.hidden, **mlp),
        decoder=BernoulliMLPDecoder(config.input_dim, hidden=config.hidden[::-1], **mlp),
        prior=StandardNormalPrior(config.latent_dim),
        losses=[Reconstruction(), KLDivergence()],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vae",
            description="Variational autoencoder: Gaussian codings, N(0, I) prior, Bernoulli pixels.",
            build=build,
            config=MLPConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3),
        )
    )
