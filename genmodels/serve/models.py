"""Each run's model, loaded once through the Python API (`genmodels.api.load`) and kept in a bounded cache, with what
the run page draws from it: samples, reconstructions, interpolations, decoded codings and 2-D manifolds.

Loading happens on first use, under a lock per run so that concurrent requests load it once; a run that fails to
load keeps its one-line error (until its files change). Model calls of one run are serialised by its own lock.
Nothing here writes into a run directory: samples draw their codings from the latent sampler the run keeps for its
weights (`genmodels.samplers.fitting.stored_sampler`, read only), or from the model's prior when it keeps none;
a sampler is never fitted here.
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
from genmodels.samplers.fitting import SAMPLER_FILE
from genmodels.samplers.sampler import PRIOR

MAX_SAMPLES = 100
MAX_PICKS = 20
MAX_STEPS = 20
MAX_SIDE = 30
SLIDERS = 10  # latent dimensions given a slider: the most active ones
ACTIVITY_IMAGES = 500  # test images whose codings rank the dimensions
CODING_LIMIT = 10.0  # a slider's coding value is clipped to +-this
BY_KL = "kl"  # sliders ranked by the average KL(q(z_d|x) || N(0, 1)) of each dimension
BY_VARIANCE = "variance"  # ... or, when that has no closed form, by the variance of the posterior means


class LoadedRun:
    """A run whose model loaded: the API's `Run`, its test images (read on first use), the latent sampler it keeps
    (read again when its files change) and a lock for model calls.

    `data_folders`: where else a relative dataset path in the run's config is looked for when it does not resolve
    from the current folder (the runs folder and the folder above it); only paths inside the last of them."""

    def __init__(self, run, data_folders: tuple[Path, ...] = ()):
        self.run = run
        self.lock = threading.Lock()
        self.data_folders = tuple(Path(folder).resolve() for folder in data_folders)
        self._data_lock = threading.Lock()
        self._data = None
        self._data_error: str | None = None
        self._data_note: str | None = None
        self._ranking: dict[str, Any] | None = None
        self._sampler_lock = threading.Lock()
        self._sampler_key: tuple | None = None
        self._sampler: tuple[Any, dict[str, Any]] = (None, {})

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
            "examples": [] if test is None else evenly_spread(10, len(test)),  # the test images shown first
            "data_error": self._data_error,
            "data_note": self._data_note,
            "sliders": self.slider_dims(),
            "ranking": {key: value for key, value in self.slider_ranking().items() if key != "order"},
            "sampler": self.drawing_sampler()[1],
        }

    def test_images(self):
        """The run's test images (as stored), or None with `_data_error` saying why they cannot be read. A dataset
        the run's config names by a relative path that is not found from the current folder is looked for in
        `data_folders` too."""
        with self._data_lock:
            if self._data is None and self._data_error is None:
                try:
                    self._data = self.run.dataset()
                except (GenmodelsError, OSError) as exc:
                    reason = one_line(str(exc)) if isinstance(exc, GenmodelsError) else str(exc)
                    self._data = self._dataset_elsewhere()
                    if self._data is None:
                        self._data_error = f"the run's test images cannot be read: {reason}"
        return None if self._data is None else self._data.test

    def _dataset_elsewhere(self):
        """The run's dataset read from a relative path taken from one of `data_folders`; None when none holds it."""
        from genmodels.plugins.loader import get_registry
        from genmodels.workflows import run_dataset

        named = str(self.run.train_config.dataset or "")
        registry = get_registry()
        if not named or Path(named).is_absolute() or named in registry.datasets or not self.data_folders:
            return None
        bound = self.data_folders[-1]
        for folder in self.data_folders:
            candidate = (folder / named).resolve()
            if (candidate != bound and bound not in candidate.parents) or not candidate.exists():
                continue
            try:
                data = run_dataset(registry, self.run.train_config.replace(dataset=str(candidate)))
            except (GenmodelsError, OSError):
                continue
            self._data_note = f"the run's dataset {named} was read from {candidate}"
            return data
        return None

    def test_labels(self, indices: list[int]):
        if not self.run.model.conditional:
            return None
        labels = getattr(self._data, "test_labels", None)
        if labels is None:
            raise ConfigError("this conditional model needs test labels, and the run's data has none.")
        return np.asarray(labels)[indices]

    def slider_dims(self) -> list[int]:
        """The latent dimensions given a slider: at most SLIDERS, most informative first (`slider_ranking`)."""
        return self.slider_ranking()["order"][:SLIDERS]

    def slider_ranking(self) -> dict[str, Any]:
        """Every latent dimension ranked over ACTIVITY_IMAGES test images spread evenly over the test set (a test set
        sorted by class gives every class its share), highest score first: `by` BY_KL
        (the average KL(q(z_d|x) || N(0, 1)), when the posterior is a diagonal Gaussian and the prior the standard
        normal) or BY_VARIANCE (the variance of the posterior means, for any other model); `scores` in that order.
        `by` None, in index order, when the test images cannot be read."""
        if self._ranking is None:
            dims = self.run.latent_dim
            test = self.test_images()
            ranking: dict[str, Any] = {"by": None, "order": list(range(dims)), "scores": None, "images": 0}
            if test is not None and len(test):
                picks = evenly_spread(ACTIVITY_IMAGES, len(test))
                images, labels = test[picks], self.test_labels(picks)
                with self.lock:
                    scores, by = None, BY_KL
                    if standard_normal_prior(self.run.model):
                        scores = average_kl(self.run.model, self.rows(images), labels)
                    if scores is None:
                        scores, by = self.run.encode(images, labels).var(axis=0), BY_VARIANCE
                scores = np.where(np.isfinite(scores), scores, -np.inf)  # a diverged dimension ranks last
                order = [int(i) for i in np.argsort(-scores, kind="stable")]
                shown = [float(scores[i]) if math.isfinite(scores[i]) else None for i in order]  # JSON has no inf
                ranking = {"by": by, "order": order, "scores": shown, "images": len(picks)}
            self._ranking = ranking
        return self._ranking

    def rows(self, images: np.ndarray) -> np.ndarray:
        """Stored images as the model's float32 rows in [0, 1]."""
        return unit_images(images, self.run.image_shape, self.run.pixels).reshape(len(images), -1)

    # -- the latent sampler ------------------------------------------------------------------------------------
    def drawing_sampler(self) -> tuple[Any, dict[str, Any]]:
        """The fitted sampler that samples draw from (None: the prior) and what the page says of it: `name` (the
        model's sampler), `drawn_from` (that name, or "prior") and a one-line `note`. Read again, never fitted,
        when the run's sampler files or its weights change."""
        from genmodels.runs.checkpoints import kept_weights

        run_dir, name = Path(self.run.run_dir), str(getattr(self.run.spec, "sampler", PRIOR) or PRIOR)
        weights = kept_weights(run_dir, self.run.train_config)
        files = sorted(run_dir.glob(SAMPLER_FILE.format(name="*")))
        key = (name, file_stamp(weights), *((path.name, file_stamp(path)) for path in files))
        with self._sampler_lock:
            if key != self._sampler_key:
                self._sampler = self._read_sampler(name, run_dir, weights)
                self._sampler_key = key
            return self._sampler

    def _read_sampler(self, name: str, run_dir: Path, weights: Path) -> tuple[Any, dict[str, Any]]:
        if name == PRIOR:
            return None, {"name": PRIOR, "drawn_from": PRIOR, "note": "drawn from the model's prior, its own sampler"}
        from genmodels.plugins.loader import get_registry
        from genmodels.samplers.fitting import stored_sampler

        try:
            sampler = stored_sampler(name, get_registry(), run_dir, weights)
        except GenmodelsError as exc:
            note = f"drawn from the prior: this run's {name} sampler cannot be read ({one_line(str(exc))})"
            return None, {"name": name, "drawn_from": PRIOR, "note": note}
        if sampler is None:
            note = (
                f"drawn from the prior: this run keeps no fitted {name} sampler for its weights "
                f"(genmodels fit-sampler {self.run.name} --run-dir {run_dir} fits one)"
            )
            return None, {"name": name, "drawn_from": PRIOR, "note": note}
        facts = ", ".join(f"{key} {value}" for key, value in sampler.info().items())
        note = f"drawn from the {name} sampler fitted after training{f' ({facts})' if facts else ''}"
        return sampler, {"name": name, "drawn_from": name, "note": note}

    # -- pictures ----------------------------------------------------------------------------------------------
    def sample(self, n: int, seed: int, label: int | None, prior: bool = False) -> np.ndarray:
        """`n` images decoded from codings drawn with `seed` from the run's fitted sampler (from the prior when it
        keeps none, or with `prior`)."""
        from genmodels.nn.model import generate_in_chunks
        from genmodels.samplers.fitting import drawn_codings

        n = bounded("n", n, 1, MAX_SAMPLES)
        labels = None if label is None else np.full(n, self.label(label))
        sampler = None if prior else self.drawing_sampler()[0]
        with self.lock:
            codings = drawn_codings(sampler, n, seed)
            images = generate_in_chunks(self.run.model, n, seed=seed, labels=labels, codings=codings)
        return np.asarray(images, dtype=np.float32).reshape(-1, *self.run.image_shape)

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

    def __init__(
        self, capacity: int = 4, load: Callable[[Path], Any] | None = None, data_folders: tuple[Path, ...] = ()
    ):
        self.capacity = max(1, capacity)
        self._load = load
        self.data_folders = tuple(data_folders)  # where else a run's relative dataset path is looked for
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

                return LoadedRun(load(run_dir), self.data_folders)
            return LoadedRun(self._load(run_dir), self.data_folders)
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


