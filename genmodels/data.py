"""Datasets: the in-memory arrays, the cache folder, verified atomic downloads and user .npz files."""

from __future__ import annotations

import hashlib
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

    @property
    def input_dim(self) -> int:
        """Values in one flattened image."""
        return int(self.train.shape[1])


def as_images(array: np.ndarray, what: str, image_shape: tuple[int, int]) -> np.ndarray:
    """`array` as (N, H*W) float32 in [0, 1]; uint8 greys 0..255 are scaled. Raises DatasetError otherwise."""
    array = np.asarray(array)
    size = image_shape[0] * image_shape[1]
    if array.ndim not in (2, 3) or array.shape[0] == 0 or int(np.prod(array.shape[1:])) != size:
        raise DatasetError(
            f"{what}: expected a non-empty array of {image_shape[0]}x{image_shape[1]} images, shaped "
            f"(N, {size}) or (N, {image_shape[0]}, {image_shape[1]}); received shape {array.shape}."
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DatasetError(f"{what}: expected numbers, received dtype {array.dtype}.")
    array = array.reshape(array.shape[0], size)
    if array.dtype == np.uint8 and array.max() > 1:
        return array.astype(np.float32) / 255.0
    array = array.astype(np.float32)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise DatasetError(
            f"{what}: values must lie in [0, 1] (or be uint8 greys 0..255); "
            f"received range [{array.min()}, {array.max()}]."
        )
    return array


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
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the data folder {dest.parent}: {exc.strerror}.") from None
    try:
        with atomic_path(dest) as partial:
            with open(partial, "wb") as out:
                _download(url, out, dest.name, quiet=quiet)
            if sha256:
                verify(partial, sha256, url)
    except (urllib.error.URLError, OSError) as exc:
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
    """A user's own dataset: an .npz with `train` and `test` images (and optional `*_labels`).

    Images are (N, H, W) or (N, H*W) with square H*W; values 0/1, floats in [0, 1] or uint8 greys.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"no dataset file at {path}.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:
        raise DatasetError(f"{path} is not a readable .npz file ({exc}).") from None
    missing = [key for key in ("train", "test") if key not in arrays]
    if missing:
        raise DatasetError(
            f"{path} lacks the array(s) {', '.join(missing)}; a dataset .npz holds 'train' and 'test' "
            f"images (and optionally 'train_labels', 'test_labels'); found: {', '.join(arrays) or 'nothing'}."
        )
    train = arrays["train"]
    if train.ndim == 3:
        shape = (int(train.shape[1]), int(train.shape[2]))
    else:
        side = int(round(np.sqrt(train.shape[-1]))) if train.ndim == 2 else 0
        if train.ndim != 2 or side * side != train.shape[-1]:
            raise DatasetError(
                f"{path}: 'train' has shape {train.shape}; give images as (N, H, W), or as (N, D) with square D."
            )
        shape = (side, side)
    return Dataset(
        name=path.name,
        train=train,
        test=arrays["test"],
        image_shape=shape,
        train_labels=arrays.get("train_labels"),
        test_labels=arrays.get("test_labels"),
    )


def load_dataset(name_or_path: str, registry) -> Dataset:
    """A registered dataset by name (cached in `data_dir()`), or a user's .npz by path."""
    if name_or_path in registry.datasets or not _looks_like_path(name_or_path):
        return registry.dataset(name_or_path).load(data_dir())
    return load_npz(Path(name_or_path))


def _looks_like_path(value: str) -> bool:
    return value.endswith(".npz") or "/" in value or os.sep in value or Path(value).exists()
