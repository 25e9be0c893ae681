"""The maths of sample-quality metrics on feature vectors, in plain NumPy: the Fréchet distance between
the Gaussians fitted to two feature sets (FID when the features come from an Inception-like network),
with a bootstrap standard error; the k-nearest-neighbour precision and recall of Kynkäänniemi et al.
(2019), which tell sample fidelity (precision) apart from coverage of the data (recall); and the active
units of Burda et al. (2015), the latent dimensions whose posterior mean varies across inputs. Every
feature set is a float array of rows (N, D), one row per image; everything is computed in float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


def _rows(features: np.ndarray, name: str) -> np.ndarray:
    """`features` as a finite float64 (N, D) array, or ValueError saying what was received."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be feature rows of shape (N, D); received shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return array


def _same_dimension(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{names[0]} has {a.shape[1]} feature dimensions but {names[1]} has {b.shape[1]}; they must match"
        )


# --------------------------------------------------------------------------- Fréchet distance


@dataclass(frozen=True)
class GaussianStatistics:
    """The mean (D,) and unbiased covariance (D, D, ddof=1) of `count` feature rows, in float64."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int

    @classmethod
    def of(cls, features: np.ndarray) -> GaussianStatistics:
        """The statistics of feature rows (N, D), N >= 2."""
        rows = _rows(features, "features")
        if len(rows) < 2:
            raise ValueError(f"Gaussian statistics need at least 2 feature rows; received {len(rows)}")
        mean = rows.mean(axis=0)
        centred = rows - mean
        covariance = centred.T @ centred / (len(rows) - 1)
        return cls(mean=mean, covariance=covariance, count=len(rows))


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """Tr((A B)^(1/2)) for symmetric positive semi-definite A, B (D, D), without SciPy.

    With S = A^(1/2) symmetric, A B is similar to S B S, which is symmetric PSD, so the trace of the
    square root is the sum of the square roots of its eigenvalues (rounding negatives clipped to 0).
    """
    values, vectors = np.linalg.eigh((a + a.T) / 2)
    root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root @ b @ root
    middle = (middle + middle.T) / 2
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum())


def _frechet(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    difference = mean_a - mean_b
    value = (
        float(difference @ difference)
        + float(np.trace(cov_a))
        + float(np.trace(cov_b))
        - 2.0 * _trace_sqrt_product(cov_a, cov_b)
    )
    return max(value, 0.0)


def frechet_distance(a: GaussianStatistics, b: GaussianStatistics) -> float:
    """||mu_a - mu_b||^2 + Tr(C_a) + Tr(C_b) - 2 Tr((C_a C_b)^(1/2)), the squared 2-Wasserstein distance
    between the Gaussians N(mu_a, C_a) and N(mu_b, C_b); never negative."""
    dim_a, dim_b = a.mean.shape[0], b.mean.shape[0]
    if dim_a != dim_b:
        raise ValueError(f"the statistics have different dimensions: {dim_a} and {dim_b}")
    return _frechet(a.mean, a.covariance, b.mean, b.covariance)


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature sets (N, D) and (M, D)."""
    return frechet_distance(GaussianStatistics.of(real), GaussianStatistics.of(fake))


@dataclass(frozen=True)
class Estimate:
    """A value with its bootstrap standard error over `rounds` resamples."""

    value: float
    standard_error: float
    rounds: int


class _Resampler:
    """Mean and covariance (ddof=1) of bootstrap resamples of fixed feature rows, without copying them:
    a resample is a count per row, and only the rows drawn at least once enter the product."""

    def __init__(self, rows: np.ndarray) -> None:
        self.offset = rows.mean(axis=0)
        self.centred = rows - self.offset  # centring keeps the one-pass covariance accurate
        self.count = len(rows)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = self.count
        weights = np.bincount(rng.integers(0, n, size=n), minlength=n)
        drawn = np.flatnonzero(weights)
        weights = weights[drawn].astype(np.float64)
        rows = self.centred[drawn]
        mean = weights @ rows / n
        scaled = rows * np.sqrt(weights)[:, None]
        covariance = (scaled.T @ scaled - n * np.outer(mean, mean)) / (n - 1)
        return mean + self.offset, covariance


def fid_with_error(real: np.ndarray, fake: np.ndarray, *, rounds: int = 50, seed: int = 0) -> Estimate:
    """`fid(real, fake)` with the standard deviation (ddof=1) of the FIDs of `rounds` >= 2 bootstrap
    resamples, each drawing the rows of both sets with replacement (np.random.default_rng(seed))."""
    if rounds < 2:
        raise ValueError(f"a bootstrap standard error needs rounds >= 2; received {rounds}")
    real_rows, fake_rows = _rows(real, "real"), _rows(fake, "fake")
    _same_dimension(real_rows, fake_rows, ("real", "fake"))
    value = fid(real_rows, fake_rows)
    rng = np.random.default_rng(seed)
    real_draws, fake_draws = _Resampler(real_rows), _Resampler(fake_rows)
    values = np.empty(rounds)
    for i in range(rounds):
        values[i] = _frechet(*real_draws.draw(rng), *fake_draws.draw(rng))
    return Estimate(value=value, standard_error=float(values.std(ddof=1)), rounds=rounds)


