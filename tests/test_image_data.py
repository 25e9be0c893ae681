"""Any image data: shapes and kinds of values, likelihoods that fit them, validation splits, the kept epoch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from genmodels.data.dataset import Dataset
from genmodels.data.npz import load_npz
from genmodels.core.errors import DatasetError

from conftest import run_main, snapshot

# Small hyperparameters per built-in model, so each trains in seconds on any of the data below.
SMALL = {
    "vae": ["-o", "hidden=16"],
    "ae": ["-o", "hidden=16"],
    "beta-vae": ["-o", "hidden=16"],
    "iwae": ["-o", "hidden=16", "-o", "k=2"],
    "vamp": ["-o", "hidden=16", "-o", "components=5"],
    "cvae": ["-o", "hidden=16", "-o", "classes=3"],
    "hvae": [
        "-o",
        "hidden=16",
        "-o",
        "top_dim=2",
        "-o",
        "components=0",
    ],  # its VampPrior is exercised by vamp (note: 3 pseudo-inputs of 12288 values diverge at Adam 1e-3)
    "conv-vae": ["-o", "channels=4,8"],
}


def images(count: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Smooth random 8-bit images (blobs, so that a model has something to learn), uint8 of `shape`."""
    rng = np.random.default_rng(seed)
    height, width = shape[:2]
    rows, cols = np.mgrid[0:height, 0:width]
    centres = rng.uniform(0, 1, (count, 2)) * [height, width]
    blob = np.exp(
        -((rows[None] - centres[:, :1, None]) ** 2 + (cols[None] - centres[:, 1:, None]) ** 2) / (0.1 * height * width)
    )
    if len(shape) == 3:
        blob = blob[..., None] * rng.uniform(0.3, 1.0, (count, 1, 1, shape[2]))
    return np.round(255 * blob).astype(np.uint8)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict[str, Path]:
    """Grey 28x20 floats, colour 32x32 and colour 64x64 8-bit .npz files with 3 classes, and a folder of colour PNGs."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("image-data")
    files = {}
    for name, shape, to_float in (
        ("grey", (28, 20), True),
        ("colour32", (32, 32, 3), False),
        ("colour64", (64, 64, 3), False),
    ):
        train, test = images(120, shape, 0), images(40, shape, 1)
        arrays = {"train": train / 255.0 if to_float else train, "test": test / 255.0 if to_float else test}
        arrays.update(train_labels=np.arange(120) % 3, test_labels=np.arange(40) % 3)
        files[name] = folder / f"{name}.npz"
        np.savez(files[name], **arrays)
    pngs = folder / "pngs"
    for index, image in enumerate(images(60, (16, 24, 3), 2)):
        (pngs / f"class{index % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(pngs / f"class{index % 3}" / f"{index:03d}.png")
    files["folder"] = pngs
    return files


@pytest.mark.slow
@pytest.mark.parametrize("data", ["grey", "colour32", "colour64", "folder"])
@pytest.mark.parametrize("model", list(SMALL))
def test_every_model_trains_samples_reloads_and_evaluates_on_any_image_data(model, data, data_files, tmp_path, capsys):
    run = tmp_path / "run"
    trained = run_main(
        capsys,
        "train",
        model,
        "--dataset",
        data_files[data],
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--epoch-images",
        "0",
        "--latent-dim",
        "3",
        "--run-dir",
        run,
        "--no-xla",
        *SMALL[model],
    )  # graphs: traced faster than XLA compiles
    assert trained.code == 0, trained.err
    config = json.loads((run / "config.json").read_text())
    shape = {"grey": [28, 20, 1], "colour32": [32, 32, 3], "colour64": [64, 64, 3], "folder": [16, 24, 3]}[data]
    assert config["dataset"]["image_shape"] == shape
    kind = (
        "binary" if config["train"]["dynamic_binarize"] else "continuous" if data == "grey" else "8bit"
    )  # cvae's recipe draws 0/1 pixels
    assert config["dataset"]["pixels"] == kind
    assert (
        config["model_config"]["likelihood"]
        == {"binary": "bernoulli", "continuous": "gaussian", "8bit": "logistic-mixture"}[kind]
    )
    sampled = run_main(capsys, "sample", model, "--run-dir", run, "-n", "6", "--npy")
    assert sampled.code == 0, sampled.err
    drawn = np.load(run / "samples-6-seed0.npy")
    assert drawn.shape == (6, *shape) and np.isfinite(drawn).all()
    picture = mpimg.imread(run / "samples-6-seed0.png")
    assert picture.ndim == 3 and picture.shape[2] in (3, 4)
    evaluated = run_main(
        capsys,
        "evaluate",
        model,
        "--run-dir",
        run,
        "--metrics",
        "nll,active-units,fid,prd",
        "--samples",
        "20",
        "--k",
        "3",
        "-n",
        "5",
    )
    assert evaluated.code == 0, evaluated.err
    figures = json.loads((run / "evaluation-test-n5.json").read_text())
    assert np.isfinite(figures["terms"]["loss"])
    fid, prd = figures["metrics"]["fid"], figures["metrics"]["prd"]  # on a feature network of these images' own
    assert fid["samples"] == 20 and np.isfinite([fid["fid"], fid["floor"]]).all() and 0 <= prd["precision"] <= 1
    assert figures["metrics"]["active-units"]["latent_dim"] > 0
    if model != "ae":
        assert np.isfinite(figures["nll"])
        assert figures["likelihood_fits"] is True
        if kind != "continuous":  # a probability mass over the values: bits per value
            assert figures["bits_per_dim"] == pytest.approx(figures["nll"] / (math.prod(shape) * math.log(2)))
        else:  # a density: nats only
            assert figures["bits_per_dim"] is None


def test_values_are_kept_in_their_smallest_exact_form_and_named():
    rng = np.random.default_rng(0)
    colour = Dataset("c", train=rng.integers(0, 256, (10, 8, 6, 3)), test=rng.integers(0, 256, (4, 8, 6, 3)))
    assert (colour.image_shape, colour.pixels, colour.train.dtype, colour.input_dim) == (
        (8, 6, 3),
        "8bit",
        np.uint8,
        144,
    )
    assert colour.rows("test").dtype == np.float32 and colour.rows("test").max() <= 1.0
    np.testing.assert_allclose(colour.rows("test")[0], colour.test[0].ravel() / 255.0, rtol=1e-6)
    grey = Dataset("g", train=rng.random((10, 28, 20)), test=rng.random((4, 560)), image_shape=(28, 20))
    assert (grey.image_shape, grey.pixels, grey.train.dtype) == ((28, 20, 1), "continuous", np.float32)
    binary = Dataset("b", train=rng.random((10, 784)) < 0.5, test=(rng.random((4, 28, 28)) < 0.5).astype(np.float64))
    assert (binary.image_shape, binary.pixels, binary.train.dtype) == ((28, 28, 1), "binary", np.uint8)
    levels = Dataset("f", train=np.round(rng.random((10, 4, 4)) * 255), test=np.full((2, 4, 4), 255.0))
    assert (
        levels.pixels == "8bit" and levels.train.dtype == np.uint8
    )  # whole numbers 0..255 in floats: exactly 8-bit levels


@pytest.mark.parametrize(
    ("train", "test", "fragment"),
    [
        (np.full((4, 8, 8), 1000, np.uint16), np.zeros((2, 8, 8), np.uint16), "16-bit"),
        (np.zeros((4, 8, 8), np.uint8) + 7, np.zeros((2, 8, 8)) + 0.5, "different kinds"),
        (np.zeros((4, 8, 8, 3), np.uint8) + 7, np.zeros((2, 8, 8, 1), np.uint8) + 7, "shape"),
        (np.zeros((4, 8, 8)) + 1.5, np.zeros((2, 8, 8)), "[0, 1]"),
    ],
)
def test_data_that_cannot_be_used_is_refused_in_one_line(train, test, fragment, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, train=train, test=test)
    with pytest.raises(DatasetError) as error:
        load_npz(path)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_a_validation_split_is_held_out_the_same_way_every_time():
    rng = np.random.default_rng(0)
    data = Dataset(
        "d",
        train=rng.integers(0, 256, (200, 4, 4)),
        test=rng.integers(0, 256, (20, 4, 4)),
        train_labels=np.arange(200) % 5,
    )
    first, second = data.with_validation(0.1), data.with_validation(0.1)
    assert (len(first.train), len(first.valid)) == (180, 20)
    np.testing.assert_array_equal(first.valid, second.valid)
    rows = {row.tobytes(): label for row, label in zip(data.train, data.train_labels)}
    assert all(
        rows[row.tobytes()] == label for row, label in zip(first.valid, first.valid_labels)
    )  # labels travel with images
    held = {row.tobytes() for row in first.valid}
    assert not held & {row.tobytes() for row in first.train}
    assert first.with_validation(0.5) is first  # a dataset with a validation split keeps it
    with pytest.raises(DatasetError, match="leaves no training images"):
        Dataset("two", train=rng.integers(0, 256, (2, 4, 4)), test=rng.integers(0, 256, (1, 4, 4))).with_validation(0.9)
    with pytest.raises(DatasetError, match="leaves no validation images"):
        Dataset("two", train=rng.integers(0, 256, (2, 4, 4)), test=rng.integers(0, 256, (1, 4, 4))).with_validation(0.1)


def test_binarized_mnist_is_monitored_on_larochelles_validation_images(shared_data):
    from genmodels.data.sources import load_dataset
    from genmodels.plugins.loader import build_registry

    data = load_dataset("binarized-mnist", build_registry())
    assert (len(data.train), len(data.valid), len(data.test), data.pixels, data.train.dtype) == (
        50000,
        10000,
        10000,
        "binary",
        np.uint8,
    )
    with np.load(shared_data / "binarized_mnist.npz") as npz:
        np.testing.assert_array_equal(data.valid.reshape(10000, -1), npz["valid"])


@pytest.mark.parametrize(
    ("values", "dynamic", "expected"),
    [
        ("binary", False, "bernoulli"),
        ("8bit", False, "logistic-mixture"),
        ("continuous", False, "gaussian"),
        ("8bit", True, "bernoulli"),
    ],
)
def test_auto_picks_the_likelihood_that_fits_the_data(values, dynamic, expected):
    from genmodels.core.model_config import MLPConfig
    from genmodels.core.pixels import BINARY

    fitted = MLPConfig().fitted_to((8, 8, 3), BINARY if dynamic else values, "data")
    assert (fitted.likelihood, fitted.input_dim, fitted.image_shape) == (expected, 192, (8, 8, 3))


def test_a_likelihood_of_8_bit_levels_is_refused_for_float_data_before_anything_is_written(
    data_files, tmp_path, capsys
):
    run = tmp_path / "run"
    outcome = run_main(
        capsys,
        "train",
        "vae",
        "--dataset",
        data_files["grey"],
        "--epochs",
        "1",
        "--run-dir",
        run,
        "-o",
        "likelihood=logistic",
    )
    outcome.assert_one_error_line("likelihood=logistic", "floats in [0, 1]")
    assert not (run / "config.json").exists()
    outcome = run_main(capsys, "train", "vae", "-o", "likelihood=poisson", "--run-dir", run)
    outcome.assert_one_error_line("poisson", "logistic-mixture")


def test_a_shape_a_model_cannot_take_is_refused_in_one_line(data_files, tmp_path, capsys):
    run = tmp_path / "run"
    outcome = run_main(
        capsys, "train", "conv-vae", "--dataset", data_files["grey"], "--run-dir", run, "-o", "channels=4,8,16"
    )
    outcome.assert_one_error_line("conv-vae", "divide by 8", "28x20")
    assert not run.exists() or snapshot(run) == {}


@pytest.mark.slow
def test_bernoulli_on_8_bit_data_is_evaluated_with_a_note_that_it_is_not_their_likelihood(data_files, tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        run_main(
            capsys,
            "train",
            "vae",
            "--dataset",
            data_files["colour32"],
            "--epochs",
            "1",
            "--run-dir",
            run,
            "-o",
            "hidden=8",
            "-o",
            "likelihood=bernoulli",
        ).code
        == 0
    )
    evaluated = run_main(capsys, "evaluate", "vae", "--run-dir", run, "--metrics", "nll", "--k", "2", "-n", "8")
    figures = json.loads((run / "evaluation-test-n8.json").read_text())
    assert figures["likelihood_fits"] is False and figures["bits_per_dim"] is None
    assert "Bernoulli" in figures["note"] and "Bernoulli" in evaluated.out


def test_pictures_show_each_kind_of_data_in_its_natural_look(tmp_path):
    from genmodels.core.plots import PAD, SCALE, save_image_grid

    inside = (PAD + 1) * SCALE  # a pixel inside the first image
    red = np.zeros((1, 4, 4, 3), np.float32)
    red[..., 0] = 1.0
    colour = mpimg.imread(save_image_grid(red, tmp_path / "colour.png", (4, 4, 3), pixels="8bit"))
    np.testing.assert_allclose(colour[inside, inside, :3], [1, 0, 0])
    black = mpimg.imread(save_image_grid(np.zeros((1, 16)), tmp_path / "grey.png", (4, 4, 1), pixels="8bit"))
    ink = mpimg.imread(save_image_grid(np.zeros((1, 16)), tmp_path / "ink.png", (4, 4, 1), pixels="binary"))
    assert black[inside, inside, :3].max() == 0.0  # a grey of 0 is black in a photograph
    assert ink[inside, inside, :3].min() == 1.0  # a 0 pixel of a binary digit is paper


@pytest.mark.slow
def test_keep_best_selects_on_validation_and_early_stopping_resumes_to_the_same_end(tmp_path, capsys):
    """Random 0/1 images teach nothing that generalises, so the validation loss soon rises while training goes on."""
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.npz"
    np.savez(path, train=rng.random((60, 64)) < 0.3, test=rng.random((20, 64)) < 0.3)
    common = [
        "--dataset",
        path,
        "--batch-size",
        "10",
        "--epoch-images",
        "0",
        "--learning-rate",
        "0.01",
        "-o",
        "hidden=64",
        "--keep",
        "best",
        "--early-stopping",
        "2",
    ]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_main(capsys, "train", "vae", "--epochs", "30", "--run-dir", whole, *common).code == 0
    history = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    losses = [record["valid"]["loss"] for record in history]
    best = int(np.argmin(losses)) + 1
    assert len(history) == best + 2 < 30  # stopped two epochs after the best
    assert json.loads((whole / "checkpoint.json").read_text())["best_epoch"] == best
    assert "test" not in history[0]  # the test split is for evaluate alone
    # stopped part-way and resumed, it ends where the uninterrupted run ended, with the same best weights
    assert run_main(capsys, "train", "vae", "--epochs", str(best), "--run-dir", parts, *common).code == 0
    assert run_main(capsys, "train", "vae", "--epochs", "30", "--run-dir", parts, "--resume").code == 0
    assert (parts / "metrics.jsonl").read_text().count("\n") == len(history)
    assert (parts / "best.weights.h5").read_bytes() != (parts / "model.weights.h5").read_bytes()
    from genmodels.plugins.loader import build_registry
    from genmodels.runs.loading import load_model

    registry = build_registry()
    kept, _ = load_model(whole, registry, "vae")
    resumed, _ = load_model(parts, registry, "vae")
    for a, b in zip(kept.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    evaluated = run_main(capsys, "evaluate", "vae", "--run-dir", whole, "--metrics", "nll", "--k", "2")
    assert json.loads((whole / "evaluation-test.json").read_text())["epoch"] == best
    assert f"epoch {best}" in evaluated.out
