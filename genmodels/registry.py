"""The registry: every model and dataset that the loaded plugins registered, looked up by name."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from genmodels.errors import DuplicateNameError, PluginError, UnknownNameError
from genmodels.specs import NAME_PATTERN, DatasetSpec, ModelSpec


class PluginWarning(UserWarning):
    """A plugin failed to load or registered something invalid; it was skipped."""


S = TypeVar("S", ModelSpec, DatasetSpec)


@dataclass
class Catalog(Generic[S]):
    """Specs of one kind (models or datasets) by name, with the names two plugins both claimed."""

    kind: str
    spec_type: type[S]
    specs: dict[str, S] = field(default_factory=dict)
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, spec: object, *, plugin: str, package: str, report: PluginProblems) -> None:
        """Add one spec registered by `plugin`; anything invalid is reported, not raised."""
        if not isinstance(spec, self.spec_type):
            report(f"plugin {plugin!r} registered {spec!r} as a {self.kind}; expected a {self.spec_type.__name__}")
            return
        if not isinstance(spec.name, str) or not NAME_PATTERN.match(spec.name):
            report(
                f"plugin {plugin!r} registered the {self.kind} name {spec.name!r}; names are lower-case "
                "letters, digits, '.', '_' and '-'"
            )
            return
        spec = dataclasses.replace(spec, plugin=plugin, package=package)
        if spec.name in self.conflicts:
            self.conflicts[spec.name].append(_who(spec))
        elif spec.name in self.specs:
            first = self.specs.pop(spec.name)
            self.conflicts[spec.name] = [_who(first), _who(spec)]
        else:
            self.specs[spec.name] = spec
            return
        report(self._conflict_message(spec.name))

    def get(self, name: str) -> S:
        """The spec registered under `name`; raises UnknownNameError or DuplicateNameError."""
        if name in self.conflicts:
            raise DuplicateNameError(self._conflict_message(name))
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, [*self.specs, *self.conflicts]) from None

    def __iter__(self):
        return iter(sorted(self.specs.values(), key=lambda spec: spec.name))

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def _conflict_message(self, name: str) -> str:
        who = " and ".join(self.conflicts[name])
        return (
            f"{self.kind} {name!r} is registered by more than one plugin: {who}. "
            "Uninstall one of them, or choose which load with GENMODELS_PLUGINS."
        )


def _who(spec: ModelSpec | DatasetSpec) -> str:
    return f"{spec.plugin!r} (package {spec.package})" if spec.package else repr(spec.plugin)


class PluginProblems(list):
    """Messages about plugins that were skipped; each is also issued as a PluginWarning.

    In strict mode the first problem raises a PluginError instead: nothing is skipped silently.
    """

    def __init__(self, strict: bool = False):
        super().__init__()
        self.strict = strict

    def __call__(self, message: str) -> None:
        if self.strict:
            raise PluginError(f"{message} (strict plugin mode)")
        self.append(message)
        warnings.warn(message, PluginWarning, stacklevel=3)


@dataclass
class Registry:
    """The models and datasets of every loaded plugin, and what went wrong loading the others."""

    strict: dataclasses.InitVar[bool] = False
    models: Catalog[ModelSpec] = field(default_factory=lambda: Catalog("model", ModelSpec))
    datasets: Catalog[DatasetSpec] = field(default_factory=lambda: Catalog("dataset", DatasetSpec))
    problems: PluginProblems = field(default_factory=PluginProblems)

    def __post_init__(self, strict: bool) -> None:
        self.problems.strict = strict

    def model(self, name: str) -> ModelSpec:
        """The model spec called `name`."""
        return self.models.get(name)

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset spec called `name`."""
        return self.datasets.get(name)
