"""Where a training epoch's time goes inside the compiled loop, kernel by kernel.

    python benchmarks/profile_step.py                        # the seed's vae, batch 150
    python benchmarks/profile_step.py iwae --batch-size 500

Builds MODEL as `genmodels train` does (its default recipe, binarized MNIST), runs one epoch of
its training steps in genmodels' compiled loop to compile, then one more under TensorFlow's
profiler with XLA's per-kernel trace events on, and prints the kernels' times grouped by what they
do: matrix products, the optimizer's update of the variables, and every other TensorFlow op that
XLA fused (by the op it came from). XLA runs independent kernels at the same time, so the kernels'
times add up to more than the epoch's wall time.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
from pathlib import Path

UPDATES = {"AssignAddVariableOp", "AssignSubVariableOp", "AssignVariableOp"}
INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = \S+ ([\w-]+)\(")
OP_TYPE = re.compile(r'op_type="(\w+)"')


def kinds_from_hlo(text: str) -> dict[str, str]:
    """Each HLO instruction's kind: "matrix products" for a dot, "optimizer update" for a kernel
    that writes a variable, else the TensorFlow op it was made from (or its HLO opcode)."""
    kinds = {}
    for line in text.splitlines():
        match = INSTRUCTION.match(line)
        if not match:
            continue
        name, opcode = match.groups()
        found = OP_TYPE.search(line)
        op_type = found[1] if found else None
        if opcode == "dot" or op_type in ("MatMul", "BatchMatMulV2"):
            kinds[name] = "matrix products"
        elif op_type in UPDATES:
            kinds[name] = "optimizer update (and metric totals)"
        else:
            kinds[name] = op_type or opcode
    return kinds


def kernel_seconds(xspace_path: Path) -> collections.Counter:
    """Seconds per XLA kernel (thunk) name in a profiler trace."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(xspace_path.read_bytes())
    seconds: collections.Counter = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                seconds[plane.event_metadata[event.metadata_id].name] += event.duration_ps / 1e12
    return seconds


def group(seconds: collections.Counter, kinds: dict[str, str]) -> collections.Counter:
    """Kernel seconds summed by kind; trace events that are not kernels of the loop are left out."""
    grouped: collections.Counter = collections.Counter()
    for name, value in seconds.items():
        if name in kinds:
            grouped[kinds[name]] += value
    return grouped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="vae")
    parser.add_argument("--batch-size", type=int, help="default: the model's recipe")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="genmodels-profile-"))
    os.environ["XLA_FLAGS"] = " ".join(
        [
            os.environ.get("XLA_FLAGS", ""),
            "--xla_cpu_enable_xprof_traceme=true",
            f"--xla_dump_to={scratch / 'hlo'}",
            "--xla_dump_hlo_pass_re=NONE",
        ]
    )

    import genmodels.core.backend  # noqa: F401
    import keras
    import tensorflow as tf

    from genmodels.data.sources import load_dataset
    from genmodels.training.loops import StepLoop
    from genmodels.plugins.loader import get_registry
    from genmodels.training.epochs import shuffled_order

    registry = get_registry()
    spec = registry.model(args.model)
    data = load_dataset(spec.train.dataset, registry)
    batch_size = args.batch_size or spec.train.batch_size
    model = spec.build(spec.config().replace(input_dim=data.input_dim))
    model.build_for(data.input_dim)
    model.compile(optimizer=keras.optimizers.Adam(spec.train.learning_rate))
    model.optimizer.build(model.trainable_variables)
    loop = StepLoop(model.train_step, [metric.name for metric in model.metrics], data.train, jit_compile=spec.train.xla)
    for _ in loop.run(shuffled_order(len(data.train), 0, 0), batch_size):
        pass  # compiles
    tf.profiler.experimental.start(str(scratch / "trace"))
    started = time.perf_counter()
    for _ in loop.run(shuffled_order(len(data.train), 0, 1), batch_size):
        pass
    wall = time.perf_counter() - started
    tf.profiler.experimental.stop()

    kinds = {}
    for path in (scratch / "hlo").glob("*after_optimizations.txt"):
        kinds.update(kinds_from_hlo(path.read_text()))
    seconds = kernel_seconds(next((scratch / "trace").rglob("*.xplane.pb")))
    grouped = group(seconds, kinds)
    total = sum(grouped.values())
    if not total:
        sys.exit("No XLA kernels in the trace: is the model's recipe compiled with XLA (--no-xla models are not)?")
    print(f"{args.model}, batch {batch_size}: one epoch {wall:.2f} s; its XLA kernels {total:.2f} s in all\n")
    print(f"{'kernels by kind':<40}{'seconds':>9}{'share':>8}")
    for kind, value in grouped.most_common(12):
        print(f"{kind:<40}{value:>9.3f}{value / total:>8.0%}")
    rest = total - sum(value for _, value in grouped.most_common(12))
    if rest > 0:
        print(f"{'everything else':<40}{rest:>9.3f}{rest / total:>8.0%}")


if __name__ == "__main__":
    main()
