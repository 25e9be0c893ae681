"""Data-parallel training on tf.distribute: the same weights as one process, on 1 or 2 replicas and 2 worker processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import genmodels
from genmodels.core.errors import ConfigError

# Two workers (or replicas) sum the same per-image gradients in another order; after two epochs the
# weights measured here differ from the one-process run's by at most 2e-7.
WEIGHT_TOLERANCE = 1e-5


def max_difference(first, second) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(first.model.get_weights(), second.model.get_weights()))


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_one_replica_trains_exactly_as_one_process(tiny_npz, tmp_path):
    options = dict(
        dataset=str(tiny_npz), epochs=2, batch_size=64, epoch_images=0, hidden=(32,), latent_dim=4, verbose=0
    )
    alone = genmodels.train("vae", run_dir=tmp_path / "alone", **options)
    distributed = genmodels.train("vae", run_dir=tmp_path / "distributed", distribute=True, **options)
    assert distributed.train_config.distribute and max_difference(alone, distributed) < WEIGHT_TOLERANCE
    assert distributed.history[-1]["valid"] == pytest.approx(alone.history[-1]["valid"], rel=1e-6)


TWO_REPLICAS = textwrap.dedent(
    """
    import json
    import sys

    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from genmodels.data.npz import load_npz
    from genmodels.plugins.loader import build_registry
    from genmodels.training.trainer import train

    folder, cases = sys.argv[1], json.loads(sys.argv[2])
    registry, differences = build_registry(), {}
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # one for every case: their collectives share its keys
    for name, (model, data, options) in cases.items():
        spec, weights = registry.model(model), []
        config = spec.config().replace(latent_dim=3, hidden="24", **options.pop("model", {}))
        for distribute in (False, True):
            recipe = spec.train.replace(epochs=2, batch_size=50, epoch_images=0, dataset=data, kl_warmup=0, distribute=distribute, **options)
            result = train(spec, config, recipe, load_npz(data), f"{folder}/{name}-{distribute}", verbose=0,
                           strategy=strategy if distribute else None)
            weights.append(result.model.get_weights())
        differences[name] = max(float(np.abs(a - b).max()) for a, b in zip(*weights))
    print(json.dumps(differences))
    """
)


@pytest.mark.slow
def test_two_replicas_draw_the_one_process_numbers_for_each_image(tmp_path):
    rng = np.random.default_rng(1)
    greys = rng.random((230, 8, 8)).astype(np.float32)  # 230: the last batch (30) splits 15 + 15
    binary, grey = tmp_path / "binary.npz", tmp_path / "greys.npz"
    np.savez(binary, train=(greys[:200] < 0.3).astype(np.uint8), test=(greys[200:] < 0.3).astype(np.uint8))
    np.savez(grey, train=greys[:200], test=greys[200:])
    cases = {
        "iwae": ("iwae", str(binary), {"model": {"k": 3}}),  # k stacked draws per image
        "hvae": ("hvae", str(binary), {"model": {"top_dim": 2, "components": 3}}),  # two stochastic layers, a VampPrior
        "dynamic-binarization": ("vae", str(grey), {"dynamic_binarize": True}),  # pixels drawn anew at every step
    }
    done = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS, str(tmp_path), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    differences = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(differences) == set(cases) and max(differences.values()) < WEIGHT_TOLERANCE, differences


def start_workers(tmp_path, args_of, count: int = 2) -> list[subprocess.Popen]:
    ports = free_ports(count)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(count):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "genmodels.cli.program", *map(str, args_of(index))],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    return workers


def finish(workers, timeout: int = 300) -> list[tuple[int, str, str]]:
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        results.append((worker.returncode, out, err))
    return results


@pytest.mark.slow
def test_two_worker_processes_reach_the_weights_of_one_process(mnist_slice, tmp_path):
    common = [
        "--dataset",
        mnist_slice,
        "--epochs",
        2,
        "--batch-size",
        100,
        "--epoch-images",
        0,
        "-o",
        "hidden=64",
        "--latent-dim",
        8,
    ]
    alone = tmp_path / "alone"
    done = subprocess.run(
        [sys.executable, "-m", "genmodels.cli.program", "train", "vae", *map(str, common), "--run-dir", str(alone)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    together = tmp_path / "together"
    results = finish(
        start_workers(tmp_path, lambda index: ["train", "vae", *common, "--distribute", "--run-dir", together])
    )
    for code, out, err in results:
        assert code == 0, err[-3000:]
    assert "its chief writes" in results[1][1] and "Samples:" in results[0][1]  # worker 0 is the chief
    assert max_difference(genmodels.load(alone), genmodels.load(together)) < WEIGHT_TOLERANCE
    assert genmodels.load(together).train_config.distribute


@pytest.mark.slow
def test_workers_started_with_different_settings_refuse_to_train(tiny_npz, tmp_path):
    run_dir = tmp_path / "run"

    def args_of(index):
        return [
            "train",
            "vae",
            "--dataset",
            tiny_npz,
            "--epochs",
            2 + index,
            "-o",
            "hidden=16",
            "--distribute",
            "--run-dir",
            run_dir,
        ]

    for code, _out, err in finish(start_workers(tmp_path, args_of)):
        lines = err.strip().splitlines()
        assert code == 1 and lines[-1].startswith("Error: the workers were started with different settings"), err[
            -2000:
        ]
    assert not (run_dir / "model.weights.h5").exists()


def test_a_strategy_without_distribute_is_refused(tiny_npz, tmp_path):
    import tensorflow as tf

    from genmodels.data.npz import load_npz
    from genmodels.plugins.loader import get_registry
    from genmodels.training.trainer import train

    spec = get_registry().model("vae")
    with pytest.raises(ConfigError, match="distribute=True"):
        train(
            spec,
            spec.config(),
            spec.train.replace(epochs=1),
            load_npz(tiny_npz),
            tmp_path / "run",
            strategy=tf.distribute.get_strategy(),
        )


# How long the surviving worker may take to stop once another dies (the collectives' timeout is 60 s;
# a dead peer's closed socket is seen at once: about 1 s here).
STOP_BOUND_SECONDS = 90


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_other_in_bounded_time_and_resume_finishes_the_run(tiny_npz, tmp_path):
    import time

    common = [
        "--dataset",
        tiny_npz,
        "--epochs",
        12,
        "--batch-size",
        16,
        "--epoch-images",
        0,
        "-o",
        "hidden=16",
        "--latent-dim",
        3,
        "--keep",
        "last",  # the run's epoch is the last checkpointed one, whatever the validation loss did
    ]
    alone = tmp_path / "alone"
    done = subprocess.run(
        [sys.executable, "-m", "genmodels.cli.program", "train", "vae", *map(str, common), "--run-dir", str(alone)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    run_dir = tmp_path / "together"
    chief, worker = start_workers(
        tmp_path, lambda index: ["train", "vae", *common, "--distribute", "--run-dir", run_dir]
    )
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    chief.kill()  # mid-epoch: an epoch takes far longer than the 50 ms poll
    killed_at = time.monotonic()
    _out, err = worker.communicate(timeout=STOP_BOUND_SECONDS + 30)
    assert time.monotonic() - killed_at < STOP_BOUND_SECONDS
    chief.communicate()
    lines = [line for line in err.strip().splitlines() if line.startswith("Error: ")]
    assert (
        worker.returncode == 1 and len(lines) == 1 and "worker 0 (127.0.0.1:" in lines[0] and "--resume" in lines[0]
    ), err[-2000:]

    saved = genmodels.load(run_dir)  # intact: the epochs checkpointed before the kill
    # metrics.jsonl held two epochs at the kill; checkpoint.json, renamed last, may still name the first
    assert 1 <= saved.epoch < 12 and [record["epoch"] for record in saved.history] == list(range(1, saved.epoch + 1))

    for code, _out, err in finish(
        start_workers(tmp_path, lambda index: ["train", "vae", "--resume", "--run-dir", run_dir])
    ):
        assert code == 0, err[-3000:]
    resumed = genmodels.load(run_dir)
    assert resumed.epoch == 12 and max_difference(genmodels.load(alone), resumed) < WEIGHT_TOLERANCE


@pytest.mark.slow
def test_an_evaluation_split_across_two_workers_gives_the_one_process_figures(tiny_run, tmp_path, capsys):
    import shutil

    from conftest import run_main

    alone, together = (Path(shutil.copytree(tiny_run, tmp_path / name)) for name in ("alone", "together"))
    common = [
        "evaluate",
        "vae",
        "--metrics",
        "nll",
        "--k",
        40,
        "--batch-size",
        30,
        "--seed",
        3,
    ]  # 100 test images: batches 0-3, odd ones on worker 1
    outcome = run_main(capsys, *common, "--run-dir", alone)
    assert outcome.code == 0, outcome.err
    results = finish(start_workers(tmp_path, lambda index: [*common, "--distribute", "--run-dir", together]))
    for code, _out, err in results:
        assert code == 0, err[-3000:]
    assert "scored 40 of the 100 images as one worker" in results[1][1]
    one, split = (json.loads((folder / "evaluation-test.json").read_text()) for folder in (alone, together))
    for key in ("nll", "nll_standard_error", "negative_elbo"):
        assert split[key] == pytest.approx(one[key], rel=1e-9, abs=1e-9), key
    assert split["terms"] == pytest.approx(one["terms"], rel=1e-9)


@pytest.mark.parametrize(
    "config, fragment",
    [
        (
            {"cluster": {"worker": "127.0.0.1:2222"}, "task": {"type": "worker", "index": 0}},
            "list of 'host:port' strings",
        ),
        (
            {"cluster": {"worker": ["127.0.0.1:2222", 7]}, "task": {"type": "worker", "index": 0}},
            "list of 'host:port' strings",
        ),
        (
            {"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": "worker", "index": 0.9}},
            "whole number",
        ),
        (
            {"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, "task": {"type": "worker", "index": True}},
            "whole number",
        ),
        ({"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}, "not in its cluster"),
    ],
)
def test_a_malformed_tf_config_is_refused_in_one_message(monkeypatch, config, fragment):
    from genmodels.training.distributed import cluster_from_environment

    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    with pytest.raises(ConfigError, match=fragment):
        cluster_from_environment()


@pytest.mark.slow
def test_a_missing_worker_ends_the_other_in_one_line_within_the_startup_bound(tiny_npz, tmp_path):
    import time

    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})}
    program = (
        "import sys, genmodels.training.distributed as d; d.STARTUP_TIMEOUT_SECONDS = 5\n"
        "from genmodels.cli.program import main; main(sys.argv[1:])"
    )
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            program,
            "train",
            "vae",
            "--dataset",
            str(tiny_npz),
            "--epochs",
            "1",
            "--distribute",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # worker 1 is never started
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert f"worker 1 (127.0.0.1:{ports[1]}) did not start within 5 s" in line
    assert time.monotonic() - started < 100  # TensorFlow's import, then the 5 s wait: never the endless one


@pytest.mark.slow
def test_a_waiting_worker_listens_only_on_the_address_tf_config_names():
    from genmodels.training.distributed import Cluster, await_peers

    own, other = free_ports(2)
    cluster = Cluster((("worker", 0, f"127.0.0.1:{own}"), ("worker", 1, f"127.0.0.1:{other}")), "worker", 0)
    import threading

    seen = {}

    def probe():
        import time

        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", own), timeout=2):
            seen["loopback"] = True
        listeners = (
            [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
            if Path("/proc/net/tcp").exists()
            else []
        )
        seen["bound"] = [
            fields[1] for fields in listeners if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == own
        ]

    thread = threading.Thread(target=probe)
    thread.start()
    with pytest.raises(genmodels.core.errors.TrainingError, match="did not start within 2 s"):
        await_peers(cluster, timeout=2)
    thread.join()
    assert seen["loopback"]
    if seen["bound"]:  # Linux: the listening socket's local address is 127.0.0.1 (0100007F), not 0.0.0.0
        assert all(address.split(":")[0] == "0100007F" for address in seen["bound"])
