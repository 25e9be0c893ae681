"""Shared fixtures: where the real data lies, small datasets, and fresh registries."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # the independent checks there are reused by tests
SHARED_DATA = Path(os.environ.get("GENMODELS_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    """The folder with binarized_mnist.npz (../shared/data); genmodels is pointed at it."""
    if not (SHARED_DATA / "binarized_mnist.npz").is_file():
        pytest.skip(f"the real data is not at {SHARED_DATA}; set GENMODELS_DATA_DIR")
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA


@pytest.fixture(scope="session")
def slice_file(tmp_path_factory) -> Path:
    """A user-format .npz of real binarized MNIST: 1500 train and 500 random test images with their labels."""
    if not (SHARED_DATA / "binarized_mnist.npz").is_file():
        pytest.skip(f"the real data is not at {SHARED_DATA}; set GENMODELS_DATA_DIR")
    from genmodels_plugins.datasets import load_binarized_mnist

    data = load_binarized_mnist(SHARED_DATA)
    pick = np.random.default_rng(0).choice(len(data.test), size=500, replace=False)
    path = tmp_path_factory.mktemp("slice") / "slice.npz"
    arrays = {"train": data.train[:1500].astype(np.uint8), "test": data.test[pick].astype(np.uint8)}
    if data.test_labels is not None:
        arrays["test_labels"] = data.test_labels[pick]
    np.savez(path, **arrays)
    return path


@pytest.fixture
def mnist_slice(shared_data, slice_file) -> Path:
    """The slice above, with GENMODELS_DATA_DIR pointing at the real data."""
    return slice_file


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
