"""The benchmark's report divides the right figures: ratios from made-up timings (nothing is timed here)."""

from __future__ import annotations

import collections
import importlib.util

import numpy as np
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
    def epochs(seconds: float) -> dict:
        return {
            "epoch_seconds": [99.0, seconds, seconds],
            "with_test_pass": [99.0, seconds + 0.1, seconds + 0.1],
            "test_loss": 100.0,
        }

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
        "evaluate": {
            "seconds": 10.0,
            "images": 200,
            "k": 5000,
            "nll": 90.0,
            "chunk": "10000 x 784",
            "bernoulli_ms_fused": 5.0,
            "bernoulli_ms_tf_ops": 12.0,
        },
        "startup": {"help": 0.1, "list": 0.2},
    }


def row(text: str, label: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith(label))[len(label) :].split()


def test_training_rows_are_ratios_to_genmodels_and_to_the_best_matmul(performance, capsys):
    performance.report(made_up_run())
    out = capsys.readouterr().out
    assert "Ratios use the best float32 figure: 400 GFLOP/s" in out
    seconds, rate, of_matmul, times, loss = row(out, "seed's tf.compat.v1 graph")
    assert (seconds, times, loss) == ("3.00", "2.00", "100.00")
    assert float(rate) == pytest.approx(performance.TRAIN_FLOPS * 50_000 / 3.0 / 1e9, abs=0.5)
    assert of_matmul == f"{float(rate) / 400:.0%}"
    assert row(out, "Keras fit (defaults, no XLA)")[3] == "3.00"
    assert (
        "2x the tf.compat.v1 graph is 1.50 s/epoch; the step's products alone take 1.00 s, with Adam's update 1.40 s"
        in out
    )


def test_evaluation_counts_every_decoded_sample_and_compares_the_likelihood_kernels(performance, capsys):
    performance.report(made_up_run())
    out = capsys.readouterr().out
    flops = 200 * 5000 * performance.decoder_flops() + 200 * performance.encoder_flops()
    assert (
        f"{flops / 10.0 / 1e9:.0f} GFLOP/s = {flops / 10.0 / 1e9 / 400:.0%} of matmul (10000 images: about 8.3 min)"
        in out
    )
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
    seconds = collections.Counter(
        {"MatMul.189": 2.0, "multiply_add_fusion.2": 0.5, "copy.68": 0.25, "ThunkExecutor::Execute": 9.0}
    )
    assert profile.group(seconds, kinds) == {
        "matrix products": 2.0,
        "optimizer update (and metric totals)": 0.5,
        "copy": 0.25,
    }


def test_the_scaling_model_counts_the_vae_gradient_and_falls_with_workers_and_rises_with_bandwidth():
    import scaling_model

    encoder = (
        784 * 500 + 500 + 500 * 500 + 500 + 2 * (500 * 20 + 20)
    )  # two hidden layers, then the mean and log-variance heads
    decoder = 20 * 500 + 500 + 500 * 500 + 500 + 500 * 784 + 784
    assert scaling_model.gradient_bytes("vae") == 4 * (encoder + decoder)
    by_workers = [scaling_model.efficiency(0.01, 5e6, n, 10) for n in (2, 8, 64)]
    assert 1 > by_workers[0] > by_workers[1] > by_workers[2] > 0
    assert scaling_model.efficiency(0.01, 5e6, 8, 100) > scaling_model.efficiency(0.01, 5e6, 8, 1)
    assert scaling_model.efficiency(1.0, 0, 2, 10, latency_s=0, overhead_s=0) == 1.0  # free exchange: perfect scaling


# ---- benchmarks/conv_performance.py: genmodels' conv-vae beside PyTorch's ---------------------------


@pytest.fixture(scope="module")
def conv():
    return load("conv_performance")


