"""The public import paths, kept as thin faces over the modules that hold the code.

Plugins, programs and the docs import `genmodels.components`, `genmodels.data`, `genmodels.errors`, ...; the
code lives in subpackages by concept (`genmodels.nn.components`, `genmodels.data.dataset`,
`genmodels.core.errors`, ...). Each public path is a module of a few lines whose attributes are looked up in the
modules `PUBLIC` names for it, on first use: importing a face costs nothing until a name is used, so
`import genmodels` and the registry still import no TensorFlow. The code inside the package imports the modules
that hold the code, never a face (tests/test_architecture.py checks both).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

# public path -> the modules that hold its names, searched in order
PUBLIC: dict[str, tuple[str, ...]] = {
    "genmodels.atomic": ("genmodels.core.atomic",),
    "genmodels.backend": ("genmodels.core.backend",),
    "genmodels.config": (
        "genmodels.core.config",
        "genmodels.core.model_config",
        "genmodels.core.train_config",
        "genmodels.core.model_spec",
    ),
    "genmodels.errors": ("genmodels.core.errors",),
    "genmodels.pixels": ("genmodels.core.pixels",),
    "genmodels.plots": ("genmodels.core.plots",),
    "genmodels.data": ("genmodels.data.dataset", "genmodels.data.arrays", "genmodels.data.store", "genmodels.data.npz"),
    "genmodels.components": (
        "genmodels.nn.components",
        "genmodels.nn.priors",
        "genmodels.nn.losses",
        "genmodels.nn.flows",
    ),
    "genmodels.distributions": ("genmodels.nn.distributions",),
    "genmodels.interfaces": ("genmodels.nn.interfaces",),
    "genmodels.likelihoods": ("genmodels.nn.likelihoods",),
    "genmodels.model": ("genmodels.nn.model",),
    "genmodels.runs": (
        "genmodels.runs.format",
        "genmodels.runs.loading",
        "genmodels.runs.checkpoints",
        "genmodels.runs.lock",
    ),
    "genmodels.export": ("genmodels.runs.export",),
    "genmodels.samplers": ("genmodels.samplers.sampler", "genmodels.samplers.fitting"),
    "genmodels.evaluation": ("genmodels.evaluation.likelihood",),
    "genmodels.feature_networks": (
        "genmodels.evaluation.feature_networks",
        "genmodels.evaluation.feature_training",
        "genmodels.evaluation.feature_cache",
    ),
    "genmodels.metrics": ("genmodels.evaluation.metric_context", "genmodels.evaluation.metrics"),
    "genmodels.sample_quality": ("genmodels.evaluation.sample_quality",),
    "genmodels.tracking": ("genmodels.training.tracking", "genmodels.training.tracker_list"),
    "genmodels.hookspecs": ("genmodels.plugins.hookspecs",),
    "genmodels.plugins": ("genmodels.plugins.loader",),
    "genmodels.registry": ("genmodels.plugins.registry",),
    "genmodels.cli": ("genmodels.cli.program",),
}


def exports(module: ModuleType) -> list[str]:
    """The names `module` defines for others: its `__all__`, else its public names that are neither modules nor
    classes and functions it imported from elsewhere."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "TYPE_CHECKING"
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", module.__name__) == module.__name__
    )


def forward(face: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A face's module-level `__getattr__` and `__dir__`: names looked up, on first use, in the modules
    `PUBLIC[face]` names."""
    targets = PUBLIC[face]

    def names() -> list[str]:
        return sorted({name for target in targets for name in exports(importlib.import_module(target))})

    def __getattr__(name: str) -> Any:
        if name == "__all__":
            return names()
        if not name.startswith("_"):
            for target in targets:
                module = importlib.import_module(target)
                if hasattr(module, name):
                    return getattr(module, name)
        raise AttributeError(f"module {face!r} has no attribute {name!r}")

    return __getattr__, names


def public_module(name: str) -> str:
    """The public path of the module called `name` (itself when it has none)."""
    return next((face for face, targets in PUBLIC.items() if name in targets), name)
