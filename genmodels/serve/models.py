"""Each run's model, loaded once through the Python API (`genmodels.api.load`) and kept in a bounded cache, with what
the run page draws from it: samples, reconstructions, interpolations, decoded codings and 2-D manifolds.

Loading happens on first use, under a lock per run so that concurrent requests load it once; a run that fails to
load keeps its one-line error (until its files change). Model calls of one run are serialised by its own lock.
Nothing here writes into a run directory: samples come from the model's prior, never from a sampler fitted (and
saved) on demand.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path
from statistics import NormalDist
from typing import Any, Callable

import numpy as np

from genmodels.core.errors import ConfigError, GenmodelsError
from genmodels.runs.format import CHECKPOINT_FILE, CONFIG_FILE
from genmodels.samplers.sampler import PRIOR

MAX_SAMPLES = 100
MAX_PICKS = 20
MAX_STEPS = 20
MAX_SIDE = 30
SLIDERS = 10  # latent dimensions given a slider: the most active ones
ACTIVITY_IMAGES = 500  # test images whose codings rank the dimensions by activity
CODING_LIMIT = 10.0  # a slider's coding value is clipped to +-this


class LoadedRun:
    """A run whose model loaded: the API's `Run`, its test images (read on first use) and a lock for model calls."""

    def __init__(self, run):
        self.run = run
        self.lock = threading.Lock()
        self._data_lock = threading.Lock()
        self._data = None
        self._data_error: str | None = None
        self._order: list[int] | None = None

    # -- what the page needs to know -------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        run = self.run
        test = self.test_images()
        return {
            "latent_dim": run.latent_dim,
            "image_shape": list(run.image_shape),
            "conditional": bool(run.model.conditional),
            "classes": int(run.model.classes) if run.model.conditional else None,
            "test_images": None if test is None else len(test),
            "data_error": self._data_error,
            "sliders": self.slider_dims(),
        }

    def test_images(self):
        """The run's test images (as stored), or None with `_data_error` saying why they cannot be read."""
        with self._data_lock:
            if self._data is None and self._data_error is None:
                try:
                    self._data = self.run.dataset()
                except GenmodelsError as exc:
                    self._data_error = f"the run's test images cannot be read: {one_line(str(exc))}"
                except OSError as exc:
                    self._data_error = f"the run's test images cannot be read: {exc}"
        return None if self._data is None else self._data.test

    def test_labels(self, indices: list[int]):
        if not self.run.model.conditional:
            return None
        labels = getattr(self._data, "test_labels", None)
        if labels is None:
            raise ConfigError("this conditional model needs test labels, and the run's data has none.")
        return np.asarray(labels)[indices]

    def slider_dims(self) -> list[int]:
        """The SLIDERS latent dimensions whose mean codings vary most over the test images (the most active ones),
        most active first; the first SLIDERS when the test images cannot be read."""
        if self._order is None:
            dims = self.run.latent_dim
            test = self.test_images()
            order = list(range(dims))
            if test is not None and dims > SLIDERS:
                picks = list(range(min(ACTIVITY_IMAGES, len(test))))
                with self.lock:
                    codings = self.run.encode(test[picks], self.test_labels(picks))
                order = [int(i) for i in np.argsort(-codings.var(axis=0), kind="stable")]
            self._order = order[:SLIDERS]
        return self._order

    # -- pictures ----------------------------------------------------------------------------------------------
    def sample(self, n: int, seed: int, label: int | None) -> np.ndarray:
        n = bounded("n", n, 1, MAX_SAMPLES)
        labels = None if label is None else np.full(n, self.label(label))
        with self.lock:
            return self.run.sample(n, seed=seed, labels=labels, sampler=PRIOR)

    def reconstruct(self, indices: list[int]) -> np.ndarray:
        """The chosen test images, then their reconstructions (two rows of the grid)."""
        images, labels = self.picked(indices)
        with self.lock:
            rebuilt = self.run.reconstruct(images, labels)
        return np.concatenate([unit_images(images, self.run.image_shape, self.run.pixels), rebuilt])

    def interpolate(self, first: int, second: int, steps: int) -> np.ndarray:
        """Decoded codings on the straight line between those of two test images (both ends included); a
        conditional model decodes the whole path with the first image's label."""
        steps = bounded("steps", steps, 2, MAX_STEPS)
        images, labels = self.picked([first, second])
        with self.lock:
            codings = self.run.encode(images, labels)
            weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
            path = (1 - weights) * codings[0] + weights * codings[1]
            return self.run.decode(path, None if labels is None else np.full(steps, labels[0]))

    def decode(self, coding: list[float], label: int | None) -> np.ndarray:
        if len(coding) != self.run.latent_dim:
            raise ConfigError(
                f"give {self.run.latent_dim} coding values, one per latent dimension; received {len(coding)}."
            )
        z = np.clip(np.nan_to_num(np.asarray([coding], dtype=np.float32)), -CODING_LIMIT, CODING_LIMIT)
        with self.lock:
            return self.run.decode(z, self.labels_of(label, 1))

    def manifold(self, side: int, label: int | None) -> np.ndarray:
        """2-D codings only: a side x side grid at evenly spaced quantiles of N(0, 1), decoded."""
        if self.run.latent_dim != 2:
            raise ConfigError(f"the manifold grid is for 2-D codings; this model's are {self.run.latent_dim}-D.")
        side = bounded("side", side, 2, MAX_SIDE)
        values = [NormalDist().inv_cdf(q) for q in np.linspace(0.5 / side, 1 - 0.5 / side, side)]
        grid_x, grid_y = np.meshgrid(values, values[::-1])
        codings = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
        with self.lock:
            return self.run.decode(codings, self.labels_of(label, len(codings)))

    # -- checks ------------------------------------------------------------------------------------------------
    def picked(self, indices: list[int]):
        if not 1 <= len(indices) <= MAX_PICKS:
            raise ConfigError(f"pick from 1 to {MAX_PICKS} test images; received {len(indices)}.")
        test = self.test_images()
        if test is None:
            raise ConfigError(self._data_error or "the run's test images cannot be read.")
        for index in indices:
            bounded("a test image index", index, 0, len(test) - 1)
        return test[indices], self.test_labels(indices)

    def label(self, label: int) -> int:
        if not self.run.model.conditional:
            raise ConfigError(f"labels are for conditional models; {self.run.name} is not conditional.")
        return bounded("label", label, 0, int(self.run.model.classes) - 1)

    def labels_of(self, label: int | None, count: int):
        if not self.run.model.conditional:
            return None
        return np.full(count, self.label(0 if label is None else label))


