"""Run directories: what training leaves behind and everything needed to rebuild the model from it.

A run directory holds `config.json` (model name and hyperparameters, the training recipe, the
dataset, package versions), `model.weights.h5` (Keras weights; no pickle anywhere),
`checkpoint.json` (the last complete epoch, the best one and the random state), `best.weights.h5`
(the best epoch's weights, when the run keeps the best), `metrics.jsonl` (one line of train and
validation loss terms per epoch), `samples.png` and `curves.png`; `genmodels evaluate` adds
`evaluation-SPLIT.json`.

Everything read from a run directory is data, checked before use: config.json's fields and types,
the model name against the registry, the hyperparameters against the model's config class. No file
names a Python object to import, and nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import numpy as np

from genmodels.core.atomic import TEMPORARY_PREFIX, atomic_files, atomic_path, owner_alive, owner_record
from genmodels.core.config import QUALIFIED_NAME_PATTERN, ModelConfig, ModelSpec, TrainConfig
from genmodels.data.dataset import sha256_of
from genmodels.core.errors import (
    ConfigError,
    DatasetError,
    DuplicateNameError,
    GenmodelsError,
    RunError,
    TrainingError,
    UnknownNameError,
)
from genmodels.core.pixels import BINARY, PIXELS

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
BEST_WEIGHTS_FILE = "best.weights.h5"
METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.png"
CURVES_FILE = "curves.png"
LOCK_FILE = ".lock"
CHECKPOINT_FILE = "checkpoint.json"
FORMAT_VERSION = 1
RUNS_ROOT = Path("runs")
# The files that make a folder a run; `train --force` removes them (checkpoint.json first), with the
# pictures and evaluations that belong to the old run.
RUN_FILES = (CHECKPOINT_FILE, WEIGHTS_FILE, BEST_WEIGHTS_FILE, METRICS_FILE, CONFIG_FILE)
# figures of a run that `--force` removes with it: its pictures, its evaluations and the grids `genmodels sample` wrote
STALE_FILES = (
    SAMPLES_FILE,
    CURVES_FILE,
    "evaluation-*.json",
    "samples-*seed*.png",
    "samples-*seed*.npy",
    "sampler-*.npz",
)


class ModelCatalog(Protocol):
    """What rebuilding a run needs of a registry (`genmodels.registry.Registry` is one): the registered model specs
    (iteration) and each by name."""

    models: Any

    def model(self, name: str) -> ModelSpec: ...


def default_run_dir(model: str) -> Path:
    """Where `genmodels train MODEL` writes unless told otherwise: runs/MODEL (runs/PACKAGE--NAME for PACKAGE:NAME)."""
    return RUNS_ROOT / model.replace(":", "--")


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
    def image_shape(self) -> tuple[int, int, int]:
        """Height, width and channels of one image of the training data."""
        shape = [int(n) for n in self.dataset["image_shape"]]
        return tuple(shape + [1] * (3 - len(shape)))

    @property
    def pixels(self) -> str:
        """The kind of values the model was trained on (genmodels.pixels): binary, 8bit or continuous."""
        return self.dataset.get("pixels", BINARY)

    @classmethod
    def from_json(cls, data: Any, path: Path) -> RunConfig:
        """config.json's contents, refused (RunError naming `path`) unless they have exactly the fields and
        types that genmodels writes. The hyperparameters are checked against the model by `load_run`."""

        def refuse(problem: str) -> RunError:
            return RunError(f"{path} is not a genmodels run configuration: {problem}.")

        if not isinstance(data, dict):
            raise refuse(f"expected a JSON object, found {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = [key for key in data if key not in known]
        if unknown:
            raise refuse(f"unknown field {unknown[0]!r} (its fields are {', '.join(known)})")
        missing = [name for name in ("model", "model_config", "train", "dataset") if name not in data]
        if missing:
            raise refuse(f"the field {missing[0]!r} is missing")
        version = data.get("format", FORMAT_VERSION)
        if not _is_int(version) or version != FORMAT_VERSION:
            raise RunError(f"{path} has format {version!r}; this genmodels reads format {FORMAT_VERSION}.")
        if not isinstance(data["model"], str) or not QUALIFIED_NAME_PATTERN.match(data["model"]):
            raise refuse(f"'model' must be a model name, found {data['model']!r}")
        for name in ("model_config", "train", "dataset", "versions"):
            if name in data and not isinstance(data[name], dict):
                raise refuse(f"{name!r} must be an object, found {type(data[name]).__name__}")
        if not all(isinstance(value, str) for value in data.get("versions", {}).values()):
            raise refuse("'versions' must map package names to version strings")
        shape = data["dataset"].get("image_shape")
        if not (isinstance(shape, list) and len(shape) in (2, 3) and all(_is_int(n) and n > 0 for n in shape)):
            raise refuse(f"dataset.image_shape must be [height, width, channels], found {shape!r}")
        if data["dataset"].get("pixels", BINARY) not in PIXELS:
            raise refuse(f"dataset.pixels must be one of {', '.join(PIXELS)}, found {data['dataset'].get('pixels')!r}")
        return cls(**data)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class StoredRun:
    """A run directory's configuration, checked against the registry: its model's spec and configs."""

    spec: ModelSpec
    config: RunConfig
    model_config: ModelConfig
    train_config: TrainConfig


def package_versions(*plugins: str) -> dict[str, str]:
    """Versions of the packages that shape a run's numbers, and of the plugin packages named in `plugins`."""
    versions = {"python": platform.python_version()}
    for package in ("genmodels", "tensorflow", "keras", "numpy", *(name for name in plugins if name)):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for one writer, with the temporary files of a checkpoint that an earlier
    writer never finished removed.

    The lock is an operating-system lock (`fcntl.flock`) on `.lock`, which therefore ends with its process,
    however that process ends: no lock is ever stale. The file holds its owner (process, machine, start) for the
    message that refuses a second writer. A `.lock` that no process holds but that names a live process on this
    machine, or any process on another machine (left by a version that locked by the file alone, or on a
    file system that does not share such locks), is respected too. Where `fcntl` is missing (Windows), the
    lock is the file itself, created complete in one step, and one left by a process that is gone is taken over.
    """
    run_dir = Path(run_dir)
    _refuse_a_file(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    release = _hold_os_lock(path) if fcntl is not None else _hold_file_lock(path)
    try:
        for name in RUN_FILES:  # temporaries of a checkpoint that an earlier writer never finished
            for partial in run_dir.glob(f"{TEMPORARY_PREFIX}*-{name}"):
                partial.unlink(missing_ok=True)
        yield
    finally:
        release()


def _refuse_held(path: Path, owner: dict[str, Any] | None) -> TrainingError:
    who = (
        f"process {owner['pid']} on {owner['host']}, since {owner['started']}"
        if owner
        else "its owner is still writing its name"
    )
    return TrainingError(
        f"{path.parent} is being written by another training ({who}). Wait for it to finish or train into another "
        f"--run-dir; if that process is really gone, delete {path}."
    )


def _hold_os_lock(path: Path):
    """Take the flock on `path` (retrying when the file was replaced while waiting) and return its release."""
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(handle)
            raise _refuse_held(path, _read_owner(path)) from None
        try:
            same = os.fstat(handle).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False  # its holder removed it as we took it: take the new one
        if not same:
            os.close(handle)
            continue
        owner = _read_owner(path)
        mine = owner is not None and owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        if owner is not None and not mine and owner_alive(owner):
            os.close(handle)  # a lock that a live process holds by the file alone
            raise _refuse_held(path, owner)
        os.ftruncate(handle, 0)
        os.write(handle, owner_record().encode())

        def release() -> None:
            path.unlink(missing_ok=True)  # before the flock ends, so that a waiter sees the file gone
            os.close(handle)

        return release


def _hold_file_lock(path: Path):
    """Create `path` already holding its owner (a hard link of a finished file, which fails if `path` exists)."""
    record = path.with_name(f"{TEMPORARY_PREFIX}{os.getpid()}-{time.monotonic_ns()}{LOCK_FILE}")
    record.write_text(owner_record())
    try:
        while True:
            try:
                os.link(record, path)
                break
            except FileExistsError:
                owner = _read_owner(path)
                if owner is None or owner_alive(owner):
                    raise _refuse_held(path, owner) from None
                path.unlink(missing_ok=True)  # its process is gone
    finally:
        record.unlink(missing_ok=True)
    return lambda: path.unlink(missing_ok=True)


def _read_owner(path: Path) -> dict[str, Any] | None:
    """The owner written in the lock at `path`, or None when it is missing, empty or unreadable."""
    try:
        owner = json.loads(path.read_text())
        return {"pid": int(owner["pid"]), "host": str(owner["host"]), "started": str(owner.get("started", "?"))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


DATA_CHANGE_FLAG = "--allow-data-change"


def check_same_data(run_config: RunConfig, dataset, splits: tuple[str, ...], *, allow: bool = False) -> None:
    """A DatasetError, unless `allow`, when the images of `splits` in `dataset` differ from those the run recorded
    when it was trained (runs saved before the record was kept are not checked)."""
    from genmodels.data.dataset import split_digests

    recorded = run_config.dataset.get("splits_sha256") or {}
    now = split_digests(dataset)
    changed = [split for split in splits if split in recorded and recorded[split] != now.get(split)]
    if not changed or allow:
        return
    sizes = []
    for split in changed:
        before = run_config.dataset.get(f"{split}_size")
        after = 0 if getattr(dataset, split) is None else len(getattr(dataset, split))
        sizes.append(f"{split}: {before} images then, {after} now" if before != after else f"{split}: other images")
    raise DatasetError(
        f"The data of this run changed since it was trained ({'; '.join(sizes)}): figures on it could mix training "
        f"and test images. Restore the data or train a new run; {DATA_CHANGE_FLAG} goes on knowingly."
    )


def read_config(run_dir: Path, expected_model: str | None = None) -> RunConfig:
    """Read and check config.json; the error for a missing run says what to run."""
    run_dir = Path(run_dir)
    _refuse_a_file(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        model = expected_model or "MODEL"
        hint = f"genmodels train {model}" + (f" --run-dir {run_dir}" if run_dir != default_run_dir(model) else "")
        raise RunError(f"No trained model in {run_dir} (no {CONFIG_FILE}). Train one first: {hint}")
    config = RunConfig.from_json(_read_json(path), path)
    if expected_model is not None and config.model != expected_model:
        raise RunError(
            f"{run_dir} holds a {config.model!r} model, not {expected_model!r}. "
            f"Use genmodels sample {config.model} --run-dir {run_dir}, or point --run-dir at a {expected_model!r} run."
        )
    return config


def load_run(run_dir: Path, registry: ModelCatalog, expected_model: str | None = None) -> StoredRun:
    """config.json checked against the registry: its model must be registered, and its hyperparameters and
    training recipe must be exactly the fields of that model's config classes, with values of their types."""
    run_dir = Path(run_dir)
    config = read_config(run_dir, expected_model)
    path = run_dir / CONFIG_FILE
    try:
        spec = registry.model(config.model)
    except UnknownNameError:
        known = ", ".join(spec.name for spec in registry.models) or "none"
        raise RunError(
            f"{path} is a run of the model {config.model!r}, which no installed plugin provides (known models: {known})."
        ) from None
    except DuplicateNameError as exc:
        raise RunError(f"{path} is a run of the model {config.model!r}, which cannot be used: {exc}") from None
    try:
        model_config = spec.config.from_dict(config.model_config)
    except ConfigError as exc:
        raise RunError(f"{path}: model_config does not fit the {spec.name!r} model: {exc}") from None
    try:
        train_config = spec.train.from_dict(config.train)
    except ConfigError as exc:
        raise RunError(f"{path}: train is not a training recipe: {exc}") from None
    height, width, channels = config.image_shape
    if model_config.input_dim != height * width * channels:
        raise RunError(
            f"{path}: model_config.input_dim is {model_config.input_dim}, but the images are {height}x{width}x{channels} "
            f"({height * width * channels} values)."
        )
    return StoredRun(spec, config, model_config, train_config)


