"""A convolutional VAE for images of any size and channels: strided convolutions down to the codings,
transposed ones back; the layers follow from the image shape.

Only the encoder and decoder differ from `vae`; the prior, the losses and every command are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, ModelSpec, TrainConfig, hookimpl, option
from genmodels.config import MAX_LAYER_SIZE, LikelihoodConfig
from genmodels.errors import ConfigError


@dataclass
class ConvConfig(LikelihoodConfig):
    """Images whose height and width divide by 2 ** len(channels); channels of each stride-2 stage."""

    # 32 codings rather than the MLP's 20: 0.02 bits/dim better on validation for 8-bit digits and photo patches
    latent_dim: int = option(32, "Dimension of the codings.")
    channels: tuple[int, ...] = option(
        (32, 64), "Channels of the encoder's stride-2 convolutions; the decoder mirrors them."
    )

    def validate(self) -> None:
        super().validate()
        if not self.channels or min(self.channels) <= 0 or max(self.channels) > MAX_LAYER_SIZE:
            raise ConfigError(
                f"channels must list positive sizes up to {MAX_LAYER_SIZE:,}, received {self.channels!r}."
            )
        if not self.image_shape:
            return  # the images' shape is checked when training fits the config to the data
        height, width, _channels = self.image_shape
        step = 2 ** len(self.channels)
        if height % step or width % step:
            raise ConfigError(
                f"conv-vae with {len(self.channels)} stride-2 stages needs images whose height and width divide by {step}; "
                f"received {height}x{width}. Resize them (--image-size for a folder) or change -o channels."
            )


def build(config: ConvConfig):
    """Convolutional Gaussian encoder and decoder (with the config's likelihood) around the VAE's prior and losses."""
    from genmodels.components import (
        Conv2D,
        Conv2DTranspose,
        KLDivergence,
        Reconstruction,
        StandardNormalPrior,
        likelihood_of,
    )
    from genmodels.distributions import DiagonalGaussian
    from genmodels.likelihoods import PixelLikelihood
    from genmodels.interfaces import Decoder, Encoder
    from genmodels.model import GenerativeModel

    import keras  # after genmodels, which imports TensorFlow quietly
    from keras import ops

    height, width, channels = config.shape
    small = (height // 2 ** len(config.channels), width // 2 ** len(config.channels))
    conv = dict(kernel_size=3, strides=2, padding="same", activation="elu", kernel_initializer="he_normal")

    class ConvEncoder(Encoder):
        """Image -> stride-2 convolutions -> mean and log-variance of q(z|x)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = keras.Sequential([Conv2D(c, **conv) for c in config.channels] + [keras.layers.Flatten()])
            self.head = keras.layers.Dense(2 * config.latent_dim, kernel_initializer="he_normal")

        def call(self, x, training=False):
            h = self.head(self.body(ops.reshape(x, (-1, height, width, channels)), training=training))
            return DiagonalGaussian(h[:, : config.latent_dim], h[:, config.latent_dim :])

    class ConvDecoder(Decoder):
        """Coding -> dense -> stride-2 transposed convolutions -> the likelihood's parameters for every value."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            last = config.channels[-1]
            self.likelihood = PixelLikelihood(likelihood_of(config), name="likelihood")
            self.body = keras.Sequential(
                [
                    keras.layers.Dense(small[0] * small[1] * last, activation="elu", kernel_initializer="he_normal"),
                    keras.layers.Reshape((*small, last)),
                ]
                + [Conv2DTranspose(c, **conv) for c in config.channels[-2::-1]]
                # each pixel's channels hold, channel by channel, that value's parameters: value-major, as the head reads them
                + [
                    Conv2DTranspose(
                        channels * self.likelihood.params_per_value, kernel_size=3, strides=2, padding="same"
                    )
                ]
            )

        def call(self, z, training=False):
            raw = self.body(z, training=training)
            return self.likelihood(ops.reshape(raw, (-1, config.input_dim * self.likelihood.params_per_value)))

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
            description="Convolutional VAE: stride-2 convolutions and transposed convolutions (any image size and channels).",
            build=build,
            config=ConvConfig,
            # TensorFlow graphs with oneDNN's convolutions; --xla compiles the step with them as matrix products
            # (genmodels.nn.convolutions), not yet clearly faster across runs (docs/performance.md, "Convolutions").
            # A cosine schedule lets the last epochs settle where a constant step size keeps overshooting
            # (docs/data.md, "Recipes by kind of data").
            train=TrainConfig(
                epochs=50,
                batch_size=150,
                learning_rate=1e-3,
                lr_schedule="cosine",
                xla=False,
                epoch_images=EPOCH_IMAGES,
            ),
        )
    )
