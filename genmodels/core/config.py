"""Hyperparameters: a model's architecture config and the training recipe, as plain dataclasses."""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from genmodels.core.errors import ConfigError
from genmodels.core.pixels import AUTO, likelihood_for, likelihood_kind

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


# Limits on sizes read from a config (a run's config.json may come from anyone): beyond them a model would not
# fit in memory, and building it would fail deep inside Keras instead of in one line.
MAX_LAYER_SIZE = 65_536  # codings, units of a layer, channels of a convolution
MAX_LAYER_WEIGHTS = 2**28  # weights of one dense layer (1 GiB of float32)


def _not_absurd(name: str, size: int) -> None:
    if size > MAX_LAYER_SIZE:
        raise ConfigError(
            f"{name} of {size:,} is beyond the {MAX_LAYER_SIZE:,} that genmodels builds (a model of that size would not fit in memory)."
        )


@dataclass
class ModelConfig(Config):
    """Architecture hyperparameters shared by every model; plugins subclass it to add their own."""

    latent_dim: int = option(20, "Dimension of the codings.")
    input_dim: int = option(
        784, "Size of one flattened input: height x width x channels (set from the dataset when training)."
    )
    image_shape: tuple[int, ...] = option(
        (), "Height, width and channels of the images (set from the dataset when training)."
    )

    def validate(self) -> None:
        super().validate()
        _positive(self, "latent_dim", "input_dim")
        _not_absurd("latent_dim", self.latent_dim)
        if not self.image_shape:
            return  # not known before the data is: set with input_dim by `fitted_to`
        if len(self.image_shape) != 3 or min(self.image_shape) <= 0:
            raise ConfigError(f"image_shape must be height,width,channels, received {self.image_shape!r}.")
        if math.prod(self.image_shape) != self.input_dim:
            raise ConfigError(
                f"input_dim {self.input_dim} is not the size of {'x'.join(map(str, self.image_shape))} images."
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images: `image_shape`, or for a config not yet fitted to data
        (and runs from before image_shape was recorded) square one-channel images of `input_dim` pixels."""
        if self.image_shape:
            return tuple(self.image_shape)
        side = math.isqrt(self.input_dim)
        return (side, side, 1) if side * side == self.input_dim else (1, self.input_dim, 1)

    def fitted_to(self: C, image_shape: tuple[int, ...], pixels: str, what: str) -> C:
        """This config for images of `image_shape` (H, W, C) whose values are of kind `pixels` (see genmodels.pixels):
        what the trainer calls before building the model. Subclasses resolve their own data-dependent options."""
        return self.replace(input_dim=math.prod(image_shape), image_shape=tuple(image_shape))


@dataclass
class LikelihoodConfig(ModelConfig):
    """Models whose decoder's likelihood is chosen by name (see genmodels.pixels.LIKELIHOODS)."""

    likelihood: str = option(
        "auto",
        "The decoder's likelihood p(x|z): bernoulli, gaussian, gaussian-shared, logistic or logistic-mixture; "
        "auto picks bernoulli for 0/1 pixels, logistic-mixture for 8-bit images, gaussian for floats.",
    )

    def validate(self) -> None:
        super().validate()
        if self.likelihood != AUTO:
            likelihood_kind(self.likelihood)

    def fitted_to(self, image_shape, pixels, what):
        fitted = super().fitted_to(image_shape, pixels, what)
        return fitted.replace(likelihood=likelihood_for(self.likelihood, pixels, what))


# What MLPConfig's dropout=auto becomes for each kind of data: measured on 7200 grey MNIST digits, the decoder's dropout
# took the vae's validation NLL from 1.45 to 1.35 bits/dim; binarized MNIST's recipe trains without it.
AUTO_DROPOUT = {"binary": 0.0, "8bit": 0.2, "continuous": 0.2}


@dataclass
class MLPConfig(LikelihoodConfig):
    """Models whose encoder and decoder are MLPs (the decoder mirrors the encoder's hidden sizes)."""

    hidden: tuple[int, ...] = option((500, 500), "Hidden layer sizes of the encoder; the decoder mirrors them.")
    activation: str = option(
        "elu",
        "Activation of the hidden layers: a Keras activation name, or gated (each layer a gated linear unit, "
        "(W x + b) * sigmoid(V x + c), as in Tomczak & Welling's VampPrior models).",
    )
    initializer: str = option("he_normal", "Kernel initializer of every layer (a Keras initializer name).")
    dropout: str = option(
        "auto",
        "Dropout rate of the decoder's hidden layers while training, from 0 to below 1; auto: 0.2 for 8-bit and float images "
        "(their likelihoods have several outputs a pixel and overfit a few thousand images), 0 for 0/1 pixels.",
        absent="0",
    )

    def validate(self) -> None:
        super().validate()
        if self.dropout != AUTO:
            try:
                rate = float(self.dropout)
            except ValueError:
                rate = math.nan
            if not 0 <= rate < 1:
                raise ConfigError(f"dropout must be auto or a rate from 0 to below 1, received {self.dropout!r}.")
        if not self.hidden or min(self.hidden) <= 0:
            raise ConfigError(f"hidden must list positive layer sizes, received {self.hidden!r}.")
        for size in self.hidden:
            _not_absurd("hidden", size)
        sizes = [self.input_dim, *self.hidden, self.latent_dim]
        for before, after in zip(sizes, sizes[1:]):
            if before * after > MAX_LAYER_WEIGHTS:
                raise ConfigError(
                    f"a {before} x {after} layer ({before * after:,} weights) is beyond the {MAX_LAYER_WEIGHTS:,} "
                    f"weights a layer may have; received hidden={list(self.hidden)}."
                )
        for name, example in (("activation", "elu"), ("initializer", "he_normal")):
            value = getattr(self, name)
            if not KERAS_NAME.match(value):
                raise ConfigError(
                    f"{name} must be the plain name of a Keras {name} (such as {example}), received {value!r}."
                )

    def fitted_to(self, image_shape, pixels, what):
        fitted = super().fitted_to(image_shape, pixels, what)
        if fitted.dropout != AUTO:
            return fitted
        return fitted.replace(dropout=str(AUTO_DROPOUT[pixels]))


# the training options a resumed run may change: how long it trains and which trackers listen
RESUME_CHANGES = ("epochs", "track")
PRECISIONS = ("float32", "bfloat16")
KEEP = ("last", "best")
SCHEDULES = ("constant", "cosine")


# What an epoch of the built-in recipes shows the model at least (TrainConfig.epoch_images): binarized MNIST's 50 000
# training images, MNIST's 54 000 and CIFAR-10's 45 000 are one pass; 2000 images are passed over 20 times an epoch.
EPOCH_IMAGES = 40_000


@dataclass
class TrainConfig(Config):
    """The training recipe: data, optimisation and randomness."""

    dataset: str = option(
        "binarized-mnist",
        "A registered dataset name, a folder of PNG/JPEG images (sub-folders as classes) or a path to an .npz file.",
    )
    epochs: int = option(50, "Passes over the training set.", minimum=1)
    batch_size: int = option(150, "Images per gradient step.", minimum=1)
    epoch_images: int = option(
        0,
        "Training images an epoch shows the model at least: a smaller training split is passed over several times "
        "in each epoch (whole passes), so that a small dataset gets as many gradient steps as a large one. 0: one pass an epoch "
        f"(the built-in models' recipes set {EPOCH_IMAGES}).",
        minimum=0,
    )
    learning_rate: float = option(1e-3, "Adam's step size (the first epoch's, under a schedule).")
    lr_schedule: str = option(
        "constant",
        "How the step size changes over the epochs: constant, or cosine (epoch e of E trains at "
        "learning_rate x (1 + cos(pi (e - 1) / E)) / 2, falling from learning_rate towards 0).",
        choices=SCHEDULES,
    )
    seed: int = option(0, "Seed for initialisation, shuffling and sampling; same seed, same run.", minimum=0)
    xla: bool = option(
        True,
        "Compile the training steps with XLA (fastest for MLPs); false runs TensorFlow graphs, much faster for convolutions on a CPU.",
    )
    precision: str = option(
        "float32",
        "Arithmetic of the layers: float32, or bfloat16 (mixed: bf16 matrix products, float32 weights and losses; "
        "faster on CPUs with bf16 units, see docs/performance.md).",
        choices=PRECISIONS,
    )
    kl_warmup: int = option(
        0,
        "Epochs over which the KL term's weight grows linearly from 0 to its full value (0: none).",
        minimum=0,
        metavar="EPOCHS",
    )
    dynamic_binarize: bool = option(
        False,
        "Draw every training pixel anew each time it is seen, as Bernoulli(grey); the validation and test sets are drawn once, from the seed.",
    )
    binarize: bool = option(
        False, "Threshold the images to 0/1 before training (1 where a value is >= 0.5, a uint8 grey >= 128)."
    )
    validation_fraction: float = option(
        0.1,
        "Share of the training images held out for validation when the dataset has no validation split (the same images for every run).",
    )
    keep: str = option(
        "best",
        "Which epoch's weights the run keeps for sampling and evaluation: best (the lowest validation loss), or last.",
        choices=KEEP,
    )
    early_stopping: int = option(
        0, "Stop after this many epochs without a better validation loss (0: never).", minimum=0, metavar="EPOCHS"
    )
    image_size: tuple[int, ...] = option(
        (),
        "Folders of images: resize every image to HEIGHT,WIDTH (default: their own size, which must then be one).",
        metavar="HEIGHT,WIDTH",
    )
    distribute: bool = option(
        False,
        "Train data-parallel on tf.distribute: across the workers TF_CONFIG names (start the same command on each), "
        "or this machine's GPUs (docs/distributed.md).",
    )
    track: tuple[str, ...] = option(
        (), "Trackers that receive training events, such as tensorboard (see genmodels list).", metavar="NAME,..."
    )

    def passes(self, train_size: int) -> int:
        """Passes over a training split of `train_size` images in one epoch (see `epoch_images`)."""
        return max(1, math.ceil(self.epoch_images / max(1, train_size)))

    def steps_per_epoch(self, train_size: int) -> int:
        """Gradient steps in one epoch over a training split of `train_size` images."""
        return math.ceil(self.passes(train_size) * train_size / self.batch_size)

    def validate(self) -> None:
        super().validate()
        _positive(self, "epochs", "batch_size", "learning_rate")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}, received {self.seed}.")
        if not self.dataset.strip():
            raise ConfigError("dataset must be a dataset name or a path to an .npz file, received an empty string.")
        if self.binarize and self.dynamic_binarize:
            raise ConfigError("binarize thresholds the images once and dynamic_binarize draws them anew: choose one.")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction must lie between 0 and 1, received {self.validation_fraction!r}.")
        if self.image_size and (len(self.image_size) != 2 or min(self.image_size) <= 0):
            raise ConfigError(f"image_size must be HEIGHT,WIDTH of positive sizes, received {self.image_size!r}.")
        repeated = sorted({name for name in self.track if self.track.count(name) > 1})
        if repeated:
            raise ConfigError(f"track names the tracker {repeated[0]!r} more than once.")


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


# A registered name: lower-case letters, digits, '.', '_' and '-'.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# a name as a user may give it: NAME, or PROVIDER:NAME for one that more than one plugin registers
QUALIFIED_NAME_PATTERN = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]*:)?[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model: its name, its config class and a function that builds it from a config.

    `build` receives an instance of `config` and returns a `genmodels.GenerativeModel`. Import
    TensorFlow inside `build` (not at module level) so that `genmodels list` stays instant.
    """

    name: str
    description: str
    build: Callable[[ModelConfig], Any]  # returns a genmodels.GenerativeModel
    config: type[ModelConfig] = ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    plugin: str = ""
    package: str = ""
