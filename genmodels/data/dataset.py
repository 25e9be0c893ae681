"""Datasets: the in-memory arrays, the cache folder, verified atomic downloads and user .npz files."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import math
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genmodels.core.atomic import atomic_path
from genmodels.core.errors import ChecksumError, DatasetError
from genmodels.core.pixels import BINARY, CONTINUOUS, DESCRIBED, EIGHT_BIT, GREY_LEVELS, PIXELS

DATA_DIR_VARIABLE = "GENMODELS_DATA_DIR"
FEATURES_DIR_VARIABLE = "GENMODELS_FEATURES_DIR"
DOWNLOAD_TIMEOUT_S = 30
# What a failed download raises; other OSErrors (a full disk while saving it) reach cli.main as they are.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)
PIXEL_KINDS = "biuf"  # numpy kinds of bool, signed and unsigned integers, floats (not complex, dates, strings, objects)
MAX_CLASSES = 65_536  # labels are class numbers 0 .. MAX_CLASSES - 1 (a label of 2**31 would ask for that many classes)
USER_ARRAYS = ("train", "valid", "test", "train_labels", "valid_labels", "test_labels")
SPLITS = ("train", "valid", "test")
DEFAULT_VALIDATION_FRACTION = 0.1
MAX_CHANNELS = 4  # grey, grey and alpha, colour, colour and alpha; more is taken for a channels-first array
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


def to_unit(array: np.ndarray, pixels: str) -> np.ndarray:
    """Stored values as the model sees them: float32 in [0, 1] (8-bit levels k become k / 255)."""
    values = np.asarray(array, dtype=np.float32)
    return values * np.float32(1.0 / (GREY_LEVELS - 1)) if pixels == EIGHT_BIT else values


def image_shape_of(array: np.ndarray, image_shape, what: str) -> tuple[int, int, int]:
    """(height, width, channels) of the images in `array`: from the array's own shape, or from
    `image_shape` ((H, W) or (H, W, C)) when it holds flattened rows; a DatasetError when neither gives one."""
    array_shape = np.shape(array)
    if image_shape is not None:
        shape = tuple(int(n) for n in image_shape)
        shape = (*shape, 1) if len(shape) == 2 else shape
        if len(shape) != 3 or min(shape) <= 0:
            raise DatasetError(
                f"{what}: image_shape must be (height, width) or (height, width, channels) of positive sizes, received {image_shape!r}."
            )
        return shape
    shape = None
    if len(array_shape) == 4:
        shape = tuple(int(n) for n in array_shape[1:])
    elif len(array_shape) == 3:
        shape = (int(array_shape[1]), int(array_shape[2]), 1)
    elif len(array_shape) == 2 and math.isqrt(int(array_shape[1])) ** 2 == array_shape[1]:
        side = math.isqrt(int(array_shape[1]))
        shape = (side, side, 1)
    if shape is None or min(shape) <= 0:
        raise DatasetError(
            f"{what}: images are given as (N, H, W, C), (N, H, W), or (N, D) with square D; received shape {array_shape}."
        )
    if shape[2] > MAX_CHANNELS:
        raise DatasetError(
            f"{what}: images have at most {MAX_CHANNELS} channels, last, as (N, H, W, C); received shape {array_shape} "
            f"({shape[2]} channels). Channels-first arrays (N, C, H, W) need transposing to (N, H, W, C)."
        )
    return shape


def as_images(array: np.ndarray, what: str, image_shape: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """`array` as (N, H, W, C) images and the kind of its values, or a DatasetError saying what is wrong.

    0/1 values (bool, integer or float) are kept as uint8, "binary"; whole-number levels 0..255
    of an integer array as uint8, "8bit"; floats in [0, 1] as float32, "continuous". Nothing is
    rescaled silently: floats outside [0, 1] and integers above 255 (16-bit images) are refused.
    """
    array = np.asarray(array)
    height, width, channels = (
        image_shape_of(array, image_shape, what)
        if image_shape is None
        else tuple(image_shape) + (1,) * (3 - len(image_shape))
    )
    size = height * width * channels
    if (
        array.ndim not in (2, 3, 4)
        or array.shape[0] == 0
        or size <= 0
        or int(np.prod(array.shape[1:])) != size
        or (array.ndim > 2 and tuple(array.shape[1:3]) != (height, width))
    ):
        raise DatasetError(
            f"{what}: expected a non-empty array of {height}x{width}x{channels} images, shaped (N, {height}, {width}, {channels})"
            f"{f' or (N, {height}, {width})' if channels == 1 else ''} or (N, {size}); received shape {array.shape}."
        )
    if array.dtype.kind not in PIXEL_KINDS:
        raise DatasetError(f"{what}: expected numbers (bool, integer or float pixels), received dtype {array.dtype}.")
    array = array.reshape(array.shape[0], height, width, channels)
    if array.dtype == bool:
        return array.astype(np.uint8, copy=False), BINARY
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DatasetError(
            f"{what}: holds NaN or infinite values; pixels must be numbers in [0, 1] or 8-bit levels 0..255."
        )
    low, high = array.min(), array.max()
    if array.dtype.kind in "iu":
        if low >= 0 and high <= 1:
            return array.astype(np.uint8, copy=False), BINARY
        if low >= 0 and high <= GREY_LEVELS - 1:
            return array.astype(np.uint8, copy=False), EIGHT_BIT
        bits = " (16-bit images: convert them to 8 bits)" if high > GREY_LEVELS - 1 and low >= 0 else ""
        raise DatasetError(
            f"{what}: integer pixels must be 8-bit levels 0..255 or 0/1; received range [{low}, {high}] ({array.dtype}){bits}."
        )
    if low >= 0 and high <= 1:
        if np.all((array == 0) | (array == 1)):
            return array.astype(np.uint8, copy=False), BINARY
        return array.astype(np.float32, copy=False), CONTINUOUS
    if _are_greys(array, low, high):
        return array.astype(
            np.uint8, copy=False
        ), EIGHT_BIT  # whole numbers 0..255 in a float array: exactly 8-bit levels
    raise DatasetError(
        f"{what}: values must lie in [0, 1]; received range [{low:g}, {high:g}] ({array.dtype}). Rescale them to [0, 1]."
    )


def _common_kind(
    kinds: dict[str, str], name: str, declared: str | None = None, integers: set[str] = frozenset()
) -> str:
    """The one kind of values of all splits. 0/1 and float greys are both values in [0, 1]; integer 0s and 1s
    beside 8-bit levels are levels too (a split of dark images), as are any 0/1 values of a dataset `declared` 8-bit."""
    if declared is not None and declared not in PIXELS:
        raise DatasetError(f"{name}: pixels must be one of {', '.join(PIXELS)}, received {declared!r}.")
    found = set(kinds.values())
    if EIGHT_BIT in found and all(kind == EIGHT_BIT or split in integers for split, kind in kinds.items()):
        return EIGHT_BIT
    if declared == EIGHT_BIT and found <= {BINARY, EIGHT_BIT}:
        return EIGHT_BIT
    if declared == CONTINUOUS and found <= {BINARY, CONTINUOUS}:
        return CONTINUOUS
    if declared is not None and found != {declared}:
        raise DatasetError(f"{name} is declared to hold {DESCRIBED[declared]}, but its values are not all such.")
    if found <= {BINARY}:
        return BINARY
    if found <= {BINARY, CONTINUOUS}:
        return CONTINUOUS
    if found == {EIGHT_BIT}:
        return EIGHT_BIT
    described = ", ".join(f"{split} holds {DESCRIBED[kind]}" for split, kind in kinds.items())
    raise DatasetError(
        f"{name}: the splits hold different kinds of values ({described}); give every split the same kind."
    )


def _are_greys(array: np.ndarray, low, high) -> bool:
    """Whole numbers within 0..255: 8-bit grey levels."""
    if not (low >= 0 and high <= GREY_LEVELS - 1):
        return False
    return bool(array.dtype.kind in "iu" or np.all(array == np.round(array)))


def as_labels(labels: np.ndarray | None, count: int, what: str) -> np.ndarray | None:
    """Labels: one integer per image (count,), or one row of integer factors per image (count, F); or None."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim not in (1, 2) or len(labels) != count or labels.dtype.kind not in "biu":
        raise DatasetError(
            f"{what}: expected one integer label per image ({count},) or a row of factors (count, F); "
            f"received shape {labels.shape}, dtype {labels.dtype}."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= MAX_CLASSES):
        raise DatasetError(
            f"{what}: labels are classes numbered from 0, fewer than {MAX_CLASSES:,}; received values from "
            f"{labels.min()} to {labels.max()}."
        )
    return labels


