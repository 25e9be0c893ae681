"""What a metric plugin provides and receives: MetricSpec, and the MetricContext its compute function is given. Running
the chosen metrics is genmodels.evaluation.metrics'.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genmodels.core.atomic import atomic_path
from genmodels.core.errors import CacheWarning
from genmodels.core.pixels import BINARY
from genmodels.data.dataset import Dataset, TrainingImages
from genmodels.data.store import features_dir
from genmodels.samplers.fitting import drawn_codings
from genmodels.samplers.sampler import PRIOR

if TYPE_CHECKING:
    from genmodels.evaluation.feature_networks import FeatureNetwork
    from genmodels.nn.model import GenerativeModel
    from genmodels.samplers.sampler import FittedSampler


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
            codings = drawn_codings(fitted, self.samples, self.seed)
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


def _folder_name(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "dataset"
