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

import json
import platform
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from genmodels.core.atomic import atomic_path
from genmodels.core.errors import DatasetError, GenmodelsError, RunError
from genmodels.core.model_spec import QUALIFIED_NAME_PATTERN
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


def package_versions(*plugins: str) -> dict[str, str]:
    """Versions of the packages that shape a run's numbers, and of the plugin packages named in `plugins`."""
    versions = {"python": platform.python_version()}
    for package in ("genmodels", "tensorflow", "keras", "numpy", *(name for name in plugins if name)):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


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


def architecture(values: dict[str, Any]) -> str:
    """A model config's values in one line, for messages: latent_dim=20, input_dim=784, hidden=500,500, ..."""
    shown = {key: ",".join(map(str, value)) if isinstance(value, list) else value for key, value in values.items()}
    return ", ".join(f"{key}={value}" for key, value in shown.items())
