"""Images and labels from arrays as users give them: shapes, channel layouts, kinds of pixel values, class labels."""

from __future__ import annotations

import math

import numpy as np

from genmodels.core.errors import DatasetError
from genmodels.core.pixels import BINARY, CONTINUOUS, DESCRIBED, EIGHT_BIT, GREY_LEVELS, PIXELS


PIXEL_KINDS = "biuf"  # numpy kinds of bool, signed and unsigned integers, floats (not complex, dates, strings, objects)

MAX_CLASSES = 65_536  # labels are class numbers 0 .. MAX_CLASSES - 1 (a label of 2**31 would ask for that many classes)

MAX_CHANNELS = 4  # grey, grey and alpha, colour, colour and alpha; more is taken for a channels-first array


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
