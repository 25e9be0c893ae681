"""Rebuilding a run's model: its config read and checked against the registry, the model built, its weights loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from genmodels.core.model_config import ModelConfig
from genmodels.core.train_config import TrainConfig
from genmodels.core.model_spec import ModelSpec
from genmodels.core.errors import ConfigError, DuplicateNameError, RunError, UnknownNameError
from genmodels.runs.format import CHECKPOINT_FILE, CONFIG_FILE, RunConfig, _epochs_text, read_config
from genmodels.runs.checkpoints import kept_weights
from genmodels.runs.format import architecture


class ModelCatalog(Protocol):
    """What rebuilding a run needs of a registry (`genmodels.registry.Registry` is one): the registered model specs
    (iteration) and each by name."""

    models: Any

    def model(self, name: str) -> ModelSpec: ...


@dataclass
class StoredRun:
    """A run directory's configuration, checked against the registry: its model's spec and configs."""

    spec: ModelSpec
    config: RunConfig
    model_config: ModelConfig
    train_config: TrainConfig


def load_run(run_dir: Path, registry: ModelCatalog, expected_model: str | None = None) -> StoredRun:
    """config.json checked against the registry: its model must be registered, and its hyperparameters and
    training recipe must be exactly the fields of that model's config classes, with values of their types."""
    run_dir = Path(run_dir)
    config = read_config(run_dir, expected_model)
    path = run_dir / CONFIG_FILE
    try:
        spec = registry.model(config.model)
    except UnknownNameError:
        known = ", ".join(spec.name for spec in registry.models) or "none"
        raise RunError(
            f"{path} is a run of the model {config.model!r}, which no installed plugin provides (known models: {known})."
        ) from None
    except DuplicateNameError as exc:
        raise RunError(f"{path} is a run of the model {config.model!r}, which cannot be used: {exc}") from None
    try:
        model_config = spec.config.from_dict(config.model_config)
    except ConfigError as exc:
        raise RunError(f"{path}: model_config does not fit the {spec.name!r} model: {exc}") from None
    try:
        train_config = spec.train.from_dict(config.train)
    except ConfigError as exc:
        raise RunError(f"{path}: train is not a training recipe: {exc}") from None
    height, width, channels = config.image_shape
    if model_config.input_dim != height * width * channels:
        raise RunError(
            f"{path}: model_config.input_dim is {model_config.input_dim}, but the images are {height}x{width}x{channels} "
            f"({height * width * channels} values)."
        )
    return StoredRun(spec, config, model_config, train_config)


def load_model(run_dir: Path, registry: ModelCatalog, expected_model: str | None = None):
    """Rebuild a run's model from its config through the registry and load its weights.

    Returns (model, run config). Nothing in the run directory names code: the model is looked up
    by its registered name and built by its plugin; the weights are arrays assigned to its variables.
    """
    from genmodels.runs.weights import load_weights

    run_dir = Path(run_dir)
    stored = load_run(run_dir, registry, expected_model)
    weights = kept_weights(run_dir, stored.train_config)
    if not weights.is_file():
        why = (
            "training stopped before its first epoch ended"
            if not (run_dir / CHECKPOINT_FILE).is_file()
            else f"the file is missing, though {_epochs_text(run_dir)}"
        )
        raise RunError(f"{run_dir} has no {weights.name}: {why}.")
    model = _build(stored, run_dir)
    load_weights(model, weights, architecture(stored.model_config.to_dict()))
    return model, stored.config


def _build(stored: StoredRun, run_dir: Path):
    try:
        import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly, before a plugin imports Keras)

        model = stored.spec.build(stored.model_config)
    except ConfigError as exc:
        raise RunError(f"{run_dir / CONFIG_FILE}: {exc}") from None
    model.build_for(stored.model_config.input_dim)
    return model
