"""What one epoch of Tomczak & Welling's convolutional HVAE (convHVAE, about 81.1 nats) would cost on this machine.

    python benchmarks/convhvae_cost.py              # about 2 minutes on an idle 2-core machine
    python benchmarks/convhvae_cost.py --steps 3    # fewer timed steps

The question is whether a recipe of it can train in at most 2 hours on 2 CPU cores. The convHVAE's encoder q(z2 | x) is a stack of
five gated convolutions (each two convolutions of the same input, one gating the other):

    28x28x1 -> 7x7 conv, 32 -> 3x3 stride 2, 32 -> 5x5 conv, 64 -> 3x3 stride 2, 64 -> 3x3 conv, 6 (7x7x6 = 294)

and q(z1 | x, z2) reads x through a second stack of the same shape. With a VampPrior over z2, every training step
also passes the K = 500 pseudo-inputs through q(z2 | x). This script times, forward and backward, only those
convolutions: q(z2 | x) on 150 images and on the 500 pseudo-inputs, and q(z1 | x, z2)'s stack on the 150 images,
both as TensorFlow graphs (oneDNN's convolutions) and under XLA (genmodels' convolutions as matrix products), and
multiplies the faster step by the 334 steps of an epoch (50 000 images, batch 150). The decoder, the dense layers,
the losses and the optimizer are left out, so the figure is a lower bound on the epoch; the epochs it leaves in 2
hours are an upper bound. For comparison it prints the machine's float32 matmul rate and the FLOPs of the part timed.
"""

from __future__ import annotations

import argparse
import time

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import keras
import numpy as np
import tensorflow as tf

from genmodels.nn.components import Conv2D

# (filters, kernel, stride) of each gated convolution of q(z2 | x), 'same' padding, as in the paper's code
STACK = [(32, 7, 1), (32, 3, 2), (64, 5, 1), (64, 3, 2), (6, 3, 1)]
BATCH, PSEUDO_INPUTS, STEPS_PER_EPOCH, BUDGET_S = 150, 500, 50_000 // 150, 2 * 3600


class GatedConv(keras.layers.Layer):
    """conv(x) * sigmoid(conv'(x)), the convHVAE's layer."""

    def __init__(self, filters: int, kernel: int, stride: int, **kwargs):
        super().__init__(**kwargs)
        options = dict(kernel_size=kernel, strides=stride, padding="same", kernel_initializer="he_normal")
        self.linear, self.gate = Conv2D(filters, **options), Conv2D(filters, activation="sigmoid", **options)

    def call(self, x):
        return self.linear(x) * self.gate(x)


def stack() -> keras.Sequential:
    return keras.Sequential([GatedConv(*layer) for layer in STACK])


def flops_per_image() -> float:
    """Multiply-adds of one stack's forward pass, times 2 for FLOPs, times 2 for the gates."""
    size, channels, total = 28, 1, 0
    for filters, kernel, stride in STACK:
        size = -(-size // stride)
        total += size * size * filters * kernel * kernel * channels
        channels = filters
    return 2 * 2 * total


def step_seconds(jit: bool, steps: int) -> float:
    top, branch = stack(), stack()
    images = tf.random.uniform((BATCH, 28, 28, 1))
    pseudo = tf.random.uniform((PSEUDO_INPUTS, 28, 28, 1))
    top(images), branch(images)
    weights = top.trainable_variables + branch.trainable_variables

    @tf.function(jit_compile=jit)
    def step(images, pseudo):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(top(images)) + tf.reduce_sum(top(pseudo)) + tf.reduce_sum(branch(images))
        return tape.gradient(loss, weights)

    step(images, pseudo)  # trace and compile
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        [np.asarray(g) for g in step(images, pseudo)]
        times.append(time.perf_counter() - started)
    return min(times)


def matmul_rate() -> float:
    a = tf.random.normal((2048, 2048))
    product = tf.function(lambda a: a @ a)
    np.asarray(product(a))
    best = min(_timed(lambda: np.asarray(product(a))) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (the fastest is kept)")
    args = parser.parse_args()
    rate = matmul_rate()
    step_flops = 3 * flops_per_image() * (2 * BATCH + PSEUDO_INPUTS)  # forward and backward: about 3x the forward
    print(f"matmul 2048x2048 float32: {rate:.0f} GFLOP/s")
    print(
        f"timed part: {step_flops / 1e9:.1f} GFLOP per step (two stacks of {flops_per_image() / 1e6:.1f} MFLOP per image, "
        f"{2 * BATCH} images and {PSEUDO_INPUTS} pseudo-inputs, forward and backward)"
    )
    best = None
    for jit, name in (
        (False, "TensorFlow graph (oneDNN convolutions)"),
        (True, "XLA (convolutions as matrix products)"),
    ):
        seconds = step_seconds(jit, args.steps)
        best = seconds if best is None else min(best, seconds)
        print(f"{name:42s} {seconds * 1e3:8.0f} ms a step  {step_flops / seconds / 1e9:6.0f} GFLOP/s")
    epoch = best * STEPS_PER_EPOCH
    print(
        f"epoch (the encoder's convolutions alone, faster way): at least {epoch:.0f} s; "
        f"at most {BUDGET_S / epoch:.0f} epochs in 2 hours (at the matmul rate: {STEPS_PER_EPOCH * step_flops / rate / 1e9:.0f} s an epoch)"
    )


if __name__ == "__main__":
    main()
