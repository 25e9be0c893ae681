"""The hooks a genmodels plugin may implement. Each is called once per plugin when the registry is built."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from genmodels.core.model_spec import ModelSpec
    from genmodels.data.dataset import DatasetSpec
    from genmodels.evaluation.metric_context import MetricSpec
    from genmodels.samplers.sampler import SamplerSpec
    from genmodels.training.tracking import TrackerSpec

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


@hookspec
def register_trackers(register: Callable[[TrackerSpec], None]) -> None:
    """Register trackers by calling ``register(TrackerSpec(...))`` once for each.

    Same call semantics as `register_models`: once per plugin, failures reported and skipped. A
    tracker is only registered here; it is created (`TrackerSpec.create`) when a training names it
    in its `track` option, and then receives that training's events (`genmodels.tracking.Tracker`).
    """


@hookspec
def register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Register evaluation metrics by calling ``register(MetricSpec(...))`` once for each.

    Same call semantics as `register_models`: once per plugin, failures reported and skipped. A metric
    is computed when `genmodels evaluate --metrics` names it (`MetricSpec.compute`); its figures go
    into the evaluation JSON under its name and `genmodels compare` can show them.
    """


@hookspec
def register_samplers(register: Callable[[SamplerSpec], None]) -> None:
    """Register latent samplers fitted after training by calling ``register(SamplerSpec(...))`` once for each.

    Same call semantics as `register_models`: once per plugin, failures reported and skipped. A sampler is
    fitted to a run's training codings when `genmodels sample` or `genmodels evaluate` first names it in
    `--sampler` (`SamplerSpec.fit`), saved in the run directory, and then draws the codings that are decoded.
    """


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands to the `genmodels` command line with ``@cli.command()`` (a Typer app).

    Called once for every plugin as the command line starts, before it parses its arguments, so
    keep it cheap: import TensorFlow inside the command, never here. A command whose name is taken
    (a built-in's or another plugin's) is reported and left out, as is a plugin that raises here.
    """
