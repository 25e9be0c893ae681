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
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from genmodels.core.version import __version__
from genmodels.core.atomic import atomic_files
from genmodels.data.dataset import TrainingImages
from genmodels.data.store import FEATURES_DIR_VARIABLE
from genmodels.core.errors import CacheWarning, ChecksumError, ConfigError
from genmodels.core.pixels import BINARY, CONTINUOUS, EIGHT_BIT, PIXELS

__all__ = [
    "FeatureRecipe",
    "TrainingImages",
    "FeatureNetwork",
    "build_networks",
    "train_network",
    "save_network",
    "load_network",
    "cached_network",
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


def check_images(images: TrainingImages) -> tuple[tuple[int, int, int], int | None]:
    """The image shape and the number of classes (None: unlabelled) of `images`, or a ConfigError saying what is wrong."""
    if not isinstance(images.name, str) or not NAME_PATTERN.fullmatch(images.name) or images.name in (".", ".."):
        raise ConfigError(
            f"a feature network's name names its cache folder: lower-case letters, digits, '-', '_' and '.', received {images.name!r}."
        )
    if images.pixels not in PIXELS:
        raise ConfigError(f"pixels must be one of {', '.join(PIXELS)}, received {images.pixels!r}.")
    for split in ("train", "test"):
        array = getattr(images, split)
        if not isinstance(array, np.ndarray) or array.ndim != 4 or len(array) == 0:
            shape = getattr(array, "shape", type(array).__name__)
            raise ConfigError(f"{images.name}: {split} must be a non-empty (N, H, W, C) array, received {shape}.")
        divisor = input_divisor(array.dtype, images.pixels, f"{images.name}'s {split} images")
        low, high = float(array.min()) / divisor, float(array.max()) / divisor
        if not (low >= 0 and high <= 1):  # also refuses NaN
            raise ConfigError(
                f"{images.name}: {split} images of kind {images.pixels!r} hold values from {low} to {high} once read, outside [0, 1]; "
                "give pixels that say what the values are."
            )
    if images.train.shape[1:] != images.test.shape[1:]:
        raise ConfigError(
            f"{images.name}: train images are {images.train.shape[1:]} but test images are {images.test.shape[1:]}; they must match."
        )
    shape = check_image_shape(images.train.shape[1:])
    if images.train_labels is None:
        return shape, None
    if images.test_labels is None:
        raise ConfigError(
            f"{images.name}: the train images are labelled but the test images are not; give test_labels to measure the classifier."
        )
    for split in ("train", "test"):
        labels = np.asarray(getattr(images, f"{split}_labels"))
        count = len(getattr(images, split))
        if (
            labels.shape != (count,)
            or not np.issubdtype(labels.dtype, np.integer)
            or (labels.size and labels.min() < 0)
        ):
            raise ConfigError(
                f"{images.name}: {split}_labels must be {count} non-negative integer classes, received {labels.dtype} of shape {labels.shape}."
            )
    classes = int(np.max(images.train_labels)) + 1
    if classes < 2:
        raise ConfigError(
            f"{images.name}: a classifier needs at least 2 classes among the train labels, received {classes}."
        )
    return shape, classes


class _Trainer:
    """One compiled training step (tf.function, no XLA) for a network: numpy batches in, the batch's mean loss out.

    The step receives the images in their stored dtype and makes floats in [0, 1] of them itself; with
    `binarize`, it also receives, per image, whether to binarize it and uniform draws for its pixels
    (drawn by the caller from its numpy generator, so the draws depend on the seed alone).
    """

    def __init__(
        self, network: keras.Model, kind: str, data: np.ndarray, divisor: float, learning_rate: float, binarize: bool
    ):
        self.network = network
        self.kind = kind
        self.divisor = float(divisor)
        self.binarize = binarize
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.optimizer.build(network.trainable_variables)
        shape = tuple(data.shape[1:])
        signature = [
            tf.TensorSpec((None, *shape), tf.as_dtype(data.dtype)),  # the images, as stored
            tf.TensorSpec((None,), tf.int32),  # their labels (zeros for an autoencoder)
            tf.TensorSpec((None,), tf.bool),  # whether each is binarized
            tf.TensorSpec((None, *shape) if binarize else (None, 1, 1, 1), tf.float32),  # uniform draws per value
        ]
        # one trace for all batch sizes; a partial, so TensorFlow's retracing count is per trainer (see _inference)
        self.step = tf.function(functools.partial(_Trainer._step, self), input_signature=signature, jit_compile=False)

    def values(self, x, flip=None, uniform=None):
        x = tf.cast(x, tf.float32)
        if self.divisor != 1.0:
            x = x / self.divisor
        if self.binarize:
            drawn = tf.cast(uniform < x, tf.float32)
            x = tf.where(tf.reshape(flip, (-1, 1, 1, 1)), drawn, x)
        return x

    def loss(self, x, outputs, labels):
        if self.kind == CLASSIFIER:
            return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs))
        targets = tf.reshape(x, (tf.shape(x)[0], -1))
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=outputs))

    def _step(self, x, labels, flip, uniform):
        x = self.values(x, flip, uniform)
        variables = self.network.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.loss(x, self.network(x, training=True), labels)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss


