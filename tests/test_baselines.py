"""The independent-pixel baseline against figures worked out by hand on toy sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

import genmodels
from genmodels.evaluation import baselines
from genmodels.core.pixels import BINARY, CONTINUOUS, EIGHT_BIT


def test_binary_baseline_is_a_smoothed_bernoulli_per_pixel():
    # pixel 0 is 1 in 3 of 4 images, pixel 1 in none
    train = np.array([[1, 0], [1, 0], [1, 0], [0, 0]], dtype=np.float32)
    fitted = baselines.fit(train, BINARY, choices=(0.5,))
    p0, p1 = (3 + 0.5) / (4 + 1), (0 + 0.5) / (4 + 1)
    image = np.array([[1, 1], [0, 0]], dtype=np.float32)
    expected = [math.log(p0) + math.log(p1), math.log(1 - p0) + math.log(1 - p1)]
    np.testing.assert_allclose(fitted.log_prob(image), expected, rtol=1e-12)


def test_eight_bit_baseline_is_a_smoothed_histogram_per_value():
    # one value; levels 0, 0, 255, 7 in training: counts 2, 1, 1 of 4 over 256 levels
    train = np.array([[0], [0], [255], [7]], dtype=np.float64) / 255
    a = 0.1
    fitted = baselines.fit(train, EIGHT_BIT, choices=(a,))
    total = 4 + 256 * a
    test = np.array([[0], [7], [100]], dtype=np.float64) / 255
    expected = np.log([(2 + a) / total, (1 + a) / total, a / total])
    np.testing.assert_allclose(fitted.log_prob(test), expected, rtol=1e-12)
    assert np.exp(fitted.table).sum(axis=1) == pytest.approx(1.0)


def test_values_of_an_image_add_up_independently():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(50, 3)) / 255
    fitted = baselines.fit(train, EIGHT_BIT, choices=(1.0,))
    image = train[:1]
    alone = [baselines.fit(train[:, [d]], EIGHT_BIT, choices=(1.0,)).log_prob(image[:, [d]])[0] for d in range(3)]
    assert fitted.log_prob(image)[0] == pytest.approx(sum(alone))


def test_continuous_baseline_is_a_normal_density_per_value_with_a_floored_scale():
    train = np.array([[0.2, 0.5], [0.4, 0.5], [0.6, 0.5]])  # value 1 never varies: its scale is the floor
    fitted = baselines.fit(train, CONTINUOUS)
    mean, std = 0.4, math.sqrt(((0.2 - 0.4) ** 2 + 0 + (0.6 - 0.4) ** 2) / 3)
    x = np.array([[0.3, 0.51]])
    floor = baselines.MIN_SCALE
    expected = (
        -0.5 * math.log(2 * math.pi)
        - math.log(std)
        - 0.5 * ((0.3 - mean) / std) ** 2
        - 0.5 * math.log(2 * math.pi)
        - math.log(floor)
        - 0.5 * ((0.51 - 0.5) / floor) ** 2
    )
    assert fitted.log_prob(x)[0] == pytest.approx(expected, rel=1e-9)
    assert fitted.smoothing is None


def test_smoothing_is_chosen_on_the_validation_images():
    train = np.zeros((100, 1))
    train[:90] = 1  # 90 of 100 training images are 1
    # validation images that are all 1 favour little smoothing; images of levels never seen favour much
    seen = baselines.fit(train, BINARY, valid=np.ones((10, 1)), choices=(0.01, 1.0))
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, size=(200, 1)) / 255
    unseen = baselines.fit(np.zeros((100, 1)), EIGHT_BIT, valid=levels, choices=(0.01, 1.0))
    assert seen.smoothing == 0.01
    assert unseen.smoothing == 1.0


def test_figures_on_images_give_nats_and_bits_per_dimension():
    train = np.array([[1, 0], [0, 1]], dtype=np.float32)
    fitted = baselines.fit(train, BINARY, choices=(1.0,))  # every pixel 1/2
    figures = baselines.score(fitted, np.array([[1, 1], [0, 1], [0, 0]], dtype=np.float32))
    assert figures.nll == pytest.approx(2 * math.log(2))
    assert figures.bits_per_dim == pytest.approx(1.0)
    assert figures.nll_standard_error == pytest.approx(0.0, abs=1e-12)
    assert (
        baselines.score(baselines.fit(np.random.default_rng(0).random((9, 2)), CONTINUOUS), train).bits_per_dim is None
    )


def test_greys_count_fractionally_towards_a_binary_baseline():
    # dynamic binarization trains on greys and scores 0/1 images: a grey g is Bernoulli(g)'s expected count
    fitted = baselines.fit(np.array([[0.25], [0.75], [1.0]]), BINARY, choices=(1e-9,))
    assert math.exp(fitted.log_prob(np.array([[1.0]]))[0]) == pytest.approx(2.0 / 3.0)


def test_memory_does_not_grow_with_the_split(monkeypatch):
    monkeypatch.setattr(baselines, "CHUNK", 7)  # chunks of 7 images give the figures of one pass
    rng = np.random.default_rng(1)
    train, test = rng.integers(0, 256, size=(40, 5)) / 255, rng.integers(0, 256, size=(30, 5)) / 255
    chunked = baselines.fit(train, EIGHT_BIT, choices=(0.3,)).log_prob(test)
    monkeypatch.setattr(baselines, "CHUNK", 1000)
    np.testing.assert_allclose(baselines.fit(train, EIGHT_BIT, choices=(0.3,)).log_prob(test), chunked)


def test_rows_of_another_width_are_refused():
    fitted = baselines.fit(np.zeros((3, 4)), BINARY)
    with pytest.raises(ValueError, match="4 values"):
        fitted.log_prob(np.zeros((2, 5)))


def test_evaluate_prints_stores_and_compares_the_baseline_and_warns_when_it_is_not_beaten(run_copy, capsys):
    import json

    from conftest import run_main

    # random pixels: the independent-pixel model is the truth, and a VAE cannot beat it
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--k", "5", "--metrics", "nll")
    assert outcome.code == 0, outcome.err
    figures = json.loads((run_copy / "evaluation-test.json").read_text())
    baseline = figures["baseline"]
    assert baseline["model"] == "independent pixels" and baseline["smoothing"] in baselines.SMOOTHING
    assert baseline["bits_per_dim"] == pytest.approx(baseline["nll"] / (784 * math.log(2)))
    assert f"{baseline['nll']:.2f}" in outcome.out
    assert figures["nll"] > baseline["nll"]
    warning = [line for line in outcome.err.splitlines() if line.startswith("Warning:")]
    assert len(warning) == 1 and "baseline" in warning[0]
    run = genmodels.load(run_copy)  # the Python API gives the same figures, image by image
    assert -run.baseline_log_likelihood(run.dataset().test).mean() == pytest.approx(baseline["nll"], rel=1e-9)
    compared = run_main(capsys, "compare", run_copy)
    assert "baseline" in compared.out.splitlines()[0] and f"{baseline['bits_per_dim']:.4f}" in compared.out


def test_evaluate_says_nothing_when_the_model_beats_the_baseline(run_copy, capsys, monkeypatch):
    import json

    from conftest import run_main

    # the same run against a baseline made to be bad: no warning
    monkeypatch.setattr(baselines, "SMOOTHING", (1e6,))
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--k", "5", "--metrics", "nll")
    figures = json.loads((run_copy / "evaluation-test.json").read_text())
    assert figures["nll"] < figures["baseline"]["nll"]
    assert "Warning:" not in outcome.err
