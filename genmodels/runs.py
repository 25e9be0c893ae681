"""Run directories: what training leaves behind and everything needed to rebuild the model from it.

A run directory holds `config.json` (model name and hyperparameters, the training recipe, the
dataset, package versions), `model.weights.h5` (Keras weights; no pickle anywhere),
`metrics.jsonl` (one line of train and test loss terms per epoch), `samples.png` and `curves.png`;
`genmodels evaluate` adds `evaluation-SPLIT.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from genmodels.atomic import atomic_path
from genmodels.errors import ConfigError, RunError, TrainingError
from genmodels.registry import Registry

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.png"
CURVES_FILE = "curves.png"
LOCK_FILE = ".lock"
CHECKPOINT_FILE = "checkpoint.json"
FORMAT_VERSION = 1
RUNS_ROOT = Path("runs")


def default_run_dir(model: str) -> Path:
    """Where `genmodels train MODEL` writes unless told otherwise: runs/MODEL."""
    return RUNS_ROOT / model


@dataclass
class RunConfig:
    """The contents of config.json."""

    model: str
    model_config: dict[str, Any]
    train: dict[str, Any]
    dataset: dict[str, Any]
    versions: dict[str, str] = field(default_factory=lambda: package_versions())
    format: int = FORMAT_VERSION

    @property
    def image_shape(self) -> tuple[int, int]:
        """Height and width of one image of the training data."""
        height, width = self.dataset["image_shape"]
        return int(height), int(width)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a run's numbers."""
    versions = {"python": platform.python_version()}
    for package in ("genmodels", "tensorflow", "keras", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for one writer; a lock left by a process that is gone is taken over."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    while True:
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(path)
            if owner is not None:
                raise TrainingError(
                    f"{run_dir} is being written by another training (process {owner['pid']} on {owner['host']}, "
                    f"since {owner['started']}). Wait for it to finish or train into another --run-dir; if that "
                    f"process is really gone, delete {path}."
                ) from None
            path.unlink(missing_ok=True)  # stale: the process that held it is gone
            continue
        with os.fdopen(handle, "w") as out:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}, out)
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _lock_owner(path: Path) -> dict[str, Any] | None:
    """Who holds the lock at `path`, or None when the lock is stale (its process is gone) or unreadable."""
    try:
        owner = json.loads(path.read_text())
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host != socket.gethostname():
        return owner  # another machine's process: cannot tell, so assume it is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    return owner


def write_config(run_dir: Path, config: RunConfig) -> Path:
    """Write config.json atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(asdict(config), indent=2) + "\n")
    return path


def read_config(run_dir: Path, expected_model: str | None = None) -> RunConfig:
    """Read and check config.json; the error for a missing run says what to run."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        model = expected_model or "MODEL"
        hint = f"genmodels train {model}" + (f" --run-dir {run_dir}" if Path(run_dir) != default_run_dir(model) else "")
        raise RunError(f"No trained model in {run_dir} (no {CONFIG_FILE}). Train one first: {hint}")
    try:
        data = json.loads(path.read_text())
        config = RunConfig(**data)
    except (ValueError, TypeError) as exc:
        raise RunError(f"{path} is not a genmodels run configuration ({exc}).") from None
    if config.format != FORMAT_VERSION:
        raise RunError(f"{path} has format {config.format}; this genmodels reads format {FORMAT_VERSION}.")
    if expected_model is not None and config.model != expected_model:
        raise RunError(
            f"{run_dir} holds a {config.model!r} model, not {expected_model!r}. "
            f"Use genmodels sample {config.model} --run-dir {run_dir}, or point --run-dir at a {expected_model!r} run."
        )
    return config


def load_model(run_dir: Path, registry: Registry, expected_model: str | None = None):
    """Rebuild a run's model from its config through the registry and load its weights.

    Returns (model, run config). Nothing in the run directory names code: the model is looked up
    by its registered name and built by its plugin.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir, expected_model)
    spec = registry.model(config.model)
    try:
        model_config = spec.config.from_dict(config.model_config)
    except ConfigError as exc:
        raise RunError(f"{run_dir / CONFIG_FILE} does not fit the {spec.name!r} model: {exc}") from None
    weights = run_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise RunError(f"{run_dir} has no {WEIGHTS_FILE}: training stopped before its first epoch ended.")
    model = spec.build(model_config)
    model.build_for(model_config.input_dim)
    try:
        model.load_weights(weights)
    except Exception as exc:
        raise RunError(f"cannot load {weights} into the {spec.name!r} model: {exc}") from None
    return model, config


def save_weights(model, run_dir: Path) -> Path:
    """Write the model's weights atomically into the run directory."""
    path = Path(run_dir) / WEIGHTS_FILE
    with atomic_path(path) as partial:
        model.save_weights(partial)
    return path


def save_checkpoint(model, run_dir: Path, epoch: int) -> None:
    """After an epoch: the weights with the optimizer's state, then checkpoint.json (epoch, random state).

    checkpoint.json is written last, so it never names an epoch whose weights are not on disk.
    """
    save_weights(model, run_dir)
    state = {"epoch": epoch, "seed_state": [int(v) for v in model.seed_generator.state.numpy().ravel()]}
    with atomic_path(Path(run_dir) / CHECKPOINT_FILE) as partial:
        partial.write_text(json.dumps(state) + "\n")


def load_checkpoint(model, run_dir: Path) -> int:
    """Restore weights, optimizer and random state into a compiled model; return the epochs completed."""
    path = Path(run_dir) / CHECKPOINT_FILE
    weights = Path(run_dir) / WEIGHTS_FILE
    if not path.is_file() or not weights.is_file():
        raise RunError(f"{run_dir} has no checkpoint to resume from; train it without --resume.")
    try:
        state = json.loads(path.read_text())
        epoch = int(state["epoch"])
        model.load_weights(weights)
        seed_state = model.seed_generator.state
        seed_state.assign(np.asarray(state["seed_state"]).astype(seed_state.dtype).reshape(seed_state.shape))
    except Exception as exc:
        raise RunError(f"cannot resume from {run_dir}: {exc}") from None
    return epoch


def read_evaluation(run_dir: Path, split: str) -> dict[str, Any] | None:
    """The figures `genmodels evaluate` wrote for a whole split, or None."""
    path = Path(run_dir) / f"evaluation-{split}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise RunError(f"{path} is not valid JSON ({exc}).") from None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records of metrics.jsonl."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
