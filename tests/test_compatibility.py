"""A run directory written by genmodels 0.1.0 (tests/data/v0.1.0) loads, samples, evaluates and resumes unchanged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import genmodels

from conftest import REPO, run_main

WRITTEN_BY_0_1_0 = REPO / "tests" / "data" / "v0.1.0"


@pytest.fixture
def old_run(tmp_path, monkeypatch):
    folder = tmp_path / "v0.1.0"
    shutil.copytree(WRITTEN_BY_0_1_0, folder)
    monkeypatch.chdir(folder)  # the run names its dataset as it was given: digits.npz in this folder
    return folder / "run"


def test_a_run_of_0_1_0_loads_and_samples_through_the_api(old_run):
    run = genmodels.load(old_run)
    assert run.epoch == 2 and run.latent_dim == 2 and run.image_shape == (28, 28, 1)
    assert run.train_config.epoch_images == 0  # absent from its config: one pass an epoch, as it trained
    images = run.sample(4, seed=0, sampler="prior")
    assert images.shape == (4, 28, 28, 1) and np.all((images >= 0) & (images <= 1))
    assert run.encode(run.dataset().test[:3]).shape == (3, 2)


@pytest.mark.slow
def test_a_run_of_0_1_0_samples_evaluates_and_resumes_through_the_command_line(old_run, capsys):
    assert run_main(capsys, "sample", "vae", "--run-dir", old_run, "-n", 4).code == 0  # fits the sampler it lacked
    assert (old_run / "sampler-gmm.npz").is_file()
    evaluated = run_main(capsys, "evaluate", "vae", "--run-dir", old_run, "--metrics", "nll", "--k", 10)
    assert evaluated.code == 0, evaluated.err
    assert json.loads((old_run / "evaluation-test.json").read_text())["nll"] > 0
    resumed = run_main(capsys, "train", "vae", "--run-dir", old_run, "--resume", "--epochs", "3")
    assert resumed.code == 0, resumed.err
    assert [record["epoch"] for record in genmodels.load(old_run).history] == [1, 2, 3]
