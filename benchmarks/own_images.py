"""8-bit datasets that nobody tuned genmodels for, made from the labelled MNIST test set (t10k in ../shared/data),
for the recipes of docs/data.md: how the defaults do on a user's own grey images.

    python benchmarks/own_images.py ../shared/data runs/data
    genmodels train vae --dataset runs/data/grey.npz --run-dir runs/grey-vae
    genmodels evaluate vae --run-dir runs/grey-vae --k 1000 --metrics nll,fid

- grey.npz: 8000 t10k images to train and 2000 to test, a split drawn with seed 0 (t10k is not sorted,
  but a seeded split is what a user's folder gets), uint8 levels with labels.
- digits2000.npz: 2000 of those images, 1700 to train and 300 to test (the size of a small folder).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

from labelled_mnist import IMAGES, LABELS

GREY_TRAIN = 8000
SMALL_TRAIN, SMALL_TOTAL = 1700, 2000


def t10k(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The t10k images (10000, 28, 28) uint8 and their labels."""
    images = np.frombuffer(gzip.decompress((Path(data_dir) / IMAGES).read_bytes())[16:], np.uint8).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.decompress((Path(data_dir) / LABELS).read_bytes())[8:], np.uint8)
    return images, labels


def write(data_dir: Path, out_dir: Path) -> list[Path]:
    images, labels = t10k(data_dir)
    order = np.random.default_rng(0).permutation(len(images))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, test = order[:GREY_TRAIN], order[GREY_TRAIN:]
    np.savez(
        out_dir / "grey.npz",
        train=images[train],
        test=images[test],
        train_labels=labels[train],
        test_labels=labels[test],
    )
    small = order[:SMALL_TOTAL]
    np.savez(out_dir / "digits2000.npz", train=images[small[:SMALL_TRAIN]], test=images[small[SMALL_TRAIN:]])
    return [out_dir / "grey.npz", out_dir / "digits2000.npz"]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/own_images.py DATA_DIR OUT_DIR")
    for path in write(Path(sys.argv[1]), Path(sys.argv[2])):
        print(path)
