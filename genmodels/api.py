"""The Python API: train, load and use runs from a notebook or a program, NumPy arrays in and out.

    import genmodels
    run = genmodels.train("vae", dataset="binarized-mnist", epochs=5, run_dir="runs/vae-5")
    run = genmodels.load("runs/vae-5")
    images = run.sample(60, seed=0)          # (60, 28, 28, 1) floats in [0, 1]

Everything here is what the command line does, through the same functions: the same run
directories, figures and errors (the named exceptions of `genmodels.errors`).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from genmodels.core.errors import ConfigError, DatasetError
from genmodels.core.model_config import ModelConfig
from genmodels.core.model_spec import ModelSpec
from genmodels.core.pixels import BINARY, EIGHT_BIT
from genmodels.core.train_config import TrainConfig
from genmodels.data.arrays import as_images, to_unit
from genmodels.data.dataset import Dataset, DatasetSpec
from genmodels.plugins.loader import get_registry
from genmodels.runs.checkpoints import kept_epoch
from genmodels.runs.format import RunConfig, read_metrics
from genmodels.runs.loading import load_run
from genmodels.samplers.fitting import check_sampler_name, drawn_codings

if TYPE_CHECKING:
    from genmodels.samplers.sampler import FittedSampler

PathLike = Union[str, Path]

DEFAULT_K = (
    5000  # importance samples per image, as `genmodels evaluate` (evaluation.DEFAULT_K, which imports TensorFlow)
)


def models() -> list[ModelSpec]:
    """The registered models (built in and from installed plugins), by name; each has `.name`,
    `.description`, `.config` (its ModelConfig class) and `.train` (its TrainConfig defaults)."""
    return sorted(get_registry().models, key=lambda spec: spec.name)


def datasets() -> list[DatasetSpec]:
    """The registered datasets, by name; each has `.name` and `.description`."""
    return sorted(get_registry().datasets, key=lambda spec: spec.name)


def train(
    model: str,
    dataset: str | Dataset | None = None,
    *,
    run_dir: PathLike | None = None,
    resume: bool = False,
    force: bool = False,
    verbose: int | str = "auto",
    allow_data_change: bool = False,
    **options: Any,
) -> Run:
    """Train `model` as `genmodels train` does and return the finished run.

    `dataset` is a registered name, a folder of images, a path to an .npz file or a `Dataset` in
    memory (default: the model's, binarized-mnist for vae). `options` are the training options
    (the fields of `TrainConfig`: epochs=5, keep="best", ...) and the model's own options (the
    fields of its config: latent_dim=2, likelihood="logistic", ...), checked as strictly as on the
    command line. `run_dir` defaults to runs/MODEL; a directory that holds a run is refused unless
    `force` (replace it) or `resume` (continue it, where only `epochs` and `track` may change).
    `verbose`: Keras' 0 (silent), 1 (bar), 2 (a line an epoch) or "auto". A resumed run refuses data whose
    images differ from those it was trained with unless `allow_data_change`.
    """
    from genmodels.workflows import plan_training, run_training, training_data

    registry = get_registry()
    spec = registry.model(model)
    named = dataset if isinstance(dataset, str) else None  # a resumed run refuses a name: it reads its own data
    model_options, train_options = split_options(spec, {**options, **({"dataset": named} if named else {})})
    if not resume and isinstance(dataset, Dataset):
        train_options["dataset"] = dataset.name
    plan = plan_training(
        registry,
        spec.name,
        run_dir=run_dir,
        resume=resume,
        force=force,
        model_options=model_options,
        train_options=train_options,
    )
    data = training_data(registry, plan, dataset if isinstance(dataset, Dataset) else None)
    run_training(registry, plan, data, verbose=verbose, allow_data_change=allow_data_change)
    return load(plan.run_dir, spec.name)


def split_options(spec: ModelSpec, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`options` divided into the model's own (fields of its config class) and training options
    (fields of TrainConfig); a name that is neither is a ConfigError listing both kinds."""
    model_fields = {f.name for f in dataclasses.fields(spec.config)}
    train_fields = {f.name for f in dataclasses.fields(type(spec.train))}
    unknown = sorted(set(options) - model_fields - train_fields)
    if unknown:
        close = difflib.get_close_matches(unknown[0], model_fields | train_fields, n=1)
        raise ConfigError(
            f"{spec.name} has no option {unknown[0]!r}.{f' Did you mean {close[0]!r}?' if close else ''} "
            f"Training options: {', '.join(sorted(train_fields))}; "
            f"{spec.name}'s own options: {', '.join(sorted(model_fields))}."
        )
    return (
        {key: value for key, value in options.items() if key in model_fields},
        {key: value for key, value in options.items() if key in train_fields},
    )


