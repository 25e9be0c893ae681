"""Hyperparameters: a model's architecture config and the training recipe, as plain dataclasses."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from genmodels.errors import ConfigError

C = TypeVar("C", bound="Config")

MAX_SEED = 2**32 - 1  # NumPy's seeds are 32-bit
KERAS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a plain name: never a dotted path to import


@dataclass
class Config:
    """Base for configs: JSON round-trip, validated overrides and typed coercion from strings."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a dict (a config.json section), refusing fields that do not belong and values whose JSON
        type is not the field's: strings are not parsed here, as they are from the command line."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} expects a mapping, received {type(data).__name__}.")
        bad_keys = [key for key in data if not isinstance(key, str)]
        if bad_keys:
            raise ConfigError(f"{cls.__name__} option names are strings, received {bad_keys[0]!r}.")
        return cls()._with(data, strict=True)

    def replace(self: C, **overrides: Any) -> C:
        """A copy with some fields changed; values are checked (and strings coerced) to the field's type."""
        return self._with(overrides, strict=False)

    def _with(self: C, overrides: dict[str, Any], strict: bool) -> C:
        hints = typing.get_type_hints(type(self))
        names = [f.name for f in dataclasses.fields(self)]
        values = {}
        for key, value in overrides.items():
            if key not in names:
                raise ConfigError(
                    f"{type(self).__name__} has no option {key!r}; its options are: {', '.join(names)}."
                )
            values[key] = coerce(value, hints[key], key, strict=strict)
        new = dataclasses.replace(self, **values)
        new.validate()
        return new

    def validate(self) -> None:
        """Raise ConfigError if a value is out of range: here, below its option's `minimum` (subclasses extend this)."""
        for f in dataclasses.fields(self):
            minimum, value = f.metadata.get("minimum"), getattr(self, f.name)
            if minimum is not None and value < minimum:
                raise ConfigError(f"{f.name} must be at least {minimum}, received {value}.")

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) of every field, for `genmodels info`."""
        hints = typing.get_type_hints(cls)
        default = cls()
        return [
            (f.name, _type_name(hints[f.name]), getattr(default, f.name), f.metadata.get("help", ""))
            for f in dataclasses.fields(cls)
        ]


def option(default: Any, help: str, *, minimum: float | None = None) -> Any:
    """A dataclass field with a help text shown by `genmodels info`; `validate` refuses a value below `minimum`."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return field(default=default, metadata={"help": help, "minimum": minimum})


@dataclass
class ModelConfig(Config):
    """Architecture hyperparameters shared by every model; plugins subclass it to add their own."""

    latent_dim: int = option(20, "Dimension of the codings.")
    input_dim: int = option(784, "Size of one flattened input (set from the dataset when training).")

    def validate(self) -> None:
        super().validate()
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
        for name, example in (("activation", "elu"), ("initializer", "he_normal")):
            value = getattr(self, name)
            if not KERAS_NAME.match(value):
                raise ConfigError(f"{name} must be the plain name of a Keras {name} (such as {example}), received {value!r}.")


PRECISIONS = ("float32", "bfloat16")


@dataclass
class TrainConfig(Config):
    """The training recipe: data, optimisation and randomness."""

    dataset: str = option("binarized-mnist", "A registered dataset name or a path to an .npz file.")
    epochs: int = option(50, "Passes over the training set.")
    batch_size: int = option(150, "Images per gradient step.")
    learning_rate: float = option(1e-3, "Adam's step size.")
    seed: int = option(0, "Seed for initialisation, shuffling and sampling; same seed, same run.")
    xla: bool = option(True, "Compile the training steps with XLA (fastest for MLPs); false runs TensorFlow graphs, much faster for convolutions on a CPU.")
    precision: str = option("float32", "Arithmetic of the layers: float32, or bfloat16 (mixed; weights and losses stay float32).")
    kl_warmup: int = option(0, "Epochs over which the KL term's weight grows linearly from 0 to its full value (0: none).")
    dynamic_binarize: bool = option(False, "Draw every training pixel anew each time it is seen, as Bernoulli(grey); the test set is drawn once, from the seed.")
    binarize: bool = option(False, "Threshold the images to 0/1 before training (1 where a value is >= 0.5, a uint8 grey >= 128).")

    def validate(self) -> None:
        super().validate()
        _positive(self, "epochs", "batch_size", "learning_rate")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}, received {self.seed}.")
        if not self.dataset.strip():
            raise ConfigError("dataset must be a dataset name or a path to an .npz file, received an empty string.")
        if self.kl_warmup < 0:
            raise ConfigError(f"kl_warmup must be >= 0 epochs, received {self.kl_warmup}.")
        if self.binarize and self.dynamic_binarize:
            raise ConfigError("binarize thresholds the images once and dynamic_binarize draws them anew: choose one.")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, received {self.precision!r}.")


def _positive(config: Config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if (isinstance(value, float) and not math.isfinite(value)) or value <= 0:
            raise ConfigError(f"{name} must be positive, received {value!r}.")


def coerce(value: Any, kind: Any, name: str = "value", *, strict: bool = False) -> Any:
    """Convert `value` (possibly a CLI string) to the annotated type `kind`, or raise ConfigError.

    With `strict`, `value` must already have the JSON type of `kind` (an int for int, a list for a
    tuple, ...): what config.json holds is checked, never parsed.
    """
    origin = typing.get_origin(kind)
    if strict and not _has_json_type(value, kind):
        raise ConfigError(f"{name} must be {_type_name(kind, strict=True)}, received {value!r}.")
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
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name} must be {_type_name(kind)}, received {value!r}.") from None
    raise ConfigError(f"{name} has an unsupported type {kind!r}.")


def _has_json_type(value: Any, kind: Any) -> bool:
    if typing.get_origin(kind) is tuple:
        return isinstance(value, (list, tuple)) and all(_has_json_type(v, typing.get_args(kind)[0]) for v in value)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    return True  # other types are refused by coerce as unsupported


def _type_name(kind: Any, strict: bool = False) -> str:
    if typing.get_origin(kind) is tuple:
        return f"a {'' if strict else 'comma-separated '}list of {_type_name(typing.get_args(kind)[0])}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(kind, str(kind))


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
