"""Datasets: the in-memory arrays, the cache folder, verified atomic downloads and user .npz files."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genmodels.core.errors import DatasetError
from genmodels.core.pixels import BINARY, CONTINUOUS, EIGHT_BIT, GREY_LEVELS
from genmodels.data.arrays import _common_kind, as_images, as_labels, image_shape_of, to_unit

SPLITS = ("train", "valid", "test")
DEFAULT_VALIDATION_FRACTION = 0.1
HOLD_OUT_SEED = 0  # the held-out validation images are the same for every run of a dataset, whatever its seed


@dataclass
class Dataset:
    """Images with train, validation and test splits, and labels where the dataset has them.

    Each split is kept as (N, H, W, C) in its smallest exact form: 0/1 pixels and 8-bit levels
    0..255 as uint8, anything else as float32 in [0, 1]; models see float32 rows in [0, 1]
    (`rows`, or the trainer's compiled steps, convert a batch at a time). `pixels` says which:
    "binary" (0/1), "8bit" (levels 0..255, seen as k / 255) or "continuous" (floats in [0, 1]).

    Give the arrays as (N, H, W, C), (N, H, W) for one channel, or (N, H*W*C) flattened row-major
    with `image_shape`. `valid` may be None: `with_validation` then holds out part of `train`.
    Labels are integers, one per image (N,), or one row of factors per image (N, F). `pixels` is
    read from the values when not given; a loader that knows its images are 8-bit says so, since a
    split of dark 8-bit images may hold nothing but 0s and 1s.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    image_shape: tuple[int, ...] | None = None
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    valid: np.ndarray | None = None
    valid_labels: np.ndarray | None = None
    label_names: tuple[str, ...] = ()
    pixels: str | None = None

    def __post_init__(self) -> None:
        self.image_shape = image_shape_of(self.train, self.image_shape, f"{self.name} train")
        kinds, integers = {}, set()
        for split in SPLITS:
            array = getattr(self, split)
            if array is None:
                continue
            if np.asarray(array).dtype.kind in "biu":
                integers.add(split)
            array, kinds[split] = as_images(array, f"{self.name} {split}", self.image_shape)
            setattr(self, split, array)
        self.pixels = _common_kind(kinds, self.name, self.pixels, integers)
        for split in SPLITS:  # one storage for every split: 0/1 uint8 beside float greys becomes float
            array = getattr(self, split)
            if array is not None and self.pixels == CONTINUOUS and array.dtype != np.float32:
                setattr(self, split, array.astype(np.float32))
            labels = getattr(self, f"{split}_labels")
            setattr(
                self,
                f"{split}_labels",
                None if array is None else as_labels(labels, len(array), f"{self.name} {split}_labels"),
            )
        self.label_names = tuple(self.label_names)

    @property
    def input_dim(self) -> int:
        """Values in one flattened image: height x width x channels."""
        return int(np.prod(self.image_shape))

    @property
    def scale(self) -> float:
        """What a stored value is multiplied by to give the model's value in [0, 1]."""
        return 1.0 / (GREY_LEVELS - 1) if self.pixels == EIGHT_BIT else 1.0

    def rows(self, split: str, index=None) -> np.ndarray:
        """A split (or its rows at `index`) as the model sees it: float32 rows in [0, 1], (N, input_dim)."""
        array = getattr(self, split)
        if array is None:
            raise DatasetError(f"{self.name} has no {split} split.")
        array = array if index is None else array[index]
        return to_unit(array.reshape(len(array), -1), self.pixels)

    def binarized(self) -> Dataset:
        """The same dataset with every pixel thresholded to 0/1 (1 where it is at least half the range: 0.5, or 128 of 255)."""
        threshold = 128 if self.pixels == EIGHT_BIT else 0.5
        return _replace(
            self,
            pixels=BINARY,
            **{
                split: (getattr(self, split) >= threshold).astype(np.uint8)
                for split in SPLITS
                if getattr(self, split) is not None
            },
        )

    def with_test_drawn(self, seed: int) -> Dataset:
        """The same dataset with each test (and validation) pixel drawn once as Bernoulli(grey), from `seed`:
        the fixed held-out sets of dynamic binarization. The draws keep the training images' storage
        (levels 0 and 255 of 8-bit data, 0.0 and 1.0 of floats), so every split still holds one kind."""
        rng = np.random.default_rng(seed)
        drawn = {}
        for split in ("test", "valid"):
            stored = getattr(self, split)
            if stored is not None:
                greys = self.rows(split).reshape(stored.shape)
                ones = rng.random(greys.shape, dtype=np.float32) < greys
                drawn[split] = (
                    (ones * (GREY_LEVELS - 1)).astype(np.uint8)
                    if self.pixels == EIGHT_BIT
                    else ones.astype(stored.dtype)
                )
        return _replace(self, **drawn)

    def with_validation(self, fraction: float = DEFAULT_VALIDATION_FRACTION, seed: int = 0) -> Dataset:
        """The dataset itself if it has a validation split; else with a seeded `fraction` of the training
        images (and their labels) held out as one, and the rest kept for training in their order."""
        if self.valid is not None:
            return self
        if not 0 < fraction < 1:
            raise DatasetError(
                f"{self.name} has no validation split, and a hold-out fraction of {fraction} takes none; use one between 0 and 1."
            )
        count = len(self.train)
        held = int(round(count * fraction))
        if held < 1 or held >= count:
            raise DatasetError(
                f"{self.name} has no validation split, and holding out {fraction:g} of its {count} training images "
                f"leaves {'no validation' if held < 1 else 'no training'} images; give more images or another --validation-fraction."
            )
        chosen = np.zeros(count, dtype=bool)
        chosen[np.random.default_rng([seed, count]).choice(count, size=held, replace=False)] = True
        labels = self.train_labels
        return _replace(
            self,
            train=self.train[~chosen],
            valid=self.train[chosen],
            train_labels=None if labels is None else labels[~chosen],
            valid_labels=None if labels is None else labels[chosen],
        )


def _replace(dataset: Dataset, **changes) -> Dataset:
    """A copy of `dataset` with some splits or labels changed, checked again."""
    values = {f.name: getattr(dataset, f.name) for f in dataclasses.fields(dataset) if f.init}
    return Dataset(**{**values, **changes})


@dataclass
class TrainingImages:
    """The images a feature network (genmodels.feature_networks) is trained and tested on.

    `name` names its cache folder (give each source of images its own); `train` and `test` are (N, H, W, C)
    arrays of kind `pixels` ("binary", "8bit" or "continuous", as `Dataset` stores them). With
    `train_labels` (one integer class per image) the network is a classifier, reported with its accuracy
    on the labelled `test` images; without, a reference autoencoder, reported with its test reconstruction error.
    `binarize`: greys that the network must also know as 0/1 images (binarized MNIST's digits): it is trained
    on each image either grey or with its pixels drawn, half and half.
    """

    name: str
    description: str
    train: np.ndarray
    train_labels: np.ndarray | None
    test: np.ndarray
    test_labels: np.ndarray | None
    pixels: str
    binarize: bool = False

    def data_sha256(self) -> str:
        """SHA-256 of what the trained weights depend on: the training images (shape, dtype, bytes), their labels and kind."""
        return images_sha256(self.train, self.train_labels, prefix=f"{self.pixels}|")


def images_sha256(images: np.ndarray, labels: np.ndarray | None = None, prefix: str = "") -> str:
    """SHA-256 of `prefix`, the images' shape, dtype and bytes, and the labels (as int64) when given."""
    digest = hashlib.sha256(f"{prefix}{images.shape}|{images.dtype}".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        digest.update(f"|labels{labels.shape}".encode())
        digest.update(labels.tobytes())
    return digest.hexdigest()


def split_digests(dataset: Dataset) -> dict[str, str]:
    """SHA-256 of each split's images and labels (shape, dtype, bytes), by split name: a run records them so that
    data changed since training (images added to a folder, a file replaced) is noticed before it is used."""
    return {
        split: images_sha256(getattr(dataset, split), getattr(dataset, f"{split}_labels"))
        for split in SPLITS
        if getattr(dataset, split) is not None
    }


def prepared(
    dataset: Dataset,
    *,
    binarize: bool = False,
    dynamic_binarize: bool = False,
    seed: int = 0,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
) -> Dataset:
    """`dataset` as training sees it: with its validation split, binarized or with its held-out images drawn
    (see `load_dataset`)."""
    dataset = dataset.with_validation(validation_fraction, seed=HOLD_OUT_SEED)
    dataset = dataset.binarized() if binarize else dataset
    return dataset.with_test_drawn(seed) if dynamic_binarize else dataset


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: `load(data_dir)` returns a `genmodels.data.Dataset`, downloading into data_dir if needed.

    `features(data_dir)`, if given, returns the `genmodels.data.TrainingImages` that the dataset's feature
    network (for FID and precision/recall) is trained on: datasets of one family share them (binarized-mnist
    and mnist both give labelled MNIST digits). Without it the network is trained on the dataset's own
    training images: a classifier of its labels, or a reference autoencoder where it has none.
    """

    name: str
    description: str
    load: Callable[[Path], Dataset]
    features: Callable[[Path], TrainingImages] | None = None
    plugin: str = ""
    package: str = ""
