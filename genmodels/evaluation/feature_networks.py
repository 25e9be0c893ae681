"""Feature networks: small networks that genmodels trains itself, whose penultimate-layer activations are the
features that FID and precision/recall compare.

The FID authors advise features of a network trained on the same domain as the images scored; the usual
Inception weights are not available offline and mean little for 28x28 digits. So each source of images
(`genmodels.data.TrainingImages`) gets its own network: a classifier of its labels where it has them, else a
reference autoencoder whose coding is the feature vector. A trained network is cached in a folder
(weights.npz + network.json) and is used again only if it was trained with the same recipe on the same data
and its weights are unchanged since; otherwise loading it raises ChecksumError, and it is never retrained
over silently.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import functools
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from genmodels.core.errors import ConfigError
from genmodels.core.pixels import BINARY, CONTINUOUS, EIGHT_BIT, PIXELS
from genmodels.data.dataset import TrainingImages

__all__ = [
    "FeatureRecipe",
    "TrainingImages",
    "FeatureNetwork",
    "build_networks",
    "weights_sha256",
]

CLASSIFIER, AUTOENCODER = "classifier", "autoencoder"
MIN_SIDE = 8  # two 2x2 poolings leave at least 2x2 positions
DECODER_WIDTH = 512
WEIGHTS_FILE, INFO_FILE = "weights.npz", "network.json"
RETRAIN_HINT = "genmodels features --retrain"
NAME_PATTERN = re.compile(r"[a-z0-9_.-]+")
FEATURES_LAYER = "features"


@dataclass(frozen=True)
class FeatureRecipe:
    """How a feature network is trained; part of its identity (a cached network trained with another recipe is not used).

    With `binarize`, each epoch each training image is, with probability 0.5, replaced by a draw of 0/1 pixels,
    Bernoulli(grey) per value, so that binary images (binarized MNIST, a Bernoulli model's draws) and greys
    both look natural to the network.
    """

    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    feature_dim: int = 128
    binarize: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "feature_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"FeatureRecipe.{name} must be a positive integer, received {value!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"FeatureRecipe.seed must be a non-negative integer, received {self.seed!r}.")
        if not (
            isinstance(self.learning_rate, (int, float))
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0
        ):
            raise ConfigError(
                f"FeatureRecipe.learning_rate must be a positive number, received {self.learning_rate!r}."
            )


# ----------------------------------------------------------------------------------------------- architecture


def check_image_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """`image_shape` as (H, W, C), or a ConfigError when it is not one or is smaller than 8x8."""
    shape = tuple(int(n) for n in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"a feature network needs images of shape (height, width, channels), received {shape}.")
    if shape[0] < MIN_SIDE or shape[1] < MIN_SIDE:
        raise ConfigError(
            f"a feature network needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, received shape {shape}; "
            "use a larger image size."
        )
    return shape


def build_networks(
    image_shape: Sequence[int], feature_dim: int, classes: int | None
) -> tuple[keras.Model, keras.Model]:
    """The feature model (images in [0, 1] -> features) and the whole network it is the trunk of.

    Trunk: Conv2D(32, 3, relu) -> MaxPool 2 -> Conv2D(64, 3, relu) -> MaxPool 2 -> Conv2D(128, 3, relu)
    -> flatten -> Dense(feature_dim) = the features (relu for a classifier, linear for an
    autoencoder). With `classes`, the whole network adds Dense(classes) logits; without (None), a decoder
    Dense(512, relu) -> Dense(H*W*C) whose sigmoid is the reconstruction (the network outputs its logits,
    so that the binary cross-entropy is computed stably from them). Weights are drawn from Keras' seed.
    """
    shape = check_image_shape(image_shape)
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)  # global average pooling instead: 91% on the offline digits, against 98.8%
    features = keras.layers.Dense(feature_dim, activation="relu" if classes else None, name=FEATURES_LAYER)(x)
    if classes:
        head = keras.layers.Dense(classes, name="logits")(features)
    else:
        hidden = keras.layers.Dense(DECODER_WIDTH, activation="relu")(features)
        head = keras.layers.Dense(int(np.prod(shape)), name="reconstruction_logits")(hidden)
    return keras.Model(inputs, features, name="feature_trunk"), keras.Model(inputs, head, name="feature_network")


def weights_sha256(arrays: Sequence[np.ndarray]) -> str:
    """SHA-256 of weight arrays in order: each array's shape, then its float32 C-order bytes (the content, not a file)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array, dtype=np.float32)
        digest.update(f"{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------- the network


class FeatureNetwork:
    """A trained feature network: `features(images)` are its penultimate-layer activations.

    `kind` is "classifier" or "autoencoder"; `info` is what network.json holds (name, kind, description,
    image_shape, pixels, recipe, data_sha256, weights_sha256, train_images, classes and test_accuracy or
    test_reconstruction_error, test_images, seconds, genmodels_version).
    """

    def __init__(self, trunk: keras.Model, network: keras.Model, info: dict):
        self.trunk = trunk
        self.network = network
        self.info = info
        self.kind: str = info["kind"]
        self.image_shape: tuple[int, int, int] = tuple(int(n) for n in info["image_shape"])
        spec = [tf.TensorSpec((None, *self.image_shape), tf.float32)]
        self._features = tf.function(functools.partial(_inference, trunk), input_signature=spec, jit_compile=False)
        self._outputs = tf.function(functools.partial(_inference, network), input_signature=spec, jit_compile=False)

    @property
    def feature_dim(self) -> int:
        return int(self.trunk.output.shape[-1])

    @property
    def weights(self) -> list[np.ndarray]:
        """The weight arrays, in the order they are saved and checksummed."""
        return [np.asarray(array, dtype=np.float32) for array in self.network.get_weights()]

    def features(self, images: np.ndarray, pixels: str | None = None, batch_size: int = 500) -> np.ndarray:
        """(N, feature_dim) float32 features of `images`, computed in batches of `batch_size`.

        `images` are (N, H, W, C) or flattened (N, H*W*C) rows of this network's image shape. Floating
        input is taken as values in [0, 1] (`pixels` None, "continuous" or "binary"); uint8 input needs
        `pixels`: "binary" (0/1 pixels) or "8bit" (levels 0..255, read as level/255).
        """
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, received {batch_size}.")
        x = self._as_images(images)
        divisor = input_divisor(x.dtype, pixels, "images")
        if x.dtype == np.uint8 and pixels == BINARY and len(x) and x.max() > 1:
            raise ConfigError(
                f"images given as binary hold values up to {int(x.max())}; binary pixels are 0 or 1 (pass pixels='8bit' for levels 0..255)."
            )
        out = np.empty((len(x), self.feature_dim), dtype=np.float32)
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size].astype(np.float32)
            if divisor != 1.0:
                batch /= np.float32(divisor)
            out[start : start + batch_size] = self._features(tf.constant(batch)).numpy()
        return out

    def _as_images(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images)
        size = int(np.prod(self.image_shape))
        if x.ndim == 2 and x.shape[1] == size:
            return x.reshape((len(x), *self.image_shape))
        if x.ndim == 4 and tuple(x.shape[1:]) == self.image_shape:
            return x
        raise ConfigError(
            f"this feature network takes images of shape {self.image_shape} (or rows of {size} values), "
            f"received an array of shape {tuple(x.shape)}; give images of the data it was trained on."
        )

    def outputs(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """The whole network's outputs for float images in [0, 1]: class logits, or reconstruction logits (flattened)."""
        x = self._as_images(images)
        parts = [
            self._outputs(tf.constant(x[start : start + batch_size], tf.float32)).numpy()
            for start in range(0, len(x), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, int(self.network.output.shape[-1])), np.float32)


def _inference(model: keras.Model, x):
    """`model`'s outputs for a batch; traced as a tf.function through functools.partial, whose key is the partial
    itself: TensorFlow's retracing warning counts traces per code object, which every network's would share."""
    return model(x, training=False)


def input_divisor(dtype: np.dtype, pixels: str | None, what: str) -> float:
    """What an array of `dtype` holding pixels of kind `pixels` is divided by to give values in [0, 1] (255 for 8-bit levels)."""
    if pixels is not None and pixels not in PIXELS:
        raise ConfigError(f"pixels must be one of {', '.join(PIXELS)}, received {pixels!r}.")
    if np.dtype(dtype) == np.uint8:
        if pixels == EIGHT_BIT:
            return 255.0
        if pixels == BINARY:
            return 1.0
        raise ConfigError(
            f"{what} are uint8, so pixels must say how to read them: 'binary' (0/1) or '8bit' (levels 0..255); received {pixels!r}."
        )
    if np.issubdtype(dtype, np.floating):
        if pixels in (None, CONTINUOUS, BINARY):
            return 1.0
        raise ConfigError(
            f"{what} are {np.dtype(dtype)} values in [0, 1], not 8-bit levels; give 8-bit images as uint8 (received pixels={pixels!r})."
        )
    raise ConfigError(f"{what} must be uint8 or floating point, received {np.dtype(dtype)}.")


# ----------------------------------------------------------------------------------------------- training


# ----------------------------------------------------------------------------------------------- files