def load_model(run_dir: Path, registry: ModelCatalog, expected_model: str | None = None):
    """Rebuild a run's model from its config through the registry and load its weights.

    Returns (model, run config). Nothing in the run directory names code: the model is looked up
    by its registered name and built by its plugin; the weights are arrays assigned to its variables.
    """
    from genmodels.runs.weights import load_weights

    run_dir = Path(run_dir)
    stored = load_run(run_dir, registry, expected_model)
    weights = kept_weights(run_dir, stored.train_config)
    if not weights.is_file():
        why = (
            "training stopped before its first epoch ended"
            if not (run_dir / CHECKPOINT_FILE).is_file()
            else f"the file is missing, though {_epochs_text(run_dir)}"
        )
        raise RunError(f"{run_dir} has no {weights.name}: {why}.")
    model = _build(stored, run_dir)
    load_weights(model, weights, architecture(stored.model_config.to_dict()))
    return model, stored.config


def kept_weights(run_dir: Path, train_config: TrainConfig) -> Path:
    """The weights a run keeps for sampling and evaluation: the best epoch's when it keeps the best, else the last."""
    return Path(run_dir) / (BEST_WEIGHTS_FILE if train_config.keep == "best" else WEIGHTS_FILE)


def kept_epoch(run_dir: Path, train_config: TrainConfig) -> int | None:
    """The epoch whose weights `kept_weights` holds (from checkpoint.json), or None when unknown."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    state = _read_json(path)
    key = "best_epoch" if train_config.keep == "best" else "epoch"
    value = state.get(key) if isinstance(state, dict) else None
    return value if _is_int(value) else None


def _build(stored: StoredRun, run_dir: Path):
    try:
        import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly, before a plugin imports Keras)

        model = stored.spec.build(stored.model_config)
    except ConfigError as exc:
        raise RunError(f"{run_dir / CONFIG_FILE}: {exc}") from None
    model.build_for(stored.model_config.input_dim)
    return model


def architecture(values: dict[str, Any]) -> str:
    """A model config's values in one line, for messages: latent_dim=20, input_dim=784, hidden=500,500, ..."""
    shown = {key: ",".join(map(str, value)) if isinstance(value, list) else value for key, value in values.items()}
    return ", ".join(f"{key}={value}" for key, value in shown.items())


