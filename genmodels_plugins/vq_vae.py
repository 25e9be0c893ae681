"""VQ-VAE (van den Oord et al. 2017): a spatial map of discrete codes from a learned codebook.

Strided convolutions map an image to a map of vectors, one per position of an image reduced 2 ** len(channels)
times each side (7x7 for 28x28 digits with two stages); each vector is replaced by its nearest codebook entry, and
the gradient passes straight through the replacement to the encoder. Transposed convolutions decode the map of
codes. Two auxiliary terms train the codebook: `codebook`, the codes' squared distance to the encoder's vectors
(which it does not move), and `commitment`, the vectors' distance to their codes (which it does not move), weighted
by -o commitment. With -o codebook_update=ema no gradient moves the codes: after each step each code becomes the
moving average of the vectors it was given (a `genmodels.interfaces.StepUpdate`). The terms are minimised and
reported, but are no part of the model's `loss`, which is the reconstruction plus the constant KL of a uniform
prior over the codes (positions x log K nats): the run is judged and its epoch kept on how well it reconstructs.

Samples: `--sampler pixelcnn` draws maps of codes from a PixelCNN fitted to the training maps (the paper's prior);
the default gmm fits a Gaussian mixture to them, each drawn vector snapped to its nearest code; `--sampler prior`
draws every position's code uniformly. The posterior is a point mass: the model has no importance-weighted likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import EPOCH_IMAGES, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError
from genmodels_plugins.conv_vae import ConvConfig


@dataclass
class VQConfig(ConvConfig):
    """The convolutional VAE's stages, ending in a map of vectors of `latent_dim` values, each one of `codes` entries."""

    latent_dim: int = option(16, "Dimension of each code vector; a coding is the whole map of them.")
    codes: int = option(64, "Entries of the codebook (K): each position of the map takes one of them.")
    commitment: float = option(0.25, "Weight of the commitment term (beta), which keeps the encoder near its codes.")
    codebook_update: str = option(
        "gradient",
        "gradient: the codebook term moves the codes; ema: moving averages of the vectors each code is given.",
    )
    decay: float = option(0.99, "With codebook_update=ema: how much of its average a code keeps at each step.")

    def validate(self) -> None:
        super().validate()
        if not 2 <= self.codes <= 65_536:
            raise ConfigError(f"codes must be between 2 and 65,536, received {self.codes}.")
        if not self.commitment >= 0:
            raise ConfigError(f"commitment must be 0 or more, received {self.commitment}.")
        if self.codebook_update not in ("gradient", "ema"):
            raise ConfigError(f"codebook_update must be gradient or ema, received {self.codebook_update!r}.")
        if not 0 < self.decay < 1:
            raise ConfigError(f"decay must be between 0 and 1, received {self.decay}.")


