"""Bad input gets one readable line and exit status 1, never a traceback, and nothing already saved is touched.

Every case runs `genmodels ...` through cli.main, the one place where errors become messages.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import random_binary_images, run_main, snapshot


def write_npz(folder, name, **arrays):
    path = folder / name
    np.savez(path, **arrays)
    return path


BINARY = random_binary_images(20)


@pytest.mark.parametrize(
    ("arrays", "fragments"),
    [
        (
            {"train": np.full((20, 28, 28), 1000, np.uint16), "test": np.zeros((5, 784), np.uint16)},
            ["received range [1000, 1000]", "16-bit"],
        ),
        (
            {"train": BINARY * 255.0, "test": BINARY * 0.5},
            ["different kinds", "train holds 8-bit levels", "test holds floats in [0, 1]"],
        ),
        ({"train": BINARY - 0.5, "test": BINARY}, ["values must lie in [0, 1]; received range [-0.5, 0.5]", "Rescale"]),
        (
            {"train": BINARY.astype(np.int64) * 1000, "test": BINARY},
            ["received range [0, 1000]", "8-bit levels 0..255"],
        ),
        (
            {"train": np.zeros((0, 784)), "test": BINARY},
            ["expected a non-empty array of 28x28x1 images", "received shape (0, 784)"],
        ),
        (
            {"train": np.zeros((3, 28, 28)), "test": np.zeros((2, 27, 27))},
            ["'test' images are shaped (27, 27)", "one shape"],
        ),
        ({"train": np.zeros((3, 780)), "test": np.zeros((1, 780))}, ["received shape (3, 780)", "with square D"]),
        (
            {"train": np.full((3, 784), "1"), "test": BINARY},
            ["expected numbers (bool, integer or float pixels), received dtype <U1"],
        ),
        (
            {"train": np.array([None] * 3, dtype=object), "test": BINARY},
            ["'train' is an array of Python objects; genmodels never unpickles data"],
        ),
        ({"train": np.full((3, 784), np.inf), "test": BINARY}, ["holds NaN or infinite values"]),
        ({"test": BINARY}, ["lacks the array(s) train"]),
    ],
    ids=[
        "16-bit",
        "mixed-kinds",
        "negative",
        "beyond-255",
        "empty",
        "3d-wrong-size",
        "not-square",
        "strings",
        "objects",
        "inf",
        "no-train",
    ],
)
def test_a_bad_dataset_file_is_refused_before_anything_is_written(tmp_path, capsys, arrays, fragments):
    data = write_npz(tmp_path, "bad.npz", **arrays)
    outcome = run_main(capsys, "train", "vae", "--dataset", data, "--run-dir", tmp_path / "run")
    outcome.assert_one_error_line("bad.npz", *fragments)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (lambda whole: whole[: len(whole) // 2], "bad.npz"),
        (lambda whole: whole[:40], "bad.npz is not a readable .npz file"),
        (lambda whole: b"", "bad.npz is not a readable .npz file"),
        (lambda whole: bytes(range(256)) * 4, "bad.npz is not a readable .npz file (not a zip archive of arrays)"),
    ],
    ids=["truncated-half", "truncated-header", "empty-file", "random-bytes"],
)
def test_a_truncated_or_corrupt_dataset_file_is_refused(tmp_path, capsys, content, fragment):
    whole = write_npz(tmp_path, "whole.npz", train=random_binary_images(300), test=BINARY).read_bytes()
    (tmp_path / "bad.npz").write_bytes(content(whole))
    run_main(
        capsys, "train", "vae", "--dataset", tmp_path / "bad.npz", "--run-dir", tmp_path / "run"
    ).assert_one_error_line(fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_binarize_thresholds_8_bit_greys_and_is_recorded_in_the_run(tmp_path, capsys):
    greys = (np.random.default_rng(0).random((200, 28, 28)) * 255).astype(np.uint8)
    data = write_npz(tmp_path, "greys.npz", train=greys, test=greys[:50])
    args = ["train", "vae", "--dataset", data, "--epochs", "1", "--latent-dim", "2", "-o", "hidden=8"]
    outcome = run_main(capsys, *args, "--run-dir", tmp_path / "levels")
    assert outcome.code == 0, outcome.err
    levels = json.loads((tmp_path / "levels" / "config.json").read_text())
    assert (levels["dataset"]["pixels"], levels["model_config"]["likelihood"]) == ("8bit", "logistic-mixture")
    outcome = run_main(capsys, *args, "--binarize", "--run-dir", tmp_path / "run")
    assert outcome.code == 0, outcome.err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["binarize"] is True
    assert (config["dataset"]["pixels"], config["model_config"]["likelihood"]) == ("binary", "bernoulli")
    sampled = run_main(
        capsys, "reconstruct", "vae", "-n", "3", "--run-dir", tmp_path / "run"
    )  # loads the data binarized again
    assert sampled.code == 0, sampled.err


COUNTS = [
    ("train", "vae", "--epochs"),
    ("train", "vae", "--batch-size"),
    ("train", "vae", "--latent-dim"),
    ("sample", "vae", "-n"),
    ("evaluate", "vae", "--k"),
    ("evaluate", "vae", "--batch-size"),
    ("evaluate", "vae", "-n"),
    ("reconstruct", "vae", "-n"),
    ("interpolate", "vae", "-n"),
    ("interpolate", "vae", "--steps"),
    ("latent", "vae", "--side"),
]


@pytest.mark.parametrize("value", ["0", "-3", "many", "1.5"])
@pytest.mark.parametrize("command", COUNTS, ids=lambda c: " ".join(c))
def test_every_count_option_refuses_zero_negative_and_non_integer_values(tmp_path, capsys, command, value):
    *words, option = command
    if option in ("--steps", "--side") and value == "0":
        value = "1"  # these need at least 2
    outcome = run_main(capsys, *words, option, value, "--run-dir", tmp_path / "run")
    outcome.assert_one_error_line(f"Invalid value for '{option}'", "--help)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "vae", "-o", "latent_dim=0"], "latent_dim must be positive, received 0"),
        (["train", "vae", "-o", "hidden=500,0"], "hidden must list positive layer sizes"),
        (["train", "vae", "-o", "hidden=-5"], "hidden must list positive layer sizes"),
        (["train", "vae", "--learning-rate", "nan"], "learning_rate must be positive, received nan"),
        (["train", "vae", "--learning-rate", "inf"], "learning_rate must be positive, received inf"),
        (["train", "vae", "--seed", "-1"], "Invalid value for '--seed'"),
        (["train", "vae", "--seed", str(2**32)], "Invalid value for '--seed'"),
        (["sample", "vae", "--seed", str(2**40)], "Invalid value for '--seed'"),
        (
            ["train", "vae", "-o", "activation=os.system"],
            "activation must be the plain name of a Keras activation (such as elu)",
        ),
        (["train", "vae", "--resume", "--force"], "--resume continues the run in RUN_DIR and --force replaces it"),
        (["train", "vae", "--resume", "--binarize"], "only --epochs and --track may change (received --binarize)"),
        (["train"], "Missing argument 'MODEL'"),
        (["sample", "vea"], "Unknown model 'vea'. Did you mean 'vae'?"),
        (["compare"], "Missing argument 'RUN_DIR'"),
    ],
)
def test_bad_option_values_get_one_line(tmp_path, capsys, args, fragment):
    run_main(capsys, *args, *(["--run-dir", tmp_path / "run"] if args[1:] else [])).assert_one_error_line(fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_fresh_training_never_overwrites_a_run(run_copy, tiny_npz, capsys):
    before = snapshot(run_copy)
    outcome = run_main(capsys, "train", "vae", "--dataset", tiny_npz, "--run-dir", run_copy)
    outcome.assert_one_error_line(f"{run_copy} already holds a 'vae' run (1 epoch finished)", "--resume", "--force")
    assert snapshot(run_copy) == before
    also_for_ae = run_main(capsys, "train", "ae", "--dataset", tiny_npz, "--run-dir", run_copy)
    also_for_ae.assert_one_error_line("already holds a 'vae' run")
    assert snapshot(run_copy) == before


@pytest.mark.slow
def test_force_replaces_the_run_and_its_stale_figures(run_copy, tiny_npz, capsys):
    (run_copy / "evaluation-test.json").write_text("{}")
    assert run_main(capsys, "sample", "vae", "--run-dir", run_copy, "-n", "4", "--npy").code == 0
    (run_copy / "my-notes.txt").write_text("mine")
    outcome = run_main(
        capsys,
        "train",
        "vae",
        "--force",
        "--dataset",
        tiny_npz,
        "--epochs",
        "1",
        "--latent-dim",
        "3",
        "-o",
        "hidden=8",
        "--run-dir",
        run_copy,
    )
    assert outcome.code == 0, outcome.err
    assert json.loads((run_copy / "config.json").read_text())["model_config"]["latent_dim"] == 3
    assert not (run_copy / "evaluation-test.json").exists()
    assert not list(run_copy.glob("samples-4-*")) and (run_copy / "my-notes.txt").read_text() == "mine"
    assert [json.loads(line)["epoch"] for line in (run_copy / "metrics.jsonl").read_text().splitlines()] == [1]


def test_a_run_directory_that_is_a_file_is_refused(tmp_path, tiny_npz, capsys):
    (tmp_path / "run").write_text("not a folder")
    run_main(capsys, "train", "vae", "--dataset", tiny_npz, "--run-dir", tmp_path / "run").assert_one_error_line(
        "is a file, not a run directory"
    )
    run_main(capsys, "sample", "vae", "--run-dir", tmp_path / "run").assert_one_error_line(
        "is a file, not a run directory"
    )


def test_asking_for_more_images_than_the_split_has_is_refused(run_copy, capsys):
    run_main(capsys, "reconstruct", "vae", "-n", "101", "--run-dir", run_copy).assert_one_error_line(
        "asked for 101 images, but the split has only 100"
    )


def test_a_sample_count_too_large_for_one_grid_is_refused_before_any_image_is_made(run_copy, capsys):
    import time

    started = time.monotonic()
    run_main(capsys, "sample", "vae", "--run-dir", run_copy, "-n", "100000000").assert_one_error_line(
        "-n 100000000", "at most"
    )
    assert time.monotonic() - started < 30  # refused, not generated (a generous bound for a slow machine)
    assert not list(run_copy.glob("samples-100000000*"))


def test_images_generated_in_chunks_are_the_images_generated_at_once(tiny_run):
    import genmodels
    from genmodels.nn.model import generate_in_chunks

    model = genmodels.load(tiny_run).model
    whole = np.asarray(model.generate(25, seed=4))
    np.testing.assert_allclose(generate_in_chunks(model, 25, seed=4, chunk=7), whole, rtol=0, atol=1e-6)
    drawn = generate_in_chunks(model, 25, seed=4, draw=True, chunk=7)
    assert drawn.shape == whole.shape and set(np.unique(drawn)) <= {0.0, 1.0}
    np.testing.assert_array_equal(drawn, generate_in_chunks(model, 25, seed=4, draw=True, chunk=7))  # seeded


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"hidden": [100_000_000]}, "hidden of 100,000,000 is beyond"),
        ({"latent_dim": 1_000_000_000}, "latent_dim of 1,000,000,000 is beyond"),
        ({"hidden": [60_000, 60_000]}, "weights a layer may have"),
    ],
)
def test_a_run_config_asking_for_an_absurd_model_is_one_line(run_copy, capsys, change, fragment):
    path = run_copy / "config.json"
    config = json.loads(path.read_text())
    config["model_config"].update(change)
    path.write_text(json.dumps(config))
    run_main(capsys, "sample", "vae", "--run-dir", run_copy, "-n", "4").assert_one_error_line("config.json", fragment)


def test_a_label_too_large_to_be_a_class_is_refused(tmp_path, capsys):
    images = random_binary_images(40, side=8)
    labels = np.zeros(40, dtype=np.int64)
    labels[3] = 2147483646
    np.savez(
        tmp_path / "labelled.npz",
        train=images[:30],
        test=images[30:],
        train_labels=labels[:30],
        test_labels=labels[30:],
    )
    run_main(
        capsys, "train", "vae", "--dataset", tmp_path / "labelled.npz", "--run-dir", tmp_path / "run"
    ).assert_one_error_line("train_labels", "2147483646")
    assert not (tmp_path / "run").exists()


def test_sample_out_in_a_folder_that_does_not_exist_is_refused_not_created(run_copy, tmp_path, capsys):
    run_main(
        capsys, "sample", "vae", "--run-dir", run_copy, "-n", "4", "--out", tmp_path / "typo" / "grid.png"
    ).assert_one_error_line("does not exist")
    assert not (tmp_path / "typo").exists()
    assert run_main(capsys, "sample", "vae", "--run-dir", run_copy, "-n", "4", "--out", tmp_path / "grid.png").code == 0


@pytest.mark.slow
def test_resuming_to_fewer_epochs_than_the_run_holds_is_refused_and_changes_nothing(tmp_path, tiny_npz, capsys):
    run = tmp_path / "run"
    common = ["--dataset", tiny_npz, "--latent-dim", "2", "-o", "hidden=8", "--epoch-images", "0", "--run-dir", run]
    assert run_main(capsys, "train", "vae", "--epochs", "3", *common).code == 0
    before = snapshot(run)
    run_main(capsys, "train", "vae", "--run-dir", run, "--resume", "--epochs", "2").assert_one_error_line(
        "already holds 3 epochs"
    )
    assert snapshot(run) == before
