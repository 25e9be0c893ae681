"""8-bit photo patches that nobody tuned genmodels for, cut from the sample photos that scikit-image ships
(they load offline), for the recipes of docs/data.md: how the defaults do on a user's own photos.

    pip install -e ".[photo-benchmark]"
    python benchmarks/photo_patches.py runs/data
    genmodels train conv-vae --dataset runs/data/colour-patches --run-dir runs/colour
    genmodels evaluate conv-vae --run-dir runs/colour --k 1000 --metrics nll,fid
    genmodels train vae --dataset runs/data/grey-patches.npz --run-dir runs/grey-patches

- colour-patches/: a folder of 32x32 RGB PNG patches with explicit splits, train/<photo>/ and
  test/<photo>/, one class per photo (astronaut, chelsea, coffee, immunohistochemistry, rocket),
  540 training and 60 test patches each (3000 in all).
- grey-patches.npz: 2000 grey 28x20 patches (the shape of a small face), 1700 to train and 300 to
  test, 8-bit levels, from ten grey photos and the grey versions of the colour ones.

Each photo's test patches come from its bottom quarter and its training patches from the rest, so no
test patch overlaps a training one. Positions are drawn with a fixed seed: the same files every time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "immunohistochemistry", "rocket")
GREY_PHOTOS = ("brick", "camera", "cell", "clock", "coins", "grass", "gravel", "moon", "page", "text")
COLOUR_SIDE, COLOUR_TRAIN, COLOUR_TEST = 32, 540, 60  # per photo
GREY_SHAPE, GREY_TRAIN, GREY_TOTAL = (28, 20), 1700, 2000
TEST_PART = 0.25  # the bottom quarter of each photo gives its test patches


def photo(name: str) -> np.ndarray:
    """scikit-image's sample photo `name` as uint8, (height, width) or (height, width, 3)."""
    from skimage import data

    return np.asarray(getattr(data, name)(), dtype=np.uint8)


def grey(image: np.ndarray) -> np.ndarray:
    """A colour photo's luminance (ITU-R 601-2, as Pillow's "L"), a grey one unchanged."""
    if image.ndim == 2:
        return image
    return np.round(image[..., :3] @ np.array([0.299, 0.587, 0.114])).clip(0, 255).astype(np.uint8)


def cut(
    image: np.ndarray, shape: tuple[int, int], count: int, rows: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """`count` patches of `shape` whose top-left corners lie at random in `rows` (top, bottom) of `image`."""
    height, width = shape
    top, bottom = rows
    ys = rng.integers(top, bottom - height + 1, size=count)
    xs = rng.integers(0, image.shape[1] - width + 1, size=count)
    return np.stack([image[y : y + height, x : x + width] for y, x in zip(ys, xs)])


def split_rows(image: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """The rows that training patches and test patches are cut from: above and in the bottom quarter."""
    boundary = int(round(image.shape[0] * (1 - TEST_PART)))
    return (0, boundary), (boundary, image.shape[0])


def spread(total: int, parts: int) -> list[int]:
    """`total` shared as evenly as possible among `parts`."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def write_colour(out_dir: Path, *, per_train: int = COLOUR_TRAIN, per_test: int = COLOUR_TEST) -> Path:
    from PIL import Image

    folder = Path(out_dir) / "colour-patches"
    rng = np.random.default_rng(0)
    for name in COLOUR_PHOTOS:
        image = photo(name)
        train_rows, test_rows = split_rows(image)
        for split, rows, count in (("train", train_rows, per_train), ("test", test_rows, per_test)):
            target = folder / split / name
            target.mkdir(parents=True, exist_ok=True)
            for i, patch in enumerate(cut(image, (COLOUR_SIDE, COLOUR_SIDE), count, rows, rng)):
                Image.fromarray(patch, "RGB").save(target / f"{i:04d}.png")
    return folder


def write_grey(out_dir: Path, *, train: int = GREY_TRAIN, total: int = GREY_TOTAL) -> Path:
    rng = np.random.default_rng(1)
    names = GREY_PHOTOS + COLOUR_PHOTOS
    parts = {"train": [], "test": []}
    for name, n_train, n_test in zip(names, spread(train, len(names)), spread(total - train, len(names))):
        image = grey(photo(name))
        train_rows, test_rows = split_rows(image)
        parts["train"].append(cut(image, GREY_SHAPE, n_train, train_rows, rng))
        parts["test"].append(cut(image, GREY_SHAPE, n_test, test_rows, rng))
    path = Path(out_dir) / "grey-patches.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, train=np.concatenate(parts["train"]), test=np.concatenate(parts["test"]))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/photo_patches.py OUT_DIR")
    print(write_colour(Path(sys.argv[1])))
    print(write_grey(Path(sys.argv[1])))
