"""The few named errors genmodels raises; the CLI turns each into one readable line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenmodelsError(Exception):
    """Base class: an error the user can fix, reported without a traceback."""


class ConfigError(GenmodelsError, ValueError):
    """A hyperparameter, option or run configuration is invalid."""


class UnknownNameError(GenmodelsError, KeyError):
    """A model or dataset name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(known) or "none"
        super().__init__(f"Unknown {kind} {name!r}.{hint} Known {kind}s: {listing}.")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class DuplicateNameError(GenmodelsError):
    """Two plugins registered the same model or dataset name."""


class DatasetError(GenmodelsError):
    """A dataset is missing, unreachable, corrupt or of the wrong shape."""


class ChecksumError(DatasetError):
    """A downloaded or cached file does not have the expected checksum."""


class RunError(GenmodelsError):
    """A run directory is missing, incomplete or belongs to another model."""


class PluginError(GenmodelsError):
    """A plugin failed to load, raised in its hook or registered something invalid, in strict plugin mode."""


class TrainingError(GenmodelsError):
    """Training cannot go on: a loss became NaN or infinite, or the run is locked by another training."""


class NotApplicableError(GenmodelsError):
    """A metric does not apply to this model or data (a likelihood of a model without a density, say); the
    evaluation records the reason and goes on with the other metrics."""


class GenmodelsWarning(UserWarning):
    """Base class of genmodels' warnings: something worth knowing that does not stop the command; the CLI
    shows each as one line, `Warning: ...`."""


class TrainingWarning(GenmodelsWarning):
    """A training finished, but its figures say it would do better otherwise (its validation loss was still falling)."""


class ExportWarning(GenmodelsWarning):
    """An export was written, but without something the run has (a fitted sampler that cannot run in TensorFlow)."""


class CacheWarning(GenmodelsWarning):
    """A cache (feature networks, real images' features) could not be written; the work goes on without it."""
