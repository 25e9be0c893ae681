"""An independent check of `genmodels evaluate`: the importance-weighted NLL of an MLP VAE run,
rewritten in plain numpy from the raw weights, with numpy's own random draws.

    python benchmarks/independent_nll.py runs/vae -n 1000 --k 5000 --seed 0

scores the same seeded random test images as `genmodels evaluate vae -n 1000 --k 5000 --seed 0`
and prints both figures side by side when that evaluation's JSON is in the run directory.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


def _dense(layer, h, elu: bool, dtype):
    out = h @ layer.kernel.numpy().astype(dtype) + layer.bias.numpy().astype(dtype)
    return np.where(out > 0, out, np.expm1(np.minimum(out, 0))) if elu else out


def numpy_nll(model, images: np.ndarray, k: int, seed: int = 0, chunk: int = 250, dtype=np.float64) -> np.ndarray:
    """Per-image -log((1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)) for a GaussianMLPEncoder / BernoulliMLPDecoder model."""
    rng = np.random.default_rng(seed)
    x = images.astype(dtype)
    h = x
    for layer in model.encoder.body.layers:
        h = _dense(layer, h, True, dtype)
    mean, log_var = (
        _dense(model.encoder.mean_head, h, False, dtype),
        _dense(model.encoder.log_var_head, h, False, dtype),
    )
    log_ws = []
    for start in range(0, k, chunk):
        eps = rng.standard_normal((min(chunk, k - start), *mean.shape)).astype(dtype)
        z = mean + np.exp(log_var / 2) * eps
        h = z
        for layer in model.decoder.body.layers:
            h = _dense(layer, h, True, dtype)
        logits = _dense(model.decoder.logits_head, h, False, dtype)
        log_px_z = -(x * np.logaddexp(0, -logits) + (1 - x) * np.logaddexp(0, logits)).sum(-1)
        log_pz = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
        log_qz = -0.5 * (math.log(2 * math.pi) + log_var + eps**2).sum(-1)
        log_ws.append((log_px_z + log_pz - log_qz).astype(np.float64))
    log_w = np.concatenate(log_ws)
    peak = log_w.max(axis=0)
    return -(np.log(np.exp(log_w - peak).mean(axis=0)) + peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("-n", type=int, default=1000, help="random test images (chosen like genmodels evaluate -n)")
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from genmodels.data.sources import load_dataset
    from genmodels.plugins.loader import get_registry
    from genmodels.runs.loading import load_model

    registry = get_registry()
    model, config = load_model(args.run_dir, registry)
    test = load_dataset(config.train["dataset"], registry).test
    images = test[np.sort(np.random.default_rng(args.seed).choice(len(test), size=args.n, replace=False))]
    started = time.perf_counter()
    nll = numpy_nll(
        model, images, args.k, seed=args.seed + 1, dtype=np.float32 if args.n * args.k > 10**6 else np.float64
    )
    seconds = time.perf_counter() - started
    print(
        f"numpy estimate: NLL {nll.mean():.3f} ± {nll.std(ddof=1) / math.sqrt(len(nll)):.3f} nats "
        f"({args.n} images, k={args.k}, {seconds:.0f} s)"
    )
    evaluation = args.run_dir / f"evaluation-test-n{args.n}.json"
    if evaluation.is_file():
        figures = json.loads(evaluation.read_text())
        if figures["k"] == args.k and figures["seed"] == args.seed:
            print(f"genmodels evaluate: NLL {figures['nll']:.3f}; difference {figures['nll'] - nll.mean():+.3f} nats")


if __name__ == "__main__":
    main()
