"""Disentanglement metrics (mig, factorvae-score) against ground-truth factors, on small dSprites-format sprites
drawn here: a square or an ellipse of one of three sizes at one of 8 x 8 positions on 32x32 pixels, labelled
by a row of factor classes (shape, scale, x, y) per image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_main

SIDE = 32
SIZES = (2, 3, 8, 8)  # shape, scale, x, y
CHANCE = 1 / len(SIZES)


def render(factors: np.ndarray) -> np.ndarray:
    """0/1 images (N, 32, 32) of the sprites the factor rows (shape, scale, x, y) describe."""
    shape, scale, x, y = np.asarray(factors).T
    rows, columns = np.mgrid[0:SIDE, 0:SIDE]
    radius = (3.0 + scale)[:, None, None]
    dx = (columns - (5 + 3 * x)[:, None, None]) / radius
    dy = (rows - (5 + 3 * y)[:, None, None]) / radius
    square = np.maximum(abs(dx), abs(dy)) <= 1
    ellipse = dx**2 + (dy / 0.6) ** 2 <= 1
    return np.where((shape == 0)[:, None, None], square, ellipse).astype(np.uint8)


def random_factors(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(size, size=count) for size in SIZES], axis=1)


@pytest.fixture(scope="module")
def sprites_npz(tmp_path_factory):
    """A dSprites-format .npz: 2000 train and 1000 test sprites, with their factor rows as labels."""
    train, test = random_factors(2000, seed=1), random_factors(1000, seed=2)
    path = tmp_path_factory.mktemp("sprites") / "sprites.npz"
    np.savez(path, train=render(train), train_labels=train, test=render(test), test_labels=test)
    return path


def scores(codes, factors):
    from genmodels_plugins.disentanglement import factorvae_score, mutual_information_gap

    return mutual_information_gap(codes, factors)["mig"], factorvae_score(codes, factors)["factorvae_score"]


def test_codings_that_are_the_factors_score_near_one():
    factors = random_factors(10_000)
    codes = factors + np.random.default_rng(3).normal(0, 0.01, factors.shape)
    mig, factorvae = scores(codes, factors)
    assert mig > 0.99 and factorvae > 0.99


def test_codings_independent_of_the_factors_score_near_zero_and_chance():
    factors = random_factors(10_000)
    mig, factorvae = scores(np.random.default_rng(3).normal(size=(10_000, 6)), factors)
    assert mig < 0.01
    assert abs(factorvae - CHANCE) < 0.03


def test_codings_that_mix_factors_score_lower_than_axis_aligned_ones():
    factors = random_factors(10_000)
    aligned = (factors - factors.mean(axis=0)) / factors.std(axis=0)
    turn = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2)  # x and y turned by 45 degrees
    mixed = np.concatenate([aligned[:, :2], aligned[:, 2:] @ turn], axis=1)
    mig_aligned, factorvae_aligned = scores(aligned, factors)
    mig_mixed, factorvae_mixed = scores(mixed, factors)
    assert mig_mixed < mig_aligned - 0.4 and factorvae_mixed < factorvae_aligned - 0.2


def test_the_factorvae_score_repeats_with_the_seed_and_leaves_out_collapsed_dimensions():
    from genmodels_plugins.disentanglement import factorvae_score

    factors = random_factors(5000)
    rng = np.random.default_rng(4)
    codes = np.concatenate([rng.normal(size=(5000, 4)), np.full((5000, 2), 0.5)], axis=1)  # two dimensions collapsed
    first, again = factorvae_score(codes, factors, seed=7), factorvae_score(codes, factors, seed=7)
    assert first == again and first["active_dimensions"] == 4 and first["latent_dim"] == 6
    assert factorvae_score(codes, factors, seed=8)["train_accuracy"] != first["train_accuracy"]


class FactorReader:
    """A stub model whose encoder reads each sprite's factors back (from a table of every sprite), plus small noise."""

    conditional = False

    def __init__(self):
        every = np.stack(np.meshgrid(*[np.arange(size) for size in SIZES], indexing="ij"), -1).reshape(-1, len(SIZES))
        self.table = {image.tobytes(): row for image, row in zip(render(every).astype(np.float32), every)}
        self.rng = np.random.default_rng(5)

    def encode(self, rows, labels=None):
        factors = np.array([self.table[row.reshape(SIDE, SIDE).tobytes()] for row in np.asarray(rows)])
        return factors + self.rng.normal(0, 0.01, factors.shape)