def refuse_existing_run(run_dir: Path) -> None:
    """Raise RunError if `run_dir` already holds a run: a fresh training never overwrites one by accident."""
    run_dir = Path(run_dir)
    _refuse_a_file(run_dir)
    present = [name for name in RUN_FILES if (run_dir / name).exists()]
    if not present:
        return
    try:
        what = f"a {read_config(run_dir).model!r} run ({_epochs_text(run_dir)})"
    except GenmodelsError:
        what = f"a run ({', '.join(present)})"
    raise RunError(
        f"{run_dir} already holds {what}. Continue it with --resume, replace it with --force, or train into another --run-dir."
    )


def start_fresh(run_dir: Path, overwrite: bool) -> None:
    """Make way for a new training in `run_dir`: refuse if it holds a run, unless `overwrite`, which removes
    that run's files (checkpoint.json first, so no checkpoint ever outlives its weights)."""
    run_dir = Path(run_dir)
    if not overwrite:
        refuse_existing_run(run_dir)
        return
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for pattern in STALE_FILES:
        for path in run_dir.glob(pattern):
            path.unlink(missing_ok=True)


def _epochs_text(run_dir: Path) -> str:
    try:
        count = len(read_metrics(run_dir))
    except GenmodelsError:
        return "its metrics are unreadable"
    return f"{count} epoch{'' if count == 1 else 's'} finished"


