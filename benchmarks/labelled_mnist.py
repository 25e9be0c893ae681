"""The labelled MNIST test set (t10k, as ../shared/data holds it) as a user-format .npz for conditional models.

This machine has no labelled MNIST training images (the grey `mnist` dataset is a download), so the
tests and the cvae figure of docs/models.md train on the first 8000 t10k images and test on the
last 2000:

    python benchmarks/labelled_mnist.py ../shared/data t10k-split.npz
    genmodels train cvae --dataset t10k-split.npz --run-dir runs/cvae-t10k && genmodels evaluate cvae --run-dir runs/cvae-t10k
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
TRAIN_SIZE = 8000


def available(data_dir: Path) -> bool:
    """Whether `data_dir` holds the t10k images and labels."""
    return (Path(data_dir) / IMAGES).is_file() and (Path(data_dir) / LABELS).is_file()


def write_split(data_dir: Path, path: Path) -> Path:
    """Write the first TRAIN_SIZE t10k images as `train` and the rest as `test`, 8-bit greys (uint8, as MNIST stores
    them), with their labels."""
    images = np.frombuffer(gzip.decompress((Path(data_dir) / IMAGES).read_bytes())[16:], np.uint8).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.decompress((Path(data_dir) / LABELS).read_bytes())[8:], np.uint8)
    np.savez(
        path,
        train=images[:TRAIN_SIZE],
        test=images[TRAIN_SIZE:],
        train_labels=labels[:TRAIN_SIZE],
        test_labels=labels[TRAIN_SIZE:],
    )
    return Path(path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/labelled_mnist.py DATA_DIR OUT.npz")
    print(write_split(Path(sys.argv[1]), Path(sys.argv[2])))
