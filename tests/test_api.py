"""The Python API: docs/python.md runs as a notebook, and the API gives the CLI's figures for the same seed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import genmodels
from genmodels.core.errors import ConfigError, DatasetError, RunError

from conftest import REPO, run_main, snapshot

NOTEBOOK = re.compile(r"<!-- notebook -->\n```python\n(.*?)```", re.S)


@pytest.mark.slow
def test_the_python_doc_runs_as_one_notebook(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cells = NOTEBOOK.findall((REPO / "docs" / "python.md").read_text())
    assert len(cells) >= 4
    namespace: dict = {}
    for cell in cells:
        exec(compile(cell, "docs/python.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "'vae'" in printed and "'binarized-mnist'" in printed
    assert "vae has no option 'epochz'. Did you mean 'epochs'?" in printed
    assert (tmp_path / "runs" / "vae-2d" / "model.weights.h5").is_file()
    nll = float(re.search(r"NLL ([\d.]+) nats", printed).group(1))
    assert 100 < nll < 250  # two epochs of 2-D codings: far from a trained VAE's 91, far better than chance (543)


@pytest.fixture(scope="module")
def twin_runs(tiny_npz, tmp_path_factory):
    """The same recipe trained twice: through the API and through the CLI."""
    root = tmp_path_factory.mktemp("twins")
    options = {"epochs": 2, "batch_size": 100, "latent_dim": 3, "seed": 5}
    run = genmodels.train("vae", dataset=str(tiny_npz), run_dir=root / "api", hidden=(32,), verbose=0, **options)
    from genmodels.cli.program import main

    with pytest.raises(SystemExit) as done:
        main(
            [
                "train",
                "vae",
                "--dataset",
                str(tiny_npz),
                "--run-dir",
                str(root / "cli"),
                "-o",
                "hidden=32",
                *[f"--{key.replace('_', '-')}={value}" for key, value in options.items()],
            ]
        )
    assert done.value.code == 0
    return run, root / "cli"


@pytest.mark.slow
def test_training_through_the_api_is_training_through_the_cli(twin_runs):
    run, cli_dir = twin_runs
    cli = genmodels.load(cli_dir)
    assert run.model_config == cli.model_config and run.train_config == cli.train_config
    assert [record["valid"] for record in run.history] == [record["valid"] for record in cli.history]
    assert len(run.history) == 2 and run.epoch == 2


def test_samples_are_the_cli_samples_for_the_same_seed(twin_runs, tmp_path, capsys):
    run, cli_dir = twin_runs
    outcome = run_main(
        capsys, "sample", "vae", "--run-dir", cli_dir, "-n", 12, "--seed", 7, "--npy", "--out", tmp_path / "s.png"
    )
    assert outcome.code == 0, outcome.err
    from_cli = np.load(tmp_path / "s.npy")
    images = run.sample(12, seed=7)
    assert images.shape == (12, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(images, from_cli)  # both (N, H, W, C)
    assert not np.array_equal(images, run.sample(12, seed=8))


def test_loss_terms_score_each_image_as_the_validation_pass_does(twin_runs):
    run = twin_runs[0]
    valid = run.dataset().valid
    terms = run.loss_terms(valid, batch_size=7)  # batches of 7 images give each image its own figures
    assert set(terms) == {"reconstruction", "kl"}
    assert all(values.shape == (len(valid),) and np.all(np.isfinite(values)) for values in terms.values())
    assert np.all(terms["kl"] >= 0)  # the N(0, I) prior's KL is exact and never negative
    recorded = next(record for record in run.history if record["epoch"] == run.epoch)["valid"]
    for name, values in terms.items():  # one coding drawn per image: the same figure as the pass, to draw noise
        assert values.mean() == pytest.approx(recorded[name], rel=0.03)


def test_log_likelihoods_are_the_per_image_figures_of_cli_evaluate(twin_runs, capsys):
    run, cli_dir = twin_runs
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", cli_dir, "--metrics", "nll", "--k", 30, "--seed", 2)
    assert outcome.code == 0, outcome.err
    reported = json.loads((cli_dir / "evaluation-test.json").read_text())
    test = run.dataset().test
    log_px = run.log_likelihood(test, k=30, seed=2)
    assert log_px.shape == (len(test),) and np.all(log_px < 0)
    assert -log_px.mean() == pytest.approx(reported["nll"], rel=1e-6)


def test_evaluate_writes_and_returns_the_figures_cli_evaluate_writes(twin_runs, capsys):
    run, cli_dir = twin_runs
    options = ["--metrics", "nll,active-units", "--k", 30, "--seed", 2, "-n", 40]
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", cli_dir, *options)
    assert outcome.code == 0, outcome.err
    from_cli = json.loads((cli_dir / "evaluation-test-n40.json").read_text())
    figures = run.evaluate(["nll", "active-units"], k=30, seed=2, n=40)
    assert figures == json.loads((run.run_dir / "evaluation-test-n40.json").read_text())
    assert figures["images"] == 40 and figures["k"] == 30 and figures["nll"] > 0 and figures["baseline"]["nll"] > 0
    for key in ("nll", "negative_elbo", "nll_standard_error", "terms"):
        assert figures[key] == pytest.approx(from_cli[key], rel=1e-5), key
    assert figures["baseline"]["nll"] == pytest.approx(from_cli["baseline"]["nll"], rel=1e-9)
    ours, theirs = figures["metrics"]["active-units"], from_cli["metrics"]["active-units"]
    assert ours["active_units"] == theirs["active_units"]
    assert ours["kl_per_dimension"] == pytest.approx(theirs["kl_per_dimension"], rel=1e-5)


def test_encode_decode_and_reconstruct_take_every_image_layout(twin_runs):
    run, _ = twin_runs
    stored = run.dataset().test[:6]  # uint8 0/1, (6, 28, 28, 1)
    codings = run.encode(stored)
    assert codings.shape == (6, 3)
    for layout in (stored[..., 0], stored.reshape(6, -1), stored.astype(np.float32), stored.astype(bool)):
        np.testing.assert_allclose(run.encode(layout), codings, rtol=1e-5, atol=1e-6)
    decoded = run.decode(codings)
    assert decoded.shape == (6, 28, 28, 1) and 0 <= decoded.min() and decoded.max() <= 1
    np.testing.assert_allclose(run.reconstruct(stored), decoded, atol=1e-6)


@pytest.mark.slow
def test_8_bit_levels_are_scaled_as_the_training_data_was(tmp_path):
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 256, size=(300, 8, 6, 3), dtype=np.uint8)
    run = genmodels.train(
        "vae",
        dataset=genmodels.Dataset("photos", train=photos[:250], test=photos[250:]),
        epochs=1,
        hidden=(16,),
        latent_dim=2,
        likelihood="logistic",
        run_dir=tmp_path / "run",
        verbose=0,
    )
    assert run.pixels == "8bit" and run.image_shape == (8, 6, 3)
    as_levels = run.encode(photos[:5])
    np.testing.assert_allclose(run.encode(photos[:5] / 255.0), as_levels, rtol=1e-5, atol=1e-6)
    dark = np.zeros((2, 8, 6, 3), dtype=np.uint8)
    dark[0, 0, 0, 0] = 1  # integers 0/1 given to an 8-bit model are the darkest levels, not 0/1 pixels
    np.testing.assert_allclose(run.encode(dark), run.encode(dark / 255.0), rtol=1e-5, atol=1e-6)
    assert run.sample(3).shape == (3, 8, 6, 3)


def test_bad_input_raises_the_named_errors_the_cli_prints(twin_runs, tmp_path):
    run, cli_dir = twin_runs
    with pytest.raises(DatasetError, match=r"28x28x1.*received shape \(2, 32, 32, 3\)"):
        run.encode(np.zeros((2, 32, 32, 3)))
    with pytest.raises(DatasetError, match="range"):
        run.log_likelihood(np.full((2, 784), 3.5), k=2)
    with pytest.raises(ConfigError, match=r"\(N, 3\)"):
        run.decode(np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="not conditional"):
        run.sample(4, labels=[0, 1, 2, 3])
    with pytest.raises(ConfigError, match="'latnet_dim'.*'latent_dim'"):
        genmodels.train("vae", latnet_dim=2, run_dir=tmp_path / "never")
    with pytest.raises(ConfigError, match="latent_dim"):
        genmodels.train("vae", latent_dim=0, run_dir=tmp_path / "never")
    with pytest.raises(RunError, match="No trained model"):
        genmodels.load(tmp_path / "nothing")
    with pytest.raises(RunError, match="'vae' model, not 'iwae'"):
        genmodels.load(cli_dir, "iwae")
    before = snapshot(cli_dir)
    with pytest.raises(RunError):
        genmodels.train("vae", dataset=run.train_config.dataset, run_dir=cli_dir)  # never overwritten without force
    with pytest.raises(ConfigError, match="only epochs and track may change"):
        genmodels.train("vae", run_dir=cli_dir, resume=True, learning_rate=0.1)
    assert snapshot(cli_dir) == before
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_resume_continues_a_run_for_more_epochs(tiny_npz, tmp_path):
    first = genmodels.train(
        "vae", dataset=str(tiny_npz), epochs=1, hidden=(16,), latent_dim=2, run_dir=tmp_path / "run", verbose=0
    )
    assert first.epoch == 1
    resumed = genmodels.train("vae", run_dir=tmp_path / "run", resume=True, epochs=3, track=("tensorboard",), verbose=0)
    assert resumed.epoch == 3 and [record["epoch"] for record in resumed.history] == [1, 2, 3]
    assert resumed.history[0] == first.history[0]
    assert any((tmp_path / "run" / "tensorboard" / "train").iterdir())  # trackers may be added on resume


@pytest.mark.slow
def test_a_deterministic_encoder_has_no_likelihood(tiny_npz, tmp_path):
    run = genmodels.train(
        "ae", dataset=str(tiny_npz), epochs=1, hidden=(16,), latent_dim=2, run_dir=tmp_path / "ae", verbose=0
    )
    with pytest.raises(ConfigError, match="deterministic"):
        run.log_likelihood(run.dataset().test[:3], k=2)
    assert run.reconstruct(run.dataset().test[:3]).shape == (3, 28, 28, 1)


@pytest.mark.slow
def test_a_conditional_model_takes_labels(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.random((200, 10, 10)) < 0.3).astype(np.uint8)
    labels = rng.integers(0, 3, size=200)
    data = genmodels.Dataset(
        "three", train=images[:150], test=images[150:], train_labels=labels[:150], test_labels=labels[150:]
    )
    run = genmodels.train(
        "cvae", dataset=data, epochs=1, classes=3, hidden=(16,), latent_dim=2, run_dir=tmp_path / "cvae", verbose=0
    )
    assert run.sample(6, labels=2).shape == (6, 10, 10, 1)
    assert not np.array_equal(run.sample(6, labels=0), run.sample(6, labels=2))
    with pytest.raises(ConfigError, match="one label per image"):
        run.encode(images[:4])
    with pytest.raises(DatasetError, match="classes=3"):
        run.encode(images[:4], labels=[0, 1, 2, 5])
    log_px = run.log_likelihood(images[:4], labels=labels[:4], k=5)
    assert log_px.shape == (4,) and np.all(np.isfinite(log_px))


def test_the_registry_lists_every_model_and_dataset():
    from genmodels.plugins.loader import get_registry

    assert [spec.name for spec in genmodels.models()] == sorted(spec.name for spec in get_registry().models)
    assert {"binarized-mnist", "cifar10", "fashion-mnist"} <= {spec.name for spec in genmodels.datasets()}


@pytest.mark.slow
def test_a_hierarchical_models_codings_join_its_layers_and_decode_back(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.random((200, 8, 8)) < 0.3).astype(np.uint8)
    run = genmodels.train(
        "hvae",
        dataset=genmodels.Dataset("dots", train=images[:150], test=images[150:]),
        epochs=1,
        hidden=(16,),
        latent_dim=2,
        top_dim=3,
        components=2,
        kl_warmup=0,
        run_dir=tmp_path / "hvae",
        verbose=0,
    )
    codings = run.encode(images[:5])
    assert run.latent_dim == 5 and codings.shape == (5, 5)  # [z1, z2]
    np.testing.assert_allclose(run.decode(codings), run.reconstruct(images[:5]), atol=1e-6)
