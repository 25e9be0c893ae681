"""Write the copy of statically binarized MNIST that ships inside genmodels (genmodels_plugins/data/).

    python tools/pack_binarized_mnist.py ../shared/data

reads binarized_mnist.npz and t10k-labels-idx1-ubyte.gz from that folder (the files `genmodels` downloads into
its data folder), checks every split against the published SHA-256 digests, and writes each split's rows
with their 784 pixels packed into 98 bytes (numpy.packbits), and the sorted test labels, as one compressed .npz.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from genmodels_plugins.datasets import (
    PACKAGED_BINARIZED,
    SORTED_TEST_LABELS_SHA256,
    _sorted_test_labels,
    load_binarized_mnist,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data_dir", type=Path, help="a folder holding binarized_mnist.npz and t10k-labels-idx1-ubyte.gz"
    )
    parser.add_argument("--out", type=Path, default=PACKAGED_BINARIZED)
    args = parser.parse_args(argv)
    data = load_binarized_mnist(args.data_dir, packaged=None)  # checked against the published digests
    labels = _sorted_test_labels(args.data_dir)
    if labels is None:
        sys.exit(f"{args.data_dir} has no t10k-labels-idx1-ubyte.gz")
    if hashlib.sha256(labels.tobytes()).hexdigest() != SORTED_TEST_LABELS_SHA256:
        sys.exit("the sorted test labels are not those genmodels expects")
    arrays = {split: np.packbits(getattr(data, split).reshape(-1, 784), axis=1) for split in ("train", "valid", "test")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as handle:
        np.savez_compressed(handle, **arrays, test_labels=labels)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
