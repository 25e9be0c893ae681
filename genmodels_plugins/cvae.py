"""The conditional VAE (Sohn et al. 2015; Kingma et al. 2014's M2 with labels given): the seed's VAE
whose encoder and decoder both see the image's digit, so `genmodels sample cvae --label 7` draws
sevens. It models p(x|y): the codings keep the style, the label the class.

Only the parts' inputs differ from `vae`: the core passes every conditional model's encoder and
decoder the one-hot label, and the MLP parts concatenate it to their input.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, MLPConfig, ModelSpec, TrainConfig, hookimpl, option


@dataclass
class CVAEConfig(MLPConfig):
    """The VAE's architecture and the number of classes of its labels."""

    classes: int = option(
        10, "Classes of the labels it is conditioned on: labels run from 0 to classes - 1.", minimum=1
    )


def build(config: CVAEConfig):
    """The seed's VAE with the label given to its encoder and decoder."""
    from genmodels.components import mlp_vae

    return mlp_vae(config, classes=config.classes)


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="cvae",
            description="Conditional VAE: encoder and decoder see the digit's label; sample --label 7 draws sevens.",
            build=build,
            config=CVAEConfig,
            # labelled grey MNIST, each pixel drawn anew at every step
            train=TrainConfig(
                dataset="mnist",
                dynamic_binarize=True,
                epochs=50,
                batch_size=150,
                learning_rate=1e-3,
                epoch_images=EPOCH_IMAGES,
            ),
        )
    )
