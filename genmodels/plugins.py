"""Loading plugins: entry points of the `genmodels` group (the built-ins included) into one registry."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from importlib import metadata

import pluggy

from genmodels import hookspecs
from genmodels.errors import ConfigError
from genmodels.registry import Registry

ENTRY_POINT_GROUP = "genmodels"
BUILTIN_PACKAGE = "genmodels"
ALLOWLIST_VARIABLE = "GENMODELS_PLUGINS"
STRICT_VARIABLE = "GENMODELS_STRICT_PLUGINS"
_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def allowed_packages() -> set[str] | None:
    """Third-party packages allowed by GENMODELS_PLUGINS (comma-separated); None when it is unset."""
    value = os.environ.get(ALLOWLIST_VARIABLE)
    if value is None:
        return None
    return {_normalise(name) for name in value.split(",") if name.strip()}


def strict_mode() -> bool:
    """Whether GENMODELS_STRICT_PLUGINS asks for strict plugin mode (1/true/yes/on; unset, 0/false/no/off: not)."""
    value = os.environ.get(STRICT_VARIABLE, "").strip().lower()
    if value not in _ON + _OFF:
        raise ConfigError(f"{STRICT_VARIABLE} must be 1 or 0 (or true/false), received {value!r}.")
    return value in _ON


def build_registry(
    extra_plugins: Iterable[object] = (), *, entry_points: bool = True, strict: bool | None = None
) -> Registry:
    """Load the plugins and collect what they register. Broken plugins are reported and skipped.

    `extra_plugins` are modules or objects with hook implementations registered after the entry
    points; tests use it to add fake plugins without installing a package. In strict mode (`strict`,
    by default from GENMODELS_STRICT_PLUGINS) the first problem raises a PluginError naming the plugin.
    """
    registry = Registry(strict=strict_mode() if strict is None else strict)
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    packages: dict[str, str] = {}

    candidates = list(_entry_points()) if entry_points else []
    candidates += [(_plugin_name(plugin), "", plugin) for plugin in extra_plugins]
    for name, package, loader in candidates:
        try:
            plugin = loader.load() if isinstance(loader, metadata.EntryPoint) else loader
            manager.register(plugin, name=name)
        except Exception as exc:  # a broken plugin must never take the others down
            registry.problems(f"plugin {name!r}{_from(package)} could not be loaded: {_describe(exc)}")
            continue
        packages[name] = package

    for hook, catalog in (
        (manager.hook.register_models, registry.models),
        (manager.hook.register_datasets, registry.datasets),
    ):
        for impl in hook.get_hookimpls():
            name = impl.plugin_name
            pending: list[object] = []
            try:
                impl.function(register=pending.append)
            except Exception as exc:
                registry.problems(
                    f"plugin {name!r}{_from(packages[name])} failed in {hook.name}: {_describe(exc)}"
                )
                continue
            for spec in pending:
                catalog.add(spec, plugin=name, package=packages[name], report=registry.problems)
    return registry


def get_registry() -> Registry:
    """The registry of all installed plugins, built once per process (and per strictness)."""
    return _registry(strict_mode())


@functools.lru_cache(maxsize=2)
def _registry(strict: bool) -> Registry:
    return build_registry(strict=strict)


def _entry_points():
    allowed = allowed_packages()
    seen = set()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        package = entry_point.dist.name if entry_point.dist is not None else ""
        key = (entry_point.name, entry_point.value)
        if key in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(key)
        builtin = _normalise(package) == BUILTIN_PACKAGE
        if allowed is not None and not builtin and _normalise(package) not in allowed:
            continue
        yield entry_point.name, package, entry_point


def _plugin_name(plugin: object) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def _from(package: str) -> str:
    return f" (package {package})" if package else ""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")
