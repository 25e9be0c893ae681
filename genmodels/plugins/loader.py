"""Loading plugins: entry points of the `genmodels` group (the built-ins included) into one registry."""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable
from importlib import metadata

import pluggy

from genmodels.core.errors import ConfigError
from genmodels.plugins import hookspecs
from genmodels.plugins.registry import Registry

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
    points; tests use it to add fake plugins without installing a package. Besides broken plugins,
    a hook implementation whose name is no hook (a misspelling such as `register_model`) and a hook
    function left without `@hookimpl` are reported. In strict mode (`strict`, by default from
    GENMODELS_STRICT_PLUGINS) the problems raise one PluginError that names every one of them.
    """
    registry = Registry(strict=strict_mode() if strict is None else strict)
    registry.problems.collecting = True
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
        (manager.hook.register_trackers, registry.trackers),
        (manager.hook.register_metrics, registry.metrics),
        (manager.hook.register_samplers, registry.samplers),
    ):
        for impl in hook.get_hookimpls():
            name = impl.plugin_name
            pending: list[object] = []
            try:
                impl.function(register=pending.append)
            except Exception as exc:
                registry.problems(f"plugin {name!r}{_from(packages[name])} failed in {hook.name}: {_describe(exc)}")
                continue
            for spec in pending:
                catalog.add(spec, plugin=name, package=packages[name], report=registry.problems)
    registry.command_hooks = [
        (impl.plugin_name, packages[impl.plugin_name], impl.function)
        for impl in manager.hook.register_commands.get_hookimpls()
    ]
    _check_hook_names(manager, packages, registry.problems)
    registry.problems.collecting = False
    registry.problems.raise_if_strict()
    return registry


def _check_hook_names(manager: pluggy.PluginManager, packages: dict[str, str], report) -> None:
    """Report hook implementations that match no hook (pluggy would ignore them) and hook functions
    that a plugin defines without marking them with @hookimpl (never called)."""
    callers = vars(manager.hook)
    known = sorted(name for name, caller in callers.items() if caller.has_spec())
    for name, caller in sorted(callers.items()):
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            report(
                f"plugin {impl.plugin_name!r}{_from(packages.get(impl.plugin_name, ''))} implements {name!r}, which is not a "
                f"genmodels hook{hint}, so it is never called; the hooks are {', '.join(known)}"
            )
    for plugin_name, plugin in manager.list_name_plugin():
        for hook in known:
            if callable(getattr(plugin, hook, None)) and manager.parse_hookimpl_opts(plugin, hook) is None:
                report(
                    f"plugin {plugin_name!r}{_from(packages.get(plugin_name, ''))} defines {hook} without @hookimpl, "
                    "so it is never called; mark it with @genmodels.hookimpl"
                )


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