def test_a_metric_scores_the_splits_images_against_their_own_factor_rows_and_skips_constant_factors():
    from genmodels.data import Dataset
    from genmodels.metrics import MetricContext, run_metrics
    from genmodels.plugins import get_registry

    factors = random_factors(1500, seed=6)
    colour = np.zeros((1500, 1), dtype=np.int64)  # one value only, as dSprites' colour: left out
    labels = np.concatenate([colour, factors], axis=1)
    data = Dataset(
        "sprites",
        train=render(factors[:500]),
        train_labels=labels[:500],
        test=render(factors[500:]),
        test_labels=labels[500:],
        label_names=("colour", "shape", "scale", "x", "y"),
    )
    context = MetricContext(
        model=FactorReader(), model_name="stub", dataset=data, split="test", images=data.rows("test"), labels=None
    )
    figures = run_metrics(["mig", "factorvae-score"], context, get_registry())
    assert set(figures["mig"]["per_factor"]) == {"shape", "scale", "x", "y"}
    assert figures["mig"]["mig"] > 0.9 and figures["mig"]["images"] == 1000
    assert figures["factorvae-score"]["factorvae_score"] > 0.99
    assert figures["factorvae-score"]["factor_of_dimension"] == {0: "shape", 1: "scale", 2: "x", 3: "y"}


def test_images_labelled_by_one_class_each_get_the_reason_instead_of_a_number(monkeypatch, tmp_path):
    from genmodels.metrics import MetricContext, run_metrics, summary_rows
    from genmodels.plugins import get_registry

    monkeypatch.setenv("GENMODELS_DATA_DIR", str(tmp_path))  # the packaged binarized MNIST: digit labels
    registry = get_registry()
    data = registry.dataset("binarized-mnist").load(tmp_path)
    context = MetricContext(model=None, model_name="vae", dataset=data, split="test", images=data.test, labels=None)
    figures = run_metrics(["mig", "factorvae-score"], context, registry)
    for name in ("mig", "factorvae-score"):
        ((label, value),) = summary_rows(name, figures[name], registry)
        assert value == (
            "not computed: it needs ground-truth factors: labels with one row of factor classes per image, "
            "as dSprites has; the test labels of binarized-mnist are one class per image"
        )


@pytest.mark.slow
def test_evaluate_writes_both_figures_of_a_vae_trained_on_sprites(sprites_npz, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "vae"
    train = ["train", "vae", "--dataset", sprites_npz, "--run-dir", run_dir, "--epochs", 1, "--epoch-images", 0]
    assert run_main(capsys, *train, "--latent-dim", 4, "-o", "hidden=32").code == 0
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", run_dir, "--metrics", "mig,factorvae-score")
    assert outcome.code == 0, outcome.err
    assert "MIG (20 bins, 1000 images)" in outcome.out and "FactorVAE score (5000 held-out votes" in outcome.out
    metrics = json.loads((run_dir / "evaluation-test.json").read_text())["metrics"]
    assert 0 <= metrics["mig"]["mig"] <= 1 and set(metrics["mig"]["per_factor"]) == {f"factor {k}" for k in range(4)}
    assert 0 <= metrics["factorvae-score"]["factorvae_score"] <= 1 and metrics["factorvae-score"]["chance"] == CHANCE


def test_evaluate_on_images_without_labels_says_why_and_records_it(run_copy, capsys):
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "mig")
    assert outcome.code == 0, outcome.err
    assert "not computed: it needs ground-truth factors" in outcome.out and "have no labels" in outcome.out
    recorded = json.loads((run_copy / "evaluation-test.json").read_text())["metrics"]["mig"]
    assert recorded["skipped"].endswith("the test images of tiny.npz have no labels")