def build(config: VQConfig):
    """Convolutional encoder to a map of vectors, their quantization, a uniform prior over codes, the decoder."""
    import math

    from genmodels.components import Conv2D, Conv2DTranspose, KLDivergence, Reconstruction, likelihood_of
    from genmodels.distributions import PointMass
    from genmodels.interfaces import Decoder, Encoder, LatentPrior, Loss, StepUpdate
    from genmodels.likelihoods import PixelLikelihood
    from genmodels.model import GenerativeModel

    import keras  # after genmodels, which imports TensorFlow quietly
    from keras import ops

    height, width, channels = config.shape
    stages = len(config.channels)
    small = (height // 2**stages, width // 2**stages)
    positions, dim = small[0] * small[1], config.latent_dim
    conv = dict(kernel_size=3, strides=2, padding="same", activation="elu", kernel_initializer="he_normal")

    class Codebook(keras.layers.Layer):
        """K code vectors; `quantized(v)` replaces each row of v by its nearest code."""

        def build(self, input_shape=None):
            bound = 1.0 / config.codes
            ema = config.codebook_update == "ema"
            self.codes = self.add_weight(
                shape=(config.codes, dim),
                initializer=keras.initializers.RandomUniform(-bound, bound),
                trainable=not ema,
                name="codes",
            )
            if ema:  # the moving averages: vectors given to each code, and their sum
                self.counts = self.add_weight(shape=(config.codes,), initializer="ones", trainable=False, name="counts")
                self.sums = self.add_weight(
                    shape=(config.codes, dim), initializer="zeros", trainable=False, name="sums"
                )
                self.sums.assign(self.codes)
            self.built = True

        def nearest(self, rows):
            """The index of each row's nearest code."""
            distances = (
                ops.sum(ops.square(rows), axis=1, keepdims=True)
                - 2.0 * ops.matmul(rows, ops.transpose(self.codes))
                + ops.sum(ops.square(self.codes), axis=1)[None, :]
            )
            return ops.argmin(distances, axis=1)

        def quantized(self, vectors):
            nearest = ops.take(self.codes, self.nearest(ops.reshape(vectors, (-1, dim))), axis=0)
            return ops.reshape(nearest, ops.shape(vectors))

    class MovingAverageCodes(StepUpdate):
        """After each step, each code becomes the moving average of the encoder's vectors it was given (van den Oord
        et al. 2017, appendix): counts and sums decay by `decay` and gain the batch's; codes = sums / counts, the
        counts smoothed so that an unused code is not divided by zero."""

        def __init__(self, codebook):
            self.codebook = codebook

        def __call__(self, forward):
            book, decay = self.codebook, config.decay
            rows = ops.reshape(ops.stop_gradient(forward.posterior.encoded), (-1, dim))
            given = ops.one_hot(book.nearest(rows), config.codes, dtype=rows.dtype)
            book.counts.assign(decay * book.counts + (1.0 - decay) * ops.sum(given, axis=0))
            book.sums.assign(decay * book.sums + (1.0 - decay) * ops.matmul(ops.transpose(given), rows))
            total = ops.sum(book.counts)
            smoothed = (book.counts + 1e-5) / (total + config.codes * 1e-5) * total
            book.codes.assign(book.sums / smoothed[:, None])

        def call(self, vectors):
            return self.quantized(vectors)

    class Quantized(PointMass):
        """The coding: the map of codes, with the encoder's vectors (`encoded`) and their codes (`codes`) for the
        auxiliary terms; gradients pass from the codes straight to the vectors."""

        def __init__(self, encoded, codes):
            super().__init__(encoded + ops.stop_gradient(codes - encoded))
            self.encoded, self.codes = encoded, codes

    class CodebookTerm(Loss):
        """||sg(encoded) - codes||^2 per image: moves the codes towards the encoder's vectors."""

        name, auxiliary = "codebook", True

        def __call__(self, forward):
            posterior = forward.posterior
            return ops.sum(ops.square(ops.stop_gradient(posterior.encoded) - posterior.codes), axis=-1)

    class CommitmentTerm(Loss):
        """||encoded - sg(codes)||^2 per image, times beta: keeps the encoder's vectors near their codes."""

        name, auxiliary = "commitment", True

        def __init__(self, weight: float):
            self.weight = weight

        def __call__(self, forward):
            posterior = forward.posterior
            return ops.sum(ops.square(posterior.encoded - ops.stop_gradient(posterior.codes)), axis=-1)

    class VQEncoder(Encoder):
        def __init__(self, codebook, **kwargs):
            super().__init__(**kwargs)
            self.codebook = codebook
            self.coding_shape = (*small, dim)  # a map of code vectors, flattened in row-major order
            self.body = keras.Sequential(
                [Conv2D(c, **conv) for c in config.channels] + [Conv2D(dim, kernel_size=1, padding="same")]
            )

        def call(self, x, training=False):
            vectors = self.body(ops.reshape(x, (-1, height, width, channels)), training=training)
            encoded = ops.reshape(vectors, (-1, positions * dim))
            return Quantized(encoded, self.codebook.quantized(encoded))

    class VQDecoder(Decoder):
        """A map of vectors, each snapped to its nearest code (a sampler's draws are not codes yet), then
        transposed convolutions to the likelihood's parameters of every value."""

        def __init__(self, codebook, **kwargs):
            super().__init__(**kwargs)
            self.codebook = codebook
            self.likelihood = PixelLikelihood(likelihood_of(config), name="likelihood")
            self.body = keras.Sequential(
                [Conv2DTranspose(c, **conv) for c in config.channels[-2::-1]]
                + [
                    Conv2DTranspose(
                        channels * self.likelihood.params_per_value, kernel_size=3, strides=2, padding="same"
                    )
                ]
            )

        def call(self, z, training=False):
            z = z + ops.stop_gradient(self.codebook.quantized(z) - z)  # the identity for codes
            raw = self.body(ops.reshape(z, (-1, *small, dim)), training=training)
            return self.likelihood(ops.reshape(raw, (-1, config.input_dim * self.likelihood.params_per_value)))

    class UniformCodes(LatentPrior):
        """Every position's code equally likely: log p(z) = -positions * log K for a map of codes."""

        def __init__(self, codebook, **kwargs):
            super().__init__(positions * dim, **kwargs)
            self.codebook = codebook

        def sample(self, n, seed=None):
            which = keras.random.randint((n * positions,), 0, config.codes, seed=seed)
            return ops.reshape(ops.take(self.codebook.codes, which, axis=0), (n, positions * dim))

        def log_prob(self, z):
            return ops.zeros(ops.shape(z)[:1]) - positions * math.log(config.codes)

        def kl(self, posterior, z):
            return ops.zeros(ops.shape(z)[:1]) + positions * math.log(config.codes)

    codebook = Codebook(name="codebook")
    codebook.build()
    return GenerativeModel(
        encoder=VQEncoder(codebook),
        decoder=VQDecoder(codebook),
        prior=UniformCodes(codebook),
        losses=[Reconstruction(), KLDivergence(), CodebookTerm(), CommitmentTerm(config.commitment)],
        updates=[MovingAverageCodes(codebook)] if config.codebook_update == "ema" else [],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="vq-vae",
            description="VQ-VAE: a spatial map of discrete codes from a learned codebook (straight-through gradients).",
            build=build,
            config=VQConfig,
            train=TrainConfig(
                epochs=50,
                batch_size=150,
                learning_rate=1e-3,
                lr_schedule="cosine",
                xla=False,
                epoch_images=EPOCH_IMAGES,
            ),
            sampler="pixelcnn",  # its samples come from a PixelCNN over the maps of codes, fitted after training
        )
    )
