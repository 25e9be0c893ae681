"""The benchmark's report divides the right figures: ratios from made-up timings (nothing is timed here)."""

from __future__ import annotations

import collections
import importlib.util

import pytest

from conftest import REPO


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def performance():
    return load("performance")


def made_up_run() -> dict:
    epochs = lambda seconds: {"epoch_seconds": [99.0, seconds, seconds], "with_test_pass": [99.0, seconds + 0.1, seconds + 0.1], "test_loss": 100.0}  # noqa: E731
    matmul = {"float32-xla": 380.0, "float32-onednn": 400.0, "bfloat16-onednn": 800.0, "float32": 400.0}
    return {
        "matmul": matmul,
        "matmul-end": {**matmul, "float32": 350.0},
        "compat-v1": epochs(3.0),
        "keras-fit": epochs(4.5),
        "keras-fit-xla": epochs(6.0),
        "genmodels": epochs(1.5),
        "products": {"epoch_seconds_xla": 1.2, "epoch_seconds_onednn": 1.0, "epoch_seconds_adam": 1.4},
        **{f"batch-{b}-{p}": epochs(1.0) for b in (150, 500, 1000) for p in ("float32", "bfloat16")},
        "evaluate": {"seconds": 10.0, "images": 200, "k": 5000, "nll": 90.0, "chunk": "10000 x 784", "bernoulli_ms_fused": 5.0, "bernoulli_ms_tf_ops": 12.0},
        "startup": {"help": 0.1, "list": 0.2},
    }


def row(text: str, label: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith(label))[len(label):].split()


def test_training_rows_are_ratios_to_genmodels_and_to_the_best_matmul(performance, capsys):
    performance.report(made_up_run())
    out = capsys.readouterr().out
    assert "Ratios use the best float32 figure: 400 GFLOP/s" in out
    seconds, rate, of_matmul, times, loss = row(out, "seed's tf.compat.v1 graph")
    assert (seconds, times, loss) == ("3.00", "2.00", "100.00")
    assert float(rate) == pytest.approx(performance.TRAIN_FLOPS * 50_000 / 3.0 / 1e9, abs=0.5)
    assert of_matmul == f"{float(rate) / 400:.0%}"
    assert row(out, "Keras fit (defaults, no XLA)")[3] == "3.00"
    assert "2x the tf.compat.v1 graph is 1.50 s/epoch; the step's products alone take 1.00 s, with Adam's update 1.40 s" in out


def test_evaluation_counts_every_decoded_sample_and_compares_the_likelihood_kernels(performance, capsys):
    performance.report(made_up_run())
    out = capsys.readouterr().out
    flops = 200 * 5000 * performance.decoder_flops() + 200 * performance.encoder_flops()
    assert f"{flops / 10.0 / 1e9:.0f} GFLOP/s = {flops / 10.0 / 1e9 / 400:.0%} of matmul (10000 images: about 8.3 min)" in out
    assert "5.0 ms fused by XLA, 12.0 ms as TensorFlow ops (2.4x)" in out


HLO = """
  %MatMul.189 = f32[150,500]{1,0} dot(%a, %b), lhs_contracting_dims={1}, rhs_contracting_dims={0}, metadata={op_type="MatMul" op_name="while/MatMul"}
  %multiply_add_fusion.2 = f32[500,784]{1,0} fusion(%p, %g), kind=kLoop, calls=%fused_computation.6, metadata={op_type="AssignAddVariableOp" op_name="while/adam/AssignAddVariableOp_25" source_file="ops.py" source_line=1221}, backend_config={"outer_dimension_partitions":["2"]}
  ROOT %exponential-minus-one_select_fusion = f32[150,500]{1,0} fusion(%MatMul.189), kind=kLoop, calls=%fused_computation.9, metadata={op_type="Elu" op_name="while/Elu"}
  %copy.68 = f32[500,784]{1,0} copy(%p)
  %while.17 = (s32[], f32[40,4]{1,0}) while(%tuple), condition=%cond, body=%body
"""


def test_the_profile_groups_kernels_by_what_they_do():
    profile = load("profile_step")
    kinds = profile.kinds_from_hlo(HLO)
    assert kinds == {
        "MatMul.189": "matrix products",
        "multiply_add_fusion.2": "optimizer update (and metric totals)",
        "exponential-minus-one_select_fusion": "Elu",
        "copy.68": "copy",
    }
    seconds = collections.Counter({"MatMul.189": 2.0, "multiply_add_fusion.2": 0.5, "copy.68": 0.25, "ThunkExecutor::Execute": 9.0})
    assert profile.group(seconds, kinds) == {"matrix products": 2.0, "optimizer update (and metric totals)": 0.5, "copy": 0.25}


def test_the_scaling_model_counts_the_vae_gradient_and_falls_with_workers_and_rises_with_bandwidth():
    import scaling_model

    encoder = 784 * 500 + 500 + 500 * 500 + 500 + 2 * (500 * 20 + 20)  # two hidden layers, then the mean and log-variance heads
    decoder = 20 * 500 + 500 + 500 * 500 + 500 + 500 * 784 + 784
    assert scaling_model.gradient_bytes("vae") == 4 * (encoder + decoder)
    by_workers = [scaling_model.efficiency(0.01, 5e6, n, 10) for n in (2, 8, 64)]
    assert 1 > by_workers[0] > by_workers[1] > by_workers[2] > 0
    assert scaling_model.efficiency(0.01, 5e6, 8, 100) > scaling_model.efficiency(0.01, 5e6, 8, 1)
    assert scaling_model.efficiency(1.0, 0, 2, 10, latency_s=0, overhead_s=0) == 1.0  # free exchange: perfect scaling
