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
from genmodels.data.dataset import Dataset
from genmodels.core.errors import TrainingError
from genmodels.nn.interfaces import Loss
from genmodels.runs.format import LOCK_FILE, read_metrics
from genmodels.runs.loading import load_model
from genmodels.runs.lock import run_lock
from genmodels.training.trainer import train

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


def test_taking_over_a_stale_lock_removes_the_temporaries_of_an_unfinished_checkpoint(tmp_path):
    write_lock(tmp_path, dead_pid())
    (tmp_path / ".tmp-abc123-model.weights.h5").write_bytes(b"half")
    (tmp_path / ".tmp-def456-checkpoint.json").write_text("{")
    (tmp_path / "notes.txt").write_text("mine")
    with run_lock(tmp_path):
        assert sorted(path.name for path in tmp_path.iterdir()) == [LOCK_FILE, "notes.txt"]


CONTENDER = """
import json, os, sys, time
import genmodels.runs.lock as runs
from genmodels.core.errors import TrainingError
run_dir, attempts, start, file_lock = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "file"
if file_lock:
    runs.fcntl = None  # the lock of systems without flock
inside = os.path.join(run_dir, "inside")
entered = doubles = 0
while time.time() < start:
    pass
refused = 0
while entered < attempts:  # each attempt tries again until it gets in: the others never stop pressing
    try:
        with runs.run_lock(run_dir):
            entered += 1
            try:
                os.close(os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                doubles += 1  # another process is inside too
                continue
            time.sleep(0.001)  # long enough for a second holder to overlap this one
            os.unlink(inside)
    except TrainingError:
        refused += 1
print(json.dumps({"entered": entered, "doubles": doubles, "refused": refused}))
"""


@pytest.mark.parametrize("kind", ["os", "file"])
@pytest.mark.slow
def test_a_thousand_concurrent_takers_never_hold_the_lock_together(tmp_path, kind):
    import time

    processes, attempts = 8, 125  # 1000 attempts, all at once
    start = time.time() + 2.0  # every process imported and waiting before the first attempt
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(tmp_path), str(attempts), str(start), kind],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert sum(result["entered"] for result in results) == processes * attempts
    assert sum(result["doubles"] for result in results) == 0
    assert not (tmp_path / LOCK_FILE).exists() and not (tmp_path / "inside").exists()


def test_a_lock_taken_but_not_yet_signed_is_respected(tmp_path):
    # the moment between taking the lock and writing the owner's name into it: an empty file that a live
    # process holds; judging it stale and deleting it let two writers in at once
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "handle = os.open(os.path.join(sys.argv[1], sys.argv[2]), os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(handle, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)",
            str(tmp_path),
            LOCK_FILE,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TrainingError, match="being written by another training"):
            with run_lock(tmp_path):
                pass
        assert (tmp_path / LOCK_FILE).exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_file_left_by_a_live_process_of_an_older_version_is_respected(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path, sleeper.pid)  # a record without an OS lock behind it
        with pytest.raises(TrainingError, match=f"process {sleeper.pid}"):
            with run_lock(tmp_path):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_os_lock_ends_with_its_process_however_it_ends(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from genmodels.runs.lock import run_lock\n"
            "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TrainingError, match=f"process {holder.pid}"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.kill()  # SIGKILL: no chance to release or to remove the file
        holder.wait()
    with run_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_lock_from_another_machine_is_respected(tmp_path):
    write_lock(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(TrainingError, match="on elsewhere.example"):
        with run_lock(tmp_path):
            pass


@pytest.mark.slow
def test_the_cli_refuses_to_train_into_a_locked_run(tmp_path, mnist_slice):
    write_lock(tmp_path / "run", os.getpid())  # this test's own process: alive
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "genmodels.cli.program",
            "train",
            "vae",
            "--run-dir",
            str(tmp_path / "run"),
            "--dataset",
            str(mnist_slice),
        ],
        capture_output=True,
        text=True,
        timeout=120,
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


@pytest.mark.slow
def test_a_nan_loss_stops_training_naming_the_step_and_term_and_keeps_the_last_good_epoch(tmp_path):
    data = Dataset(
        "synthetic",
        train=random_binary_images(1500),
        valid=random_binary_images(100, seed=2),
        test=random_binary_images(500, seed=1),
    )
    spec = fragile_spec()
    config = MLPConfig(latent_dim=2, hidden=(16,))
    with pytest.raises(TrainingError) as error:
        train(spec, config, TrainConfig(epochs=3, batch_size=150), data, tmp_path, verbose=0)
    message = str(error.value)
    assert "step 2 of epoch 2" in message and "fragile = nan" in message
    assert "the weights of epoch 1 are kept" in message
    assert [record["epoch"] for record in read_metrics(tmp_path)] == [1]
    assert not (tmp_path / LOCK_FILE).exists()

    from genmodels.plugins.loader import build_registry

    registry = build_registry([fake_plugin("fragile-plugin", models=[spec])], entry_points=False)
    model, _ = load_model(tmp_path, registry)  # the epoch-1 checkpoint is intact and loads
    assert np.all(np.isfinite(model.encoder.mean_head.kernel.numpy()))


@pytest.fixture(scope="module")
def longer_slice(slice_file, tmp_path_factory):
    """10000 real training images and 500 test images: epochs long enough to be killed in the middle."""
    from conftest import SHARED_DATA

    with np.load(SHARED_DATA / "binarized_mnist.npz") as npz:
        train_images = npz["train"][:10000]
    path = tmp_path_factory.mktemp("longer") / "longer.npz"
    np.savez(path, train=train_images, test=np.load(slice_file)["test"])
    return path


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_result_as_an_uninterrupted_one(longer_slice, tmp_path, shared_data):
    import time

    common = [
        "train",
        "vae",
        "--epochs",
        "4",
        "--batch-size",
        "10",
        "--epoch-images",
        "0",
        "--dataset",
        str(longer_slice),
        "--latent-dim",
        "8",
    ]
    whole = subprocess.run(
        [sys.executable, "-m", "genmodels.cli.program", *common, "--run-dir", str(tmp_path / "whole")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert whole.returncode == 0, whole.stderr

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "genmodels.cli.program", *common, "--run-dir", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while len(read_metrics(killed)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(read_metrics(killed)[-1]["seconds"] / 2)  # into the middle of epoch 3
    process.kill()  # SIGKILL: no cleanup, the lock stays behind
    process.wait()
    assert len(read_metrics(killed)) == 2 and (killed / LOCK_FILE).exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "genmodels.cli.program", "train", "vae", "--resume", "--run-dir", str(killed)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    expected, got = read_metrics(tmp_path / "whole"), read_metrics(killed)
    assert [r["epoch"] for r in got] == [1, 2, 3, 4]
    for mine, theirs in zip(got, expected):
        assert mine["valid"] == pytest.approx(theirs["valid"], rel=1e-4)
    for artefact in ("samples.png", "curves.png", "model.weights.h5", "checkpoint.json"):
        assert (killed / artefact).is_file()
    assert not (killed / LOCK_FILE).exists() and not list(killed.glob(".tmp-*"))


def test_resume_refuses_new_settings_and_runs_without_a_checkpoint(tmp_path):
    from test_cli import run_cli

    changed = run_cli("train", "vae", "--resume", "--batch-size", "10", "--run-dir", str(tmp_path))
    assert changed.returncode == 1 and "only --epochs and --track may change (received --batch-size)" in changed.stderr
    absent = run_cli("train", "vae", "--resume", "--run-dir", str(tmp_path))
    assert absent.returncode == 1 and "No trained model in" in absent.stderr
