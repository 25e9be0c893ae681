"""Hyperparameters: a model's architecture config and the training recipe, as plain dataclasses."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from genmodels.core.errors import ConfigError

C = TypeVar("C", bound="Config")

MAX_SEED = 2**32 - 1  # NumPy's seeds are 32-bit
KERAS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a plain name: never a dotted path to import


@dataclass
class Config:
    """Base for configs: JSON round-trip, validated overrides and typed coercion from strings.

    Constructing one checks it as strictly as config.json is checked: every value must have its
    field's type (an int for an int; a list or tuple for a tuple, stored as a tuple) and pass
    `validate`, so `TrainConfig(epochs=0)` or `MLPConfig(hidden="500")` raise a ConfigError.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            kind = hints[f.name]
            if (
                kind in (bool, int, float, str) or typing.get_origin(kind) is tuple
            ):  # other types are a plugin's own to check
                object.__setattr__(self, f.name, coerce(getattr(self, f.name), kind, f.name, strict=True))
        self.validate()

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
        before = {
            f.name: f.metadata["absent"]
            for f in dataclasses.fields(cls)
            if f.metadata.get("absent") is not None and f.name not in data
        }
        return cls()._with({**before, **data}, strict=True)

    def replace(self: C, **overrides: Any) -> C:
        """A copy with some fields changed; values are checked (and strings coerced) to the field's type."""
        return self._with(overrides, strict=False)

    def _with(self: C, overrides: dict[str, Any], strict: bool) -> C:
        hints = typing.get_type_hints(type(self))
        names = [f.name for f in dataclasses.fields(self)]
        values = {}
        for key, value in overrides.items():
            if key not in names:
                raise ConfigError(f"{type(self).__name__} has no option {key!r}; its options are: {', '.join(names)}.")
            values[key] = coerce(value, hints[key], key, strict=strict)
        new = dataclasses.replace(self, **values)
        new.validate()
        return new

    def validate(self) -> None:
        """Raise ConfigError if a value is out of range: here, below its option's `minimum` or not one of its
        `choices` (subclasses extend this)."""
        for f in dataclasses.fields(self):
            minimum, choices, value = f.metadata.get("minimum"), f.metadata.get("choices"), getattr(self, f.name)
            if minimum is not None and value < minimum:
                raise ConfigError(f"{f.name} must be at least {minimum}, received {value}.")
            if choices is not None and value not in choices:
                raise ConfigError(f"{f.name} must be one of {', '.join(choices)}, received {value!r}.")

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, help) of every field, for `genmodels info`."""
        hints = typing.get_type_hints(cls)
        default = cls()
        return [
            (f.name, _type_name(hints[f.name]), getattr(default, f.name), f.metadata.get("help", ""))
            for f in dataclasses.fields(cls)
        ]


def option(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    absent: Any = None,
) -> Any:
    """A config field: its default and the help text that `genmodels info` and `--help` show.

    `validate` refuses a value below `minimum` or outside `choices`; the command line shows the
    value as `metavar` (default: the choices joined by |) and checks `minimum` as it parses.
    `absent` is the value a stored config.json without this field stands for, when that differs
    from the default: what runs saved before the option existed were built with.
    """
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    metadata = {"help": help, "minimum": minimum, "choices": choices, "metavar": metavar, "absent": absent}
    return field(default=default, metadata=metadata)


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
        item = typing.get_args(kind)[0]
        items = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}.get(item, str(item))
        return f"a {'' if strict else 'comma-separated '}list of {items}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(kind, str(kind))


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