# --------------------------------------------------------------------------- k-NN precision and recall


def _squared_distances(points: np.ndarray, centres: np.ndarray, chunk: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Squared Euclidean distances from `chunk` points at a time to all centres: (rows, (chunk, N)) blocks."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1; received {chunk}")
    offset = centres.mean(axis=0)  # distances do not change; the cancellation in |a|^2 + |b|^2 - 2ab shrinks
    points, centres = points - offset, centres - offset
    point_norms = np.einsum("ij,ij->i", points, points)
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, len(points), chunk):
        rows = slice(start, min(start + chunk, len(points)))
        block = points[rows] @ centres.T
        block *= -2.0
        block += point_norms[rows, None]
        block += centre_norms[None, :]
        np.maximum(block, 0.0, out=block)
        yield rows, block


def _check_k(k: int, sets: dict[str, np.ndarray]) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1; received {k}")
    for name, rows in sets.items():
        if len(rows) <= k:
            raise ValueError(f"{name} needs more than k={k} rows for k-nearest neighbours; received {len(rows)}")


def _radii(rows: np.ndarray, k: int, chunk: int) -> np.ndarray:
    radii = np.empty(len(rows))
    for block_rows, block in _squared_distances(rows, rows, chunk):
        # each row's own distance is exactly 0, so the (k+1)-th smallest is the k-th nearest other row;
        # a duplicate elsewhere is a genuine neighbour at distance 0
        block[np.arange(block.shape[0]), np.arange(block_rows.start, block_rows.stop)] = 0.0
        radii[block_rows] = np.partition(block, k, axis=1)[:, k]
    return np.sqrt(radii)


def knn_radii(features: np.ndarray, k: int = 3, chunk: int = 1024) -> np.ndarray:
    """Distance from each row to its k-th nearest OTHER row of the same set (the row itself excluded), (N,)."""
    rows = _rows(features, "features")
    _check_k(k, {"features": rows})
    return _radii(rows, k, chunk)


def manifold_coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """For each of `points` (M, D), whether it lies within radii[j] of some centres[j] (distance <= radius),
    bool (M,); `centres` is (N, D) and `radii` (N,)."""
    point_rows, centre_rows = _rows(points, "points"), _rows(centres, "centres")
    _same_dimension(point_rows, centre_rows, ("points", "centres"))
    radii = np.asarray(radii, dtype=np.float64)
    if radii.shape != (len(centre_rows),):
        raise ValueError(f"radii must have shape ({len(centre_rows)},), one per centre; received {radii.shape}")
    covered = np.zeros(len(point_rows), dtype=bool)
    for rows, block in _squared_distances(point_rows, centre_rows, chunk):
        covered[rows] = (np.sqrt(block, out=block) <= radii[None, :]).any(axis=1)
    return covered


@dataclass(frozen=True)
class PrecisionRecall:
    """Fractions in [0, 1]: fake rows inside the real manifold (precision) and real rows inside the fake one
    (recall), with the k that set the radii."""

    precision: float
    recall: float
    k: int


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, chunk: int = 1024) -> PrecisionRecall:
    """Kynkäänniemi et al. 2019: precision = fraction of fake rows inside the real manifold (union of balls
    around each real row with radius its k-th NN distance among real rows); recall = fraction of real rows
    inside the fake manifold (the same construction on the fake rows)."""
    real_rows, fake_rows = _rows(real, "real"), _rows(fake, "fake")
    _same_dimension(real_rows, fake_rows, ("real", "fake"))
    _check_k(k, {"real": real_rows, "fake": fake_rows})
    real_radii, fake_radii = _radii(real_rows, k, chunk), _radii(fake_rows, k, chunk)
    # one pass over the real-to-fake distances answers both questions
    fake_covered = np.zeros(len(fake_rows), dtype=bool)
    real_covered = np.zeros(len(real_rows), dtype=bool)
    for rows, block in _squared_distances(real_rows, fake_rows, chunk):
        distances = np.sqrt(block, out=block)  # (real chunk, fake)
        real_covered[rows] = (distances <= fake_radii[None, :]).any(axis=1)
        fake_covered |= (distances <= real_radii[rows, None]).any(axis=0)
    return PrecisionRecall(precision=float(fake_covered.mean()), recall=float(real_covered.mean()), k=k)


# --------------------------------------------------------------------------- active units


@dataclass(frozen=True)
class ActiveUnits:
    """How many latent dimensions are active, each dimension's variance (D,), and the threshold used."""

    count: int
    variances: np.ndarray
    threshold: float


def active_units(posterior_means: np.ndarray, threshold: float = 0.01) -> ActiveUnits:
    """Burda et al. 2015: unit u is active when Cov_x(E_q(z|x)[z_u]) > threshold (0.01 in the paper).

    `posterior_means` is (N, D), the posterior mean of each of N inputs; the variance over inputs is the
    population one (ddof=0), and a unit is active when it is strictly above `threshold`.
    """
    means = _rows(posterior_means, "posterior_means")
    if len(means) < 2:
        raise ValueError(f"active units need the posterior means of at least 2 inputs; received {len(means)}")
    variances = means.var(axis=0)
    return ActiveUnits(count=int((variances > threshold).sum()), variances=variances, threshold=float(threshold))