class ModelCache:
    """Runs' models by directory, at most `capacity` of them (the least recently used goes first). `load` is
    `genmodels.api.load` unless a test gives another; a failure is kept as its one-line message."""

    def __init__(self, capacity: int = 4, load: Callable[[Path], Any] | None = None):
        self.capacity = max(1, capacity)
        self._load = load
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, LoadedRun | str] = OrderedDict()
        self._loading: dict[tuple, threading.Lock] = {}
        self.loads = 0  # how many times a model was loaded (for tests)

    def get(self, run_dir: Path) -> LoadedRun:
        """The loaded run, or a LoadFailed with its one-line error."""
        key = (str(run_dir), stamp(run_dir))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return unwrap(self._entries[key])
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._entries.get(key)
            if entry is None:
                entry = self._load_entry(run_dir)
                with self._lock:
                    self._entries[key] = entry
                    self._loading.pop(key, None)
                    while len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
        return unwrap(entry)

    def _load_entry(self, run_dir: Path) -> LoadedRun | str:
        self.loads += 1
        try:
            if self._load is None:
                from genmodels.api import load

                return LoadedRun(load(run_dir))
            return LoadedRun(self._load(run_dir))
        except GenmodelsError as exc:
            return one_line(str(exc))
        except Exception as exc:  # a model that cannot be rebuilt: shown on its page, the server goes on
            return one_line(f"{type(exc).__name__}: {exc}")


class LoadFailed(GenmodelsError):
    """A run whose model could not be loaded; the message is the load's one-line error."""


def unwrap(entry: LoadedRun | str) -> LoadedRun:
    if isinstance(entry, str):
        raise LoadFailed(entry)
    return entry


def stamp(run_dir: Path) -> tuple:
    """When the files that decide the model last changed: a retrained run is loaded again."""
    times = []
    for name in (CONFIG_FILE, CHECKPOINT_FILE):
        try:
            times.append((Path(run_dir) / name).stat().st_mtime_ns)
        except OSError:
            times.append(None)
    return tuple(times)


def unit_images(images: np.ndarray, shape, pixels: str) -> np.ndarray:
    """Stored images (levels, 0/1 or floats; flat or shaped) as float32 (N, H, W, C) in [0, 1], as the API reads them."""
    from genmodels.core.pixels import EIGHT_BIT, BINARY
    from genmodels.data.arrays import as_images, to_unit

    array = np.asarray(images)
    shaped, kind = as_images(array, "images", tuple(shape))
    if pixels == EIGHT_BIT and kind == BINARY and array.dtype.kind in "iu":
        kind = EIGHT_BIT
    return np.asarray(to_unit(shaped, kind), dtype=np.float32).reshape(-1, *shape)


def bounded(what: str, value: int, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{what} must be a whole number from {low} to {high}; received {value!r}.")
    return value


def finite(values: list[float]) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise ConfigError("coding values must be finite numbers.")
    return values


def one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())
