"""The cost of `genmodels train --distribute` beside the one-process path, all cases in one run.

    python benchmarks/distributed.py                     # binarized MNIST from GENMODELS_DATA_DIR, 3 epochs a case
    python benchmarks/distributed.py --images 10000 --epochs 2

Each case is `genmodels train vae` in fresh processes, timed by the seconds per epoch its chief
records in metrics.jsonl (the mean over every epoch but the first, which compiles):

- one-process: today's path (XLA multi-step loops, both cores);
- distributed, 1 worker: `--distribute` without TF_CONFIG (MirroredStrategy over the CPU, one replica):
  the same arithmetic with one strategy step a batch and Adam outside XLA;
- 2 workers, one core each: `--distribute` with TF_CONFIG naming two local workers, each process
  pinned to its own core (taskset) with one TensorFlow thread, all-reducing over the loopback;
- one process, one core: today's path pinned to one core, the work each of those workers would do alone.

Ratios are printed against the one-process path, measured in the same minutes on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def slice_of_mnist(folder: Path, images: int) -> Path:
    from genmodels.plugins.loader import get_registry

    data = (
        get_registry()
        .dataset("binarized-mnist")
        .load(Path(os.environ.get("GENMODELS_DATA_DIR", "~/.cache/genmodels")).expanduser())
    )
    path = folder / "slice.npz"
    np.savez(path, train=data.train[:images], valid=data.valid[: images // 5], test=data.test[:1000])
    return path


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def pinned(core: int | None, threads: int | None) -> tuple[list[str], dict[str, str]]:
    prefix = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads)} if threads else {}
    return prefix, env


def seconds_per_epoch(run_dir: Path) -> float:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = records[1:] or records
    return sum(record["seconds"] for record in timed) / len(timed)


EXTRA: list[str] = []  # model options for every case (-o KEY=VALUE), from --option


def run_case(
    name: str,
    data: Path,
    folder: Path,
    epochs: int,
    *,
    workers: int = 1,
    distribute: bool = False,
    cores: list[int | None] | None = None,
    threads: int | None = None,
) -> float:
    run_dir = folder / name
    args = ["train", "vae", "--dataset", str(data), "--epochs", str(epochs), "--run-dir", str(run_dir), *EXTRA]
    if distribute:
        args.append("--distribute")
    cores = cores or [None] * workers
    ports = free_ports(workers) if workers > 1 else []
    processes = []
    for index in range(workers):
        prefix, env = pinned(cores[index], threads)
        env = {**os.environ, **env}
        if workers > 1:
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                    "task": {"type": "worker", "index": index},
                }
            )
        processes.append(
            subprocess.Popen(
                [*prefix, sys.executable, "-m", "genmodels.cli.program", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:
        _out, err = process.communicate(timeout=3600)
        if process.returncode:
            raise SystemExit(f"{name} failed:\n{err[-3000:]}")
    return seconds_per_epoch(run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50000, help="training images (binarized MNIST)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs a case (the first is not timed)")
    parser.add_argument(
        "--option", "-o", action="append", default=[], help="a vae option KEY=VALUE for every case, such as hidden=100"
    )
    parser.add_argument("--cases", default="one,distributed,two,one-core", help="which cases, comma-separated")
    options = parser.parse_args()
    EXTRA.extend(item for option in options.option for item in ("-o", option))
    cases = set(options.cases.split(","))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        data = slice_of_mnist(folder, options.images)
        rows = []
        if "one" in cases:
            rows.append(
                ("one process, both cores (today's path)", run_case("one-process", data, folder, options.epochs))
            )
        if "distributed" in cases:
            rows.append(
                (
                    "--distribute, 1 worker, both cores",
                    run_case("distributed-1", data, folder, options.epochs, distribute=True),
                )
            )
        if "two" in cases:
            rows.append(
                (
                    "--distribute, 2 workers, one core each",
                    run_case(
                        "distributed-2",
                        data,
                        folder,
                        options.epochs,
                        workers=2,
                        distribute=True,
                        cores=[0, 1],
                        threads=1,
                    ),
                )
            )
        if "one-core" in cases:
            rows.append(
                ("one process, one core", run_case("one-core", data, folder, options.epochs, cores=[0], threads=1))
            )
    shown = " ".join(EXTRA) or "784-500-500-20"
    print(
        f"vae {shown}, batch 150, {options.images} binarized MNIST images, seconds per epoch (validation pass included):"
    )
    first = rows[0][1]
    for name, seconds in rows:
        print(f"  {name:42s} {seconds:7.2f} s   x{seconds / first:.2f} of the first row")


if __name__ == "__main__":
    main()
