"""Convolutions as matrix products under XLA: Keras' Conv2D and Conv2DTranspose with the same weights, fast on a CPU.

XLA's CPU convolutions are slow (a training step of conv-vae took 24x longer than with
TensorFlow's oneDNN ones), so convolutional models used to train without XLA, as TensorFlow graphs
of per-op kernels. Inside an XLA-compiled function on a CPU the layers here compute the same
functions as plain slices, pads, concatenations and one matrix product each, which XLA fuses
around its matrix products, so the whole training step compiles:

- a convolution gathers every output position's receptive field (the k x k taps of the padded
  input, strided slices concatenated along the channels: `im2col`) and multiplies by the kernel
  flattened to (k * k * channels, filters);
- a transposed convolution multiplies every input position by the kernel flattened the other way,
  (channels, k * k * filters), which gives each position's k x k window of contributions at once,
  and adds the windows up where they overlap (`col2im`, the adjoint of `im2col`): the output's
  s x s phases (rows and columns of each residue modulo the stride) each sum shifted windows, and
  are interleaved.

`im2col` and `col2im` are each other's gradient, given explicitly: the gradients autodiff would
derive from the slices (a padded copy of the whole input per tap, then their sum) cost several
times more. Outside XLA (an evaluation's TensorFlow graph, eager calls) and on a GPU the layers are
Keras' own, whose oneDNN and cuDNN kernels need no patches in memory. The weights have Keras'
shapes and names, so a model saved with Keras' layers loads into these and the reverse.
Configurations the lowering does not cover (dilation, channels-first data, groups, an explicit
`output_padding`, a transposed convolution with 'valid' padding) are always Keras' own.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math

import keras
import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # whether a trace is XLA's (no public API says)


def _padding(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """Output size and the (before, after) padding along one axis of TensorFlow's 'same' or 'valid' convolution."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