def train_network(
    images: TrainingImages, recipe: FeatureRecipe = FeatureRecipe(), progress: Callable[[str], None] | None = None
) -> FeatureNetwork:
    """Train a feature network on `images.train` (a classifier of `train_labels`, or an autoencoder without them)
    and measure it on `images.test`. The weights depend only on the images and the recipe: Keras' seed is set to
    `recipe.seed` before building, and the batch order and binarization draws come from a numpy generator of that
    seed. `progress(text)`, if given, is called once per epoch with the epoch's mean loss."""
    shape, classes = check_images(images)
    kind = CLASSIFIER if classes else AUTOENCODER
    started = time.perf_counter()
    keras.utils.set_random_seed(recipe.seed)
    trunk, network = build_networks(shape, recipe.feature_dim, classes)
    divisor = input_divisor(images.train.dtype, images.pixels, "train images")
    trainer = _Trainer(network, kind, images.train, divisor, recipe.learning_rate, recipe.binarize)
    rng = np.random.default_rng(recipe.seed)
    train = images.train
    labels = np.asarray(images.train_labels, dtype=np.int32) if classes else np.zeros(len(train), np.int32)
    count = len(train)
    for epoch in range(1, recipe.epochs + 1):
        order = rng.permutation(count)
        losses = []
        for start in range(0, count, recipe.batch_size):
            pick = np.sort(order[start : start + recipe.batch_size])
            if recipe.binarize:
                flip = rng.random(len(pick)) < 0.5
                uniform = rng.random((len(pick), *shape), dtype=np.float32)
            else:
                flip, uniform = np.zeros(len(pick), bool), np.zeros((len(pick), 1, 1, 1), np.float32)
            loss = trainer.step(train[pick], labels[pick], flip, uniform)
            losses.append((loss, len(pick)))
        mean = sum(float(loss) * n for loss, n in losses) / count
        if not math.isfinite(mean):
            raise ConfigError(
                f"training the feature network for {images.name} diverged (loss {mean} in epoch {epoch}); use a smaller learning_rate."
            )
        if progress is not None:
            progress(f"{images.name} {kind}: epoch {epoch}/{recipe.epochs}, loss {mean:.4f}")
    seconds = time.perf_counter() - started
    info = {
        "name": images.name,
        "kind": kind,
        "description": images.description,
        "image_shape": list(shape),
        "pixels": images.pixels,
        "recipe": asdict(recipe),
        "data_sha256": images.data_sha256(),
        "weights_sha256": weights_sha256(network.get_weights()),
        "train_images": count,
    }
    result = FeatureNetwork(trunk, network, info)
    test = images.test.astype(np.float32) / np.float32(input_divisor(images.test.dtype, images.pixels, "test images"))
    outputs = result.outputs(test)
    if classes:
        info["classes"] = classes
        info["test_accuracy"] = float(np.mean(np.argmax(outputs, axis=1) == np.asarray(images.test_labels)))
    else:
        reconstructions = 1.0 / (1.0 + np.exp(-outputs.astype(np.float64)))
        info["test_reconstruction_error"] = float(np.mean((reconstructions - test.reshape(len(test), -1)) ** 2))
    info["test_images"] = len(images.test)
    info["seconds"] = round(seconds, 3)
    info["genmodels_version"] = __version__
    return result


# ----------------------------------------------------------------------------------------------- files


