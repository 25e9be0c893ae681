"""genmodels.nn.convolutions: Keras' convolution layers, computed as matrix products under XLA on a CPU.

The specification: the same weights give the same outputs and the same gradients as Keras' own layers, in
eager calls, TensorFlow graphs and XLA; under XLA no convolution instruction is left for XLA's slow CPU
convolutions; elsewhere the layers run Keras' own operation; and weights move between the two kinds.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from genmodels.nn.convolutions import Conv2D, Conv2DTranspose, conv2d, conv2d_transpose, lowered

# (height, width, channels, filters, kernel, strides, padding): conv-vae's own geometries first, then odd sizes,
# kernels larger and smaller than the stride, unequal strides, 1x1 kernels and 'valid' padding
GEOMETRIES = [
    (28, 28, 1, 32, 3, 2, "same"),
    (14, 14, 32, 64, 3, 2, "same"),
    (16, 16, 3, 6, 3, 2, "same"),
    (7, 7, 3, 5, 3, 1, "same"),
    (9, 10, 2, 4, 5, 2, "same"),
    (8, 8, 2, 3, 4, 2, "same"),
    (7, 9, 2, 3, 2, 3, "same"),
    (6, 5, 2, 3, 1, 2, "same"),
    (7, 6, 2, 3, (3, 2), (2, 1), "same"),
    (9, 10, 2, 4, 3, 3, "valid"),
    (8, 8, 3, 2, 2, 2, "valid"),
]


def pair(kind: str, filters: int, kernel, strides, padding: str, x):
    """Keras' layer and ours, built on x, with Keras' (random) weights in both."""
    theirs_class, ours_class = (
        (keras.layers.Conv2D, Conv2D) if kind == "conv" else (keras.layers.Conv2DTranspose, Conv2DTranspose)
    )
    theirs, ours = (
        cls(filters, kernel, strides=strides, padding=padding, activation="elu") for cls in (theirs_class, ours_class)
    )
    theirs(x), ours(x)
    theirs.bias.assign(tf.random.normal(theirs.bias.shape, seed=1))  # Keras starts biases at zero: make them count
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def narrower_than_its_stride(kernel, strides) -> bool:
    """Whether a kernel is smaller than its stride along some axis."""
    kernel, strides = ((value, value) if isinstance(value, int) else tuple(value) for value in (kernel, strides))
    return any(k < s for k, s in zip(kernel, strides))


def cases():
    for geometry in GEOMETRIES:
        yield pytest.param(
            "conv", *geometry, id=f"conv-{'x'.join(map(str, geometry[:3]))}-k{geometry[4]}-s{geometry[5]}-{geometry[6]}"
        )
        # a transposed convolution is lowered for 'same' padding only; one whose kernel is smaller than its stride is
        # left out: XLA's CPU runtime crashed (SIGSEGV) now and then running it, Keras' own operation as well as ours
        if geometry[-1] == "same" and not narrower_than_its_stride(geometry[4], geometry[5]):
            yield pytest.param(
                "transpose", *geometry, id=f"transpose-{'x'.join(map(str, geometry[:3]))}-k{geometry[4]}-s{geometry[5]}"
            )


def values_and_gradients(layer, x, upstream, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            total = tf.reduce_sum(y * upstream)
        return [y, *tape.gradient(total, [x, layer.kernel, layer.bias])]

    return [t.numpy() for t in run(x)]


def compare_under_xla(kind, height, width, channels, filters, kernel, strides, padding) -> dict[str, dict]:
    """For one geometry: each of output and gradients, whether the shapes agree and the largest difference between
    Keras' layer in TensorFlow's kernels and ours under XLA, beside the tolerance (2e-5 of the largest value, at least)."""
    x = tf.random.normal((3, height, width, channels), seed=2)
    theirs, ours = pair(kind, filters, kernel, strides, padding, x)
    upstream = tf.random.normal(theirs(x).shape, seed=3)
    expected = values_and_gradients(theirs, x, upstream, jit_compile=False)  # TensorFlow's own kernels
    lowered_ = values_and_gradients(ours, x, upstream, jit_compile=True)
    figures = {}
    for name, want, got in zip(("output", "input gradient", "kernel gradient", "bias gradient"), expected, lowered_):
        same_shape = got.shape == want.shape
        figures[name] = {
            "same_shape": same_shape,
            "difference": float(np.abs(got - want).max()) if same_shape else None,
            "tolerance": 2e-5 * max(1.0, float(np.abs(want).max())),
        }
    return figures


@pytest.fixture(scope="module")
def xla_comparisons(tmp_path_factory) -> dict:
    """Every geometry compared in a fresh process, as conv-vae's trainings run: XLA's CPU runtime has been seen to crash
    (SIGSEGV, SIGABRT) now and then while compiling or running these small programs on an AVX-512 host, which in the
    test session's own process took the whole session down."""
    import json
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("xla") / "figures.json"
    script = (
        "import json, sys, test_convolutions as t\n"
        "json.dump({p.id: t.compare_under_xla(*p.values) for p in t.cases()}, open(sys.argv[1], 'w'))"
    )
    for _attempt in range(
        2
    ):  # a second fresh process only when the first was killed by a signal, never for wrong figures
        done = subprocess.run(
            [sys.executable, "-c", script, str(out)],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode >= 0:
            break
    assert done.returncode == 0, f"exit status {done.returncode}: {done.stderr[-1500:]}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("case", [param.id for param in cases()])
@pytest.mark.slow
def test_same_outputs_and_gradients_as_keras_under_xla(case, xla_comparisons):
    for name, figures in xla_comparisons[case].items():
        assert figures["same_shape"], name
        assert figures["difference"] <= figures["tolerance"], (
            f"{name}: {figures['difference']} > {figures['tolerance']}"
        )


def xla_hlo(layer, x) -> str:
    return tf.function(lambda x: layer(x), jit_compile=True).experimental_get_compiler_ir(x)(stage="hlo")


def test_under_xla_the_layers_leave_no_convolution_to_xla():
    x = tf.random.normal((2, 14, 14, 8))
    for kind in ("conv", "transpose"):
        theirs, ours = pair(kind, 4, 3, 2, "same", x)
        assert "convolution(" in xla_hlo(theirs, x)  # what Keras' layer hands XLA
        ours_hlo = xla_hlo(ours, x)
        assert "convolution(" not in ours_hlo and " dot(" in ours_hlo


def test_lowered_only_inside_xla():
    seen = {}

    def probe(name):
        seen[name] = lowered()
        return tf.constant(0.0)

    probe("eager")
    tf.function(lambda: probe("graph"), jit_compile=False)()
    tf.function(lambda: probe("xla"), jit_compile=True)()
    tf.function(
        lambda: tf.while_loop(lambda i: i < 1, lambda i: (probe("xla loop"), i + 1)[1], [0]), jit_compile=True
    )()
    assert seen == {"eager": False, "graph": False, "xla": True, "xla loop": True}


def test_outside_xla_the_layers_are_keras_own():
    x = tf.random.normal((2, 14, 14, 8))
    for kind in ("conv", "transpose"):
        theirs, ours = pair(kind, 4, 3, 2, "same", x)
        graph = tf.function(lambda x: ours(x)).get_concrete_function(x).graph
        op_types = {op.type for op in graph.get_operations()}
        assert op_types & {"Conv2D", "Conv2DBackpropInput"}, op_types
        np.testing.assert_array_equal(ours(x), theirs(x))


def test_the_functions_match_keras_ops_directly():
    x = tf.random.normal((2, 12, 10, 3))
    kernel = tf.random.normal((3, 3, 3, 5))
    np.testing.assert_allclose(conv2d(x, kernel, (2, 2), "same"), keras.ops.conv(x, kernel, 2, "same"), atol=1e-5)
    kernel_t = tf.random.normal((3, 3, 5, 3))  # (kh, kw, filters, channels)
    np.testing.assert_allclose(
        conv2d_transpose(x, kernel_t, (2, 2)), keras.ops.conv_transpose(x, kernel_t, 2, "same"), atol=1e-5
    )


def test_weights_saved_with_keras_layers_load_into_these(tmp_path):
    def model(conv, transpose):
        return keras.Sequential(
            [
                keras.Input((8, 8, 2)),
                conv(4, 3, strides=2, padding="same", activation="elu"),
                transpose(2, 3, strides=2, padding="same"),
            ]
        )

    theirs, ours = model(keras.layers.Conv2D, keras.layers.Conv2DTranspose), model(Conv2D, Conv2DTranspose)
    theirs.save_weights(tmp_path / "model.weights.h5")
    ours.load_weights(tmp_path / "model.weights.h5")
    x = tf.random.normal((2, 8, 8, 2))
    np.testing.assert_array_equal(ours(x), theirs(x))
    np.testing.assert_allclose(tf.function(ours, jit_compile=True)(x), theirs(x), atol=1e-5)
