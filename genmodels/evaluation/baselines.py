"""The independent-pixel baseline: every value modelled on its own, from the training split.

A generative model's likelihood means little alone: a model can score a respectable-looking number
of nats and still have learned nothing about how pixels go together. The baseline here is the best
model that ignores every correlation between values: for each value position d (pixel and
channel), its own distribution fitted to the training images.

- 0/1 pixels: a Bernoulli per pixel, p_d = (ones_d + a) / (n + 2a).
- 8-bit levels: a 256-bin histogram per value, p_d(k) = (count_d(k) + a) / (n + 256 a).
- Floats in [0, 1]: a normal density per value, with the training mean and standard deviation
  (the deviation floored at one 8-bit level, 1/255, as the decoder's Gaussians are).

The additive smoothing `a` of the discrete ones is chosen on the validation split from `SMOOTHING`
(the baseline is given its best chance, never on the test images). Log-likelihoods are in nats
per image, as `genmodels evaluate` reports them. NumPy only: no TensorFlow here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genmodels.core.pixels import BINARY, CONTINUOUS, EIGHT_BIT, GREY_LEVELS

NAME = "independent pixels"
SMOOTHING = (1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0)  # the additive smoothing `a` chosen among on validation
MIN_SCALE = 1.0 / 255.0  # the normal baseline's floor on each value's standard deviation
CHUNK = 2048  # images counted or scored at a time: memory does not grow with the split


@dataclass(frozen=True)
class PixelBaseline:
    """A fitted independent-pixel model. `table` holds, per value, the log probability of each outcome
    (D, 2) for 0/1 pixels or (D, 256) for 8-bit levels; for floats, (D, 2) of mean and log-scale."""

    pixels: str
    table: np.ndarray
    smoothing: float | None = None  # the additive smoothing of a discrete baseline; None for floats

    def log_prob(self, rows: np.ndarray) -> np.ndarray:
        """Per image, log p(x) in nats under independent values; `rows` are (N, D) floats in [0, 1] as the
        model sees them (8-bit level k as k / 255)."""
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != len(self.table):
            raise ValueError(
                f"the baseline scores rows of {len(self.table)} values, received an array shaped {rows.shape}."
            )
        out = np.empty(len(rows), dtype=np.float64)
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            if self.pixels == CONTINUOUS:
                mean, log_scale = self.table[:, 0], self.table[:, 1]
                standard = (chunk.astype(np.float64) - mean) * np.exp(-log_scale)
                out[start : start + CHUNK] = -(0.5 * math.log(2 * math.pi) + log_scale + 0.5 * standard**2).sum(axis=1)
            else:
                outcomes = _outcomes(chunk, self.pixels)
                out[start : start + CHUNK] = np.take_along_axis(self.table.T, outcomes, axis=0).sum(axis=1)
        return out


def outcome_count(pixels: str) -> int:
    """How many values one pixel of data of kind `pixels` can take (2 or 256); a ValueError for floats."""
    if pixels == BINARY:
        return 2
    if pixels == EIGHT_BIT:
        return GREY_LEVELS
    raise ValueError(f"{pixels} data has no finite set of values.")


def _outcomes(rows: np.ndarray, pixels: str) -> np.ndarray:
    """The index of each value's outcome: 0/1, or the 8-bit level k of k / 255."""
    return np.rint(np.asarray(rows, dtype=np.float64) * (outcome_count(pixels) - 1)).astype(np.int64)


def counts(rows: np.ndarray, pixels: str) -> np.ndarray:
    """(D, outcomes) how often each value position takes each outcome in `rows` ((N, D) floats in [0, 1]).
    Rows that are not on the grid (greys given to a binary baseline) count fractionally: a grey g adds
    g to outcome 1 and 1 - g to outcome 0, its expected count under Bernoulli(g)."""
    rows = np.asarray(rows)
    levels = outcome_count(pixels)
    width = rows.shape[1]
    total = np.zeros((width, levels), dtype=np.float64)
    if pixels == BINARY:
        ones = np.zeros(width, dtype=np.float64)
        for start in range(0, len(rows), CHUNK):
            ones += rows[start : start + CHUNK].sum(axis=0, dtype=np.float64)
        total[:, 1], total[:, 0] = ones, len(rows) - ones
        return total
    offsets = np.arange(width, dtype=np.int64) * levels
    for start in range(0, len(rows), CHUNK):
        flat = (_outcomes(rows[start : start + CHUNK], pixels) + offsets).ravel()
        total += np.bincount(flat, minlength=width * levels).reshape(width, levels)
    return total