def evenly_spread(count: int, total: int) -> list[int]:
    """`count` indices spread evenly over range(total), from 0 (all of them when there are no more)."""
    return [i * total // count for i in range(count)] if total > count else list(range(total))


def average_kl(model, rows: np.ndarray, labels, batch: int = 100) -> np.ndarray | None:
    """Each latent dimension's KL(q(z_d|x) || N(0, 1)) averaged over the images `rows` (given their labels, for a
    conditional model), when the encoder's posterior is a diagonal Gaussian over the whole coding and the prior is
    the standard normal; None for any other model (a flow posterior, a fitted or mixture prior, codings of maps)."""
    from genmodels.nn.distributions import DiagonalGaussian
    from genmodels.nn.model import call_part

    if not standard_normal_prior(model):
        return None
    total = None
    for start in range(0, len(rows), batch):
        part_labels = None if labels is None else labels[start : start + batch]
        posterior = call_part(model.encoder, rows[start : start + batch], model.condition_of(part_labels), False)
        if not isinstance(posterior, DiagonalGaussian):
            return None
        mean = np.asarray(posterior.loc, dtype=np.float64)
        log_var = np.asarray(posterior.log_var, dtype=np.float64)
        if mean.ndim != 2 or mean.shape[1] != model.coding_dim:
            return None
        kl = 0.5 * (np.exp(log_var) + mean**2 - 1.0 - log_var)
        total = kl.sum(axis=0) if total is None else total + kl.sum(axis=0)
    return None if total is None else total / len(rows)


def standard_normal_prior(model) -> bool:
    """Whether the model's prior is N(0, I) (not fitted, not a mixture)."""
    from genmodels.nn.priors import StandardNormalPrior

    return isinstance(getattr(model, "prior", None), StandardNormalPrior)


def file_stamp(path: Path) -> tuple | None:
    """When and how large a file last was (None when it is missing): what tells that it changed."""
    try:
        status = Path(path).stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


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
