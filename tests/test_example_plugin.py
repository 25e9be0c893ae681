"""The plugin written in docs/plugins.md, installed with pip, works like a built-in model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from conftest import REPO

EXAMPLE = REPO / "examples" / "genmodels-laplace"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory) -> Path:
    """`pip install examples/genmodels-laplace` into a folder of its own (put on PYTHONPATH)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=build,
    )
    return target


def genmodels(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "genmodels.cli", *args], capture_output=True, text=True, timeout=600, env=env, cwd=cwd
    )


@pytest.mark.slow
def test_the_installed_plugin_appears_in_the_list(installed_example, tmp_path):
    listing = genmodels(installed_example, "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert any(
        line.split()[:1] == ["laplace-vae"] and line.endswith("laplace (genmodels-laplace)")
        for line in listing.stdout.splitlines()
    )
    info = genmodels(installed_example, "info", "laplace-vae", cwd=tmp_path)
    assert "scale" in info.stdout and "Scale b of the Laplace prior" in info.stdout


@pytest.mark.slow
def test_the_installed_plugin_trains_and_samples_with_the_same_commands(installed_example, mnist_slice, tmp_path):
    trained = genmodels(
        installed_example,
        "train",
        "laplace-vae",
        "--epochs",
        "2",
        "--dataset",
        str(mnist_slice),
        "-o",
        "hidden=200",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    assert "Validation at epoch 2" in trained.stdout
    versions = json.loads((tmp_path / "runs" / "laplace-vae" / "config.json").read_text())["versions"]
    assert versions["genmodels-laplace"] == "0.1.0" and "genmodels" in versions  # the plugin's own version is recorded
    sampled = genmodels(installed_example, "sample", "laplace-vae", "-n", "60", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    png = tmp_path / sampled.stdout.strip().splitlines()[-1]
    assert png == tmp_path / "runs" / "laplace-vae" / "samples-60-seed0.png"
    assert mpimg.imread(png).shape[:2] == (364, 604)


@pytest.mark.slow
def test_the_installed_plugin_adds_a_metric_that_evaluate_computes(installed_example, mnist_slice, tmp_path):
    listing = genmodels(installed_example, "list", cwd=tmp_path)
    assert any(
        line.split()[:1] == ["intensity"] and line.endswith("laplace (genmodels-laplace)")
        for line in listing.stdout.splitlines()
    )
    trained = genmodels(
        installed_example,
        "train",
        "laplace-vae",
        "--epochs",
        "1",
        "--dataset",
        str(mnist_slice),
        "-o",
        "hidden=50",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    scored = genmodels(
        installed_example,
        "evaluate",
        "laplace-vae",
        "--metrics",
        "intensity",
        "--samples",
        "300",
        "--seed",
        "3",
        cwd=tmp_path,
    )
    assert scored.returncode == 0, scored.stderr
    figures = json.loads((tmp_path / "runs" / "laplace-vae" / "evaluation-test.json").read_text())
    intensity = figures["metrics"]["intensity"]
    assert intensity["samples"] == 300 and intensity["seed"] == 3 and intensity["seconds"] >= 0
    real = np.load(mnist_slice)["test"]
    assert intensity["real_mean"] == pytest.approx(
        real.mean(), rel=1e-5
    )  # the scored images are the slice's test images
    assert intensity["gap"] == pytest.approx(abs(intensity["sample_mean"] - intensity["real_mean"]))
    assert figures["nll"] is None and figures["k"] is None  # only the metric asked for was computed
    assert "gap" in scored.stdout
