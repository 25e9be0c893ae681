"""The cache of a decoded folder: a hidden .npz in the folder (or under the data folder when it cannot be written),
keyed by the image files' paths, sizes and modification times and by the requested size.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from genmodels.core.atomic import atomic_path
from genmodels.core.errors import DatasetError
from genmodels.data.decoding import PILLOW_FORMATS, FolderImage
from genmodels.data.store import data_dir


CACHE_PREFIX = ".genmodels-cache-"

CACHE_VERSION = 1  # bump when the decoding changes, so that older caches are not trusted

CACHE_SUBDIR = "folders"  # under data_dir(), for folders that cannot be written


def _cache_key(images: list[FolderImage], size: tuple[int, int] | None) -> str:
    """A hash of what the decoded arrays depend on: every image file's path, split, size and modification time, and the target size."""
    files = []
    for image in images:
        try:
            stat = image.path.stat()
        except OSError as exc:
            raise DatasetError(f"cannot read {image.path} ({exc.strerror or exc}).") from None
        files.append([image.relative, stat.st_size, stat.st_mtime_ns])
    described = {"version": CACHE_VERSION, "image_size": size, "files": files}
    return hashlib.sha256(json.dumps(described, separators=(",", ":")).encode()).hexdigest()


def _header_size(path: Path) -> tuple[int, int] | None:
    """(height, width) of the image at `path` as its header says, without decoding it; None if it cannot be read."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=PILLOW_FORMATS) as image:
                return image.height, image.width
        except Exception:  # decoding it will say what is wrong
            return None


def _cache_places(folder: Path, key: str) -> list[Path]:
    """Where the cache of this folder's arrays may be: in the folder, else in the data folder under a name that includes the folder's path."""
    owner = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return [folder / f"{CACHE_PREFIX}{key[:32]}.npz", data_dir() / CACHE_SUBDIR / f"{owner}-{key[:32]}.npz"]


def _read_cache(places: list[Path], key: str, count: int, size: tuple[int, int] | None) -> np.ndarray | None:
    """The cached arrays, if a cache file for `key` exists and holds `count` images of `size` (height, width); else None."""
    if size is None:
        return None
    for place in places:
        if place.is_file():
            pixels = _cached_pixels(place, key, count, size)
            if pixels is not None:
                return pixels
    return None


def _cached_pixels(place: Path, key: str, count: int, size: tuple[int, int]) -> np.ndarray | None:
    try:
        with np.load(place, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile) or set(npz.files) != {"images", "key"}:
                return None
            if npz.zip.getinfo("key.npy").file_size > 4096 or str(npz["key"]) != key:
                return None
            with npz.zip.open("images.npy") as member:  # check the shape before reading the data
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _fortran, dtype = read_header(member)
            if dtype != np.uint8 or len(shape) != 4 or shape[0] != count or shape[3] not in (1, 3) or min(shape) <= 0:
                return None
            if tuple(shape[1:3]) != size:
                return None
            pixels = npz["images"]
    except Exception:  # a truncated, corrupt or foreign file: decode again and replace it
        return None
    return pixels if pixels.shape == tuple(shape) and pixels.dtype == np.uint8 else None


def _write_cache(places: list[Path], key: str, pixels: np.ndarray) -> None:
    """Save the arrays at the first place that can be written, atomically, removing older caches of the folder there."""
    for place in places:
        try:
            place.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(place) as partial:
                np.savez(partial, images=pixels, key=np.array(key))
        except OSError:
            continue
        stale = place.name[: place.name.rindex("-") + 1]  # the prefix all caches of this folder share there
        for older in place.parent.glob(f"{stale}*.npz"):
            if older != place:
                try:
                    older.unlink()
                except OSError:
                    pass
        return
