"""Evaluation metrics beyond the likelihood: what a metric receives (`MetricContext`) and how the metrics
an evaluation names are run (`run_metrics`).

A metric is a plugin (`register_metrics`, `genmodels.specs.MetricSpec`); the built-in ones (fid, prd,
active-units) are registered exactly so. `nll`, the importance-weighted likelihood, is the core
evaluation (`genmodels.evaluation`) and is named in `--metrics` like the others.

Sample metrics share one set of generated images and one feature network per evaluation: the context
draws the samples once, trains (or loads from the cache) the dataset's feature network once, and keeps
the features of real images on disk, keyed by the SHA-256 of those images and of the network's weights.
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from genmodels.core.atomic import atomic_path
from genmodels.core.errors import CacheWarning, ConfigError, GenmodelsError, NotApplicableError
from genmodels.core.pixels import BINARY
from genmodels.data.dataset import Dataset, DatasetSpec, TrainingImages
from genmodels.data.store import features_dir
from genmodels.samplers.fitting import PRIOR

if TYPE_CHECKING:
    from genmodels.evaluation.feature_networks import FeatureNetwork
    from genmodels.nn.model import GenerativeModel
    from genmodels.samplers.fitting import FittedSampler


class MetricCatalog(Protocol):
    """What the metric functions need of a registry (`genmodels.registry.Registry` is one): the registered metric and
    dataset specs (`name in catalog.metrics`, iteration) and each by name."""

    metrics: Any
    datasets: Any

    def metric(self, name: str) -> MetricSpec: ...

    def dataset(self, name: str) -> DatasetSpec: ...


NLL = "nll"  # the core evaluation's importance-weighted likelihood, named beside the plugins' metrics
DEFAULT_METRICS = (NLL, "fid", "prd", "active-units")
DEFAULT_SAMPLES = 10_000
GENERATE_BATCH = 1000


@dataclass
class MetricContext:
    """What a metric is computed from: one trained model and the images it is scored against.

    `images` are the scored split's images as float rows in [0, 1] (`labels` beside them for a conditional
    model); `samples` is how many images sample metrics generate; `seed` makes every draw repeatable.
    `feature_source` is the dataset spec's `features` (None: the network learns the dataset's own
    training images); `log` receives progress lines (a feature network's training epochs). `sampler` gives
    the latent sampler fitted after training that samples draw their codings from (`sampler_name`), called when
    samples are first drawn (None, or a None it returns: the prior). `dataset_argument` is the dataset as the run
    names it, for the command that retrains a refused feature network.
    """

    model: GenerativeModel
    model_name: str
    dataset: Dataset
    split: str
    images: np.ndarray
    labels: np.ndarray | None
    seed: int = 0
    samples: int = DEFAULT_SAMPLES
    feature_source: Callable[[Path], TrainingImages] | None = None
    log: Callable[[str], None] | None = None
    sampler: Callable[[], FittedSampler | None] | None = None
    sampler_name: str = PRIOR
    dataset_argument: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.dataset.image_shape)

    @property
    def pixels(self) -> str:
        return self.dataset.pixels

    def generated(self) -> np.ndarray:
        """`samples` images drawn from the model, float rows in [0, 1], the same for the same seed: codings
        from the sampler (or the prior), decoded; for binary data each pixel is then drawn from its probability, so that the
        samples are 0/1 images as the real ones are; for other data, the decoder's mean."""
        if "generated" not in self._cache:
            import keras

            seed_generator = keras.random.SeedGenerator(self.seed)
            rng = np.random.default_rng(self.seed)
            fitted = None if self.sampler is None else self.sampler()
            codings = None if fitted is None else fitted.sample(self.samples, self.seed)
            batches = []
            for start in range(0, self.samples, GENERATE_BATCH):
                count = min(GENERATE_BATCH, self.samples - start)
                labels = (
                    (np.arange(start, start + count) % self.model.classes).astype(np.int32)
                    if self.model.conditional
                    else None
                )
                if codings is None:
                    means = self.model.generate(count, seed=seed_generator, labels=labels)
                else:
                    means = self.model.decode(codings[start : start + count], labels)
                means = np.asarray(means, dtype=np.float32)
                batches.append(
                    (rng.random(means.shape, dtype=np.float32) < means).astype(np.float32)
                    if self.pixels == BINARY
                    else means
                )
            self._cache["generated"] = np.concatenate(batches)
        return self._cache["generated"]

    def generated_features(self) -> np.ndarray:
        """`features(generated())`, computed once per evaluation for every metric that needs them."""
        if "generated_features" not in self._cache:
            self._cache["generated_features"] = self.features(self.generated())
        return self._cache["generated_features"]

    def real_rows(self, split: str, count: int | None = None) -> np.ndarray:
        """The images of one of the dataset's splits as float rows, or `count` of them drawn without
        replacement from the seed (all of them when the split holds fewer)."""
        size = len(getattr(self.dataset, split))
        if count is None or count >= size:
            return self.dataset.rows(split)
        return self.dataset.rows(split, np.sort(np.random.default_rng(self.seed).choice(size, count, replace=False)))

    def feature_network(self) -> FeatureNetwork:
        """The dataset's feature network (`feature_network_for`), trained on first use and cached in `features_dir()`."""
        if "network" not in self._cache:
            self._cache["network"] = feature_network_for(
                self.dataset, self.feature_source, log=self.log, dataset_argument=self.dataset_argument
            )
        return self._cache["network"]

    def features(self, rows: np.ndarray) -> np.ndarray:
        """The feature network's features of float rows in [0, 1] (generated or real images), (N, D)."""
        return self.feature_network().features(
            np.asarray(rows, dtype=np.float32).reshape((len(rows), *self.image_shape))
        )

    def real_features(self, rows: np.ndarray) -> np.ndarray:
        """`features(rows)` for real images, cached on disk beside the feature network by the SHA-256 of the
        rows and of the network's weights, so a dataset's splits are passed through the network once."""
        network = self.feature_network()
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        digest = hashlib.sha256(f"{rows.shape}".encode() + rows.tobytes()).hexdigest()
        path = features_dir() / network.info["name"] / f"real-{digest[:24]}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as cached:
                    if (
                        str(cached["weights_sha256"]) == network.info["weights_sha256"]
                        and str(cached["rows_sha256"]) == digest
                    ):
                        return cached["features"]
            except Exception:  # an unreadable cache entry is recomputed and replaced
                pass
        features = self.features(rows)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as partial, open(partial, "wb") as handle:
                np.savez(handle, features=features, rows_sha256=digest, weights_sha256=network.info["weights_sha256"])
        except OSError as exc:  # not cached: computed again next time
            warnings.warn(
                f"the real images' features could not be cached in {path.parent} ({exc.strerror or exc}).",
                CacheWarning,
                stacklevel=2,
            )
        return features

    def floor_split(self) -> str:
        """The split whose real images stand in for samples in a metric's floor: another split than the scored one."""
        return "train" if self.split != "train" else "test"


def training_images_for(
    dataset: Dataset, feature_source: Callable[[Path], TrainingImages] | None = None
) -> TrainingImages:
    """The images a dataset's feature network learns: its spec's `features` (read from the data folder), or its
    own training split: labelled by one class per image, a classifier's; else a reference autoencoder's."""
    if feature_source is not None:
        from genmodels.data.store import data_dir

        return feature_source(data_dir())
    labelled = dataset.train_labels is not None and dataset.train_labels.ndim == 1
    tested = "test" if not labelled or (dataset.test_labels is not None and dataset.test_labels.ndim == 1) else "valid"
    images = TrainingImages(
        name="",
        description=f"{dataset.name}: its {len(dataset.train)} training images"
        + (" and their labels" if labelled else ""),
        train=dataset.train,
        train_labels=dataset.train_labels if labelled else None,
        test=getattr(dataset, tested),
        test_labels=getattr(dataset, f"{tested}_labels") if labelled else None,
        pixels=dataset.pixels,
    )
    images.name = f"{_folder_name(dataset.name)}-{images.data_sha256()[:12]}"  # each set of images its own network
    return images


def feature_network_for(
    dataset: Dataset,
    feature_source: Callable[[Path], TrainingImages] | None = None,
    *,
    retrain: bool = False,
    log: Callable[[str], None] | None = None,
    dataset_argument: str | None = None,
) -> FeatureNetwork:
    """The feature network of `dataset` (`training_images_for`), loaded from `features_dir()` or trained and cached there.

    `dataset_argument` is the dataset as a command names it (a registered name, a folder, an .npz path): a cached
    network that is refused then names the command that retrains it, `genmodels features DATASET --retrain`."""
    import shlex

    from genmodels.evaluation.feature_networks import RETRAIN_HINT, FeatureRecipe
    from genmodels.evaluation.feature_cache import cached_network

    images = training_images_for(dataset, feature_source)
    hint = f"genmodels features {shlex.quote(dataset_argument)} --retrain" if dataset_argument else RETRAIN_HINT
    return cached_network(
        features_dir(),
        images,
        FeatureRecipe(binarize=images.binarize),
        retrain=retrain,
        progress=log,
        retrain_hint=hint,
    )


def feature_source_of(train_config, registry: MetricCatalog) -> Callable[[Path], TrainingImages] | None:
    """The `features` of the dataset spec a training recipe (TrainConfig) names; None for a folder or an .npz."""
    if train_config.dataset in registry.datasets:
        return registry.dataset(train_config.dataset).features
    return None


def check_metric_names(names: Sequence[str], registry: MetricCatalog) -> list[str]:
    """`names` without repeats, each `nll` or a registered metric (else an UnknownNameError listing them)."""
    from genmodels.core.errors import UnknownNameError

    chosen = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not chosen:
        raise ConfigError("--metrics names no metric; give a comma-separated list such as nll,fid.")
    for name in chosen:
        if name != NLL and name not in registry.metrics and ":" not in name:
            raise UnknownNameError("metric", name, [NLL, *(spec.name for spec in registry.metrics)])
        if name != NLL:
            registry.metric(name)
    return chosen


def run_metrics(
    names: Sequence[str],
    context: MetricContext,
    registry: MetricCatalog,
    announce: Callable[[str], None] | None = None,
    done: Callable[[dict[str, dict[str, Any]]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each named plugin metric's figures (`nll` is the core evaluation's and is left out), with the seed and
    the seconds it took; a metric that does not apply gives {"skipped": reason}. Metrics run in the order given,
    and `done` receives the figures so far after each one (to save them before a later metric can fail)."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == NLL:
            continue
        spec = registry.metric(name)
        if announce:
            announce(f"Computing {name}: {spec.description}")
        started = time.perf_counter()
        try:
            figures = dict(spec.compute(context))
        except NotApplicableError as exc:
            results[name] = {"skipped": str(exc)}
            continue
        except GenmodelsError:
            raise
        except Exception as exc:  # a plugin's bug is reported as its own, not as genmodels'
            raise GenmodelsError(f"the metric {name!r} ({spec.plugin}) failed: {type(exc).__name__}: {exc}") from exc
        results[name] = {**figures, "seed": context.seed, "seconds": round(time.perf_counter() - started, 2)}
        if done is not None:
            done(dict(results))
    return results


def summary_rows(name: str, figures: dict[str, Any], registry: MetricCatalog) -> list[tuple[str, str]]:
    """The (label, value) rows evaluate prints for a metric's figures."""
    if "skipped" in figures:
        return [(f"{name}", f"not computed: {figures['skipped']}")]
    spec = registry.metric(name)
    if spec.summary is not None:
        return list(spec.summary(figures))
    return [
        (f"{name} {key}", f"{value:.4g}" if isinstance(value, float) else str(value))
        for key, value in figures.items()
        if isinstance(value, (int, float)) and key not in ("seed", "seconds")
    ]


def _folder_name(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "dataset"


@dataclass(frozen=True)
class MetricSpec:
    """A named evaluation metric (`genmodels evaluate MODEL --metrics NAME,...`).

    `compute(context)` receives a `genmodels.metrics.MetricContext` (the trained model, the scored split,
    the seed, the number of samples to draw, and shared helpers: generated samples, feature networks,
    cached real-data features) and returns its figures as a JSON-ready dict of numbers, strings and
    lists; evaluate adds the seed and the seconds taken and writes them to evaluation-SPLIT.json under
    the metric's name. Raise `genmodels.errors.NotApplicableError` when the metric does not apply to the
    model (the reason is recorded and the other metrics go on). `summary(figures)`, if given, returns the
    (label, value) rows evaluate prints; else every number is printed.
    """

    name: str
    description: str
    compute: Callable[[MetricContext], dict[str, Any]]
    summary: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None
    plugin: str = ""
    package: str = ""
