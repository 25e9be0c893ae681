"""Training a feature network on a source of images: a classifier of its labels where it has them, else a reference
autoencoder.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict

import keras
import numpy as np
import tensorflow as tf

from genmodels.core.errors import ConfigError
from genmodels.core.pixels import PIXELS
from genmodels.core.version import __version__
from genmodels.data.dataset import TrainingImages
from genmodels.evaluation.feature_networks import (
    AUTOENCODER,
    CLASSIFIER,
    FeatureNetwork,
    FeatureRecipe,
    NAME_PATTERN,
    build_networks,
    check_image_shape,
    input_divisor,
    weights_sha256,
)


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
