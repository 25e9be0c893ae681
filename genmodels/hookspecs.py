"""The hooks a genmodels plugin may implement. Each is called once per plugin when the registry is built."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from genmodels.specs import DatasetSpec, ModelSpec

hookspec = pluggy.HookspecMarker("genmodels")
hookimpl = pluggy.HookimplMarker("genmodels")


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register models by calling ``register(ModelSpec(...))`` once for each.

    Called once for every plugin, in no guaranteed order; the return value is ignored. A plugin
    that raises here is reported and skipped; the models it registered before raising are dropped.
    A name already registered by another plugin makes that name unusable until one is removed.
    """


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets by calling ``register(DatasetSpec(...))`` once for each.

    Same call semantics as `register_models`: once per plugin, failures reported and skipped.
    """
