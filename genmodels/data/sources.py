"""Where a dataset comes from: a registered name, a folder of images or an .npz file, resolved and prepared as
training prepares it. It sits above both the dataset type (`genmodels.data`) and the folder reader
(`genmodels.data.folders`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from genmodels.core.errors import DatasetError
from genmodels.data.dataset import DEFAULT_VALIDATION_FRACTION, Dataset, DatasetSpec, prepared
from genmodels.data.folders import load_folder
from genmodels.data.npz import load_npz
from genmodels.data.store import data_dir


class DatasetCatalog(Protocol):
    """What resolving a dataset needs of a registry (`genmodels.registry.Registry` is one): the registered dataset
    specs (`name in catalog.datasets`) and each by name."""

    datasets: Any

    def dataset(self, name: str) -> DatasetSpec: ...


def load_dataset(
    name_or_path: str,
    registry: DatasetCatalog,
    *,
    binarize: bool = False,
    dynamic_binarize: bool = False,
    seed: int = 0,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    image_size: tuple[int, ...] = (),
    from_run: bool = False,
) -> Dataset:
    """A registered dataset by name (cached in `data_dir()`), a folder of images (resized to `image_size`
    (height, width) when given; with `from_run`, a folder a run's config.json names, whose decoded cache then
    goes under `data_dir()` only), or a user's .npz by path,
    with a validation split (its own, or `validation_fraction` of the training images held out, the
    same for every run). Thresholded to 0/1 when `binarize` is set (`genmodels train --binarize`);
    with `dynamic_binarize` the training images stay grey (the trainer draws their pixels at every
    step) and the validation and test images are drawn once from `seed`."""
    if name_or_path in registry.datasets or not _looks_like_path(name_or_path):
        dataset = registry.dataset(name_or_path).load(data_dir())
        if not isinstance(dataset, Dataset):
            raise DatasetError(
                f"the dataset plugin for {name_or_path!r} returned {type(dataset).__name__}, not a genmodels Dataset."
            )
    elif Path(name_or_path).is_dir():
        dataset = load_folder(Path(name_or_path), tuple(image_size) or None, cache_in_folder=not from_run)
    else:
        dataset = load_npz(Path(name_or_path))
    if image_size and not Path(name_or_path).is_dir():
        raise DatasetError(f"--image-size resizes the images of a folder; {name_or_path} is not a folder of images.")
    return prepared(
        dataset,
        binarize=binarize,
        dynamic_binarize=dynamic_binarize,
        seed=seed,
        validation_fraction=validation_fraction,
    )


def dataset_for(
    train_config, registry: DatasetCatalog, dataset: Dataset | None = None, *, from_run: bool = False
) -> Dataset:
    """The dataset a training recipe (a TrainConfig) names, or `dataset` given in memory, prepared as training prepares it.
    `from_run`: the recipe was read from a run's config.json (see `load_dataset`)."""
    options = {
        "binarize": train_config.binarize,
        "dynamic_binarize": train_config.dynamic_binarize,
        "seed": train_config.seed,
        "validation_fraction": train_config.validation_fraction,
    }
    if dataset is not None:
        return prepared(dataset, **options)
    return load_dataset(
        train_config.dataset, registry, image_size=train_config.image_size, from_run=from_run, **options
    )


def _looks_like_path(value: str) -> bool:
    return value.endswith(".npz") or value.endswith("/") or "/" in value or os.sep in value or Path(value).exists()
