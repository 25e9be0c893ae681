"""The steps the command line and the Python API share, written once: planning a training (a new run, a resumed
one or a replacement), its data, running it; a run's fitted sampler and dataset; an evaluation (the split's images,
their likelihood, the context the metrics are computed in, the metrics and the file they are written to).

Each surface parses its own arguments, names its own options in messages (`--epochs` or `epochs`) and reports
its own progress; what is checked and in which order is here. The registry is always a parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genmodels.core.errors import ConfigError
from genmodels.core.model_config import ModelConfig
from genmodels.core.model_spec import ModelSpec
from genmodels.core.train_config import RESUME_CHANGES, TrainConfig
from genmodels.data.sources import dataset_for
from genmodels.runs.checkpoints import kept_epoch, kept_weights
from genmodels.runs.format import default_run_dir, refuse_existing_run
from genmodels.runs.loading import load_run
from genmodels.samplers.fitting import check_sampler_name, fitted_sampler
from genmodels.samplers.sampler import PRIOR

if TYPE_CHECKING:
    import numpy as np

    from genmodels.data.dataset import Dataset
    from genmodels.evaluation.likelihood import Evaluation
    from genmodels.evaluation.metric_context import MetricContext
    from genmodels.plugins.registry import Registry
    from genmodels.samplers.sampler import FittedSampler
    from genmodels.training.trainer import TrainResult


def option_name(key: str) -> str:
    """How the Python API names an option in a message: as its keyword."""
    return key


@dataclass(frozen=True)
class TrainingPlan:
    """What a training will run: the model's spec and configs, where it writes, and whether it continues or
    replaces a run there."""

    spec: ModelSpec
    model_config: ModelConfig
    train_config: TrainConfig
    run_dir: Path
    resume: bool = False
    force: bool = False


def plan_training(
    registry: Registry,
    model: str,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    force: bool = False,
    model_options: dict[str, Any] | None = None,
    train_options: dict[str, Any] | None = None,
    named: Callable[[str], str] = option_name,
) -> TrainingPlan:
    """The plan for training `model` into `run_dir` (default runs/MODEL) with the options given (only those the
    user set). A new run refuses a directory that holds one unless `force`; `resume` continues the run there with
    its own settings, where only the options of `RESUME_CHANGES` may change. `named(key)` is how the surface calls
    an option (and `resume`, `force`, `run_dir`) in its messages."""
    model_options, train_options = dict(model_options or {}), dict(train_options or {})
    spec = registry.model(model)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(spec.name)
    if resume and force:
        raise ConfigError(
            f"{named('resume')} continues the run in {named('run_dir')} and {named('force')} replaces it: give one of them."
        )
    if resume:
        changed = [named(key) for key in model_options] + [
            named(key) for key in train_options if key not in RESUME_CHANGES
        ]
        if changed:
            raise ConfigError(
                f"{named('resume')} continues a run with its own settings; only "
                f"{' and '.join(named(key) for key in RESUME_CHANGES)} may change (received {', '.join(changed)})."
            )
        stored = load_run(run_dir, registry, spec.name)
        return TrainingPlan(
            spec, stored.model_config, stored.train_config.replace(**train_options), run_dir, resume=True
        )
    if not force:
        refuse_existing_run(run_dir)  # before the data and TensorFlow load; checked again under the run's lock
    model_config = spec.config().replace(**model_options)
    train_config = spec.train.replace(**train_options)
    return TrainingPlan(spec, model_config, train_config, run_dir, force=force)


def training_data(registry: Registry, plan: TrainingPlan, dataset: Dataset | None = None) -> Dataset:
    """The plan's dataset prepared as training prepares it: `dataset` given in memory, or the one its recipe names
    (a folder named by a resumed run's config.json gets no cache written inside it)."""
    return dataset_for(plan.train_config, registry, dataset, from_run=plan.resume and dataset is None)


def run_training(
    registry: Registry,
    plan: TrainingPlan,
    data: Dataset,
    *,
    verbose: int | str = "auto",
    allow_data_change: bool = False,
) -> TrainResult:
    """Train as `plan` says on `data` (`training_data`), writing the run directory (`genmodels.training.trainer.train`)."""
    from genmodels.training.trainer import train

    return train(
        plan.spec,
        plan.model_config,
        plan.train_config,
        data,
        plan.run_dir,
        resume=plan.resume,
        overwrite=plan.force,
        verbose=verbose,
        allow_data_change=allow_data_change,
        registry=registry,
    )


def run_sampler(
    registry: Registry,
    name: str,
    model,
    train_config: TrainConfig,
    run_dir: Path,
    dataset: Dataset | Callable[[], Dataset],
    log: Callable[[str], None] | None = None,
) -> FittedSampler | None:
    """A run's latent sampler `name` (`genmodels.samplers`; None for the prior): the fit saved in `run_dir` for
    its kept weights, or fitted now to `dataset` (or what the function gives, called only then) and saved."""
    check_sampler_name(name, registry)
    if name == PRIOR:
        return None
    return fitted_sampler(
        name, registry, model, dataset, run_dir=run_dir, weights=kept_weights(run_dir, train_config), seed=0, log=log
    )


def export_sampler(
    registry: Registry,
    name: str | None,
    spec: ModelSpec,
    fitted: Callable[[str], FittedSampler | None],
) -> tuple[str, FittedSampler | None]:
    """(name, sampler) that an export's `sample` draws codings from: the sampler `name` (None: the model's own,
    `spec.sampler`), `fitted(name)` giving the run's fit (fitted now if it keeps none). A sampler that cannot draw
    in a TensorFlow graph (no `graph_sample`) is refused when named, and replaced by the prior, with an
    ExportWarning, when it is only the model's default."""
    import warnings

    from genmodels.core.errors import ExportWarning

    chosen = name or spec.sampler
    check_sampler_name(chosen, registry)
    sampler = fitted(chosen)
    if sampler is None or sampler.in_graph:
        return chosen, sampler
    reason = f"the {chosen} sampler draws its codings in NumPy and cannot go into a SavedModel"
    if name is not None:
        raise ConfigError(f"{reason}: export with --sampler gmm (or prior).")
    warnings.warn(
        f"{reason}; the export's sample draws from {spec.name}'s prior. Its decode takes the codings that "
        f"Run.fitted_sampler({chosen!r}).sample(n, seed) draws, or export with --sampler gmm.",
        ExportWarning,
        stacklevel=3,
    )
    return PRIOR, None


def metric_context(
    registry: Registry,
    *,
    model,
    model_name: str,
    train_config: TrainConfig,
    run_dir: Path,
    dataset: Dataset,
    split: str,
    images: np.ndarray,
    labels: np.ndarray | None,
    seed: int,
    samples: int,
    sampler: str,
    log: Callable[[str], None] | None = None,
) -> MetricContext:
    """The context the metrics of one evaluation are computed in: the run's model scored on `images` of `split`,
    its samples' codings drawn from its sampler `sampler` (fitted on first use), the dataset's feature network."""
    from genmodels.evaluation.metrics import feature_source_of
    from genmodels.evaluation.metric_context import MetricContext

    check_sampler_name(sampler, registry)
    return MetricContext(
        model=model,
        model_name=model_name,
        dataset=dataset,
        split=split,
        images=images,
        labels=labels,
        seed=seed,
        samples=samples,
        feature_source=feature_source_of(train_config, registry),
        log=log,
        sampler_name=sampler,
        sampler=lambda: run_sampler(registry, sampler, model, train_config, run_dir, dataset, log),
        dataset_argument=train_config.dataset,
    )


# ------------------------------------------------------------------------------------------------ evaluation


def run_dataset(registry: Registry, train_config: TrainConfig) -> Dataset:
    """The dataset a run was trained on, prepared as it was for training (binarized or not, the same validation
    split); a folder it names gets no cache written inside it."""
    return dataset_for(train_config, registry, from_run=True)


def run_labels(model, labels: np.ndarray | None, what: str) -> np.ndarray | None:
    """`labels`, checked, for a conditional model; None for an unconditional one (which ignores labels)."""
    if not model.conditional:
        return None
    from genmodels.nn.model import check_labels

    return check_labels(model, labels, what)


def split_images(
    data: Dataset, model, split: str, n: int | None = None, seed: int = 0, *, pairs: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """The split's images as rows, with their labels for a conditional model (else None): all of them, or `n`
    drawn with `seed` in the split's order (held-out sets may be sorted by class); with `pairs`, images 2i and
    2i+1 of a conditional model share a label (the pairs `interpolate` joins), in drawn order."""
    import numpy as np

    count = len(getattr(data, split))
    labels = run_labels(model, getattr(data, f"{split}_labels"), f"{data.name} {split}")
    if n is None:
        return data.rows(split), labels
    if n > count:
        raise ConfigError(f"asked for {n} images, but the split has only {count}.")
    rng = np.random.default_rng(seed)
    if pairs and labels is not None:
        first = rng.choice(count, size=n // 2, replace=False)
        second = np.array([rng.choice(np.flatnonzero(labels == labels[i])) for i in first], dtype=int)
        chosen = np.stack([first, second], axis=1).ravel()
        return data.rows(split, chosen), labels[chosen]
    chosen = rng.choice(count, size=n, replace=False)
    chosen = chosen if pairs else np.sort(chosen)
    return data.rows(split, chosen), (None if labels is None else labels[chosen])


@dataclass(frozen=True)
class EvaluationSubject:
    """What one evaluation scores: a run's model on the images of one split of the run's dataset (all of them,
    or `n` drawn with `seed`), with their labels for a conditional model."""

    model: Any
    model_name: str
    train_config: TrainConfig
    pixels: str
    run_dir: Path
    dataset: Dataset
    split: str
    images: np.ndarray
    labels: np.ndarray | None
    seed: int
    n: int | None = None

    @property
    def path(self) -> Path:
        """Where the evaluation is written: evaluation-SPLIT.json, or evaluation-SPLIT-nN.json for N images."""
        suffix = "" if self.n is None else f"-n{len(self.images)}"
        return self.run_dir / f"evaluation-{self.split}{suffix}.json"


def evaluation_subject(
    registry: Registry,
    *,
    model,
    model_name: str,
    run_config,
    run_dir: Path,
    split: str,
    n: int | None = None,
    seed: int = 0,
    allow_data_change: bool = False,
) -> EvaluationSubject:
    """The images of `split` a run's evaluation scores, from the dataset the run was trained on; a DatasetError
    when they differ from those the run recorded, unless `allow_data_change`."""
    from genmodels.data.dataset import SPLITS
    from genmodels.runs.format import check_same_data

    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, received {split!r}.")
    train_config = TrainConfig.from_dict(run_config.train)
    data = run_dataset(registry, train_config)
    check_same_data(run_config, data, (split,), allow=allow_data_change)
    images, labels = split_images(data, model, split, n, seed)
    return EvaluationSubject(
        model, model_name, train_config, run_config.pixels, run_dir, data, split, images, labels, seed, n
    )


def score_split(
    subject: EvaluationSubject,
    *,
    likelihood: bool,
    k: int,
    batch_size: int,
    share=None,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """The first part of an evaluation: the loss terms on the subject's images and, with `likelihood`, the negative
    ELBO and the importance-weighted NLL with the independent-pixel baseline of the training split beside them
    (`genmodels.evaluation.likelihood.evaluate`; `share` is a worker's part of a distributed evaluation)."""
    from genmodels.evaluation.baselines import for_dataset
    from genmodels.evaluation.likelihood import evaluate

    return evaluate(
        subject.model,
        subject.images,
        model_name=subject.model_name,
        split=subject.split,
        k=k,
        seed=subject.seed,
        batch_size=batch_size,
        progress=progress,
        labels=subject.labels,
        pixels=subject.pixels,
        epoch=kept_epoch(subject.run_dir, subject.train_config),
        share=share,
        likelihood=likelihood,
        baseline=for_dataset(subject.dataset, subject.pixels) if likelihood else None,
    )


def subject_metrics(
    registry: Registry,
    result: Evaluation,
    names: list[str],
    subject: EvaluationSubject,
    *,
    samples: int,
    sampler: str,
    log: Callable[[str], None] | None = None,
) -> Evaluation:
    """The second part of an evaluation: the chosen metrics of the subject (`add_metrics`, in `metric_context`),
    written with the first part's figures to `subject.path`."""
    context = metric_context(
        registry,
        model=subject.model,
        model_name=subject.model_name,
        train_config=subject.train_config,
        run_dir=subject.run_dir,
        dataset=subject.dataset,
        split=subject.split,
        images=subject.images,
        labels=subject.labels,
        seed=subject.seed,
        samples=samples,
        sampler=sampler,
        log=log,
    )
    return add_metrics(registry, result, names, context, subject.path, announce=log)


def add_metrics(
    registry: Registry,
    result: Evaluation,
    names: list[str],
    context: MetricContext,
    path: Path,
    announce: Callable[[str], None] | None = None,
) -> Evaluation:
    """The second part: the chosen plugin metrics computed in `context` into `result`, which is written to `path`
    (beside the figures of other metrics an earlier evaluation there holds) before the first metric and after
    each, so that what is computed stays when a later metric fails."""
    import json

    from genmodels.core.atomic import atomic_path
    from genmodels.core.errors import GenmodelsError
    from genmodels.evaluation.metrics import run_metrics
    from genmodels.runs.format import read_evaluation

    try:
        earlier = read_evaluation(path.parent, result.split, path.name)
    except GenmodelsError:  # unreadable: replaced
        earlier = None

    def save(metrics: dict) -> None:
        result.metrics = metrics
        with atomic_path(path) as partial:
            partial.write_text(json.dumps(result.added_to(earlier), indent=2) + "\n")

    save({})
    try:
        run_metrics(names, context, registry, announce=announce, done=save)
    except GenmodelsError as exc:
        exc.args = (f"{exc} (the figures computed before it are saved in {path})",)
        raise
    return result