def _refuse_a_file(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} is a file, not a run directory.")


def write_config(run_dir: Path, config: RunConfig) -> Path:
    """Write config.json atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    with atomic_path(path) as partial:
        partial.write_text(_config_text(config))
    return path


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Write metrics.jsonl (one record per epoch) atomically."""
    with atomic_path(Path(run_dir) / METRICS_FILE) as partial:
        partial.write_text(_metrics_text(history))


def save_checkpoint(
    model, run_dir: Path, history: list[dict[str, Any]], config: RunConfig, *, keep_best: bool = False
) -> None:
    """After an epoch and at the end of training: config.json, metrics.jsonl, the weights with the optimizer's
    state, and checkpoint.json (epochs done, random state, the weights' SHA-256), saved as one group. For a
    run that keeps the best epoch (`keep_best`), checkpoint.json records the best epoch so far (`best_epoch`
    of the metrics), and when that is the last one, the same weights go to best.weights.h5 too.

    All four are written to temporary files first; only when all are complete are they renamed into
    place, checkpoint.json last. A failure while writing (a full disk) leaves the previous checkpoint
    and its config exactly as they were, and no temporary file behind.
    """
    run_dir = Path(run_dir)
    with atomic_files() as group:  # renamed in the order written: checkpoint.json last
        group.write(run_dir / CONFIG_FILE, lambda path: path.write_text(_config_text(config)))
        group.write(run_dir / METRICS_FILE, lambda path: path.write_text(_metrics_text(history)))
        weights = group.write(run_dir / WEIGHTS_FILE, model.save_weights)
        state = {
            "epoch": len(history),
            "seed_state": [int(v) for v in model.seed_generator.state.numpy().ravel()],
            "weights_sha256": sha256_of(weights),
        }
        if keep_best and best_epoch(history) is not None:
            state["best_epoch"] = best_epoch(history)
            if state["best_epoch"] == len(history):
                group.write(run_dir / BEST_WEIGHTS_FILE, model.save_weights)
        group.write(run_dir / CHECKPOINT_FILE, lambda path: path.write_text(json.dumps(state) + "\n"))


