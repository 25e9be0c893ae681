"""The trackers of one training, called in order: what the trainer runs; the contract a tracker implements is
genmodels.training.tracking's.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genmodels.core.errors import ConfigError, PluginError

if TYPE_CHECKING:
    from genmodels.runs.format import RunConfig
from genmodels.training.tracking import Tracker, TrackerCatalog, TrackerWarning


class Trackers:
    """The trackers of one training, each event passed to each in the order named. Use it as a context
    manager: leaving it closes every tracker."""

    def __init__(self, trackers: Iterable[Tracker] = ()):
        self.trackers = list(trackers)

    @classmethod
    def create(cls, names: Iterable[str], registry: TrackerCatalog | None = None) -> Trackers:
        """The trackers called `names`, looked up in `registry` (`genmodels.plugins.get_registry()` or any object
        with a `tracker(name)` method) and created; no names need no registry.

        An unregistered name raises UnknownNameError before any tracker is created; a tracker whose
        `create` raises (a ConfigError for a missing optional dependency) closes those created before it.
        """
        names = list(names)
        if not names:
            return cls()
        if registry is None:
            raise ConfigError(
                f"trackers {', '.join(names)} were asked for, but no registry to look them up in was given."
            )
        specs = [registry.tracker(name) for name in names]
        created = cls()
        try:
            for spec in specs:
                tracker = spec.create()
                if not isinstance(tracker, Tracker):
                    raise PluginError(
                        f"the tracker {spec.name!r} of plugin {spec.plugin!r} created {tracker!r}, not a genmodels.tracking.Tracker."
                    )
                created.trackers.append(tracker)
        except BaseException:
            created.close(quiet=True)
            raise
        return created

    def start(self, run_dir: Path, run_config: RunConfig, history: list[dict[str, Any]]) -> None:
        for tracker in self.trackers:
            tracker.start(Path(run_dir), copy.deepcopy(run_config), copy.deepcopy(history))

    def epoch_end(self, epoch: int, record: dict[str, Any], model: Any) -> None:
        for tracker in self.trackers:
            tracker.epoch_end(epoch, copy.deepcopy(record), model)

    def finish(self, history: list[dict[str, Any]], kept_epoch: int) -> None:
        for tracker in self.trackers:
            tracker.finish(copy.deepcopy(history), kept_epoch)

    def close(self, quiet: bool = False) -> None:
        """Close every tracker, even when one's close raises. The first such error is raised once all are
        closed, or with `quiet` (when another error is already on its way) issued as a TrackerWarning."""
        first = None
        for tracker in self.trackers:
            try:
                tracker.close()
            except Exception as exc:
                if quiet:
                    warnings.warn(
                        f"tracker {type(tracker).__name__} failed to close: {type(exc).__name__}: {exc}",
                        TrackerWarning,
                        stacklevel=2,
                    )
                elif first is None:
                    first = exc
        self.trackers = []
        if first is not None:
            raise first

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(quiet=error is not None)