def save_network(network: FeatureNetwork, folder: Path) -> Path:
    """Write `folder`/weights.npz (the weight arrays in order, plain arrays) and `folder`/network.json (its info); both
    are replaced together, atomically (`genmodels.atomic`). Returns `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = network.weights
    with atomic_files() as group:  # both files are replaced together, or neither
        group.write(folder / WEIGHTS_FILE, lambda partial: _write_arrays(partial, arrays))
        group.write(folder / INFO_FILE, lambda partial: partial.write_text(json.dumps(network.info, indent=2) + "\n"))
    return folder


def _write_arrays(path: Path, arrays: Sequence[np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, *arrays)


def _refused(folder: Path, reason: str, hint: str) -> ChecksumError:
    return ChecksumError(f"the feature network in {folder} {reason}; delete {folder} or retrain it ({hint}).")


def load_network(
    folder: Path, images: TrainingImages, recipe: FeatureRecipe = FeatureRecipe(), *, retrain_hint: str = RETRAIN_HINT
) -> FeatureNetwork:
    """The network saved in `folder`, if it was trained with `recipe` on `images` and its weights are unchanged since.

    Checks, in order: network.json is readable; its recipe is `recipe`; its data_sha256 is `images.data_sha256()`;
    the content SHA-256 of weights.npz is its weights_sha256. Each failure is a ChecksumError naming `retrain_hint`,
    the command that trains it again. Nothing is unpickled.
    """
    folder = Path(folder)
    try:
        info = json.loads((folder / INFO_FILE).read_text())
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        stored_recipe, stored_data, stored_weights = info["recipe"], info["data_sha256"], info["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _refused(folder, f"has no readable {INFO_FILE} ({type(exc).__name__}: {exc})", retrain_hint) from None
    if stored_recipe != asdict(recipe):
        raise _refused(folder, f"was trained with another recipe ({stored_recipe}, not {asdict(recipe)})", retrain_hint)
    expected_data = images.data_sha256()
    if stored_data != expected_data:
        raise _refused(
            folder,
            f"was trained on other data (SHA-256 {stored_data}, the images given have {expected_data})",
            retrain_hint,
        )
    try:
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as stored:
            arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    except Exception as exc:  # a missing, truncated or foreign file: numpy and zipfile raise many kinds
        raise _refused(folder, f"has no readable {WEIGHTS_FILE} ({type(exc).__name__}: {exc})", retrain_hint) from None
    actual = weights_sha256(arrays)
    if actual != stored_weights:
        raise _refused(
            folder,
            f"had its weights changed since it was trained (their SHA-256 is {actual}, recorded {stored_weights})",
            retrain_hint,
        )
    try:
        classes = info.get("classes") if info["kind"] == CLASSIFIER else None
        trunk, network = build_networks(info["image_shape"], recipe.feature_dim, classes)
        network.set_weights(arrays)
    except Exception as exc:  # weights of another architecture (another genmodels version)
        raise _refused(
            folder, f"does not fit this version's architecture ({type(exc).__name__}: {exc})", retrain_hint
        ) from None
    return FeatureNetwork(trunk, network, info)


def cached_network(
    cache_root: Path,
    images: TrainingImages,
    recipe: FeatureRecipe = FeatureRecipe(),
    *,
    retrain: bool = False,
    progress: Callable[[str], None] | None = None,
    retrain_hint: str = RETRAIN_HINT,
) -> FeatureNetwork:
    """The feature network of `images` cached in `cache_root`/`images.name`: loaded if the folder holds one (a
    mismatch raises ChecksumError, never a silent retraining); trained, saved and returned if it holds none or
    `retrain` is set (replacing what was there). `retrain_hint`: the command a refusal names to retrain it."""
    check_images(images)
    folder = Path(cache_root) / images.name
    holds = (folder / INFO_FILE).exists() or (folder / WEIGHTS_FILE).exists()
    if holds and not retrain:
        return load_network(folder, images, recipe, retrain_hint=retrain_hint)
    network = train_network(images, recipe, progress)
    try:
        save_network(network, folder)
    except OSError as exc:  # a cache that cannot be written costs a retraining next time, not this metric
        warnings.warn(
            f"the feature network could not be cached in {folder} ({exc.strerror or exc}); it is used without "
            f"being saved. Set {FEATURES_DIR_VARIABLE} to a folder you can write to keep it.",
            CacheWarning,
            stacklevel=2,
        )
    return network
