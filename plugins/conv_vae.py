"""A convolutional VAE for square images: strided convolutions down to the codings, transposed ones back.

Only the encoder and decoder differ from `vae`; the prior, the losses and every command are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genmodels import ModelConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class ConvConfig(ModelConfig):
    """Square images whose side is divisible by 2 ** len(channels); channels of each stride-2 stage."""

    channels: tuple[int, ...] = option((32, 64), "Channels of the encoder's stride-2 convolutions; the decoder mirrors them.")

    def validate(self) -> None:
        super().validate()
        if not self.channels or min(self.channels) <= 0:
            raise ConfigError(f"channels must list positive sizes, received {self.channels!r}.")
        side = math.isqrt(self.input_dim)
        if side * side != self.input_dim or side % 2 ** len(self.channels):
            raise ConfigError(
                f"conv-vae needs square images whose side divides by {2 ** len(self.channels)}; received {self.input_dim} pixels."
            )


def build(config: ConvConfig):
    """Convolutional Gaussian encoder and Bernoulli decoder around the VAE's prior and losses."""
    from genmodels.components import KLDivergence, Reconstruction, StandardNormalPrior
    from genmodels.distributions import Bernoulli, DiagonalGaussian
    from genmodels.interfaces import Decoder, Encoder
    from genmodels.model import GenerativeModel

    import keras  # after genmodels, which imports TensorFlow quietly
    from keras import ops

    side = math.isqrt(config.input_dim)
    small = side // 2 ** len(config.channels)
    conv = dict(kernel_size=3, strides=2, padding="same", activation="elu", kernel_initializer="he_normal")

    class ConvEncoder(Encoder):
        """Image -> stride-2 convolutions -> mean and log-variance of q(z|x)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = keras.Sequential([keras.layers.Conv2D(c, **conv) for c in config.channels] + [keras.layers.Flatten()])
            self.head = keras.layers.Dense(2 * config.latent_dim, kernel_initializer="he_normal")

        def call(self, x, training=False):
            h = self.head(self.body(ops.reshape(x, (-1, side, side, 1)), training=training))
            return DiagonalGaussian(h[:, : config.latent_dim], h[:, config.latent_dim :])

    class ConvDecoder(Decoder):
        """Coding -> dense -> stride-2 transposed convolutions -> Bernoulli logits per pixel."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            last = config.channels[-1]
            self.body = keras.Sequential(
                [keras.layers.Dense(small * small * last, activation="elu", kernel_initializer="he_normal"),
                 keras.layers.Reshape((small, small, last))]
                + [keras.layers.Conv2DTranspose(c, **conv) for c in config.channels[-2::-1]]
                + [keras.layers.Conv2DTranspose(1, kernel_size=3, strides=2, padding="same")]
            )

        def call(self, z, training=False):
            return Bernoulli(ops.reshape(self.body(z, training=training), (-1, side * side)))

    return GenerativeModel(
        encoder=ConvEncoder(),
        decoder=ConvDecoder(),
        prior=StandardNormalPrior(config.latent_dim),
        losses=[Reconstruction(), KLDivergence()],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="conv-vae",
            description="Convolutional VAE: stride-2 convolutions and transposed convolutions (square images).",
            build=build,
            config=ConvConfig,
            # XLA's CPU convolutions ran 24x slower than TensorFlow's oneDNN ones (280 against 12 ms a step)
            train=TrainConfig(epochs=50, batch_size=150, learning_rate=1e-3, xla=False),
        )
    )
