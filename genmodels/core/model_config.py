"""A model's architecture configs: ModelConfig, LikelihoodConfig (the pixel likelihood) and MLPConfig (the MLP VAE's)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from genmodels.core.config import C, Config, KERAS_NAME, _positive, option
from genmodels.core.errors import ConfigError
from genmodels.core.pixels import AUTO, likelihood_for, likelihood_kind


# Limits on sizes read from a config (a run's config.json may come from anyone): beyond them a model would not
# fit in memory, and building it would fail deep inside Keras instead of in one line.
MAX_LAYER_SIZE = 65_536  # codings, units of a layer, channels of a convolution

MAX_LAYER_WEIGHTS = 2**28  # weights of one dense layer (1 GiB of float32)


def _not_absurd(name: str, size: int) -> None:
    if size > MAX_LAYER_SIZE:
        raise ConfigError(
            f"{name} of {size:,} is beyond the {MAX_LAYER_SIZE:,} that genmodels builds (a model of that size would not fit in memory)."
        )


@dataclass
class ModelConfig(Config):
    """Architecture hyperparameters shared by every model; plugins subclass it to add their own."""

    latent_dim: int = option(20, "Dimension of the codings.")
    input_dim: int = option(
        784, "Size of one flattened input: height x width x channels (set from the dataset when training)."
    )
    image_shape: tuple[int, ...] = option(
        (), "Height, width and channels of the images (set from the dataset when training)."
    )

    def validate(self) -> None:
        super().validate()
        _positive(self, "latent_dim", "input_dim")
        _not_absurd("latent_dim", self.latent_dim)
        if not self.image_shape:
            return  # not known before the data is: set with input_dim by `fitted_to`
        if len(self.image_shape) != 3 or min(self.image_shape) <= 0:
            raise ConfigError(f"image_shape must be height,width,channels, received {self.image_shape!r}.")
        if math.prod(self.image_shape) != self.input_dim:
            raise ConfigError(
                f"input_dim {self.input_dim} is not the size of {'x'.join(map(str, self.image_shape))} images."
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images: `image_shape`, or for a config not yet fitted to data
        (and runs from before image_shape was recorded) square one-channel images of `input_dim` pixels."""
        if self.image_shape:
            return tuple(self.image_shape)
        side = math.isqrt(self.input_dim)
        return (side, side, 1) if side * side == self.input_dim else (1, self.input_dim, 1)

    def fitted_to(self: C, image_shape: tuple[int, ...], pixels: str, what: str) -> C:
        """This config for images of `image_shape` (H, W, C) whose values are of kind `pixels` (see genmodels.pixels):
        what the trainer calls before building the model. Subclasses resolve their own data-dependent options."""
        return self.replace(input_dim=math.prod(image_shape), image_shape=tuple(image_shape))


@dataclass
class LikelihoodConfig(ModelConfig):
    """Models whose decoder's likelihood is chosen by name (see genmodels.pixels.LIKELIHOODS)."""

    likelihood: str = option(
        "auto",
        "The decoder's likelihood p(x|z): bernoulli, gaussian, gaussian-shared, logistic or logistic-mixture; "
        "auto picks bernoulli for 0/1 pixels, logistic-mixture for 8-bit images, gaussian for floats.",
    )

    def validate(self) -> None:
        super().validate()
        if self.likelihood != AUTO:
            likelihood_kind(self.likelihood)

    def fitted_to(self, image_shape, pixels, what):
        fitted = super().fitted_to(image_shape, pixels, what)
        return fitted.replace(likelihood=likelihood_for(self.likelihood, pixels, what))


# What MLPConfig's dropout=auto becomes for each kind of data: measured on 7200 grey MNIST digits, the decoder's dropout
# took the vae's validation NLL from 1.45 to 1.35 bits/dim; binarized MNIST's recipe trains without it.
AUTO_DROPOUT = {"binary": 0.0, "8bit": 0.2, "continuous": 0.2}


@dataclass
class MLPConfig(LikelihoodConfig):
    """Models whose encoder and decoder are MLPs (the decoder mirrors the encoder's hidden sizes)."""

    hidden: tuple[int, ...] = option((500, 500), "Hidden layer sizes of the encoder; the decoder mirrors them.")
    activation: str = option(
        "elu",
        "Activation of the hidden layers: a Keras activation name, or gated (each layer a gated linear unit, "
        "(W x + b) * sigmoid(V x + c), as in Tomczak & Welling's VampPrior models).",
    )
    initializer: str = option("he_normal", "Kernel initializer of every layer (a Keras initializer name).")
    dropout: str = option(
        "auto",
        "Dropout rate of the decoder's hidden layers while training, from 0 to below 1; auto: 0.2 for 8-bit and float images "
        "(their likelihoods have several outputs a pixel and overfit a few thousand images), 0 for 0/1 pixels.",
        absent="0",
    )

    def validate(self) -> None:
        super().validate()
        if self.dropout != AUTO:
            try:
                rate = float(self.dropout)
            except ValueError:
                rate = math.nan
            if not 0 <= rate < 1:
                raise ConfigError(f"dropout must be auto or a rate from 0 to below 1, received {self.dropout!r}.")
        if not self.hidden or min(self.hidden) <= 0:
            raise ConfigError(f"hidden must list positive layer sizes, received {self.hidden!r}.")
        for size in self.hidden:
            _not_absurd("hidden", size)
        sizes = [self.input_dim, *self.hidden, self.latent_dim]
        for before, after in zip(sizes, sizes[1:]):
            if before * after > MAX_LAYER_WEIGHTS:
                raise ConfigError(
                    f"a {before} x {after} layer ({before * after:,} weights) is beyond the {MAX_LAYER_WEIGHTS:,} "
                    f"weights a layer may have; received hidden={list(self.hidden)}."
                )
        for name, example in (("activation", "elu"), ("initializer", "he_normal")):
            value = getattr(self, name)
            if not KERAS_NAME.match(value):
                raise ConfigError(
                    f"{name} must be the plain name of a Keras {name} (such as {example}), received {value!r}."
                )

    def fitted_to(self, image_shape, pixels, what):
        fitted = super().fitted_to(image_shape, pixels, what)
        if fitted.dropout != AUTO:
            return fitted
        return fitted.replace(dropout=str(AUTO_DROPOUT[pixels]))