def best_epoch(history: list[dict[str, Any]]) -> int | None:
    """The epoch (counted from 1) with the lowest validation loss, the first of equals; None before any."""
    losses = [record["valid"]["loss"] for record in history if "loss" in record.get("valid", {})]
    if len(losses) != len(history) or not losses:
        return None
    return int(np.argmin(losses)) + 1


# `still_improving`: the share of the whole fall of the validation loss that its last tenth of epochs made,
# above which a training is judged to have ended too early. A converged run makes well under 1% there.
STILL_FALLING_SHARE = 0.05


def still_improving(history: list[dict[str, Any]]) -> str | None:
    """A sentence when the validation loss was still falling fast at the end of `history`, else None.

    Fast: the last tenth of the epochs (at least two) lowered the best validation loss by more than
    STILL_FALLING_SHARE of its whole fall since the first epoch. Fewer than three epochs are not judged."""
    losses = [record["valid"]["loss"] for record in history if "loss" in record.get("valid", {})]
    if len(losses) < 3 or len(losses) != len(history):
        return None
    window = max(2, math.ceil(len(losses) / 10))
    best, before = min(losses), min(losses[:-window])
    fall = losses[0] - best
    if not (fall > 0 and (before - best) > STILL_FALLING_SHARE * fall):
        return None
    return (
        f"the validation loss was still falling when training ended: {before - best:.4g} nats per image over the last "
        f"{window} epochs, {100 * (before - best) / fall:.0f}% of its fall since epoch 1. More epochs would likely help: "
        f"train with a larger --epochs, or continue this run with --resume --epochs N."
    )


def save_best_weights(model, run_dir: Path) -> None:
    """Rewrite best.weights.h5 from `model` (the best epoch's weights, its prior fitted at the end of training)."""
    with atomic_path(Path(run_dir) / BEST_WEIGHTS_FILE) as partial:
        model.save_weights(partial)


