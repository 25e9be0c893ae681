"""The run folders below a root, found by their config.json and read without TensorFlow: one summary per run for the
runs table, and the safe resolution of a relative path (from a URL) to a run directory inside the root."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genmodels.core.errors import GenmodelsError, RunError
from genmodels.plugins.loader import get_registry
from genmodels.runs.checkpoints import kept_epoch
from genmodels.runs.format import CONFIG_FILE, read_evaluation, read_metrics
from genmodels.runs.loading import load_run


class OutsideRunsError(RunError):
    """A path that leads outside the runs folder (through `..`, an absolute path or a symbolic link)."""


class NotARunError(RunError):
    """A path inside the runs folder that holds no run (no config.json)."""


def find_runs(root: Path) -> list[Path]:
    """Every run directory (a folder holding config.json) below `root`, `root` itself included, sorted; hidden
    folders and symbolic links are not followed."""
    root = Path(root)
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        if CONFIG_FILE in files:
            found.append(Path(folder))
    return sorted(found)


def resolve_run(root: Path, relative: str) -> Path:
    """The run directory that `relative` (a path from a URL) names inside `root`, symbolic links and `..` resolved.
    OutsideRunsError when it leads outside `root`, NotARunError when it holds no config.json."""
    root = Path(root).resolve()
    if "\x00" in relative or "\\" in relative or relative.startswith("/") or Path(relative).is_absolute():
        raise OutsideRunsError(f"{relative!r} is not a path inside the runs folder.")
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise OutsideRunsError(f"{relative!r} leads outside the runs folder; only runs below it are shown.")
    if not (candidate / CONFIG_FILE).is_file():
        raise NotARunError(f"{relative!r} is not a run: it holds no {CONFIG_FILE}.")
    return candidate


def relative_name(root: Path, run_dir: Path) -> str:
    """How URLs name `run_dir`: its path below `root`, with forward slashes ('.' for the root itself)."""
    return Path(run_dir).resolve().relative_to(Path(root).resolve()).as_posix()


def summary(root: Path, run_dir: Path) -> dict[str, Any]:
    """What the runs table shows of one run: model, dataset, kept epoch, test figures (when evaluated), training
    time and the validation-loss curve; a run whose files cannot be read gets its one-line `error` instead."""
    row: dict[str, Any] = {"path": relative_name(root, run_dir), "error": None}
    try:
        stored = load_run(run_dir, get_registry())
        config = stored.config
        row.update(model=config.model, dataset=str(config.dataset.get("name", config.train.get("dataset", "?"))))
        row["image_shape"] = list(config.image_shape)
        row["pixels"] = config.pixels
        row["latent_dim"] = config.model_config.get("latent_dim")
        history = read_metrics(run_dir)
        row["epochs"] = len(history)
        row["kept_epoch"] = kept_epoch(run_dir, stored.train_config)
        row["train_seconds"] = round(sum(float(record.get("seconds", 0.0)) for record in history), 1)
        row["valid_loss"] = [held_out(record).get("loss") for record in history]
        figures = read_evaluation(run_dir, "test") or {}
        fid = figures.get("metrics", {}).get("fid", {})
        row.update(
            nll=figures.get("nll"),
            bits_per_dim=figures.get("bits_per_dim"),
            fid=fid.get("fid"),
            fid_floor=fid.get("floor"),
        )
    except GenmodelsError as exc:
        row["error"] = one_line(str(exc))
    return row


def run_details(root: Path, run_dir: Path) -> dict[str, Any]:
    """What a run page shows before any model is loaded: the summary, config.json as written and every loss term
    of every epoch (train and validation)."""
    details = summary(root, run_dir)
    try:
        details["config"] = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        details["config"] = None
        details["error"] = details["error"] or one_line(f"{run_dir / CONFIG_FILE}: {exc}")
    try:
        history = read_metrics(run_dir)
    except GenmodelsError:
        history = []
    curves: dict[str, list] = {}
    for record in history:
        for split, losses in (("train", record.get("train", {})), ("valid", held_out(record))):
            for term, value in losses.items():
                curves.setdefault(f"{split} {term}", []).append(value)
    details["curves"] = curves
    return details


def held_out(record: dict[str, Any]) -> dict[str, Any]:
    """An epoch's validation losses ("test" in runs older than the validation split)."""
    return record.get("valid", record.get("test", {}))


def one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())
