"""The command line, end to end: instant help and listing, training and sampling on real data, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

from genmodels.cli.program import app  # the app with every command registered
from genmodels.core.plots import PAD, SCALE


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`genmodels ARGS` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "genmodels.cli.program", *args], capture_output=True, text=True, timeout=300, env=env
    )


def grid_size(count: int, columns: int = 10, side: int = 28) -> tuple[int, int]:
    """Pixel (height, width) of the PNG grid of `count` images."""
    columns = min(columns, count)
    rows = -(-count // columns)
    return (rows * (side + PAD) + PAD) * SCALE, (columns * (side + PAD) + PAD) * SCALE


@pytest.mark.parametrize(
    "command", [["--help"], ["list"], ["--strict-plugins", "list"], ["info", "vae"], ["train", "--help"]]
)
def test_help_and_listing_never_import_tensorflow(command):
    probe = (
        "import sys; from genmodels.cli.program import main; sys.argv = ['genmodels', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TENSORFLOW IMPORTED' if 'tensorflow' in sys.modules else 'no tensorflow')"
    )
    result = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().endswith("no tensorflow"), result.stdout + result.stderr


def test_list_shows_the_builtin_models_with_their_plugin():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[0] == "vae" and line.endswith("vae (genmodels)") for line in lines if line.strip())
    assert any(line.split()[0] == "ae" and line.endswith("ae (genmodels)") for line in lines if line.strip())
    assert any(line.strip().startswith("binarized-mnist") for line in lines)


def test_info_names_the_sampler_a_models_samples_draw_from():
    for model, sampler in (("vae", "gmm"), ("vq-vae", "pixelcnn")):
        result = run_cli("info", model)
        assert result.returncode == 0, result.stderr
        assert any(line.startswith(f"sampler: {sampler} ") for line in result.stdout.splitlines()), result.stdout


def test_the_documented_option_names_exist():
    train_help = run_cli("train", "--help").stdout
    for name in (
        "--epochs",
        "--batch-size",
        "--learning-rate",
        "--latent-dim",
        "--dataset",
        "--run-dir",
        "--seed",
        "--option",
    ):
        assert name in train_help
    flat = " ".join(train_help.replace("│", " ").split())
    assert "[default: runs/MODEL]" in flat and "[default: binarized-mnist]" in flat
    sample_help = run_cli("sample", "--help").stdout
    for name in ("-n", "--run-dir", "--out", "--seed", "--npy"):
        assert name in sample_help


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "vea"], "Error: Unknown model 'vea'. Did you mean 'vae'?"),
        (
            ["sample", "vae", "--run-dir", "nowhere"],
            "Error: No trained model in nowhere (no config.json). Train one first: genmodels train vae --run-dir nowhere",
        ),
        (["train", "vae", "-o", "hidden"], "Error: options are given as KEY=VALUE"),
        (["train", "vae", "-o", "depth=3"], "Error: MLPConfig has no option 'depth'"),
        (["train", "vae", "--learning-rate", "-1"], "Error: learning_rate must be positive, received -1.0."),
        (["train", "vae", "--dataset", "mnsit"], "Error: Unknown dataset 'mnsit'. Did you mean 'mnist'?"),
    ],
)
def test_bad_input_gets_one_readable_line_and_a_non_zero_exit(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "genmodels.cli.program", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith(message), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_usage_error_is_one_line_too():
    result = run_cli("sample", "vae", "-n", "0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: Invalid value for '-n': ") and line.endswith("(see genmodels sample --help)")


@pytest.mark.slow
def test_train_then_sample_end_to_end_on_real_data(mnist_slice, tmp_path):
    runner = CliRunner()
    run_dir = tmp_path / "run"
    trained = runner.invoke(
        app,
        [
            "train",
            "vae",
            "--epochs",
            "2",
            "--dataset",
            str(mnist_slice),
            "--run-dir",
            str(run_dir),
            "--latent-dim",
            "8",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "Validation at epoch 2, the best on validation of 2" in trained.output

    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "vae" and config["model_config"]["latent_dim"] == 8
    assert config["train"]["epochs"] == 2 and config["train"]["batch_size"] == 150
    digests = config["dataset"].pop("splits_sha256")
    assert config["dataset"] == {
        "name": "slice.npz",
        "image_shape": [28, 28, 1],
        "pixels": "binary",
        "train_size": 1350,
        "valid_size": 150,
        "test_size": 500,
    }  # a tenth held out for validation
    assert sorted(digests) == ["test", "train", "valid"] and len(set(digests.values())) == 3
    assert {"tensorflow", "keras", "numpy", "genmodels"} <= set(config["versions"])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert set(record["train"]) == set(record["valid"]) == {"loss", "reconstruction", "kl"}
        assert record["valid"]["loss"] == pytest.approx(
            record["valid"]["reconstruction"] + record["valid"]["kl"], rel=1e-4
        )
    assert mpimg.imread(run_dir / "samples.png").shape[:2] == grid_size(60)

    out = tmp_path / "sixty.png"
    sampled = runner.invoke(app, ["sample", "vae", "-n", "60", "--run-dir", str(run_dir), "--out", str(out), "--npy"])
    assert sampled.exit_code == 0, sampled.output
    assert str(out) in sampled.output
    assert mpimg.imread(out).shape[:2] == grid_size(60) == (364, 604)
    pixels = np.load(out.with_suffix(".npy"))
    assert pixels.shape == (60, 28, 28, 1) and 0.0 <= pixels.min() and pixels.max() <= 1.0

    again = runner.invoke(
        app, ["sample", "vae", "-n", "60", "--run-dir", str(run_dir), "--out", str(tmp_path / "again.png"), "--npy"]
    )
    assert again.exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), pixels)  # same seed, same images

    seven = runner.invoke(app, ["sample", "vae", "-n", "7", "--run-dir", str(run_dir)])
    assert seven.exit_code == 0
    assert mpimg.imread(run_dir / "samples-7-seed0.png").shape[:2] == grid_size(7)

    wrong = runner.invoke(app, ["sample", "ae", "--run-dir", str(run_dir)])
    assert "holds a 'vae' model, not 'ae'" in str(wrong.exception)


@pytest.mark.slow
def test_the_autoencoder_samples_from_a_gaussian_fitted_to_its_codings(mnist_slice, tmp_path):
    runner = CliRunner()
    run_dir = tmp_path / "ae"
    trained = runner.invoke(
        app, ["train", "ae", "--epochs", "1", "--dataset", str(mnist_slice), "--run-dir", str(run_dir)]
    )
    assert trained.exit_code == 0, trained.output
    assert set(json.loads((run_dir / "metrics.jsonl").read_text())["valid"]) == {"loss", "reconstruction"}

    from genmodels.plugins.loader import build_registry
    from genmodels.runs.loading import load_model
    from genmodels.nn.latent import encode

    model, _ = load_model(run_dir, build_registry(), "ae")
    from genmodels.data.sources import load_dataset

    training = load_dataset(str(mnist_slice), build_registry())  # the training images, without the validation hold-out
    codings = encode(model, training.rows("train"))
    np.testing.assert_allclose(model.prior.loc.numpy(), codings.mean(axis=0), rtol=1e-3, atol=1e-4)
    sampled = runner.invoke(app, ["sample", "ae", "-n", "60", "--run-dir", str(run_dir)])
    assert sampled.exit_code == 0, sampled.output
    assert mpimg.imread(run_dir / "samples-60-seed0.png").shape[:2] == grid_size(60)


def test_a_broken_third_party_plugin_is_named_and_the_cli_still_works(tmp_path):
    from test_registry import install_fake_distribution

    install_fake_distribution(tmp_path, "genmodels-broken", {"broken": "genmodels_broken"}, "import no_such_module\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = run_cli("list", env=env)
    assert result.returncode == 0
    assert result.stderr.startswith(
        "Warning: plugin 'broken' (package genmodels-broken) could not be loaded: ModuleNotFoundError"
    )
    assert "vae" in result.stdout and "Traceback" not in result.stderr
    assert "laplace" not in result.stdout


@pytest.mark.parametrize("strict", [["--strict-plugins"], []], ids=["option", "variable"])
def test_strict_plugin_mode_makes_a_broken_plugin_an_error_naming_it(tmp_path, strict):
    from test_registry import install_fake_distribution

    install_fake_distribution(tmp_path, "genmodels-broken", {"broken": "genmodels_broken"}, "import no_such_module\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), **({} if strict else {"GENMODELS_STRICT_PLUGINS": "1"})}
    result = run_cli(*strict, "list", env=env)
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: plugin 'broken' (package genmodels-broken) could not be loaded: ModuleNotFoundError")
    assert line.endswith("(strict plugin mode)")


def test_a_run_without_weights_says_that_training_never_finished_an_epoch(tmp_path):
    from genmodels.runs.format import RunConfig, write_config

    write_config(tmp_path, RunConfig("vae", {"latent_dim": 20}, {}, {"name": "x", "image_shape": [28, 28]}))
    result = run_cli("sample", "vae", "--run-dir", str(tmp_path))
    assert result.returncode == 1
    assert (
        "has no best.weights.h5: training stopped before its first epoch ended" in result.stderr
    )  # the kept epoch's weights


def test_every_training_option_is_generated_from_train_config():
    import dataclasses

    from genmodels.core.train_config import TrainConfig

    flat = " ".join(run_cli("train", "--help", env={**os.environ, "COLUMNS": "400"}).stdout.replace("│", " ").split())
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        assert flag in flat, flag
        assert field.metadata["help"].split(" (")[0] in flat, f"{flag}: its help is TrainConfig's"
    assert "last|best" in flat and "float32|bfloat16" in flat  # the choices, from the field
    assert "--no-xla" in flat and "[default: binarized-mnist]" in flat


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--keep", "worst"], "keep must be one of last, best, received 'worst'"),
        (["--epochs", "0"], "--epochs"),
        (["--image-size", "32,x"], "image_size must be a comma-separated list of integers"),
    ],
)
def test_generated_training_options_refuse_bad_values_in_one_line(args, fragment, tiny_npz, tmp_path, capsys):
    from conftest import run_main

    outcome = run_main(capsys, "train", "vae", "--dataset", tiny_npz, "--run-dir", tmp_path / "run", *args)
    outcome.assert_one_error_line(fragment)
    assert not (tmp_path / "run").exists()