def data_dir() -> Path:
    """The dataset cache: $GENMODELS_DATA_DIR, else $XDG_CACHE_HOME/genmodels, else ~/.cache/genmodels."""
    configured = os.environ.get(DATA_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "genmodels"


def features_dir() -> Path:
    """Where feature networks and the features of real images are cached: $GENMODELS_FEATURES_DIR, else
    the `features` folder of the data folder (`data_dir()`)."""
    configured = os.environ.get(FEATURES_DIR_VARIABLE)
    return Path(configured).expanduser() if configured else data_dir() / "features"


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


SPLITS = ("train", "valid", "test")


def split_digests(dataset: Dataset) -> dict[str, str]:
    """SHA-256 of each split's images and labels (shape, dtype, bytes), by split name: a run records them so that
    data changed since training (images added to a folder, a file replaced) is noticed before it is used."""
    return {
        split: images_sha256(getattr(dataset, split), getattr(dataset, f"{split}_labels"))
        for split in SPLITS
        if getattr(dataset, split) is not None
    }


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str, url: str) -> None:
    """Raise ChecksumError unless the file at `path` has the given SHA-256."""
    actual = sha256_of(path)
    if actual != sha256:
        raise ChecksumError(
            f"{path} does not have the expected SHA-256 (expected {sha256}, found {actual}). "
            f"It is corrupt or not the file from {url}; delete it to download it again."
        )


def fetch(url: str, dest: Path, *, sha256: str | None = None, quiet: bool = False) -> Path:
    """Return `dest`, downloading it from `url` first if it is absent.

    The download shows a progress bar, is checked against `sha256` when given, and lands
    atomically: a partial or corrupt download never takes the place of `dest`. Offline, the
    error names the file, the URL and the variable that points genmodels at a local copy.
    """
    dest = Path(dest)
    if dest.exists():
        if sha256:
            verify(dest, sha256, url)
        return dest
    dest.parent.mkdir(
        parents=True, exist_ok=True
    )  # an OSError here (no permission, a full disk) is for cli.main to report
    try:
        with atomic_path(dest) as partial:
            with open(partial, "wb") as out:
                _download(url, out, dest.name, quiet=quiet)
            if sha256:
                verify(partial, sha256, url)
    except NETWORK_ERRORS as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(
            f"{dest.name} is not in {dest.parent} and could not be downloaded from {url} ({reason}). "
            f"Download it into that folder by hand, or set {DATA_DIR_VARIABLE} to a folder that has it."
        ) from None
    return dest


def _download(url: str, out, label: str, *, quiet: bool) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        columns = (TextColumn(f"Downloading {label}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        from rich.console import Console

        console = Console(file=sys.stderr, quiet=quiet)
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(label, total=total)
            while block := response.read(1 << 16):
                out.write(block)
                progress.advance(task, len(block))


def load_npz(path: Path) -> Dataset:
    """A user's own dataset: an .npz with `train` and `test` images, optionally `valid`, and optional
    `*_labels` for each split.

    Images are (N, H, W, C), (N, H, W) or (N, D) with square D; 0/1 pixels, 8-bit levels 0..255 or
    floats in [0, 1] (see `as_images`). Arrays of Python objects are refused: they would have to be
    unpickled, and loading a dataset never runs code.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no dataset file at {path}.")
    arrays = read_npz(path)
    missing = [key for key in ("train", "test") if key not in arrays]
    if missing:
        raise DatasetError(
            f"{path} lacks the array(s) {', '.join(missing)}; a dataset .npz holds 'train' and 'test' images "
            f"(optionally 'valid', and 'train_labels', 'valid_labels', 'test_labels'); found: {', '.join(arrays) or 'nothing'}."
        )
    shape = image_shape_of(arrays["train"], None, f"{path.name} train")
    for split in ("valid", "test"):  # every split must hold images of the training images' shape
        if (
            split in arrays
            and arrays[split].ndim == arrays["train"].ndim
            and arrays[split].shape[1:] != arrays["train"].shape[1:]
        ):
            raise DatasetError(
                f"{path.name}: '{split}' images are shaped {arrays[split].shape[1:]} but 'train' images {arrays['train'].shape[1:]}; "
                "every split must hold images of one shape."
            )
    return Dataset(name=path.name, image_shape=shape, **arrays)


def read_npz(
    path: Path, keys: tuple[str, ...] = USER_ARRAYS, expected: str = "an .npz archive with 'train' and 'test' arrays"
) -> dict[str, np.ndarray]:
    """The arrays named `keys` that the .npz at `path` holds (others are never read), without pickle: an
    array of Python objects, a truncated or corrupt file is one DatasetError; `expected` says what the file should be."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises many kinds for a file that is not an .npz
        reason = "not a zip archive of arrays" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise DatasetError(f"{path} is not a readable .npz file ({reason}).") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path} holds a single array, not {expected}.")
    arrays = {}
    with loaded as npz:
        for key in (key for key in keys if key in npz.files):
            try:
                arrays[key] = npz[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise DatasetError(
                        f"{path}: '{key}' is an array of Python objects; genmodels never unpickles data. Save numeric arrays."
                    ) from None
                raise DatasetError(
                    f"{path}: '{key}' cannot be read ({exc}); the file is truncated or corrupt."
                ) from None
            except Exception as exc:
                raise DatasetError(
                    f"{path}: '{key}' cannot be read ({type(exc).__name__}: {exc}); the file is truncated or corrupt."
                ) from None
    return arrays


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
