"""Compiled loops: many training or test steps per call, over images that stay in memory.

A small MLP spends more time on Python, `tf.data` and per-step dispatch than on arithmetic when
each step is its own call, as in `keras.Model.fit`. Here one compiled call runs up to `chunk`
steps of the model's own `train_step` (or `test_step`) in a `tf.while_loop`, gathering each batch
from the resident images by index, and returns every step's metrics so the caller can report
progress and find the first non-finite loss. Plugins change nothing: the loops call the same
`train_step` and `test_step` that `fit` would.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

# Steps per compiled call: about a tenth of an epoch of binarized MNIST at batch 150, so a progress
# bar moves often while the per-call overhead stays far below 1% (measured in docs/performance.md).
DEFAULT_CHUNK = 40


class StepLoop:
    """Runs `step` (a model's train_step or test_step) over batches of resident `images`.

    `run(order, batch_size)` visits `order` (row indices) in consecutive batches, the last one
    possibly smaller, passes each through `transform` if given, and yields after each compiled call
    the metrics of each step it ran, as a (steps, metrics) array in the order of `metric_names`.
    With `labels` (one per image), each step receives (images, labels) instead of images. Images
    kept as integers (uint8: 0/1 pixels or 8-bit levels) stay so in memory and are converted to
    float32 inside the compiled loop, times `scale` (1/255 for 8-bit levels), batch by batch.
    """

    def __init__(
        self,
        step: Callable,
        metric_names: list[str],
        images: np.ndarray,
        *,
        jit_compile: bool = True,
        chunk: int = DEFAULT_CHUNK,
        transform: Callable | None = None,
        labels: np.ndarray | None = None,
        scale: float = 1.0,
    ):
        self.step = step
        self.metric_names = list(metric_names)
        images = np.asarray(images)
        self.images = tf.constant(images.reshape(len(images), -1))  # flattened rows, in their stored dtype
        self.scale = float(scale)
        self.jit_compile = jit_compile
        self.chunk = max(1, int(chunk))
        self.transform = transform  # applied to each gathered batch inside the compiled loop
        self.labels = None if labels is None else tf.constant(np.asarray(labels, dtype=np.int32))
        self._compiled: dict[int, Callable] = {}

    def run(self, order: np.ndarray | tf.Tensor, batch_size: int) -> Iterator[np.ndarray]:
        """Yield the per-step metrics of each compiled call, in step order."""
        order = tf.cast(order, tf.int32)
        full, rest = divmod(int(order.shape[0]), batch_size)
        batches = tf.reshape(order[: full * batch_size], [full, batch_size])
        for first in range(0, full, self.chunk):
            steps = min(self.chunk, full - first)
            logs = self._loop(batch_size)(batches, tf.constant(first), tf.constant(steps))
            yield logs.numpy()[:steps]
        if rest:
            logs = self._loop(rest)(tf.reshape(order[full * batch_size :], [1, rest]), tf.constant(0), tf.constant(1))
            yield logs.numpy()[:1]

    def _loop(self, batch_size: int) -> Callable:
        """The compiled loop for batches of `batch_size`: one per batch shape, any number of steps."""
        if batch_size not in self._compiled:
            self._compiled[batch_size] = self._build(batch_size)
        return self._compiled[batch_size]

    def _build(self, batch_size: int) -> Callable:
        images, labels, step, names, chunk, scale = (
            self.images,
            self.labels,
            self.step,
            self.metric_names,
            self.chunk,
            self.scale,
        )
        transform = self.transform or (lambda batch: batch)

        def batch_of(rows):
            batch = tf.gather(images, rows)
            if batch.dtype != tf.float32:
                batch = tf.cast(batch, tf.float32) * scale if scale != 1.0 else tf.cast(batch, tf.float32)
            batch = transform(batch)
            return batch if labels is None else (batch, tf.gather(labels, rows))

        @tf.function(jit_compile=self.jit_compile, reduce_retracing=True)
        def loop(batches, first, steps):
            # The row indices of each batch are gathered, never sliced: XLA would compile a slice's
            # start into the program and so recompile for every chunk.
            def body(i, logs):
                rows = tf.gather(batches, first + i)
                results = step(batch_of(rows))
                row = tf.stack([tf.cast(results[name], tf.float32) for name in names])
                return i + 1, tf.tensor_scatter_nd_update(logs, [[i]], [row])

            logs = tf.fill([chunk, len(names)], math.nan)
            _, logs = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), logs), maximum_iterations=chunk)
            return logs

        return loop


def first_non_finite(logs: np.ndarray) -> int | None:
    """The index of the first row of `logs` holding a NaN or infinity, or None."""
    bad = ~np.isfinite(logs).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None
