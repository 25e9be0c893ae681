"""The latent space: codings of images, paths between them, 2-D projections and decoding grids."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

EVAL_BATCH_SIZE = 1000


def encode(
    model, images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = EVAL_BATCH_SIZE, scale: float = 1.0
) -> np.ndarray:
    """Mean codings of `images` (given their `labels`, for a conditional model), computed in batches.

    `images` may be stored values of any shape (N, ...), such as uint8 levels: each batch is flattened
    and multiplied by `scale` as it goes, so a large uint8 set is never converted whole."""
    return np.concatenate(
        [
            np.asarray(model.encode(_rows(images[start : start + batch_size], scale), _part(labels, start, batch_size)))
            for start in range(0, len(images), batch_size)
        ]
    )


def _rows(batch: np.ndarray, scale: float) -> np.ndarray:
    rows = np.asarray(batch, dtype=np.float32).reshape(len(batch), -1)
    return rows * np.float32(scale) if scale != 1.0 else rows


def decode(
    model, codings: np.ndarray, labels: np.ndarray | None = None, batch_size: int = EVAL_BATCH_SIZE
) -> np.ndarray:
    """The decoder's mean image (pixel probabilities) for each coding (and label, for a conditional model)."""
    codings = np.asarray(codings, dtype=np.float32)
    return np.concatenate(
        [
            np.asarray(model.decode(codings[start : start + batch_size], _part(labels, start, batch_size)))
            for start in range(0, len(codings), batch_size)
        ]
    )


def _part(labels: np.ndarray | None, start: int, size: int) -> np.ndarray | None:
    return None if labels is None else labels[start : start + size]


def interpolate(start: np.ndarray, end: np.ndarray, steps: int, spherical: bool = False) -> np.ndarray:
    """`steps` codings from `start` to `end` (both included): straight, or along the great circle (slerp)."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if not spherical:
        return (1 - t) * start + t * end
    cos = np.dot(start, end) / (np.linalg.norm(start) * np.linalg.norm(end) + 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * start + t * end
    return (np.sin((1 - t) * omega) * start + np.sin(t * omega) * end) / np.sin(omega)


def project_2d(codings: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """Codings as 2-D points with axis names: themselves when 2-D, else their first two principal components."""
    if codings.shape[1] == 2:
        return codings, ("z1", "z2")
    centred = codings - codings.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    explained = singular[:2] ** 2 / np.sum(singular**2)
    names = tuple(f"principal component {i + 1} ({share:.0%} of variance)" for i, share in enumerate(explained))
    return centred @ components[:2].T, names


def manifold_codings(side: int) -> np.ndarray:
    """A side x side grid of 2-D codings at evenly spaced quantiles of N(0, 1), as in Kingma & Welling's figure."""
    quantiles = np.linspace(0.5 / side, 1 - 0.5 / side, side)
    values = np.array([NormalDist().inv_cdf(q) for q in quantiles])
    grid_x, grid_y = np.meshgrid(values, values[::-1])
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
