"""docs/reference.md, generated from the code: everything a plugin or a program touches, with its
signature and docstring. `python tools/reference.py > docs/reference.md` writes it again; a test
fails when the page and the code differ.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from types import ModuleType
from typing import Any

from genmodels.core.faces import PUBLIC, public_module
from genmodels import (  # the public paths, as plugins and programs import them
    api,
    components,
    config,
    data,
    distributions,
    errors,
    export,
    feature_networks,
    hookspecs,
    interfaces,
    likelihoods,
    metrics,
    model,
    sample_quality,
    specs,
    tracking,
)

# (section, introduction, [(module, [names])]): what the page documents, in its order
SECTIONS: list[tuple[str, str, list[tuple[ModuleType, list[str]]]]] = [
    (
        "Registering",
        "What a plugin's hooks register (`genmodels.hookspecs`), and the configs its model is built from.",
        [
            (
                hookspecs,
                [
                    "register_models",
                    "register_datasets",
                    "register_trackers",
                    "register_metrics",
                    "register_samplers",
                    "register_commands",
                ],
            ),
            (specs, ["ModelSpec", "DatasetSpec", "TrackerSpec", "MetricSpec", "SamplerSpec"]),
            (config, ["option", "ModelConfig", "LikelihoodConfig", "MLPConfig", "TrainConfig"]),
        ],
    ),
    (
        "Data",
        "What a dataset plugin's `load` returns, and the helpers that read and download its files.",
        [
            (
                data,
                ["Dataset", "read_npz", "fetch", "verify", "sha256_of", "data_dir", "features_dir", "TrainingImages"],
            ),
        ],
    ),
    (
        "Model parts",
        "The parts a model is made of (`genmodels.interfaces`), the model that joins them, and the distributions they pass.",
        [
            (interfaces, ["Encoder", "Decoder", "LatentPrior", "Loss", "ForwardPass", "Critic", "StepUpdate"]),
            (model, ["GenerativeModel"]),
            (distributions, ["Distribution", "DiagonalGaussian", "Bernoulli", "PointMass"]),
            (likelihoods, ["PixelLikelihood", "Gaussian", "DiscretizedLogistic", "DiscretizedLogisticMixture"]),
        ],
    ),
    (
        "genmodels.components",
        "Parts shared by the built-in models, for any plugin to reuse or subclass.",
        [
            (components, ["*"]),
        ],
    ),
    (
        "Training events",
        "Trackers receive a training's events (`register_trackers`).",
        [
            (tracking, ["Tracker"]),
        ],
    ),
    (
        "Metrics",
        "What a metric (`register_metrics`) receives, the maths of the built-in ones, and the feature networks they use ([metrics.md](metrics.md)).",
        [
            (metrics, ["MetricContext", "run_metrics", "feature_network_for"]),
            (
                sample_quality,
                [
                    "GaussianStatistics",
                    "frechet_distance",
                    "fid",
                    "fid_with_error",
                    "knn_radii",
                    "precision_recall",
                    "active_units",
                ],
            ),
            (feature_networks, ["FeatureRecipe", "FeatureNetwork", "train_network", "cached_network"]),
        ],
    ),
    (
        "Python API",
        "Train, load and use runs from Python ([python.md](python.md)).",
        [
            (api, ["train", "load", "models", "datasets", "Run"]),
            (export, ["export_saved_model"]),
        ],
    ),
    (
        "Errors",
        "The named errors; the command line prints each as one line.",
        [
            (errors, ["*"]),
        ],
    ),
]


def render() -> str:
    """The whole page."""
    lines = [
        "# API reference",
        "",
        "Generated from the code by `python tools/reference.py > docs/reference.md`; a test keeps it in",
        "step. How to use these in a plugin: [plugins.md](plugins.md); from a program: [python.md](python.md).",
        "",
    ]
    for section, introduction, sources in SECTIONS:
        entries = [(module.__name__, name, obj) for module, names in sources for name, obj in _members(module, names)]
        lines += [f"## {section}", "", introduction, ""]
        for module, name, obj in entries:
            lines += _entry(module, name, obj)
    return "\n".join(lines).rstrip() + "\n"


def _members(module: ModuleType, names: list[str]) -> list[tuple[str, Any]]:
    if names == ["*"]:
        return [
            (name, obj)
            for source in _sources(module)
            for name, obj in vars(source).items()
            if not name.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == source.__name__
        ]
    return [(name, getattr(module, name)) for name in names]


def _sources(module: ModuleType) -> list[ModuleType]:
    """The modules that hold a public path's code, in order (the module itself when it is not a face)."""
    return [importlib.import_module(name) for name in PUBLIC.get(module.__name__, (module.__name__,))]


