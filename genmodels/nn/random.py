"""Random draws: seeded Philox draws from a Keras SeedGenerator, and the replica window of distributed training.

A draw shaped like a batch is taken for the whole global batch and cut down to one replica's rows while that
replica's step is traced (`replica_rows`), so that N replicas draw exactly the numbers one process draws for the
same images. The window is held in a context variable: each replica's thread sees only its own, and nothing
outside `replica_rows` sees any.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

# (global rows, this replica's first row, this replica's rows) while a replica's step is traced
_WINDOW: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("genmodels_replica_window", default=None)


def philox_seed(seed_generator: keras.random.SeedGenerator):
    """The next seed pair of `seed_generator`, for TensorFlow's stateless draws with alg="philox".

    Draws name Philox because Keras' default ("auto_select") compiles under XLA on a CPU into code
    8x slower, a tenth of a training epoch; both give the same numbers."""
    return tf.cast(tf.math.floormod(seed_generator.next(), 2**31 - 1), tf.int32)


def standard_normal(shape, seed: keras.random.SeedGenerator | int | None = None, dtype="float32"):
    """N(0, 1) draws; from a SeedGenerator through Philox (see `philox_seed`). In a replica's step of
    distributed training, this replica's rows of the draws for the whole global batch (`window`)."""
    if isinstance(seed, keras.random.SeedGenerator):
        return window(
            lambda whole: tf.random.stateless_normal(whole, seed=philox_seed(seed), dtype=dtype, alg="philox"), shape
        )
    return keras.random.normal(shape, seed=seed, dtype=dtype)


def uniform_like_batch(shape, seed_generator: keras.random.SeedGenerator):
    """U(0, 1) draws through Philox, this replica's rows of the global batch's draws within `replica_rows`."""
    return window(
        lambda whole: tf.random.stateless_uniform(whole, seed=philox_seed(seed_generator), alg="philox"), shape
    )


@contextlib.contextmanager
def replica_rows(global_rows, offset, rows) -> Iterator[None]:
    """While active (as a replica's step is traced), random draws shaped like a batch are drawn for the
    whole global batch of `global_rows` images and cut down to this replica's `rows` rows from `offset`
    (`window`): the numbers a one-process run draws for the same images."""
    token = _WINDOW.set((global_rows, offset, rows))
    try:
        yield
    finally:
        _WINDOW.reset(token)


def window(draw: Callable, shape):
    """`draw(shape)`, or within `replica_rows` this replica's rows of `draw` for the whole global batch.

    `shape`'s first axis is k times the replica's rows (k stacked copies of the batch, as
    `Distribution.repeat` makes them); the global draw has k times the global rows, laid out alike."""
    active = _WINDOW.get()
    if active is None:
        return draw(shape)
    global_rows, offset, rows = active
    shape = tf.convert_to_tensor(shape, tf.int32) if not isinstance(shape, tf.Tensor) else tf.cast(shape, tf.int32)
    copies = shape[0] // tf.maximum(rows, 1)
    full = draw(tf.concat([[copies * global_rows], shape[1:]], axis=0))
    stacked = tf.reshape(full, tf.concat([[copies, global_rows], shape[1:]], axis=0))
    mine = stacked[:, offset : offset + rows]
    return tf.reshape(mine, shape)