def made_up_conv_run() -> dict:
    """Fabricated results of every case; the first epoch of each training (99 s) is never timed."""

    def training(*seconds, loss=100.0, **extra):
        return {"epoch_seconds": [99.0, *seconds], "test_loss": loss, "images": 50_000, **extra}

    raw = {
        "matmul": {"gflops": {"xla": 400.0, "onednn": 380.0, "bfloat16": 790.0}, "best": 400.0},
        "sizes": {
            "images": 50_000,
            "epochs": 3,
            "test_images": 2000,
            "evaluate_images": 200,
            "eval_batch": 100,
            "k": 5000,
        },
        "cpu": {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False},
    }
    for name in ("mnist", "colour"):
        torch = dict(threads=2, version="2.13.0+cpu")
        raw.update(
            {
                f"{name}/genmodels": training(2.0, 2.0, loss=100.0, others_running=0.0),
                f"{name}/torch-contiguous": training(5.0, 4.5, loss=101.0, layout="contiguous", **torch),
                f"{name}/torch-channels_last": training(
                    4.4, 4.0, loss=101.5, layout="channels_last", **torch
                ),  # the faster: best epoch 4.0
                f"{name}/genmodels-xla": training(3.0, 2.5, loss=100.2, others_running=0.0),
                f"{name}/floor": {"epoch_seconds": 1.0, "steps": 334, "batch": 150},
                f"{name}/floor-lowered": {"epoch_seconds": 0.5, "steps": 334, "batch": 150},
                f"{name}/evaluate": {
                    "seconds": 9.0,
                    "batch_seconds": [5.0, 4.0],
                    "batch_images": [100, 100],
                    "nll": 90.0,
                    "k": 5000,
                },
                f"{name}/evaluate-torch": {
                    "seconds": 18.0,
                    "batch_seconds": [10.0, 8.0],
                    "batch_images": [100, 100],
                    "nll": 91.0,
                    "k": 5000,
                    "layout": "channels_last",
                },
                f"{name}/precision-float32": {**training(0.4, 0.6, loss=120.0), "images": 10_000},
                f"{name}/precision-bfloat16": {**training(0.3, 0.3, loss=120.25), "images": 10_000},
            }
        )
    return raw


def test_conv_report_divides_genmodels_by_the_faster_torch_layout_and_by_the_floor(conv, capsys):
    conv.report(made_up_conv_run())
    out = capsys.readouterr().out
    assert out.count("genmodels / torch best: 0.50x   torch best / genmodels: 2.00x   genmodels / floor: 2.00x") == 2
    assert "(torch best = the channels-last layout's best epoch)" in out
    assert row(out, "genmodels train (TF graphs, oneDNN)") == ["2.00", "2.00", "100.00"]
    assert row(out, "PyTorch eager, channels-last (best)") == ["4.20", "4.00", "101.50"]
    assert row(out, "PyTorch eager, contiguous") == ["4.75", "4.50", "101.00"]
    assert "test loss after equal epochs: genmodels 100.00, torch 101.50 (-1.50 nats; 2000 test images" in out
    flops = conv.conv_flops("mnist")["train"]
    assert f"{flops * 50_000 / 1.0 / 1e9:.0f} GFLOP/s" in out
    assert "PyTorch 2.13.0+cpu on 2 threads" in out
    assert "Warning" not in out


def test_conv_report_projects_the_full_evaluation_from_the_batches_after_the_first(conv, capsys):
    conv.report(made_up_conv_run())
    out = capsys.readouterr().out
    # 100 images in 4 s after the first batch: 25 images/s, 10000 images in 400 s; PyTorch 12.5 images/s, 800 s
    assert (
        "genmodels 25.00 images/s, torch 12.50 images/s (channels-last), genmodels / torch 2.00x; NLL 90.00 and 91.00"
        in out
    )
    assert "a full evaluation of 10000 test images: genmodels about 6.7 min (torch 13.3 min)" in out


def test_conv_report_sets_bfloat16_beside_float32_and_names_the_cpu(conv, capsys):
    conv.report(made_up_conv_run())
    out = capsys.readouterr().out
    assert "CPU: avx2 yes, avx512f yes, avx512_bf16 yes, amx_bf16 no" in out
    assert "bfloat16 oneDNN 790 GFLOP/s" in out
    assert row(out, "genmodels train (float32)") == ["0.50", "0.40", "120.00"]
    assert row(out, "genmodels train --precision bfloat16") == ["0.30", "0.30", "120.25"]
    assert (
        out.count("bfloat16 / float32: 0.60x the time, test loss +0.25 nats (this CPU multiplies bfloat16 itself)") == 2
    )


def test_conv_report_says_when_bfloat16_is_emulated(conv, capsys):
    raw = made_up_conv_run()
    raw["cpu"] = {"avx2": True, "avx512f": False, "avx512_bf16": False, "amx_bf16": False}
    conv.report(raw)
    assert "no avx512_bf16 or AMX: its bfloat16 products are emulated" in capsys.readouterr().out


def test_conv_cpu_flags_read_from_cpuinfo(conv, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n"
    )
    assert conv.cpu_flags(info) == {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False}
    info.write_text("processor\t: 0\n")
    assert conv.cpu_flags(info) is None
    assert conv.cpu_flags(tmp_path / "missing") is None


def test_conv_report_warns_when_the_machine_was_busy(conv, capsys):
    raw = made_up_conv_run()
    raw["colour/floor"]["others_running"] = 2.5
    conv.report(raw)
    assert "Warning: up to 2.5 other tasks were runnable" in capsys.readouterr().out