class _Geometry:
    """Where the taps of a 2D convolution read: image (H, W), kernel (kh, kw), strides and padding."""

    def __init__(self, size: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int], padding: str):
        self.size, self.kernel, self.strides = tuple(size), tuple(kernel), tuple(strides)
        (self.oh, self.top, self.bottom), (self.ow, self.left, self.right) = (
            _padding(n, k, s, padding) for n, k, s in zip(size, kernel, strides)
        )

    def im2col(self, x):
        """(B, H, W, C) -> (B, Ho, Wo, kh * kw * C): each output position's taps, tap-major (row, column, channel)."""
        (kh, kw), (sh, sw) = self.kernel, self.strides
        if self.top or self.bottom or self.left or self.right:
            x = tf.pad(x, [(0, 0), (self.top, self.bottom), (self.left, self.right), (0, 0)])
        taps = [
            x[:, i : i + sh * (self.oh - 1) + 1 : sh, j : j + sw * (self.ow - 1) + 1 : sw, :]
            for i in range(kh)
            for j in range(kw)
        ]
        return taps[0] if len(taps) == 1 else tf.concat(taps, axis=-1)

    def col2im(self, columns):
        """The adjoint of `im2col`: (B, Ho, Wo, kh * kw * C) -> (B, H, W, C), each tap's value added where it was read.

        Output row o = sh * m + i - top gets tap row i of window m: rows of one residue p modulo the stride (a
        phase) are sums of windows shifted by whole rows, so the image is s x s phases of sums, interleaved."""
        (kh, kw), (sh, sw), (height, width) = self.kernel, self.strides, self.size
        channels = columns.shape[-1] // (kh * kw)
        windows = tf.reshape(columns, [-1, self.oh, self.ow, kh, kw, channels])
        rows, cols = -(-height // sh), -(-width // sw)  # each phase's length; s * length >= the image's size
        # tap (i, j) of window (m + a, n + b) lands on phase (p, q) at (m, n): with the windows padded by the largest
        # shifts on each side, every term is a plain slice of one tensor, and each phase one fused sum
        taps = [
            (p, q, i, j, (p + self.top - i) // sh, (q + self.left - j) // sw)
            for p in range(sh)
            for q in range(sw)
            for i in range(kh)
            if (p + self.top - i) % sh == 0
            for j in range(kw)
            if (q + self.left - j) % sw == 0
        ]
        top = max([0] + [-a for *_, a, _ in taps])
        bottom = max([0] + [rows + a - self.oh for *_, a, _ in taps])
        left = max([0] + [-b for *_, b in taps])
        right = max([0] + [cols + b - self.ow for *_, b in taps])
        padded = tf.pad(windows, [(0, 0), (top, bottom), (left, right), (0, 0), (0, 0), (0, 0)])
        phases = []
        for p in range(sh):
            row = []
            for q in range(sw):
                terms = [
                    padded[:, top + a : top + a + rows, left + b : left + b + cols, i, j, :]
                    for p_, q_, i, j, a, b in taps
                    if (p_, q_) == (p, q)
                ]
                row.append(
                    tf.add_n(terms) if terms else tf.zeros([tf.shape(windows)[0], rows, cols, channels], windows.dtype)
                )
            phases.append(tf.stack(row, axis=3))  # (B, rows, cols, sw, C)
        interleaved = tf.reshape(tf.stack(phases, axis=2), [-1, rows * sh, cols * sw, channels])  # row m * sh + p
        return interleaved[:, :height, :width, :]


def _im2col(geometry: _Geometry):
    @tf.custom_gradient
    def im2col(x):
        return geometry.im2col(x), lambda upstream: geometry.col2im(upstream)

    return im2col


def _col2im(geometry: _Geometry):
    @tf.custom_gradient
    def col2im(columns):
        return geometry.col2im(columns), lambda upstream: geometry.im2col(upstream)

    return col2im


def conv2d(x, kernel, strides: tuple[int, int], padding: str):
    """Keras' conv(x, kernel, strides, padding) for channels-last `x` (B, H, W, C) and `kernel` (kh, kw, C, F),
    as one matrix product of the input's patches (B * Ho * Wo, kh * kw * C) with the kernel (kh * kw * C, F)."""
    kh, kw, channels, filters = kernel.shape
    geometry = _Geometry(x.shape[1:3], (kh, kw), strides, padding)
    patches = _im2col(geometry)(x)
    product = tf.matmul(
        tf.reshape(patches, [-1, kh * kw * channels]), tf.reshape(kernel, [kh * kw * channels, filters])
    )
    return tf.reshape(product, [-1, geometry.oh, geometry.ow, filters])


def conv2d_transpose(x, kernel, strides: tuple[int, int]):
    """Keras' conv_transpose(x, kernel, strides, padding="same") for channels-last `x` (B, H, W, C) and `kernel`
    (kh, kw, F, C): output (B, H * sh, W * sw, F), computed as one matrix product (B * H * W, C) x (C, kh * kw * F),
    every input position's window of contributions, added up where the windows overlap (`col2im`)."""
    kh, kw, filters, channels = kernel.shape
    _, height, width, _ = x.shape
    # the transposed convolution is the adjoint of a 'same' convolution from (H * sh, W * sw) down to (H, W)
    geometry = _Geometry((height * strides[0], width * strides[1]), (kh, kw), strides, "same")
    weights = tf.reshape(tf.transpose(kernel, (3, 0, 1, 2)), [channels, kh * kw * filters])
    windows = tf.matmul(tf.reshape(x, [-1, channels]), weights)
    return _col2im(geometry)(tf.reshape(windows, [-1, height, width, kh * kw * filters]))


def lowered() -> bool:
    """Whether a convolution being traced now is computed as matrix products: inside an XLA-compiled function
    (`jit_compile=True`) on a machine without a GPU, where XLA's own CPU convolutions are slow. Elsewhere,
    TensorFlow's oneDNN convolutions are the faster: they need no (k * k)-times larger patches in memory,
    which for the tens of thousands of images an evaluation decodes at once cost more than they save."""
    return control_flow_util.GraphOrParentsInXlaContext(
        tf.compat.v1.get_default_graph()
    ) and not tf.config.list_logical_devices("GPU")


class Conv2D(keras.layers.Conv2D):
    """keras.layers.Conv2D, computed under XLA on a CPU as one matrix product of the input's patches (see the module)."""

    def convolution_op(self, inputs, kernel):
        if (
            self.data_format != "channels_last"
            or tuple(self.dilation_rate) != (1, 1)
            or self.groups != 1
            or not lowered()
        ):
            return super().convolution_op(inputs, kernel)
        return conv2d(inputs, kernel, tuple(self.strides), self.padding)


class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """keras.layers.Conv2DTranspose, computed under XLA on a CPU as one matrix product and a sum of shifted windows."""

    def call(self, inputs):
        if (
            self.data_format != "channels_last"
            or tuple(self.dilation_rate) != (1, 1)
            or self.padding != "same"
            or self.output_padding is not None
            or not lowered()
        ):
            return super().call(inputs)
        outputs = conv2d_transpose(inputs, self.kernel, tuple(self.strides))
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs
