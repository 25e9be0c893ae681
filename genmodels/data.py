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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genmodels.atomic import atomic_path
from genmodels.errors import ChecksumError, DatasetError

DATA_DIR_VARIABLE = "GENMODELS_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 30
# What a failed download raises; other OSErrors (a full disk while saving it) reach cli.main as they are.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)
GREY_LEVELS = 256
PIXEL_KINDS = "biuf"  # numpy kinds of bool, signed and unsigned integers, floats (not complex, dates, strings, objects)
USER_ARRAYS = ("train", "test", "train_labels", "test_labels")


@dataclass
class Dataset:
    """Images as float32 rows in [0, 1], flattened row-major; labels where the dataset has them."""

    name: str
    train: np.ndarray
    test: np.ndarray
    image_shape: tuple[int, int] = (28, 28)
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.train = as_images(self.train, f"{self.name} train", self.image_shape)
        self.test = as_images(self.test, f"{self.name} test", self.image_shape)
        self.train_labels = as_labels(self.train_labels, len(self.train), f"{self.name} train_labels")
        self.test_labels = as_labels(self.test_labels, len(self.test), f"{self.name} test_labels")

    @property
    def input_dim(self) -> int:
        """Values in one flattened image."""
        return int(self.train.shape[1])

    def binarized(self) -> Dataset:
        """The same dataset with every pixel thresholded to 0/1 (1 where it is at least 0.5)."""
        return dataclasses.replace(
            self,
            train=as_images(self.train, f"{self.name} train", self.image_shape, binarize=True),
            test=as_images(self.test, f"{self.name} test", self.image_shape, binarize=True),
        )

    def with_test_drawn(self, seed: int) -> Dataset:
        """The same dataset with each test pixel drawn once as Bernoulli(grey), from `seed`: the fixed
        test set of dynamic binarization."""
        draws = np.random.default_rng(seed).random(self.test.shape, dtype=np.float32)
        return dataclasses.replace(self, test=(draws < self.test).astype(np.float32))


def as_images(array: np.ndarray, what: str, image_shape: tuple[int, int], *, binarize: bool = False) -> np.ndarray:
    """`array` as (N, H*W) float32 in [0, 1], or raise DatasetError saying what is wrong with it.

    Values must already lie in [0, 1] (0/1 pixels or grey levels as probabilities). With `binarize`,
    values in [0, 1] become 1 where they are >= 0.5, and whole-number greys 0..255 (uint8 images)
    become 1 where they are >= 128; nothing else is accepted. Nothing is rescaled silently.
    """
    array = np.asarray(array)
    height, width = image_shape
    size = height * width
    if array.ndim not in (2, 3) or array.shape[0] == 0 or size <= 0 or int(np.prod(array.shape[1:])) != size:
        raise DatasetError(
            f"{what}: expected a non-empty array of {height}x{width} images, shaped "
            f"(N, {size}) or (N, {height}, {width}); received shape {array.shape}."
        )
    if array.dtype.kind not in PIXEL_KINDS:
        raise DatasetError(f"{what}: expected numbers (bool, integer or float pixels), received dtype {array.dtype}.")
    array = array.reshape(array.shape[0], size)
    if array.dtype == bool:
        return array.astype(np.float32)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DatasetError(f"{what}: holds NaN or infinite values; pixels must be numbers in [0, 1].")
    low, high = array.min(), array.max()
    in_unit_range = low >= 0 and high <= 1
    if binarize:
        if in_unit_range:
            return (array >= 0.5).astype(np.float32)
        if _are_greys(array, low, high):
            return (array >= 128).astype(np.float32)
        raise DatasetError(
            f"{what}: --binarize takes values in [0, 1] or whole-number greys 0..255; received range [{low:g}, {high:g}]."
        )
    if in_unit_range:
        return array.astype(np.float32)
    if _are_greys(array, low, high):
        raise DatasetError(
            f"{what}: values must lie in [0, 1], but these look like greys 0..255 ({array.dtype}, range [{low:g}, {high:g}]). "
            "Train with --binarize to threshold them (a pixel becomes 1 where its grey is >= 128), or save them divided by 255."
        )
    raise DatasetError(
        f"{what}: values must lie in [0, 1]; received range [{low:g}, {high:g}] ({array.dtype}). "
        "Rescale them to [0, 1], then train on them as they are or with --binarize (1 where a value is >= 0.5)."
    )


def _are_greys(array: np.ndarray, low, high) -> bool:
    """Whole numbers within 0..255: 8-bit grey levels."""
    if not (low >= 0 and high <= GREY_LEVELS - 1):
        return False
    return bool(array.dtype.kind in "iu" or np.all(array == np.round(array)))


def as_labels(labels: np.ndarray | None, count: int, what: str) -> np.ndarray | None:
    """Class labels: one integer per image, or None."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != count or labels.dtype.kind not in "biu":
        raise DatasetError(
            f"{what}: expected one integer label per image ({count},); received shape {labels.shape}, dtype {labels.dtype}."
        )
    return labels


def data_dir() -> Path:
    """The dataset cache: $GENMODELS_DATA_DIR, else $XDG_CACHE_HOME/genmodels, else ~/.cache/genmodels."""
    configured = os.environ.get(DATA_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "genmodels"


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
    dest.parent.mkdir(parents=True, exist_ok=True)  # an OSError here (no permission, a full disk) is for cli.main to report
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


def load_npz(path: Path, *, binarize: bool = False) -> Dataset:
    """A user's own dataset: an .npz with `train` and `test` images (and optional `*_labels`).

    Images are (N, H, W) or (N, H*W) with square H*W, values in [0, 1]; with `binarize`, values in
    [0, 1] or uint8 greys are thresholded to 0/1 (see `as_images`). Arrays of Python objects are
    refused: they would have to be unpickled, and loading a dataset never runs code.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no dataset file at {path}.")
    arrays = _read_npz(path)
    missing = [key for key in ("train", "test") if key not in arrays]
    if missing:
        raise DatasetError(
            f"{path} lacks the array(s) {', '.join(missing)}; a dataset .npz holds 'train' and 'test' "
            f"images (and optionally 'train_labels', 'test_labels'); found: {', '.join(arrays) or 'nothing'}."
        )
    train = arrays["train"]
    if train.ndim == 3 and min(train.shape[1:]) > 0:
        shape = (int(train.shape[1]), int(train.shape[2]))
    else:
        side = math.isqrt(train.shape[-1]) if train.ndim == 2 else 0
        if train.ndim != 2 or side == 0 or side * side != train.shape[-1]:
            raise DatasetError(
                f"{path}: 'train' has shape {train.shape}; give images as (N, H, W), or as (N, D) with square D."
            )
        shape = (side, side)
    return Dataset(
        name=path.name,
        train=as_images(train, f"{path.name} train", shape, binarize=binarize),
        test=as_images(arrays["test"], f"{path.name} test", shape, binarize=binarize),
        image_shape=shape,
        train_labels=arrays.get("train_labels"),
        test_labels=arrays.get("test_labels"),
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of USER_ARRAYS that the .npz at `path` holds, read without pickle."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises many kinds for a file that is not an .npz
        reason = "not a zip archive of arrays" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise DatasetError(f"{path} is not a readable .npz file ({reason}).") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path} holds a single array, not an .npz archive with 'train' and 'test' arrays.")
    arrays = {}
    with loaded as npz:
        for key in (key for key in USER_ARRAYS if key in npz.files):
            try:
                arrays[key] = npz[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise DatasetError(
                        f"{path}: '{key}' is an array of Python objects; genmodels never unpickles data. Save numeric arrays."
                    ) from None
                raise DatasetError(f"{path}: '{key}' cannot be read ({exc}); the file is truncated or corrupt.") from None
            except Exception as exc:
                raise DatasetError(
                    f"{path}: '{key}' cannot be read ({type(exc).__name__}: {exc}); the file is truncated or corrupt."
                ) from None
    return arrays


def load_dataset(name_or_path: str, registry, *, binarize: bool = False, dynamic_binarize: bool = False, seed: int = 0) -> Dataset:
    """A registered dataset by name (cached in `data_dir()`), or a user's .npz by path; thresholded to 0/1
    when `binarize` is set (`genmodels train --binarize`). With `dynamic_binarize` the training images
    stay grey (the trainer draws their pixels at every step) and the test images are drawn once from `seed`."""
    if name_or_path in registry.datasets or not _looks_like_path(name_or_path):
        dataset = registry.dataset(name_or_path).load(data_dir())
        dataset = dataset.binarized() if binarize else dataset
    else:
        dataset = load_npz(Path(name_or_path), binarize=binarize)
    return dataset.with_test_drawn(seed) if dynamic_binarize else dataset


def _looks_like_path(value: str) -> bool:
    return value.endswith(".npz") or "/" in value or os.sep in value or Path(value).exists()
