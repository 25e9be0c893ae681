"""Feature networks kept in a folder (weights.npz + network.json): saved, loaded only when recipe, data and weights
match, trained when missing.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from genmodels.core.atomic import atomic_files
from genmodels.core.errors import CacheWarning, ChecksumError
from genmodels.data.dataset import TrainingImages
from genmodels.data.store import FEATURES_DIR_VARIABLE
from genmodels.evaluation.feature_networks import (
    CLASSIFIER,
    INFO_FILE,
    WEIGHTS_FILE,
    FeatureNetwork,
    FeatureRecipe,
    RETRAIN_HINT,
    build_networks,
    weights_sha256,
)
from genmodels.evaluation.feature_training import check_images, train_network


def save_network(network: FeatureNetwork, folder: Path) -> Path:
    """Write `folder`/weights.npz (the weight arrays in order, plain arrays) and `folder`/network.json (its info); both
    are replaced together, atomically (`genmodels.atomic`). Returns `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = network.weights
    with atomic_files() as group:  # both files are replaced together, or neither
        group.write(folder / WEIGHTS_FILE, lambda partial: _write_arrays(partial, arrays))
        group.write(folder / INFO_FILE, lambda partial: partial.write_text(json.dumps(network.info, indent=2) + "\n"))
    return folder


def _write_arrays(path: Path, arrays: Sequence[np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, *arrays)


def _refused(folder: Path, reason: str, hint: str) -> ChecksumError:
    return ChecksumError(f"the feature network in {folder} {reason}; delete {folder} or retrain it ({hint}).")


def load_network(
    folder: Path, images: TrainingImages, recipe: FeatureRecipe = FeatureRecipe(), *, retrain_hint: str = RETRAIN_HINT
) -> FeatureNetwork:
    """The network saved in `folder`, if it was trained with `recipe` on `images` and its weights are unchanged since.

    Checks, in order: network.json is readable; its recipe is `recipe`; its data_sha256 is `images.data_sha256()`;
    the content SHA-256 of weights.npz is its weights_sha256. Each failure is a ChecksumError naming `retrain_hint`,
    the command that trains it again. Nothing is unpickled.
    """
    folder = Path(folder)
    try:
        info = json.loads((folder / INFO_FILE).read_text())
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        stored_recipe, stored_data, stored_weights = info["recipe"], info["data_sha256"], info["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _refused(folder, f"has no readable {INFO_FILE} ({type(exc).__name__}: {exc})", retrain_hint) from None
    if stored_recipe != asdict(recipe):
        raise _refused(folder, f"was trained with another recipe ({stored_recipe}, not {asdict(recipe)})", retrain_hint)
    expected_data = images.data_sha256()
    if stored_data != expected_data:
        raise _refused(
            folder,
            f"was trained on other data (SHA-256 {stored_data}, the images given have {expected_data})",
            retrain_hint,
        )
    try:
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as stored:
            arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    except Exception as exc:  # a missing, truncated or foreign file: numpy and zipfile raise many kinds
        raise _refused(folder, f"has no readable {WEIGHTS_FILE} ({type(exc).__name__}: {exc})", retrain_hint) from None
    actual = weights_sha256(arrays)
    if actual != stored_weights:
        raise _refused(
            folder,
            f"had its weights changed since it was trained (their SHA-256 is {actual}, recorded {stored_weights})",
            retrain_hint,
        )
    try:
        classes = info.get("classes") if info["kind"] == CLASSIFIER else None
        trunk, network = build_networks(info["image_shape"], recipe.feature_dim, classes)
        network.set_weights(arrays)
    except Exception as exc:  # weights of another architecture (another genmodels version)
        raise _refused(
            folder, f"does not fit this version's architecture ({type(exc).__name__}: {exc})", retrain_hint
        ) from None
    return FeatureNetwork(trunk, network, info)


def cached_network(
    cache_root: Path,
    images: TrainingImages,
    recipe: FeatureRecipe = FeatureRecipe(),
    *,
    retrain: bool = False,
    progress: Callable[[str], None] | None = None,
    retrain_hint: str = RETRAIN_HINT,
) -> FeatureNetwork:
    """The feature network of `images` cached in `cache_root`/`images.name`: loaded if the folder holds one (a
    mismatch raises ChecksumError, never a silent retraining); trained, saved and returned if it holds none or
    `retrain` is set (replacing what was there). `retrain_hint`: the command a refusal names to retrain it."""
    check_images(images)
    folder = Path(cache_root) / images.name
    holds = (folder / INFO_FILE).exists() or (folder / WEIGHTS_FILE).exists()
    if holds and not retrain:
        return load_network(folder, images, recipe, retrain_hint=retrain_hint)
    network = train_network(images, recipe, progress)
    try:
        save_network(network, folder)
    except OSError as exc:  # a cache that cannot be written costs a retraining next time, not this metric
        warnings.warn(
            f"the feature network could not be cached in {folder} ({exc.strerror or exc}); it is used without "
            f"being saved. Set {FEATURES_DIR_VARIABLE} to a folder you can write to keep it.",
            CacheWarning,
            stacklevel=2,
        )
    return network
