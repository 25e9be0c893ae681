"""Shared fixtures: where the real data lies, small datasets, and fresh registries."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GENMODELS_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    """The folder with binarized_mnist.npz (../shared/data); genmodels is pointed at it."""
    if not (SHARED_DATA / "binarized_mnist.npz").is_file():
        pytest.skip(f"the real data is not at {SHARED_DATA}; set GENMODELS_DATA_DIR")
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA


@pytest.fixture
def mnist_slice(shared_data, tmp_path) -> Path:
    """A user-format .npz with 1500 train and 500 test images of real binarized MNIST."""
    with np.load(shared_data / "binarized_mnist.npz") as npz:
        train, test = npz["train"][:1500], npz["test"][:500]
    path = tmp_path / "slice.npz"
    np.savez(path, train=train, test=test)
    return path


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch) -> Path:
    """An empty GENMODELS_DATA_DIR, as on a fresh machine."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(folder))
    return folder


def random_binary_images(count: int, seed: int = 0, side: int = 28) -> np.ndarray:
    """Random 0/1 images, flattened: small synthetic data for unit tests."""
    return (np.random.default_rng(seed).random((count, side * side)) < 0.2).astype(np.uint8)
