"""Evaluation metrics beyond the likelihood: what a metric receives (`MetricContext`) and how the metrics
an evaluation names are run (`run_metrics`).

A metric is a plugin (`register_metrics`, `genmodels.specs.MetricSpec`); the built-in ones (fid, prd,
active-units) are registered exactly so. `nll`, the importance-weighted likelihood, is the core
evaluation (`genmodels.evaluation`) and is named in `--metrics` like the others.

Sample metrics share one set of generated images and one feature network per evaluation: the context
draws the samples once, trains (or loads from the cache) the dataset's feature network once, and keeps
the features of real images on disk, keyed by the SHA-256 of those images and of the network's weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genmodels.core.errors import ConfigError, GenmodelsError, NotApplicableError
from genmodels.data.dataset import DatasetSpec, TrainingImages
from genmodels.evaluation.metric_context import MetricContext, MetricSpec

if TYPE_CHECKING:
    pass


class MetricCatalog(Protocol):
    """What the metric functions need of a registry (`genmodels.registry.Registry` is one): the registered metric and
    dataset specs (`name in catalog.metrics`, iteration) and each by name."""

    metrics: Any
    datasets: Any

    def metric(self, name: str) -> MetricSpec: ...

    def dataset(self, name: str) -> DatasetSpec: ...


NLL = "nll"  # the core evaluation's importance-weighted likelihood, named beside the plugins' metrics
DEFAULT_METRICS = (NLL, "fid", "prd", "active-units")


def feature_source_of(train_config, registry: MetricCatalog) -> Callable[[Path], TrainingImages] | None:
    """The `features` of the dataset spec a training recipe (TrainConfig) names; None for a folder or an .npz."""
    if train_config.dataset in registry.datasets:
        return registry.dataset(train_config.dataset).features
    return None


def check_metric_names(names: Sequence[str], registry: MetricCatalog) -> list[str]:
    """`names` without repeats, each `nll` or a registered metric (else an UnknownNameError listing them)."""
    from genmodels.core.errors import UnknownNameError

    chosen = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not chosen:
        raise ConfigError("--metrics names no metric; give a comma-separated list such as nll,fid.")
    for name in chosen:
        if name != NLL and name not in registry.metrics and ":" not in name:
            raise UnknownNameError("metric", name, [NLL, *(spec.name for spec in registry.metrics)])
        if name != NLL:
            registry.metric(name)
    return chosen


def run_metrics(
    names: Sequence[str],
    context: MetricContext,
    registry: MetricCatalog,
    announce: Callable[[str], None] | None = None,
    done: Callable[[dict[str, dict[str, Any]]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each named plugin metric's figures (`nll` is the core evaluation's and is left out), with the seed and
    the seconds it took; a metric that does not apply gives {"skipped": reason}. Metrics run in the order given,
    and `done` receives the figures so far after each one (to save them before a later metric can fail)."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == NLL:
            continue
        spec = registry.metric(name)
        if announce:
            announce(f"Computing {name}: {spec.description}")
        started = time.perf_counter()
        try:
            figures = dict(spec.compute(context))
        except NotApplicableError as exc:
            results[name] = {"skipped": str(exc)}
        except GenmodelsError:
            raise
        except Exception as exc:  # a plugin's bug is reported as its own, not as genmodels'
            raise GenmodelsError(f"the metric {name!r} ({spec.plugin}) failed: {type(exc).__name__}: {exc}") from exc
        else:
            results[name] = {**figures, "seed": context.seed, "seconds": round(time.perf_counter() - started, 2)}
        if done is not None:
            done(dict(results))
    return results


def summary_rows(name: str, figures: dict[str, Any], registry: MetricCatalog) -> list[tuple[str, str]]:
    """The (label, value) rows evaluate prints for a metric's figures."""
    if "skipped" in figures:
        return [(f"{name}", f"not computed: {figures['skipped']}")]
    spec = registry.metric(name)
    if spec.summary is not None:
        return list(spec.summary(figures))
    return [
        (f"{name} {key}", f"{value:.4g}" if isinstance(value, float) else str(value))
        for key, value in figures.items()
        if isinstance(value, (int, float)) and key not in ("seed", "seconds")
    ]
