"""The importance-weighted autoencoder of Burda et al. (2015): the seed's VAE trained on the k-sample bound.

    -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)

is a tighter bound on -log p(x) than the negative ELBO (k = 1), and tightens as k grows; the
model's `loss` is this bound (`genmodels.components.ImportanceWeightedBound`). Only the loss term differs from `vae`.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option


@dataclass
class IWAEConfig(MLPConfig):
    """The VAE's architecture and the number of importance samples per training image."""

    k: int = option(5, "Importance samples per image in the training bound (1: the VAE's ELBO).", minimum=1)


def build(config: IWAEConfig):
    """The seed's VAE whose only loss term is the k-sample importance-weighted bound."""
    from genmodels.components import ImportanceWeightedBound, mlp_vae

    return mlp_vae(config, losses=[ImportanceWeightedBound(config.k)])


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="iwae",
            description="Importance-weighted autoencoder: the VAE trained on the k-sample bound (-o k=5).",
            build=build,
            config=IWAEConfig,
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, epoch_images=EPOCH_IMAGES),
        )
    )
