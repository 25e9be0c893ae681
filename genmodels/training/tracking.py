"""Training events for trackers: the `Tracker` class that plugins subclass, and the trainer's side of calling them.

A training names its trackers in its `track` option (`--track tensorboard`); a plugin registers each
with the `register_trackers` hook as a `TrackerSpec`, whose `create()` returns a new `Tracker` for
one training. No TensorFlow here: a tracker imports what it needs inside its methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol


if TYPE_CHECKING:
    from genmodels.runs.format import RunConfig


class TrackerCatalog(Protocol):
    """What `Trackers.create` needs of a registry: the spec of a tracker by name."""

    def tracker(self, name: str) -> TrackerSpec: ...


class TrackerWarning(UserWarning):
    """A tracker failed to close while the training was already stopping with an error of its own."""


class Tracker:
    """Receives the events of one training; every method does nothing unless overridden.

    The trainer calls, in this order: `start` once, `epoch_end` after each epoch, `finish` once when the
    training ends normally, and `close` always, also after an error (in `start`, in an epoch, in another
    tracker). An exception a tracker raises from `start`, `epoch_end` or `finish` stops the training like
    any other error: the epochs already checkpointed stay, and `--resume` continues from them. The
    arguments are copies: changing them changes nothing in the run.
    """

    def start(self, run_dir: Path, run_config: RunConfig, history: list[dict[str, Any]]) -> None:
        """Once, before the first epoch runs, with the run's config.json already written. `history` holds
        the records of the epochs already done: empty for a new run, the finished epochs on `--resume`."""

    def epoch_end(self, epoch: int, record: dict[str, Any], model: Any) -> None:
        """After each epoch, once its record and checkpoint are saved. `record` is its line of metrics.jsonl
        ({"epoch", "train": {term: value}, "valid": {term: value}, "seconds", ...}); `model` is the
        training's `genmodels.GenerativeModel`, to draw samples from (`model.generate(n, seed=...)` draws
        from its own seed and leaves the training's random state as it was). Do not train or change it."""

    def finish(self, history: list[dict[str, Any]], kept_epoch: int) -> None:
        """Once, when the training ended normally and the run directory is complete: every epoch's record,
        and the epoch whose weights the run keeps (the last, or the best with `keep=best`)."""

    def close(self) -> None:
        """Always last, whether the training finished, failed or was interrupted: release files and connections."""


@dataclass(frozen=True)
class TrackerSpec:
    """A named tracker, which receives training events (`genmodels.tracking.Tracker`): `create()` returns a new
    Tracker for one training, named in its `track` option.

    `create` is called when training starts, before anything is written to the run directory: raise a
    `genmodels.errors.ConfigError` there when an optional dependency is missing. Import heavy packages
    inside `create` or the tracker's methods, so that `genmodels list` stays instant.
    """

    name: str
    description: str
    create: Callable[[], Tracker]
    plugin: str = ""
    package: str = ""
