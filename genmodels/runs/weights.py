"""Loading a run's Keras weights file, and saying plainly why one does not fit.

`model.weights.h5` is an HDF5 file of named arrays (Keras' weights-only format): loading it
assigns numbers to variables and never runs code, unlike a whole-model `.keras` file, which names
classes and can carry Python lambdas. When the arrays do not fit the model that config.json
describes, the error names the first array that differs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from genmodels.core.errors import RunError

MAX_DIFFERENCES_SHOWN = 1
OPTIMIZER_GROUPS = ("optimizer/", "critic_optimizers/")  # they mirror the model's arrays, which tell what differs


def load_weights(model, path: Path, architecture: str) -> None:
    """Load `path` into the built `model`, or raise a RunError naming the file and what does not fit."""
    try:
        model.load_weights(path)
    except Exception as exc:  # Keras and h5py raise many kinds; each becomes one RunError naming the file
        raise RunError(_diagnose(model, Path(path), architecture, exc)) from None


def array_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every array of the model in an HDF5 weights file (the optimizer's left out) by its path, with its shape."""
    import h5py

    shapes: dict[str, tuple[int, ...]] = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            shapes[name] = tuple(int(n) for n in item.shape)

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return {name: shape for name, shape in shapes.items() if not name.startswith(OPTIMIZER_GROUPS)}


def _diagnose(model, path: Path, architecture: str, error: Exception) -> str:
    try:
        found = array_shapes(path)
    except Exception as exc:
        return f"{path} is not a readable Keras weights file ({_first_line(exc)}); it is truncated or corrupt."
    with tempfile.TemporaryDirectory() as folder:
        reference = Path(folder) / "expected.weights.h5"
        model.save_weights(reference)
        expected = array_shapes(reference)
    differences = []
    for name in sorted(set(found) | set(expected)):
        if name not in found:
            differences.append(f"the file lacks {name} ({_shape(expected[name])})")
        elif name not in expected:
            differences.append(f"the file has {name} ({_shape(found[name])}), which the model lacks")
        elif found[name] != expected[name]:
            differences.append(f"{name} is {_shape(found[name])} in the file but {_shape(expected[name])} in the model")
    if not differences:
        return f"cannot load {path}: {_first_line(error)}"
    more = len(differences) - MAX_DIFFERENCES_SHOWN
    shown = "; ".join(differences[:MAX_DIFFERENCES_SHOWN]) + (f" (and {more} more differences)" if more > 0 else "")
    return f"{path} was made by another model or architecture than config.json describes ({architecture}): {shown}."


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "a scalar"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
