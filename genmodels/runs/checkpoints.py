"""Checkpoints: the last complete epoch and its random state, the best epoch's weights, and which weights a run keeps."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from genmodels.core.atomic import atomic_files, atomic_path
from genmodels.core.train_config import TrainConfig
from genmodels.data.store import sha256_of
from genmodels.core.errors import GenmodelsError, RunError
from genmodels.runs.format import (
    architecture,
    BEST_WEIGHTS_FILE,
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_FILE,
    RunConfig,
    WEIGHTS_FILE,
    _config_text,
    _is_int,
    _metrics_text,
    _read_json,
    read_config,
    read_metrics,
)


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
