"""The evaluation and picture commands on a trained run: files of the right size, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

from genmodels.cli.program import app  # the app with every command registered

from test_cli import grid_size, run_cli


@pytest.fixture(scope="module")
def run_2d(slice_file, tmp_path_factory):
    """A VAE with 2-D codings, trained for one epoch on the slice of real data."""
    run_dir = tmp_path_factory.mktemp("runs") / "vae2d"
    result = CliRunner().invoke(
        app,
        ["train", "vae", "--epochs", "1", "--latent-dim", "2", "--dataset", str(slice_file), "--run-dir", str(run_dir)],
    )
    assert result.exit_code == 0, result.output
    return run_dir


def invoke(*args):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def png_shape(path):
    return mpimg.imread(path).shape[:2]


def _records(epochs: int, rates=None):
    """A long run's metrics: a first epoch far above the rest, then a slow fall (train) and a plateau (validation)."""
    loss = lambda epoch, floor: floor + (400.0 if epoch == 1 else 10.0 / epoch)  # noqa: E731
    return [
        {
            "epoch": e,
            "train": {"loss": loss(e, 80.0)},
            "valid": {"loss": loss(e, 90.0)},
            **({"learning_rate": rates[e - 1]} if rates else {}),
        }
        for e in range(1, epochs + 1)
    ]


def test_the_curves_scale_to_the_later_epochs_and_show_a_changing_step_size():
    from genmodels.core.plots import training_curves_figure

    constant = training_curves_figure(_records(100, [1e-3] * 100))
    assert [axes.get_title() for axes in constant.axes] == ["loss"]  # a constant rate gets no panel
    low, high = constant.axes[0].get_ylim()
    assert 75 < low < 80.2 and 90.5 < high < 100  # 480 nats at epoch 1 off the scale; every later value on it
    scheduled = training_curves_figure(_records(100, list(np.linspace(1e-3, 0, 100))), kept=60)
    assert [axes.get_title() for axes in scheduled.axes] == ["loss", "learning rate"]
    short = training_curves_figure(_records(5))  # a short run keeps its whole range
    assert short.axes[0].get_ylim()[1] > 480


def test_a_few_diverging_epochs_are_left_off_the_scale_and_counted():
    from genmodels.core.plots import training_curves_figure

    records = _records(400)
    for epoch in (150, 151, 300):  # a divergence and a one-epoch spike, far above the curves
        records[epoch - 1]["train"]["loss"] = 1e8 if epoch == 151 else 300.0
    figure = training_curves_figure(records)
    low, high = figure.axes[0].get_ylim()
    later = [value for r in records[40:] for value in (r["train"]["loss"], r["valid"]["loss"]) if value < 200]
    assert low <= min(later) and max(later) <= high < 150  # every ordinary value on the scale, the spikes off it
    notes = [text.get_text() for text in figure.axes[0].texts]
    assert any(note.startswith("3 values off the scale") for note in notes), notes
    calm = training_curves_figure(_records(400))
    assert not calm.axes[0].texts  # no spikes, no note


@pytest.mark.slow
def test_training_writes_the_curves(run_2d):
    assert png_shape(run_2d / "curves.png")[1] > 600
    out = run_2d / "again.png"
    assert str(out) in invoke("curves", "vae", "--run-dir", str(run_2d), "--out", str(out))
    assert out.is_file()


def test_evaluate_writes_its_figures_and_compare_tabulates_them(run_2d):
    output = invoke("evaluate", "vae", "--run-dir", str(run_2d), "--metrics", "nll", "--k", "20")
    assert "NLL, importance-weighted, k=20" in output
    figures = json.loads((run_2d / "evaluation-test.json").read_text())
    assert figures["images"] == 500 and figures["k"] == 20 and figures["seed"] == 0
    assert figures["nll"] <= figures["negative_elbo"] + 0.5
    assert set(figures["terms"]) == {"loss", "reconstruction", "kl"}
    table = invoke("compare", str(run_2d))
    header, row = table.splitlines()[:2]
    assert header.split()[:9] == ["run", "model", "epochs", "images", "k", "loss", "-ELBO", "NLL", "bits/dim"]
    assert {"FID", "precision", "recall", "seconds"} <= set(header.split()) and row.split()[-5:-1] == [
        "-",
        "-",
        "-",
        "-",
    ]  # not computed
    assert row.split()[1:5] == ["vae", "1", "500", "20"] and f"{figures['nll']:.2f}" in row
    assert (
        figures["likelihood_fits"] and f"{figures['bits_per_dim']:.4f}" in row
    )  # Bernoulli on binary digits: a code length
    assert figures["bits_per_dim"] == pytest.approx(figures["nll"] / (784 * np.log(2)))


def test_evaluate_on_a_subset_names_its_file_by_the_count(run_2d):
    invoke("evaluate", "vae", "--run-dir", str(run_2d), "--metrics", "nll", "--k", "5", "-n", "30")
    assert json.loads((run_2d / "evaluation-test-n30.json").read_text())["images"] == 30


def test_reconstruct_puts_originals_above_reconstructions(run_2d):
    invoke("reconstruct", "vae", "--run-dir", str(run_2d), "-n", "7")
    assert png_shape(run_2d / "reconstructions.png") == grid_size(14, columns=7)


def test_interpolate_draws_one_path_per_row(run_2d):
    invoke("interpolate", "vae", "--run-dir", str(run_2d), "-n", "3", "--steps", "5", "--spherical")
    assert png_shape(run_2d / "interpolations.png") == grid_size(15, columns=5)


def test_latent_draws_the_scatter_and_for_2d_codings_the_manifold(run_2d):
    output = invoke("latent", "vae", "--run-dir", str(run_2d), "--side", "4")
    assert "latent-scatter.png" in output and png_shape(run_2d / "latent-scatter.png")[0] > 300
    assert png_shape(run_2d / "latent-manifold.png") == grid_size(16, columns=4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["interpolate", "vae", "--steps", "1"], "Error: Invalid value for '--steps'"),
        (["evaluate", "vae", "--k", "0"], "Error: Invalid value for '--k'"),
        (["reconstruct", "vae", "-n", "100000"], "Error: asked for 100000 images, but the split has only 500."),
        (["curves", "ae"], "holds a 'vae' model, not 'ae'"),
    ],
)
@pytest.mark.slow
def test_bad_arguments_get_clear_errors(run_2d, args, message):
    result = run_cli(*args, "--run-dir", str(run_2d))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert message in line
