"""The registry: every model, dataset, tracker, metric and sampler that the loaded plugins registered, looked up by name."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from genmodels.core.errors import DuplicateNameError, GenmodelsWarning, PluginError, UnknownNameError
from genmodels.core.model_spec import NAME_PATTERN, ModelSpec
from genmodels.data.dataset import DatasetSpec
from genmodels.evaluation.metric_context import MetricSpec
from genmodels.samplers.sampler import SamplerSpec
from genmodels.training.tracking import TrackerSpec


class PluginWarning(GenmodelsWarning):
    """A plugin failed to load or registered something invalid; it was skipped."""


S = TypeVar("S", ModelSpec, DatasetSpec, TrackerSpec, MetricSpec, SamplerSpec)


BUILTIN_PACKAGE = "genmodels"


@dataclass
class Catalog(Generic[S]):
    """Specs of one kind (models, datasets, trackers, metrics or samplers) by name.

    A name claimed by several plugins is a conflict, reported as a plugin problem, but nothing is
    knocked out: each spec stays reachable by its qualified name `provider:name` (the provider is
    the package, or the plugin's name for one given in code). The plain name goes to the built-in
    spec if one of them is built in (genmodels' own package); otherwise it is ambiguous, and looking
    it up raises a DuplicateNameError that lists the qualified names to use.
    """

    kind: str
    spec_type: type[S]
    entries: dict[str, list[S]] = field(default_factory=dict)

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
        claims = self.entries.setdefault(spec.name, [])
        if any(qualified_name(other) == qualified_name(spec) for other in claims):
            report(f"plugin {plugin!r} registered the {self.kind} {spec.name!r} twice; the second was skipped")
            return
        claims.append(spec)
        if len(claims) > 1:
            report(self._conflict_message(spec.name))

    def get(self, name: str) -> S:
        """The spec registered under `name`, or under the qualified `provider:name`; raises
        UnknownNameError, or DuplicateNameError for a plain name that several third parties claim."""
        provider, colon, plain = name.rpartition(":")
        if colon:
            for spec in self.entries.get(plain, []):
                if provider in (spec.package, spec.plugin):
                    # one name however the provider was given (package or plugin): the one `list` shows, a run records
                    return (
                        spec
                        if self._plain_owner(plain) is spec
                        else dataclasses.replace(spec, name=qualified_name(spec))
                    )
            raise UnknownNameError(self.kind, name, [entry.name for entry in self])
        if name not in self.entries:
            raise UnknownNameError(self.kind, name, [entry.name for entry in self])
        owner = self._plain_owner(name)
        if owner is None:
            raise DuplicateNameError(self._conflict_message(name))
        return owner

    def __iter__(self):
        """Every spec, each under the name that reaches it: its own, or qualified where another owns that name."""
        entries = []
        for name, claims in self.entries.items():
            owner = self._plain_owner(name)
            entries += [
                spec if spec is owner else dataclasses.replace(spec, name=qualified_name(spec)) for spec in claims
            ]
        return iter(sorted(entries, key=lambda spec: spec.name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.entries

    @property
    def conflicts(self) -> dict[str, list[str]]:
        """Names claimed by several plugins, with the qualified name of each claim."""
        return {
            name: [qualified_name(spec) for spec in claims] for name, claims in self.entries.items() if len(claims) > 1
        }

    def _plain_owner(self, name: str) -> S | None:
        claims = self.entries.get(name, [])
        if len(claims) == 1:
            return claims[0]
        builtin = [spec for spec in claims if spec.package == BUILTIN_PACKAGE]
        return builtin[0] if len(builtin) == 1 else None

    def _conflict_message(self, name: str) -> str:
        claims = self.entries[name]
        who = " and ".join(_who(spec) for spec in claims)
        owner = self._plain_owner(name)
        if owner is not None:
            others = ", ".join(qualified_name(spec) for spec in claims if spec is not owner)
            choice = f"{name!r} is the built-in one; the other is {others}"
        else:
            choice = f"choose one by its qualified name ({', '.join(qualified_name(spec) for spec in claims)})"
        return f"{self.kind} {name!r} is registered by more than one plugin: {who}. {choice[0].upper()}{choice[1:]}"


def qualified_name(spec: ModelSpec | DatasetSpec | TrackerSpec | MetricSpec | SamplerSpec) -> str:
    """`provider:name`: the spec's name prefixed by its package (or by its plugin, for one given in code)."""
    return f"{spec.package or spec.plugin}:{spec.name}"


def _who(spec: ModelSpec | DatasetSpec | TrackerSpec | MetricSpec | SamplerSpec) -> str:
    return f"{spec.plugin!r} (package {spec.package})" if spec.package else repr(spec.plugin)


class PluginProblems(list):
    """Messages about plugins that were skipped; each is also issued as a PluginWarning.

    In strict mode they are errors instead: while the registry is being built (`collecting`) they
    are gathered, and `raise_if_strict` then raises one PluginError that lists every one of them;
    a problem found afterwards (a plugin's command) raises at once. Nothing is skipped silently.
    """

    def __init__(self, strict: bool = False):
        super().__init__()
        self.strict = strict
        self.collecting = False

    def __call__(self, message: str) -> None:
        self.append(message)
        if self.strict and not self.collecting:
            raise PluginError(f"{message} (strict plugin mode)")
        if not self.strict:
            warnings.warn(message, PluginWarning, stacklevel=3)

    def raise_if_strict(self) -> None:
        """In strict mode, one PluginError naming every problem gathered; else nothing."""
        if not self.strict or not self:
            return
        if len(self) == 1:
            raise PluginError(f"{self[0]} (strict plugin mode)")
        listed = "; ".join(f"({number}) {message}" for number, message in enumerate(self, 1))
        raise PluginError(f"{len(self)} plugin problems (strict plugin mode): {listed}")


@dataclass
class Registry:
    """The models, datasets, trackers, metrics and samplers of every loaded plugin, and what went wrong loading the others."""

    strict: dataclasses.InitVar[bool] = False
    models: Catalog[ModelSpec] = field(default_factory=lambda: Catalog("model", ModelSpec))
    datasets: Catalog[DatasetSpec] = field(default_factory=lambda: Catalog("dataset", DatasetSpec))
    trackers: Catalog[TrackerSpec] = field(default_factory=lambda: Catalog("tracker", TrackerSpec))
    metrics: Catalog[MetricSpec] = field(default_factory=lambda: Catalog("metric", MetricSpec))
    samplers: Catalog[SamplerSpec] = field(default_factory=lambda: Catalog("sampler", SamplerSpec))
    problems: PluginProblems = field(default_factory=PluginProblems)
    # (plugin, package, hook function) of every register_commands implementation, called by the CLI as it starts
    command_hooks: list[tuple[str, str, Callable[..., None]]] = field(default_factory=list)

    def __post_init__(self, strict: bool) -> None:
        self.problems.strict = strict

    def model(self, name: str) -> ModelSpec:
        """The model spec called `name`."""
        return self.models.get(name)

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset spec called `name`."""
        return self.datasets.get(name)

    def tracker(self, name: str) -> TrackerSpec:
        """The tracker spec called `name`."""
        return self.trackers.get(name)

    def metric(self, name: str) -> MetricSpec:
        """The metric spec called `name`."""
        return self.metrics.get(name)

    def sampler(self, name: str) -> SamplerSpec:
        """The sampler spec called `name`."""
        return self.samplers.get(name)
