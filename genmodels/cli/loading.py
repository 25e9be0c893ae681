"""What the commands load: a run and its config, its dataset's images and labels, its fitted sampler, its earlier
evaluations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genmodels.core.errors import ConfigError, GenmodelsError
from genmodels.plugins.loader import get_registry


def fitted_sampler_of(name: str, registry, loaded, config, run_dir: Path, data=None):
    """The run's fitted sampler `name` (None for the prior), fitted now and saved in the run directory if it has none."""
    from genmodels.workflows import run_sampler

    return run_sampler(
        registry,
        name,
        loaded,
        stored_train(config),
        run_dir,
        data or (lambda: run_dataset(config, registry)),
        log=lambda line: typer.echo(line, err=True),
    )


def open_run(model: str, run_dir: Optional[Path]):
    """The registry, the model's spec, the run directory, the rebuilt model and its run config."""
    registry = get_registry()
    spec = registry.model(model)
    run_dir = run_dir or run_dir_or_default(spec.name)
    from genmodels.runs.loading import load_run

    load_run(run_dir, registry, spec.name)  # a friendly error before TensorFlow is imported
    from genmodels.runs.loading import load_model

    loaded, config = load_model(run_dir, registry, spec.name)
    return registry, spec, run_dir, loaded, config


def split_images(config, registry, loaded, split: str, n: int | None, seed: int, sort: bool = True, data=None):
    """The run's dataset split as (images, labels), or `n` of its images drawn with `seed` (test sets can be
    sorted by class). Labels are given for a conditional model only, else None; for one, with `sort`
    off, images 2i and 2i+1 share a label (the pairs that `interpolate` joins)."""
    import numpy as np

    data = data or run_dataset(config, registry)
    count = len(getattr(data, split))
    labels = labels_for_run(loaded, getattr(data, f"{split}_labels"), f"{data.name} {split}")
    if n is None:
        return data.rows(split), labels
    if n > count:
        raise ConfigError(f"asked for {n} images, but the split has only {count}.")
    rng = np.random.default_rng(seed)
    if not sort and labels is not None:
        first = rng.choice(count, size=n // 2, replace=False)
        second = np.array([rng.choice(np.flatnonzero(labels == labels[i])) for i in first], dtype=int)
        chosen = np.stack([first, second], axis=1).ravel()
        return data.rows(split, chosen), labels[chosen]
    chosen = rng.choice(count, size=n, replace=False)
    chosen = np.sort(chosen) if sort else chosen
    return data.rows(split, chosen), (None if labels is None else labels[chosen])


def labels_for_run(loaded, labels, what: str):
    """`labels`, checked, for a conditional model; None for an unconditional one (which ignores labels)."""
    if not loaded.conditional:
        return None
    from genmodels.nn.model import check_labels

    return check_labels(loaded, labels, what)


def class_label(name: str, loaded, label: int) -> int:
    """`label` if the model is conditional and has that class, else a ConfigError."""
    if not loaded.conditional:
        raise ConfigError(
            f"--label picks the class a conditional model (such as cvae) draws; {name} is not conditional."
        )
    if label >= loaded.classes:
        raise ConfigError(
            f"--label must be a class from 0 to {loaded.classes - 1} for this {name} model, received {label}."
        )
    return label


def run_dataset(config, registry):
    """The dataset a run was trained on, prepared as it was for training (binarized or not, the same validation split);
    a folder it names gets no cache written inside it."""
    return dataset_of(stored_train(config), registry, from_run=True)


def stored_train(config):
    """The training recipe of a run's config.json (checked as the run was loaded)."""
    from genmodels.core.train_config import TrainConfig

    return TrainConfig.from_dict(config.train)


def dataset_of(train_config, registry, from_run: bool = False):
    """The dataset a training recipe names, prepared as training prepares it."""
    from genmodels.data.sources import dataset_for

    return dataset_for(train_config, registry, from_run=from_run)


def one_factor(labels):
    """Labels to colour points by: the labels, or of several factors per image the first that varies."""
    if labels is None or labels.ndim == 1:
        return labels
    varying = [column for column in labels.T if len(set(column.tolist())) > 1]
    return varying[0] if varying else labels[:, 0]


def earlier_evaluation(run_dir: Path, split: str, name: str) -> dict | None:
    """The evaluation file `name` already in the run (its figures are kept beside the new ones), or None when
    there is none or it cannot be read (then it is replaced)."""
    from genmodels.runs.format import read_evaluation

    try:
        return read_evaluation(run_dir, split, name)
    except GenmodelsError:
        return None


def run_dir_or_default(model: str) -> Path:
    from genmodels.runs.format import default_run_dir

    return default_run_dir(model)