def test_conv_rates_and_layout_choice(conv):
    raw = made_up_conv_run()
    assert conv.torch_best(raw, "mnist") == "channels_last"
    assert conv.timed(raw["mnist/torch-contiguous"]) == 4.75 and conv.best(raw["mnist/torch-contiguous"]) == 4.5
    one_batch = {"seconds": 4.0, "batch_seconds": [4.0], "batch_images": [20]}
    assert conv.images_per_second(one_batch) == 5.0  # a single batch: all of it, warm-up included


def test_conv_flops_count_the_four_convolutions(conv):
    # mnist: 28 -> 14 -> 7 and back; forward 2 x multiply-adds of each convolution
    stages = [14 * 14 * 1 * 32, 7 * 7 * 32 * 64, 7 * 7 * 64 * 32, 14 * 14 * 32 * 1]
    forward = sum(2 * 9 * n for n in stages)
    assert conv.conv_flops("mnist") == {"forward": forward, "train": 3 * forward - 2 * 9 * stages[0]}
    # colour: 32x32x3 with two Gaussian parameters per value out of the last transposed convolution
    stages = [16 * 16 * 3 * 32, 8 * 8 * 32 * 64, 8 * 8 * 64 * 32, 16 * 16 * 32 * 6]
    assert conv.conv_flops("colour")["forward"] == sum(2 * 9 * n for n in stages)


def test_conv_colour_images_are_seeded_8bit_and_the_first_of_more(conv):
    import numpy as np

    images = conv.colour_images(1500, seed=3)
    assert images.shape == (1500, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images[:1200], conv.colour_images(1200, seed=3))
    assert not np.array_equal(images[:10], conv.colour_images(10, seed=4))
    assert 0 <= images.min() and images.max() <= 255 and images.std() > 20  # not flat


def test_conv_numpy_likelihoods_are_genmodels_own(conv):
    """The test losses are computed in NumPy from raw decoder outputs: they must be genmodels' likelihoods."""
    import numpy as np

    from genmodels.nn.likelihoods import PixelLikelihood

    rng = np.random.default_rng(0)
    for name in ("mnist", "colour"):
        data = conv.DATASETS[name]
        raw = (rng.normal(size=(4, data.values * data.params)) * 3).astype(np.float32)
        x = rng.random((4, data.values)).astype(np.float32)
        x = (x > 0.5).astype(np.float32) if name == "mnist" else np.round(x * 255) / 255
        expected = np.asarray(PixelLikelihood(data.likelihood)(raw).log_prob(x))
        np.testing.assert_allclose(conv.log_likelihood(raw, x, data.likelihood), expected, rtol=1e-5)


def test_conv_driver_without_torch_says_so_in_one_line():
    import subprocess
    import sys

    script = REPO / "benchmarks" / "conv_performance.py"
    code = f"import runpy, sys; sys.modules['torch'] = None; sys.argv = [{str(script)!r}, '--quick']; runpy.run_path({str(script)!r}, run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "PyTorch is not installed" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_conv_torch_model_matches_genmodels_layout_and_likelihoods(conv):
    torch = pytest.importorskip("torch")
    import numpy as np

    rng = np.random.default_rng(1)
    for name in ("mnist", "colour"):
        data = conv.DATASETS[name]
        height, width, channels = data.shape
        raw = (rng.normal(size=(3, height, width, channels * data.params)) * 3).astype(
            np.float32
        )  # NHWC, as Keras gives it
        x = (rng.random((3, height, width, channels)) > 0.5).astype(np.float32)
        expected = conv.log_likelihood(raw.reshape(3, -1), x.reshape(3, -1), data.likelihood)
        nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)  # noqa: E731
        np.testing.assert_allclose(
            conv.torch_log_likelihood(nchw(raw), nchw(x), data.likelihood).numpy(), expected, rtol=1e-5
        )
        for layout in ("contiguous", "channels_last"):
            model = conv.torch_vae(name, layout)
            mean, log_var = model.encode(nchw(x))
            assert mean.shape == log_var.shape == (3, conv.LATENT)
            assert model.decode(mean).shape == (3, channels * data.params, height, width)


def test_conv_torch_cases_run_on_a_few_images(conv, tmp_path):
    pytest.importorskip("torch")
    import numpy as np

    trained = conv.run_case(
        "torch", dataset="colour", images=150, epochs=2, test_images=50, layout="channels_last", run_dir=tmp_path
    )
    assert len(trained["epoch_seconds"]) == 2 and np.isfinite(trained["test_loss"])
    scored = conv.run_case(
        "evaluate-torch", dataset="colour", images=4, eval_batch=2, k=50, layout="channels_last", run_dir=tmp_path
    )
    assert scored["batch_images"] == [2, 2] and np.isfinite(scored["nll"])


