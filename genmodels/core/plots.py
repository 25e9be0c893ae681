"""Pictures: grids of images saved as PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from genmodels.core.atomic import atomic_path
from genmodels.core.pixels import BINARY

GRID_COLUMNS = 10
PAD = 2
SCALE = 2
# A PNG grid holds at most this many pixel values (about 12 700 28x28 images, 3 200 32x32 colour ones): its picture,
# enlarged and coloured, takes about 16 bytes a value.
MAX_GRID_VALUES = 10_000_000


def image_grid(images: np.ndarray, image_shape: tuple[int, ...], columns: int = GRID_COLUMNS) -> np.ndarray:
    """Tile `images` (N, H*W*C), (N, H, W) or (N, H, W, C) into one (rows, cols, C) array, `columns` per row,
    PAD pixels apart; values are clipped to [0, 1]."""
    height, width, channels = (*image_shape, 1)[:3]
    images = np.clip(np.asarray(images, dtype=np.float32).reshape(-1, height, width, channels), 0.0, 1.0)
    count = len(images)
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    grid = np.zeros((rows * (height + PAD) + PAD, columns * (width + PAD) + PAD, channels), dtype=np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = PAD + row * (height + PAD), PAD + column * (width + PAD)
        grid[top : top + height, left : left + width] = image
    return grid


def save_image_grid(
    images: np.ndarray, path: Path, image_shape: tuple[int, ...], columns: int = GRID_COLUMNS, *, pixels: str = BINARY
) -> Path:
    """Save images as a PNG grid, SCALE x enlarged, in the natural look of their data: binary digits as
    dark ink on white (like Hands-On ML's figure), grey images as greys (0 black, 1 white), colour
    images in their colours. Images with another number of channels show their first channel in grey."""
    from matplotlib import image as mpimg

    picture = grid_picture(images, image_shape, columns, pixels=pixels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        mpimg.imsave(partial, picture, format="png")
    return path


def grid_picture(
    images: np.ndarray,
    image_shape: tuple[int, ...],
    columns: int = GRID_COLUMNS,
    *,
    pixels: str = BINARY,
    scale: int = SCALE,
) -> np.ndarray:
    """The picture that `save_image_grid` saves, as an (height, width, 4) RGBA uint8 array (for trackers such as
    TensorBoard's): the images tiled by `image_grid`, `scale` x enlarged, coloured as `save_image_grid` says."""
    from matplotlib.cm import ScalarMappable

    grid = image_grid(images, image_shape, columns)
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    if grid.shape[-1] == 3:
        return ScalarMappable().to_rgba(grid, bytes=True)
    colours = ScalarMappable(cmap="binary" if pixels == BINARY else "gray")  # binary: 1 is ink, dark on white
    colours.set_clim(0.0, 1.0)
    return colours.to_rgba(grid[..., 0], bytes=True)


def paired_rows(top: np.ndarray, bottom: np.ndarray, columns: int = GRID_COLUMNS) -> np.ndarray:
    """Images ordered so that a grid of `columns` shows each row of `top` above the matching row of `bottom`."""
    count = len(top)
    columns = max(1, min(columns, count))
    blank = np.zeros_like(top[:1])
    ordered = []
    for start in range(0, count, columns):
        for source in (top, bottom):
            chunk = source[start : start + columns]
            ordered.append(np.concatenate([chunk, np.repeat(blank, columns - len(chunk), axis=0)]))
    return np.concatenate(ordered)


def _save_figure(figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        figure.savefig(partial, format="png", dpi=100, bbox_inches="tight")
    return path


def save_training_curves(records: list[dict], path: Path, kept: int | None = None) -> Path:
    """One panel per loss term: its train and validation value after every epoch; the epoch whose
    weights the run keeps, when given, marked with a dotted line (see `training_curves_figure`)."""
    return _save_figure(training_curves_figure(records, kept), path)


def training_curves_figure(records: list[dict], kept: int | None = None):
    """The figure of `save_training_curves`. A panel's scale fits the epochs after the first tenth of the
    run when the first epochs' values (hundreds of nats above the rest) would flatten everything else;
    a run whose step size changed (`--lr-schedule`) gets a last panel with the rate of each epoch."""
    from matplotlib.figure import Figure

    terms = list(records[0]["train"])
    epochs = [record["epoch"] for record in records]
    held_out = "valid" if "valid" in records[0] else "test"  # runs from before the validation split monitored test
    marker = "." if len(epochs) < 30 else None
    rates = [record.get("learning_rate") for record in records]
    scheduled = None not in rates and len(set(rates)) > 1
    panels = len(terms) + scheduled
    figure = Figure(figsize=(4 * panels, 3.2))
    for index, term in enumerate(terms, start=1):
        axes = figure.add_subplot(1, panels, index)
        curves = [[r["train"].get(term) for r in records]]
        axes.plot(epochs, curves[0], label="train", marker=marker)
        if any(term in r.get(held_out, {}) for r in records):
            curves.append([r[held_out].get(term) for r in records])
            axes.plot(epochs, curves[-1], label="validation" if held_out == "valid" else "test", marker=marker)
        if kept is not None:
            axes.axvline(kept, color="grey", linestyle=":", label=f"kept: epoch {kept}")
        _fit_scale_to_later_epochs(axes, curves)
        axes.set_title(term)
        axes.set_xlabel("epoch")
        axes.set_ylabel("nats per image")
        axes.grid(alpha=0.3)
        axes.legend()
    if scheduled:
        axes = figure.add_subplot(1, panels, panels)
        axes.plot(epochs, rates, color="black", marker=marker)
        axes.set_title("learning rate")
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _fit_scale_to_later_epochs(axes, curves: list[list]) -> None:
    """Limit the y axis to the values after the first tenth of the epochs (from 20 epochs on) when the whole
    range is more than three times theirs; and below spikes of a few later epochs (values above the later
    values' 90th percentile by more than three times its distance to their 10th), which are counted in a note
    at the foot of the panel, so that one diverging epoch does not flatten the curves."""
    later = np.array(
        [value for curve in curves for value in curve[len(curve) // 10 :] if value is not None], dtype=float
    )
    every = np.array([value for curve in curves for value in curve if value is not None], dtype=float)
    later, every = later[np.isfinite(later)], every[np.isfinite(every)]
    if len(curves[0]) < 20 or not len(later):
        return
    low, high = later.min(), later.max()
    tenth, ninetieth = np.percentile(later, [10, 90])
    ceiling = ninetieth + 3 * (ninetieth - tenth)
    spikes = later > ceiling
    if spikes.any() and ninetieth > tenth:
        high = later[~spikes].max()
        axes.annotate(
            f"{int(spikes.sum())} values off the scale (up to {later.max():.4g})",
            xy=(0.02, 0.03),
            xycoords="axes fraction",
            va="bottom",
            fontsize=8,
            color="dimgrey",
        )
    span = max(high - low, 1e-6)
    if every.max() - every.min() > 3 * span:
        axes.set_ylim(low - 0.1 * span, high + 0.1 * span)


def save_scatter(
    points: np.ndarray, path: Path, labels: np.ndarray | None, axes_names: tuple[str, str], title: str
) -> Path:
    """2-D points, coloured by digit label when labels are known."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.6))
    axes = figure.add_subplot(1, 1, 1)
    order = np.random.default_rng(0).permutation(len(points))  # no class painted over the others by file order
    points = points[order]
    labels = None if labels is None else labels[order]
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
    else:
        scatter = axes.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=2, alpha=0.7, vmin=-0.5, vmax=9.5)
        figure.colorbar(scatter, ax=axes, ticks=range(10), label="digit")
    axes.set_xlabel(axes_names[0])
    axes.set_ylabel(axes_names[1])
    axes.set_title(title)
    return _save_figure(figure, path)
