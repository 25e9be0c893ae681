"""What the commands load: a run and its config, its dataset's images and labels, its fitted sampler, its earlier
evaluations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from genmodels.core.errors import ConfigError
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
    """The run's dataset split as (images, labels), or `n` of its images drawn with `seed` (`genmodels.workflows.
    split_images`; without `sort`, the pairs of a conditional model share a label)."""
    from genmodels.workflows import split_images as images_of

    return images_of(data or run_dataset(config, registry), loaded, split, n, seed, pairs=not sort)


def labels_for_run(loaded, labels, what: str):
    """`labels`, checked, for a conditional model; None for an unconditional one (which ignores labels)."""
    from genmodels.workflows import run_labels

    return run_labels(loaded, labels, what)


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
    """The dataset a run was trained on, prepared as it was for training (`genmodels.workflows.run_dataset`)."""
    from genmodels.workflows import run_dataset as dataset_of_run

    return dataset_of_run(registry, stored_train(config))


def stored_train(config):
    """The training recipe of a run's config.json (checked as the run was loaded)."""
    from genmodels.core.train_config import TrainConfig

    return TrainConfig.from_dict(config.train)


def one_factor(labels):
    """Labels to colour points by: the labels, or of several factors per image the first that varies."""
    if labels is None or labels.ndim == 1:
        return labels
    varying = [column for column in labels.T if len(set(column.tolist())) > 1]
    return varying[0] if varying else labels[:, 0]


def run_dir_or_default(model: str) -> Path:
    from genmodels.runs.format import default_run_dir

    return default_run_dir(model)