def test_conv_report_sets_genmodels_beside_its_xla_steps_and_the_lowered_and_matmul_floors(conv, capsys):
    conv.report(made_up_conv_run())
    out = capsys.readouterr().out
    assert "Matmul 2048x2048 float32: XLA 400, oneDNN 380 GFLOP/s (the machine's rate: 400)" in out
    assert row(out, "genmodels train --xla (convolutions as matmuls)") == ["2.75", "2.50", "100.20"]
    work = conv.conv_flops("mnist")["train"] * 50_000 / 1e9
    assert row(out, "its convolutions alone, as matmuls (XLA)")[:1] == ["0.50"]
    assert row(out, "their FLOPs at the matmul rate") == [f"{work / 400:.2f}"]
    assert out.count("genmodels --xla / its matmul floor: 5.50x") == 2  # 2.75 s against 0.5 s


def test_the_own_images_datasets_are_seeded_disjoint_splits_of_t10k(tmp_path):
    import numpy as np

    import labelled_mnist
    import own_images
    from conftest import SHARED_DATA

    if not labelled_mnist.available(SHARED_DATA):
        pytest.skip(f"the labelled MNIST test set is not at {SHARED_DATA}")
    grey, small = own_images.write(SHARED_DATA, tmp_path)
    images, _labels = own_images.t10k(SHARED_DATA)
    with np.load(grey) as data:
        assert (
            data["train"].shape == (8000, 28, 28)
            and data["test"].shape == (2000, 28, 28)
            and data["train"].dtype == np.uint8
        )
        rows = {row.tobytes() for row in data["train"]}
        assert not any(row.tobytes() in rows for row in data["test"])
        assert len(rows | {row.tobytes() for row in data["test"]}) == len({row.tobytes() for row in images})
        assert not np.array_equal(data["train"][:10], images[:10])  # drawn, not the first 8000
    with np.load(small) as data:
        assert data["train"].shape == (1700, 28, 28) and data["test"].shape == (300, 28, 28)


def test_photo_patches_are_a_class_folder_and_an_npz_whose_test_patches_come_from_another_part_of_each_photo(tmp_path):
    pytest.importorskip("skimage", reason="scikit-image (the photo-benchmark extra) ships the photos")
    import numpy as np

    import photo_patches
    from genmodels.data.folders import load_folder

    folder = photo_patches.write_colour(tmp_path, per_train=4, per_test=2)
    data = load_folder(folder)  # its train/ and test/ sub-folders are the splits
    assert data.train.shape == (20, 32, 32, 3) and data.test.shape == (10, 32, 32, 3) and data.train.dtype == np.uint8
    assert data.label_names == tuple(sorted(photo_patches.COLOUR_PHOTOS))
    grey = photo_patches.write_grey(tmp_path, train=30, total=45)
    with np.load(grey) as arrays:
        assert arrays["train"].shape == (30, 28, 20) and arrays["test"].shape == (15, 28, 20)
        assert 0.2 < arrays["train"].mean() / 255 < 0.8  # photos, not blank cuts
    image = np.zeros((100, 40), np.uint8)
    train_rows, test_rows = photo_patches.split_rows(image)
    assert train_rows == (0, 75) and test_rows == (75, 100)  # a patch of one never overlaps the other
    rng = np.random.default_rng(0)
    image = np.arange(100)[:, None].repeat(40, 1).astype(np.uint8)  # each row holds its own number
    assert photo_patches.cut(image, (10, 8), 50, test_rows, rng).min() >= 75
    assert photo_patches.cut(image, (10, 8), 50, train_rows, rng).max() < 75


def test_train_times_project_the_recipe_from_the_later_epochs_and_keep_the_rest_fixed():
    train_times = load("train_times")
    short = train_times.project(wall=40.0, seconds=[12.0, 5.0, 7.0, 6.0], full_epochs=50)
    assert short["fixed_s"] == 10.0  # 40 s of wall, 30 of them in epochs
    assert short["epoch_s"] == 6.0  # the median of the epochs after the first, which traces the graphs
    assert short["projected_s"] == 10.0 + 12.0 + 6.0 * 49
    assert short["measured_s"] is None
    whole = train_times.project(wall=30.0, seconds=[12.0, 6.0], full_epochs=2)
    assert whole["projected_s"] == whole["measured_s"] == 30.0


def test_loss_outliers_name_the_images_far_above_the_median_and_their_share_of_the_mean():
    loss_outliers = load("loss_outliers")
    values = np.full((3, 100), 20.0)  # three draws of 100 images' KL
    values[1, 52] = 10_000.0  # one heavy draw of image 52
    values[:, 7] = 90.0  # image 7 always 70 above the median
    found = loss_outliers.outliers(values, margin=50.0)
    assert found["images"] == [52, 7]  # worst first
    assert found["draws_above"] == 4
    assert found["share_of_mean"] == pytest.approx((10_000 + 3 * 90) / values.sum())
    assert found["mean_without"] == pytest.approx(20.0)
    assert loss_outliers.outliers(np.full((2, 10), 5.0), margin=1.0)["images"] == []
