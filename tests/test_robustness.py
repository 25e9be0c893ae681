"""Failures do not lose work: one writer per run directory, and a non-finite loss stops before saving."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from genmodels import MLPConfig, ModelSpec, TrainConfig
from genmodels.data import Dataset
from genmodels.errors import TrainingError
from genmodels.interfaces import Loss
from genmodels.runs import LOCK_FILE, load_model, read_metrics, run_lock
from genmodels.trainer import train

from conftest import random_binary_images
from test_registry import fake_plugin


def write_lock(run_dir, pid, host=None):
    import socket

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": "then"}))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_writer_is_refused_while_the_first_holds_the_run(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(TrainingError, match=f"being written by another training \\(process {os.getpid()}"):
            with run_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK_FILE).exists()  # released


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    write_lock(tmp_path, dead_pid())
    with run_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_lock_from_another_machine_is_respected(tmp_path):
    write_lock(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(TrainingError, match="on elsewhere.example"):
        with run_lock(tmp_path):
            pass


def test_the_cli_refuses_to_train_into_a_locked_run(tmp_path, mnist_slice):
    write_lock(tmp_path / "run", os.getpid())  # this test's own process: alive
    result = subprocess.run(
        [sys.executable, "-m", "genmodels.cli", "train", "vae", "--run-dir", str(tmp_path / "run"), "--dataset", str(mnist_slice)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"is being written by another training (process {os.getpid()}" in result.stderr
    assert not (tmp_path / "run" / "config.json").exists()  # nothing of the other run was touched


class BlowsUpLater(Loss):
    """A loss term that turns NaN from its 13th evaluation on (the 2nd step of the 2nd epoch below)."""

    name = "fragile"

    def __init__(self):
        self.calls = keras.Variable(0, dtype="int32", trainable=False)

    def __call__(self, forward):
        self.calls.assign_add(1)
        nan_or_zero = ops.where(self.calls > 12, float("nan"), 0.0)
        return ops.zeros_like(forward.x[:, 0]) + nan_or_zero


def fragile_spec() -> ModelSpec:
    def build(config):
        from genmodels_plugins.vae import build as build_vae

        model = build_vae(config)
        model.loss_terms.append(BlowsUpLater())
        model.term_trackers.append(keras.metrics.Mean(name="fragile"))
        return model

    return ModelSpec("fragile", "a VAE whose extra loss term fails in epoch 2", build=build, config=MLPConfig)


def test_a_nan_loss_stops_training_naming_the_step_and_term_and_keeps_the_last_good_epoch(tmp_path):
    data = Dataset("synthetic", train=random_binary_images(1500), test=random_binary_images(500, seed=1))
    spec = fragile_spec()
    config = MLPConfig(latent_dim=2, hidden=(16,))
    with pytest.raises(TrainingError) as error:
        train(spec, config, TrainConfig(epochs=3, batch_size=150), data, tmp_path, verbose=0)
    message = str(error.value)
    assert "step 2 of epoch 2" in message and "fragile = nan" in message
    assert "the weights of epoch 1 are kept" in message
    assert [record["epoch"] for record in read_metrics(tmp_path)] == [1]
    assert not (tmp_path / LOCK_FILE).exists()

    from genmodels.plugins import build_registry

    registry = build_registry([fake_plugin("fragile-plugin", models=[spec])], entry_points=False)
    model, _ = load_model(tmp_path, registry)  # the epoch-1 checkpoint is intact and loads
    assert np.all(np.isfinite(model.encoder.mean_head.kernel.numpy()))
