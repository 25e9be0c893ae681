"""A cost model for `genmodels train --distribute` past one machine: bytes all-reduced per step, compute
per step, and the scaling efficiency that follows, for every built-in model.

    python benchmarks/scaling_model.py                       # the table in docs/distributed.md
    python benchmarks/scaling_model.py --step-ms vae=5.1     # another machine's measured compute per step

Per step each worker computes its share of the global batch, then the gradients (one float32 per
trainable weight, `bytes`) are all-reduced. A ring all-reduce sends and receives 2 (n - 1) / n
times the gradient's bytes per worker, in 2 (n - 1) hops each costing a latency. With the global
batch fixed (`--batch-size`), the compute per worker falls as 1/n:

    step(n) = compute / n + overhead + 2 (n - 1) / n * bytes / bandwidth + 2 (n - 1) * latency
    efficiency(n) = compute / (n * step(n))          (1: perfect scaling)

`overhead` is what a distributed step costs beyond its arithmetic and its bytes: one strategy call
from Python, the collectives' set-up, Adam outside XLA. Two workers on this machine's loopback
(`benchmarks/distributed.py`, vae with hidden 100, 300 and 500) measured about 15 ms of it a step.

`compute` is one process's time per training step on this project's 2-core machine, from the
train times in docs/models.md (wall time over epochs x 334 steps, validation included); a GPU's
would be 10-100 times smaller, which makes the exchange relatively 10-100 times dearer.
"""

from __future__ import annotations

import argparse

# one process's seconds per step on the 2-core machine (docs/models.md: train time / (epochs * 334 steps))
STEP_MS = {
    "vae": 85 / 50 / 334 * 1e3,
    "beta-vae": 97 / 50 / 334 * 1e3,
    "iwae": 235 / 50 / 334 * 1e3,
    "vamp": 202 / 50 / 334 * 1e3,
    "hvae": 432 / 100 / 334 * 1e3,
    "conv-vae": 206 / 50 / 334 * 1e3,
    "cvae": 85 / 50 / 334 * 1e3,  # as vae: the same layers, ten more inputs
    "ae": 82 / 50 / 334 * 1e3,
}
BANDWIDTHS_GBIT = (1, 10, 100)
WORKERS = (2, 4, 8, 16, 32, 64)
LATENCY_S = 50e-6  # one hop of a ring over Ethernet with gRPC
OVERHEAD_S = 15e-3  # a distributed step's fixed cost, measured on this machine (see above)


def gradient_bytes(model: str) -> int:
    """Bytes of one gradient of `model` with its default options on 28x28 grey images: 4 per trainable weight."""
    import genmodels.core.backend  # noqa: F401

    from genmodels.plugins.loader import get_registry

    spec = get_registry().model(model)
    config = spec.config().fitted_to((28, 28, 1), "binary", "28x28 images")
    built = spec.build(config)
    built.build_for(config.input_dim)
    return 4 * sum(int(variable.numpy().size) for variable in built.trainable_variables)


def efficiency(
    compute_s: float,
    grad_bytes: int,
    workers: int,
    gbit_per_s: float,
    latency_s: float = LATENCY_S,
    overhead_s: float = OVERHEAD_S,
) -> float:
    """compute / (n * step(n)) for a ring all-reduce of `grad_bytes` at `gbit_per_s`."""
    exchange = 2 * (workers - 1) / workers * grad_bytes * 8 / (gbit_per_s * 1e9) + 2 * (workers - 1) * latency_s
    return compute_s / (workers * (compute_s / workers + overhead_s + exchange))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--step-ms", action="append", default=[], metavar="MODEL=MS", help="a measured compute per step"
    )
    options = parser.parse_args()
    steps = dict(STEP_MS)
    for item in options.step_ms:
        name, _, value = item.partition("=")
        steps[name] = float(value)
    header = " | ".join(f"{n} w @ {g} Gbit/s" for g in BANDWIDTHS_GBIT for n in (2, 8, 64))
    print(f"| model | gradient MB | compute ms/step | {header} |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in BANDWIDTHS_GBIT for _ in (2, 8, 64)) + " |")
    for model, step_ms in steps.items():
        size = gradient_bytes(model)
        cells = [f"{efficiency(step_ms / 1e3, size, n, g):.2f}" for g in BANDWIDTHS_GBIT for n in (2, 8, 64)]
        print(f"| `{model}` | {size / 1e6:.2f} | {step_ms:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
