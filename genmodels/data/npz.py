"""Datasets in .npz files: a user's arrays read safely (no pickle), split by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genmodels.core.errors import DatasetError
from genmodels.data.arrays import image_shape_of
from genmodels.data.dataset import Dataset


USER_ARRAYS = ("train", "valid", "test", "train_labels", "valid_labels", "test_labels")


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
