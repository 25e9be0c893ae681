"""Pictures: grids of images saved as PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from genmodels.atomic import atomic_path

GRID_COLUMNS = 10
PAD = 2
SCALE = 2


def image_grid(images: np.ndarray, image_shape: tuple[int, int], columns: int = GRID_COLUMNS) -> np.ndarray:
    """Tile `images` (N, H*W) or (N, H, W) into one 2-D array, `columns` per row, PAD pixels apart."""
    height, width = image_shape
    images = np.asarray(images, dtype=np.float32).reshape(-1, height, width)
    count = len(images)
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * (height + PAD) + PAD, columns * (width + PAD) + PAD), dtype=np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = PAD + row * (height + PAD), PAD + column * (width + PAD)
        grid[top : top + height, left : left + width] = image
    return grid


def save_image_grid(images: np.ndarray, path: Path, image_shape: tuple[int, int], columns: int = GRID_COLUMNS) -> Path:
    """Save images as a PNG grid like Hands-On ML's figure: dark ink on white, SCALE x enlarged."""
    from matplotlib import image as mpimg

    grid = image_grid(images, image_shape, columns)
    grid = np.kron(grid, np.ones((SCALE, SCALE), dtype=grid.dtype))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        mpimg.imsave(partial, grid, cmap="binary", vmin=0.0, vmax=1.0, format="png")
    return path