def smoothed(count_table: np.ndarray, smoothing: float) -> np.ndarray:
    """Log probabilities (D, outcomes) of additively smoothed counts: log((c + a) / (n + outcomes a))."""
    if smoothing <= 0:
        raise ValueError(f"smoothing must be positive, received {smoothing}.")
    with_prior = count_table + smoothing
    return np.log(with_prior) - np.log(with_prior.sum(axis=1, keepdims=True))


def fit(
    train: np.ndarray, pixels: str, valid: np.ndarray | None = None, choices: tuple[float, ...] | None = None
) -> PixelBaseline:
    """The independent-pixel baseline of `train` ((N, D) floats in [0, 1] of data of kind `pixels`): the
    smoothing with the best mean log-likelihood of `valid` among `choices` (default `SMOOTHING`; the first
    choice without validation images; a single choice is simply used)."""
    train = np.asarray(train)
    if len(train) == 0:
        raise ValueError("the baseline needs at least one training image.")
    if pixels == CONTINUOUS:
        mean = np.zeros(train.shape[1])
        square = np.zeros(train.shape[1])
        for start in range(0, len(train), CHUNK):
            chunk = train[start : start + CHUNK].astype(np.float64)
            mean += chunk.sum(axis=0)
            square += (chunk**2).sum(axis=0)
        mean /= len(train)
        variance = np.maximum(square / len(train) - mean**2, 0.0)
        log_scale = np.log(np.maximum(np.sqrt(variance), MIN_SCALE))
        return PixelBaseline(CONTINUOUS, np.stack([mean, log_scale], axis=1))
    count_table = counts(train, pixels)
    candidates = [PixelBaseline(pixels, smoothed(count_table, a), a) for a in choices or SMOOTHING]
    if valid is None or len(valid) == 0 or len(candidates) == 1:
        return candidates[0]
    return max(candidates, key=lambda baseline: float(baseline.log_prob(valid).mean()))


@dataclass(frozen=True)
class BaselineFigures:
    """The baseline's figures on the images a model was scored on: nats per image, as `Evaluation`."""

    nll: float
    nll_standard_error: float
    bits_per_dim: float | None  # for a probability mass (0/1 or 8-bit data); None for a density
    smoothing: float | None
    model: str = NAME

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "nll": self.nll,
            "nll_standard_error": self.nll_standard_error,
            "bits_per_dim": self.bits_per_dim,
            "smoothing": self.smoothing,
        }


def score(baseline: PixelBaseline, images: np.ndarray) -> BaselineFigures:
    """The baseline's negative log-likelihood of `images` ((N, D) floats in [0, 1]): mean, standard error, bits/dim."""
    nll = -baseline.log_prob(images)
    error = float(nll.std(ddof=1) / math.sqrt(len(nll))) if len(nll) > 1 else 0.0
    bits = None if baseline.pixels == CONTINUOUS else float(nll.mean()) / (images.shape[1] * math.log(2.0))
    return BaselineFigures(float(nll.mean()), error, bits, baseline.smoothing)


def for_dataset(dataset, pixels: str | None = None) -> PixelBaseline:
    """The baseline of a prepared `genmodels.data.Dataset` (its training split, smoothing chosen on its
    validation split), for data of kind `pixels` as the model sees it (default: the dataset's own)."""
    valid = dataset.rows("valid") if dataset.valid is not None else None
    return fit(dataset.rows("train"), pixels or dataset.pixels, valid)