def _entry(module: str, name: str, obj: Any) -> list[str]:
    header = f"class {name}{_signature(obj)}" if inspect.isclass(obj) else f"def {name}{_signature(obj)}"
    lines = [f"### `{module}.{name}`", "", "<!-- signature -->", "```python", header, "```", ""]
    bases = [base for base in getattr(obj, "__bases__", ()) if base is not object]
    if bases:
        lines += [f"Subclass of {', '.join(f'`{_qualified(base)}`' for base in bases)}.", ""]
    if _doc(obj):
        lines += [_doc(obj), ""]
    if inspect.isclass(obj):
        lines += _fields(obj) + _methods(obj)
    return lines


def _signature(obj: Any) -> str:
    if (
        inspect.isclass(obj)
        and not dataclasses.is_dataclass(obj)
        and not any("__init__" in vars(base) for base in obj.__mro__ if base.__module__.startswith("genmodels"))
    ):
        return "" if _is_error(obj) else "(...)"
    try:
        return _format(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _format(signature: inspect.Signature, drop_self: bool = False) -> str:
    """A signature as written in the source: annotations unquoted, defaults as Python reprs, no self."""
    parts, star_done = [], False
    parameters = list(signature.parameters.values())
    if drop_self and parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    for parameter in parameters:
        if parameter.kind == parameter.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        if parameter.kind == parameter.VAR_POSITIONAL:
            star_done = True
        prefix = {parameter.VAR_POSITIONAL: "*", parameter.VAR_KEYWORD: "**"}.get(parameter.kind, "")
        text = prefix + parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {_annotation(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            spaced = parameter.annotation is not parameter.empty  # PEP 8: x: int = 1, but x=1
            text += f"{' = ' if spaced else '='}{_default(parameter.default)}"
        parts.append(text)
    returns = signature.return_annotation
    arrow = f" -> {_annotation(returns)}" if returns is not signature.empty and returns not in (None, "None") else ""
    return f"({', '.join(parts)}){arrow}"


def _annotation(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _default(value: Any) -> str:
    if inspect.isclass(value):
        return value.__qualname__
    if repr(value).startswith("<"):
        return "..."
    return repr(value)


def _is_error(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseException)


def _doc(obj: Any) -> str:
    doc = inspect.getdoc(obj) if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__doc__ else ""
    if inspect.isclass(obj) and "__doc__" not in vars(obj):
        return ""
    return doc or ""


def _fields(cls: type) -> list[str]:
    """A config class's options (name, type, default, help); other dataclasses' fields are in the signature."""
    if not dataclasses.is_dataclass(cls) or not any(f.metadata.get("help") for f in dataclasses.fields(cls)):
        return []
    rows = ["| option | type | default | help |", "| --- | --- | --- | --- |"]
    for name, kind, default, help_text in cls.describe():
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        rows.append(f"| `{name}` | {kind} | `{shown}` | {help_text.replace('|', '/')} |")
    return rows + [""]


def _methods(cls: type) -> list[str]:
    """The public methods and properties the class itself defines, each with its docstring's first paragraph."""
    rows = []
    for name, member in vars(cls).items():
        if name.startswith("_") or name in ("get_config", "call", "build"):
            continue
        function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        if not inspect.isfunction(function):
            continue
        signature = "" if isinstance(member, property) else _format(inspect.signature(function), drop_self=True)
        summary = (inspect.getdoc(function) or "").split("\n\n")[0].replace("\n", " ")
        rows.append(f"- `{name}{signature}`" + (f": {summary}" if summary else ""))
    return rows + [""] if rows else []


def _qualified(cls: type) -> str:
    module = public_module(cls.__module__)
    if module.startswith("keras"):
        module = "keras.layers" if issubclass(cls, _keras_layer()) else module
    return f"{module}.{cls.__qualname__}"


def _keras_layer():
    import keras

    return keras.layers.Layer


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
