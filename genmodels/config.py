"""Hyperparameters: a model's architecture config and the training recipe, as plain dataclasses."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from genmodels.errors import ConfigError

C = TypeVar("C", bound="Config")


@dataclass
class Config:
    """Base for configs: JSON round-trip, validated overrides and typed coercion from strings."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a dict, refusing fields that do not belong and values of the wrong type."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} expects a mapping, received {type(data).__name__}.")
        return cls().replace(**data)

    def replace(self: C, **overrides: Any) -> C:
        """A copy with some fields changed; values are checked (and strings coerced) to the field's type."""
        hints = typing.get_type_hints(type(self))
        names = [f.name for f in dataclasses.fields(self)]
        values = {}
        for key, value in overrides.items():
            if key not in names:
                raise ConfigError(
                    f"{type(self).__name__} has no option {key!r}; its options are: {', '.join(names)}."
                )
            values[key] = coerce(value, hints[key], key)
        new = dataclasses.replace(self, **values)
        new.validate()
        return new

    def validate(self) -> None:
        """Raise ConfigError if a value is out of range (subclasses extend this)."""

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) of every field, for `genmodels info`."""
        hints = typing.get_type_hints(cls)
        default = cls()
        return [
            (f.name, _type_name(hints[f.name]), getattr(default, f.name), f.metadata.get("help", ""))
            for f in dataclasses.fields(cls)
        ]


def option(default: Any, help: str) -> Any:
    """A dataclass field with a help text shown by `genmodels info`."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig(Config):
    """Architecture hyperparameters shared by every model; plugins subclass it to add their own."""

    latent_dim: int = option(20, "Dimension of the codings.")
    input_dim: int = option(784, "Size of one flattened input (set from the dataset when training).")

    def validate(self) -> None:
        _positive(self, "latent_dim", "input_dim")


@dataclass
class MLPConfig(ModelConfig):
    """Models whose encoder and decoder are MLPs (the decoder mirrors the encoder's hidden sizes)."""

    hidden: tuple[int, ...] = option((500, 500), "Hidden layer sizes of the encoder; the decoder mirrors them.")
    activation: str = option("elu", "Activation of the hidden layers (a Keras activation name).")
    initializer: str = option("he_normal", "Kernel initializer of every layer (a Keras initializer name).")

    def validate(self) -> None:
        super().validate()
        if not self.hidden or min(self.hidden) <= 0:
            raise ConfigError(f"hidden must list positive layer sizes, received {self.hidden!r}.")


PRECISIONS = ("float32", "bfloat16")


@dataclass
class TrainConfig(Config):
    """The training recipe: data, optimisation and randomness."""

    dataset: str = option("binarized-mnist", "A registered dataset name or a path to an .npz file.")
    epochs: int = option(50, "Passes over the training set.")
    batch_size: int = option(150, "Images per gradient step.")
    learning_rate: float = option(1e-3, "Adam's step size.")
    seed: int = option(0, "Seed for initialisation, shuffling and sampling; same seed, same run.")
    precision: str = option("float32", "Arithmetic of the layers: float32, or bfloat16 (mixed; weights and losses stay float32).")

    def validate(self) -> None:
        _positive(self, "epochs", "batch_size", "learning_rate")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, received {self.seed}.")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, received {self.precision!r}.")


def _positive(config: Config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise ConfigError(f"{name} must be positive, received {value!r}.")


def coerce(value: Any, kind: Any, name: str = "value") -> Any:
    """Convert `value` (possibly a CLI string) to the annotated type `kind`, or raise ConfigError."""
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, bool):
                return value
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if origin is tuple:
            (item, *_rest) = typing.get_args(kind)
            if isinstance(value, str):
                value = [part for part in value.replace(" ", "").split(",") if part]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return tuple(coerce(v, item, name) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {_type_name(kind)}, received {value!r}.") from None
    raise ConfigError(f"{name} has an unsupported type {kind!r}.")


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return f"a comma-separated list of {_type_name(typing.get_args(kind)[0])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(kind, str(kind))


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