def restore_checkpoint(model, run_dir: Path) -> list[dict[str, Any]]:
    """Restore weights, optimizer and random state into a compiled model; return the finished epochs' metrics."""
    from genmodels.runs.weights import load_weights

    run_dir = Path(run_dir)
    path, weights = run_dir / CHECKPOINT_FILE, run_dir / WEIGHTS_FILE
    if not path.is_file():
        finished = len(read_metrics(run_dir))
        if finished:
            raise RunError(
                f"{run_dir} has no {CHECKPOINT_FILE}, although {METRICS_FILE} records {finished} finished "
                f"epoch{'s' if finished != 1 else ''}: it was deleted or lost, so the state to resume from is "
                f"unknown; restore it, or start again with --force."
            )
        raise RunError(
            f"{run_dir} has no {CHECKPOINT_FILE}: no epoch finished, so there is nothing to resume; start again with --force."
        )
    if not weights.is_file():
        raise RunError(
            f"{run_dir} has a {CHECKPOINT_FILE} but no {WEIGHTS_FILE}, so it cannot be resumed; start again with --force."
        )
    state = _read_json(path)
    seed_state = model.seed_generator.state
    if not (
        isinstance(state, dict)
        and _is_int(state.get("epoch"))
        and state["epoch"] >= 1
        and isinstance(state.get("seed_state"), list)
        and len(state["seed_state"]) == int(np.prod(seed_state.shape))
        and all(_is_int(v) for v in state["seed_state"])
        and isinstance(state.get("weights_sha256", ""), str)
    ):
        raise RunError(f"{path} is not a genmodels checkpoint (expected epoch, seed_state and weights_sha256).")
    done = state["epoch"]
    if state.get("weights_sha256") and sha256_of(weights) != state["weights_sha256"]:
        raise RunError(
            f"{weights} is not the file that {path} describes (its SHA-256 differs): it was replaced or damaged "
            f"after epoch {done} was saved."
        )
    history = read_metrics(run_dir)
    if len(history) < done:
        raise RunError(f"{run_dir / METRICS_FILE} has {len(history)} epochs, but {path} says {done} finished.")
    load_weights(model, weights, _stored_architecture(run_dir))
    try:
        seed_state.assign(
            np.asarray(state["seed_state"], dtype=np.int64).astype(seed_state.dtype).reshape(seed_state.shape)
        )
    except (ValueError, OverflowError) as exc:
        raise RunError(f"{path}: seed_state does not fit the model's random generator ({exc}).") from None
    return history[:done]


def _stored_architecture(run_dir: Path) -> str:
    try:
        return architecture(read_config(run_dir).model_config)
    except GenmodelsError:
        return f"{CONFIG_FILE} unreadable"


def read_evaluation(run_dir: Path, split: str, name: str | None = None) -> dict[str, Any] | None:
    """The figures `genmodels evaluate` wrote for a whole split (or in the file `name` of the run), or None."""
    path = Path(run_dir) / (name or f"evaluation-{split}.json")
    if not path.is_file():
        return None
    figures = _read_json(path)
    if not isinstance(figures, dict) or not isinstance(figures.get("terms", {}), dict):
        raise RunError(f"{path} is not an evaluation written by genmodels evaluate.")
    return figures


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records of metrics.jsonl; a RunError names the file and line of anything else."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise RunError(f"{path}, line {number}, is not valid JSON ({exc}).") from None
        if not _is_metrics_record(record, len(records) + 1):
            raise RunError(
                f"{path}, line {number}, is not the record of epoch {len(records) + 1} (epoch, train and test losses)."
            )
        records.append(record)
    return records


def _is_metrics_record(record: Any, epoch: int) -> bool:
    def losses(value: Any) -> bool:
        return isinstance(value, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
        )

    held_out = (
        record.get("valid", record.get("test")) if isinstance(record, dict) else None
    )  # "test": runs before the validation split
    return (
        isinstance(record, dict) and record.get("epoch") == epoch and losses(record.get("train")) and losses(held_out)
    )


def _config_text(config: RunConfig) -> str:
    return json.dumps(asdict(config), indent=2) + "\n"


def _metrics_text(history: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in history)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path} is not a text file; it is corrupt.") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except (ValueError, RecursionError) as exc:
        raise RunError(f"{path} is not valid JSON ({exc}); it is corrupt or was cut short.") from None
