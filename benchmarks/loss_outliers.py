"""Which images make a run's validation loss jump: each loss term of every image over a few draws, and the images
whose terms lie far above the split's median.

    python benchmarks/loss_outliers.py runs/hvae-iaf                    # the validation split, 5 draws
    python benchmarks/loss_outliers.py runs/hvae-iaf --split test --draws 10 --term kl --margin 50

Training scores the validation split with one coding drawn per image; a posterior with a heavy tail (a flow that
sends a few images' codings far away) shows as epochs whose validation loss jumps while the training loss falls
smoothly. This script scores the split DRAWS times with the run's kept weights (`genmodels.Run.loss_terms`) and
prints, for the term chosen (`--term`, kl by default), its mean and median per image, the images whose term exceeds
the median by more than MARGIN nats in any draw, their figures in each draw, and the share of the split's mean
that they make.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def outliers(values: np.ndarray, margin: float) -> dict:
    """`values`: (draws, images) of one term. The images above median + margin in any draw, worst first, and the
    share of the total that those draws make."""
    median = float(np.median(values))
    above = values > median + margin
    images = np.flatnonzero(above.any(axis=0))
    images = images[np.argsort(-values[:, images].max(axis=0))]
    total = float(values.sum())
    return {
        "mean": float(values.mean()),
        "median": median,
        "images": images.tolist(),
        "draws_above": int(above.sum()),
        "share_of_mean": float(values[above].sum() / total) if total else 0.0,
        "mean_without": float(np.delete(values, images, axis=1).mean()) if len(images) < values.shape[1] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--split", choices=("valid", "test", "train"), default="valid")
    parser.add_argument("--draws", type=int, default=5, help="Codings drawn per image (one pass each).")
    parser.add_argument("--term", default="kl", help="The loss term to examine (kl, reconstruction, ...).")
    parser.add_argument("--margin", type=float, default=50.0, help="Nats above the median that make an outlier.")
    parser.add_argument("--show", type=int, default=10, help="How many outlying images to list.")
    args = parser.parse_args()

    import genmodels

    run = genmodels.load(args.run_dir)
    data = run.dataset()
    images = getattr(data, args.split)
    if images is None or len(images) == 0:
        sys.exit(f"the run's dataset has no {args.split} images.")
    labels = getattr(data, f"{args.split}_labels") if run.model.conditional else None
    draws = [run.loss_terms(images, labels) for _ in range(args.draws)]
    if args.term not in draws[0]:
        sys.exit(f"{run.name} has no loss term {args.term!r}; its terms: {', '.join(draws[0])}.")
    values = np.stack([draw[args.term] for draw in draws])
    found = outliers(values, args.margin)
    print(f"{args.run_dir} ({run.name}), {len(images)} {args.split} images, {args.draws} draws of term {args.term!r}")
    print(f"mean {found['mean']:.2f}, median {found['median']:.2f} nats per image")
    count = len(found["images"])
    print(f"images above the median + {args.margin:g} in some draw: {count} ({found['draws_above']} draws)")
    if count:
        print(
            f"their draws make {100 * found['share_of_mean']:.1f}% of the mean; without them the mean is "
            f"{found['mean_without']:.2f}"
        )
        for index in found["images"][: args.show]:
            figures = ", ".join(f"{value:.4g}" for value in values[:, index])
            print(f"  image {index}: {figures}")


if __name__ == "__main__":
    main()
