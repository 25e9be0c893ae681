"""PNG bytes of images (N, H, W, C) in [0, 1]: one image, or a grid of them with a thin gap between."""

from __future__ import annotations

import io

import numpy as np

GAP = 2  # pixels between the images of a grid


def grid(images: np.ndarray, columns: int) -> np.ndarray:
    """The images (N, H, W, C) laid out `columns` to a row, on a white background, as one (H', W', C) array."""
    images = np.asarray(images, dtype=np.float32)
    count, height, width, channels = images.shape
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    canvas = np.ones((rows * (height + GAP) - GAP, columns * (width + GAP) - GAP, channels), dtype=np.float32)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + GAP), (index % columns) * (width + GAP)
        canvas[top : top + height, left : left + width] = image
    return canvas


def png_bytes(images: np.ndarray, columns: int = 10) -> bytes:
    """The images as one PNG: grey for one channel, RGB for three."""
    from PIL import Image

    canvas = grid(images, columns)
    levels = np.clip(np.nan_to_num(canvas) * 255 + 0.5, 0, 255).astype(np.uint8)
    picture = Image.fromarray(levels[:, :, 0] if levels.shape[2] == 1 else levels[:, :, :3])
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