def load(run_dir: PathLike, model: str | None = None) -> Run:
    """The trained run in `run_dir`, ready to use (`model`, when given, must be the run's model)."""
    from genmodels.runs.loading import load_model

    registry = get_registry()
    stored = load_run(Path(run_dir), registry, model)  # a clear error before TensorFlow is imported
    keras_model, config = load_model(Path(run_dir), registry, stored.spec.name)
    return Run(Path(run_dir), stored.spec, config, stored.model_config, stored.train_config, keras_model)


class Run:
    """A trained run: its model, configs and history, and methods that take and return NumPy arrays.

    Images go in as (N, H, W, C), or (N, H, W) for one channel, or flattened (N, H*W*C): 8-bit
    levels (integers 0..255), 0/1 pixels, or floats in [0, 1]. Images come out as float32
    (N, H, W, C) in [0, 1]: the decoder's mean (for a Bernoulli decoder, pixel probabilities).
    Conditional models (cvae) take one integer label per image.
    """

    def __init__(
        self,
        run_dir: Path,
        spec: ModelSpec,
        config: RunConfig,
        model_config: ModelConfig,
        train_config: TrainConfig,
        model,
    ):
        self.run_dir = run_dir
        self.spec = spec
        self.name = spec.name
        self.config = config
        self.model_config = model_config
        self.train_config = train_config
        self.model = model  # the Keras model (genmodels.GenerativeModel)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.image_shape))
        return f"Run({self.name!r}, run_dir={str(self.run_dir)!r}, {shape} {self.pixels} images, epoch {self.epoch})"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images the model was trained on."""
        return self.config.image_shape

    @property
    def pixels(self) -> str:
        """The kind of values it was trained on: binary, 8bit or continuous (see genmodels.pixels)."""
        return self.config.pixels

    @property
    def latent_dim(self) -> int:
        """The width of the codings that `encode` gives and `decode` takes (hvae's joins both of its layers)."""
        return self.model.coding_dim

    @property
    def history(self) -> list[dict[str, Any]]:
        """One record an epoch, as metrics.jsonl holds them: {"epoch": 1, "train": {...}, "valid": {...}}."""
        return read_metrics(self.run_dir)

    @property
    def epoch(self) -> int | None:
        """The epoch whose weights the run keeps (the last, or the best on validation)."""
        return kept_epoch(self.run_dir, self.train_config)

    def dataset(self) -> Dataset:
        """The dataset the run was trained on, prepared as training prepared it (its validation split, binarized or drawn
        as it was); its `.train`, `.valid` and `.test` arrays are stored images that every method here takes."""
        from genmodels.workflows import run_dataset

        return run_dataset(get_registry(), self.train_config)

    def sample(
        self, n: int = 60, seed: int | None = 0, labels=None, draw: bool = False, sampler: str | None = None
    ) -> np.ndarray:
        """`n` new images decoded from codings drawn from `sampler` (`fitted_sampler`; "prior": the model's prior;
        None: the model's own sampler, `spec.sampler`, gmm for most models and pixelcnn for vq-vae);
        the same seed gives the same images (as `genmodels sample --seed`). A conditional model draws `labels`'
        classes, by default every class in turn. The images are the decoder's mean, or with `draw` each pixel drawn
        from the decoder's likelihood (`sample --draw`)."""
        if n < 1:
            raise ConfigError(f"n must be at least 1, received {n}.")
        from genmodels.nn.model import generate_in_chunks

        return self._images(
            generate_in_chunks(
                self.model,
                n,
                seed=seed,
                labels=self._labels(labels, n, required=False),
                draw=draw,
                codings=drawn_codings(self.fitted_sampler(sampler), n, seed),
            )
        )

    def fitted_sampler(self, name: str | None = None) -> FittedSampler | None:
        """The latent sampler `name` (None: the model's own, `spec.sampler`) fitted to this run's training codings
        (genmodels.samplers), as `sample` and `metrics` use it: loaded from the run directory, or fitted now and
        saved there; None for "prior"."""
        from genmodels.workflows import run_sampler

        return run_sampler(
            get_registry(), name or self.spec.sampler, self.model, self.train_config, self.run_dir, self.dataset
        )

    def encode(self, x, labels=None) -> np.ndarray:
        """The mean coding of each image, (N, latent_dim)."""
        from genmodels.nn.latent import encode

        rows = self._rows(x)
        return encode(self.model, rows, self._labels(labels, len(rows)))

    def decode(self, z, labels=None) -> np.ndarray:
        """The decoder's mean image for each coding of `z` (N, latent_dim)."""
        from genmodels.nn.latent import decode

        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(
                f"codings must be shaped (N, {self.latent_dim}) for this {self.name} model, received shape {z.shape}."
            )
        return self._images(decode(self.model, z, self._labels(labels, len(z))))

    def reconstruct(self, x, labels=None) -> np.ndarray:
        """Each image encoded to its mean coding and decoded again (as `genmodels reconstruct`)."""
        return self.decode(self.encode(x, labels), labels)

    def log_likelihood(self, x, labels=None, k: int = DEFAULT_K, seed: int = 0, batch_size: int = 100) -> np.ndarray:
        """The importance-weighted estimate of log p(x) (log p(x|y) given labels) of each image, in nats,
        with `k` samples: `genmodels evaluate` reports minus their mean, and the same seed gives the same figures."""
        from genmodels.evaluation.likelihood import image_log_likelihoods

        rows = self._rows(x)
        return image_log_likelihoods(
            self.model,
            rows,
            labels=self._labels(labels, len(rows)),
            k=k,
            seed=seed,
            batch_size=batch_size,
            what=self.name,
        )

    def loss_terms(self, x, labels=None, batch_size: int = 500) -> dict[str, np.ndarray]:
        """Each of the model's loss terms (reconstruction, kl, ...) for each image, in nats, with one coding drawn per
        image, as training's validation pass scores them: the terms of single images, to find the few that move a
        split's mean (`benchmarks/loss_outliers.py`). Draws differ from call to call."""
        rows = self._rows(x)
        labels = self._labels(labels, len(rows))
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            batch_labels = None if labels is None else labels[start : start + batch_size]
            for name, value in self.model.loss_terms_of(batch, batch_labels).items():
                parts.setdefault(name, []).append(np.broadcast_to(np.asarray(value), (len(batch),)))
        return {name: np.concatenate(values) for name, values in parts.items()}

    def baseline_log_likelihood(self, x) -> np.ndarray:
        """log p(x) in nats of each image under the independent-pixel baseline of the run's training split (what
        `genmodels evaluate` prints beside the NLL: genmodels.evaluation.baselines): minus its mean is the baseline's NLL."""
        from genmodels.evaluation.baselines import for_dataset

        return for_dataset(self.dataset(), self.pixels).log_prob(self._rows(x))

    def metrics(
        self,
        names: Sequence[str] = ("fid", "prd", "active-units"),
        *,
        split: str = "test",
        samples: int = 10_000,
        seed: int = 0,
        sampler: str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Each named metric's figures (`genmodels evaluate --metrics`, without its `nll`), scoring the samples (their
        codings drawn from `sampler`, by default the model's own) against the images of `split`: {"fid": {"fid": ..., "floor": ..., ...}, ...};
        nothing is written to the run directory but a newly fitted sampler."""
        from genmodels.data.dataset import SPLITS
        from genmodels.evaluation.metrics import NLL, check_metric_names, run_metrics
        from genmodels.workflows import metric_context

        registry = get_registry()
        chosen = check_metric_names(list(names), registry)
        if NLL in chosen:
            raise ConfigError("metrics() computes the plugin metrics; the likelihood is log_likelihood(x).")
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {', '.join(SPLITS)}, received {split!r}.")
        sampler = sampler or self.spec.sampler
        check_sampler_name(sampler, registry)
        data = self.dataset()
        labels = getattr(data, f"{split}_labels") if self.model.conditional else None
        context = metric_context(
            registry,
            model=self.model,
            model_name=self.name,
            train_config=self.train_config,
            run_dir=self.run_dir,
            dataset=data,
            split=split,
            images=data.rows(split),
            labels=self._labels(labels, len(getattr(data, split))) if labels is not None else None,
            seed=seed,
            samples=samples,
            sampler=sampler,
        )
        return run_metrics(chosen, context, registry)

    def evaluate(
        self,
        metrics: Sequence[str] = ("nll", "fid", "prd", "active-units"),
        *,
        split: str = "test",
        k: int = DEFAULT_K,
        samples: int = 10_000,
        seed: int = 0,
        batch_size: int = 100,
        n: int | None = None,
        sampler: str | None = None,
        allow_data_change: bool = False,
    ) -> dict[str, Any]:
        """What `genmodels evaluate` computes, by the same steps: the loss terms, negative ELBO and importance-weighted
        NLL (`nll`, with `k` samples per image, beside the independent-pixel baseline) of the images of `split` (or `n`
        of them drawn with `seed`), then each other named metric, its samples' codings drawn from `sampler` (by
        default the model's own). The figures are written to the run directory's evaluation-SPLIT.json
        (evaluation-SPLIT-nN.json for N images) beside those of earlier evaluations of other metrics, and returned
        as written."""
        import json

        from genmodels.evaluation.metrics import NLL, check_metric_names
        from genmodels.workflows import evaluation_subject, score_split, subject_metrics

        registry = get_registry()
        chosen = check_metric_names(list(metrics), registry)
        sampler = sampler or self.spec.sampler
        check_sampler_name(sampler, registry)
        subject = evaluation_subject(
            registry,
            model=self.model,
            model_name=self.name,
            run_config=self.config,
            run_dir=self.run_dir,
            split=split,
            n=n,
            seed=seed,
            allow_data_change=allow_data_change,
        )
        result = score_split(subject, likelihood=NLL in chosen, k=k, batch_size=batch_size)
        subject_metrics(registry, result, chosen, subject, samples=samples, sampler=sampler)
        return json.loads(subject.path.read_text())

    def export(self, out_dir: PathLike, *, sampler: str | None = None, force: bool = False) -> Path:
        """Write the model as a TensorFlow SavedModel with `sample`, `sample_prior`, `sample_codings`, `encode` and
        `decode` signatures, as `genmodels export` does (docs/export.md): its `sample` draws codings from `sampler`
        (None: the model's own, gmm for most; "prior": the model's prior), fitted now if the run keeps none. `force`
        replaces an earlier export there."""
        from genmodels.runs.export import check_out_dir, export_saved_model
        from genmodels.workflows import export_sampler

        check_out_dir(Path(out_dir).resolve(), force)
        name, fitted = export_sampler(get_registry(), sampler, self.spec, self.fitted_sampler)
        return export_saved_model(self, Path(out_dir), sampler=fitted, sampler_name=name, force=force)

    def _rows(self, x) -> np.ndarray:
        """Images as the model's float32 rows in [0, 1], checked against the run's image shape."""
        array = np.asarray(x)
        images, kind = as_images(array, "images", self.image_shape)
        if self.pixels == EIGHT_BIT and kind == BINARY and array.dtype.kind in "iu":
            kind = EIGHT_BIT  # integers given to a model of 8-bit images are levels, even if all are 0 or 1
        return to_unit(images, kind).reshape(len(images), -1)

    def _images(self, rows) -> np.ndarray:
        return np.asarray(rows, dtype=np.float32).reshape(-1, *self.image_shape)

    def _labels(self, labels, count: int, required: bool = True):
        if not self.model.conditional:
            if labels is not None:
                raise ConfigError(f"labels are for conditional models (such as cvae); {self.name} is not conditional.")
            return None
        if labels is None:
            if required:
                raise ConfigError(f"{self.name} is conditional: give one label per image (labels=...).")
            return None
        from genmodels.nn.model import check_labels

        labels = np.asarray(labels)
        if labels.ndim == 0:
            labels = np.full(count, int(labels))
        if len(labels) != count:
            raise DatasetError(f"give one label per image: received {len(labels)} labels for {count} images.")
        return check_labels(self.model, labels, "labels")
