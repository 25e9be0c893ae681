"""Decoding image files into arrays with Pillow: only PNG, JPEG, BMP and GIF decoders; greys, colour and bilevel images
kept as Pillow reads them; alpha, 16-bit, corrupt and over-large images refused, one line naming the file.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from genmodels.core.errors import DatasetError

SIZE_OPTION = "--image-size HEIGHT,WIDTH"
PILLOW_FORMATS = ("BMP", "GIF", "JPEG", "PNG")  # Pillow may use no other decoder (some run external programs)
PROGRESS_MIN_IMAGES = 200
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
CONVERTED_TO_RGB = ("CMYK", "YCbCr")


@dataclass(frozen=True)
class FolderImage:
    """One image file of a folder dataset: where it is, its place in the folder, its split and its class."""

    path: Path
    relative: str  # its path inside the folder, with "/": part of the cache key
    split: str
    label: int | None


def _decode_all(images: list[FolderImage], size: tuple[int, int] | None, name: str) -> np.ndarray:
    """Every image decoded into one (N, H, W, C) uint8 array, or a DatasetError for the first bad one."""
    pixels = None
    bilevel = np.zeros(len(images), dtype=bool)
    first = None
    with _progress(images, name) as shown:
        for index, image in enumerate(shown):
            array, bilevel[index] = _decode(image.path, size)
            if first is None:
                first = image.path, array.shape
                try:
                    pixels = np.empty((len(images), *array.shape), dtype=np.uint8)
                except MemoryError:
                    raise DatasetError(
                        f"{len(images)} images of {array.shape[0]}x{array.shape[1]}x{array.shape[2]} do not fit in memory; "
                        f"give a smaller target size with {SIZE_OPTION}."
                    ) from None
            elif array.shape != first[1]:
                _refuse_mismatch(first, image.path, array.shape)
            pixels[index] = array
    if bilevel.any() and not bilevel.all():  # 0/1 images beside 8-bit greys: black and white as levels 0 and 255
        pixels[bilevel] *= 255
    return pixels


def _refuse_mismatch(first: tuple[Path, tuple[int, ...]], path: Path, shape: tuple[int, ...]):
    first_path, first_shape = first
    if first_shape[2] != shape[2]:
        kinds = {1: "greyscale (1 channel)", 3: "colour (3 channels)"}
        raise DatasetError(
            f"the folder mixes greyscale and colour images: {first_path} is {kinds[first_shape[2]]}, {path} is "
            f"{kinds[shape[2]]}; convert them all to one kind."
        )
    raise DatasetError(
        f"the images have different sizes: {first_path} is {first_shape[0]}x{first_shape[1]} and {path} is "
        f"{shape[0]}x{shape[1]} (height x width); resize them all with {SIZE_OPTION}."
    )


@contextlib.contextmanager
def _progress(images: list[FolderImage], name: str) -> Iterator[Iterable[FolderImage]]:
    """`images` to iterate over, with a progress bar on stderr while the block runs if there are many and stderr is a terminal."""
    if len(images) < PROGRESS_MIN_IMAGES or not sys.stderr.isatty():
        yield images
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(f"Decoding the images of {name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        yield progress.track(images, total=len(images))


def _decode(path: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, bool]:
    """The image at `path` as (H, W, C) uint8, resized to `size` if given, and whether it holds 0/1 (bilevel) values."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=PILLOW_FORMATS) as image:
                if image.format == "PNG" and any(";16" in str(tile[3]) for tile in image.tile):
                    _refuse_deep(path, f"{image.mode} with 16 bits per channel")
                image.load()  # decodes the whole file: a truncated or corrupt one fails here
                return _pixels(image, path, size)
        except DatasetError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DatasetError(
                f"{path} is refused as a possible decompression bomb ({exc}); shrink it, or raise "
                f"PIL.Image.MAX_IMAGE_PIXELS if you trust it."
            ) from None
        except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, EOFError, ...)
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise DatasetError(
                f"{path} cannot be decoded ({reason}); it is corrupt or truncated, or not a "
                f"{', '.join(PILLOW_FORMATS)} image. Replace or remove it."
            ) from None


def _pixels(image: Image.Image, path: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, bool]:
    mode = image.mode
    if (
        mode in ALPHA_MODES
        or "transparency" in image.info
        or (mode == "P" and image.palette is not None and "A" in image.palette.mode)
    ):
        raise DatasetError(
            f"{path}: images with an alpha channel or transparency (mode {mode}) are not supported; remove the transparency (flatten it) first."
        )
    if mode.startswith(("I", "F")):
        _refuse_deep(path, f"mode {mode}")
    bilevel = mode == "1"
    if mode == "P":
        palette = np.asarray(image.getpalette() or [0, 0, 0], dtype=np.uint8).reshape(-1, 3)
        image = image.convert("L" if np.all(palette == palette[:, :1]) else "RGB")
    elif mode in CONVERTED_TO_RGB:
        image = image.convert("RGB")
    elif mode not in ("1", "L", "RGB"):
        raise DatasetError(f"{path}: images of mode {mode} are not supported; convert it to 8-bit greyscale or RGB.")
    if size is not None and (image.height, image.width) != size:
        if bilevel:
            image, bilevel = image.convert("L"), False
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return (array[..., None] if array.ndim == 2 else array), bilevel


def _refuse_deep(path: Path, what: str):
    raise DatasetError(f"{path}: 16-bit images are not supported (it is {what}); convert it to 8 bits per channel.")
