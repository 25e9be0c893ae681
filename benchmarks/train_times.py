"""How long each built-in model's default recipe takes to train here: a few epochs timed, the rest projected.

    python benchmarks/train_times.py                          # every registered model, 3 epochs each
    python benchmarks/train_times.py vae hvae --epochs 4      # some of them
    python benchmarks/train_times.py --full vae               # one model trained through its whole recipe, for a check
    python benchmarks/train_times.py --json times.json

Every case is `genmodels train MODEL` as a user runs it (its own process, its default recipe and sampler, a fresh run
directory), stopped after EPOCHS epochs (`--epochs`). Its wall time splits in two: the epochs, whose seconds the run
writes to metrics.jsonl, and everything else (starting Python and TensorFlow, reading the data, building the model,
fitting its sampler, writing pictures), which does not grow with the recipe. The projection is

    fixed + recipe epochs x the median of the epochs after the first (the first also traces the graphs)

so a 450-epoch recipe is timed in a minute. `--full` trains the whole recipe and prints the measured time beside the
projection, which is how the projection was checked. Run it on an otherwise idle machine: every figure scales with
whatever else the cores are doing. The table carries the CPU's flags.

Models that need data this machine lacks run on what it has: `cvae` (labelled images) on the labelled MNIST test
set split 8000 / 2000 (benchmarks/labelled_mnist.py), as docs/models.md's cvae section does. `hvae -o flows=4` is
timed as a case of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conv_performance import cpu_flags  # noqa: E402  (the CPU flags every benchmark reports)

# cases besides the registered models' defaults: (label, model, extra arguments)
EXTRA_CASES = [("hvae -o flows=4", "hvae", ["-o", "flows=4"])]

# models whose default dataset this machine cannot read, and the labelled data they run on instead
LABELLED = {"cvae"}


def labelled_split(folder: Path, data_dir: str) -> Path:
    """The labelled MNIST test set split 8000 / 2000, as benchmarks/labelled_mnist.py writes it."""
    path = folder / "t10k-split.npz"
    if not path.exists():
        script = Path(__file__).resolve().parent / "labelled_mnist.py"
        subprocess.run([sys.executable, str(script), data_dir, str(path)], check=True, capture_output=True)
    return path


def time_case(
    label: str, model: str, extra: list[str], recipe: int, epochs: int | None, folder: Path, data_dir: str
) -> dict:
    """Train one case for `epochs` epochs (its whole recipe of `recipe` epochs when None) and split its wall time."""
    run_dir = folder / label.replace(" ", "_").replace("=", "-")
    command = [sys.executable, "-m", "genmodels", "train", model, *extra, "--run-dir", str(run_dir), "--force"]
    if model in LABELLED:
        command += ["--dataset", str(labelled_split(folder, data_dir))]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"GENMODELS_DATA_DIR": data_dir})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"case": label, "error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    seconds = [json.loads(line)["seconds"] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    config = json.loads((run_dir / "config.json").read_text())
    return {
        "case": label,
        **project(wall, seconds, recipe),
        "sampler": _sampler_of(run_dir),
        "dataset": config["train"]["dataset"],
    }


def project(wall: float, seconds: list[float], full_epochs: int) -> dict:
    """Split a run's `wall` time into its epochs (`seconds`, one per epoch run) and the rest, and project the time of
    `full_epochs` epochs: the rest, the first epoch, and the median of the later ones for each further epoch."""
    per_epoch = statistics.median(seconds[1:] or seconds)
    fixed = wall - sum(seconds)
    return {
        "recipe_epochs": full_epochs,
        "epochs_run": len(seconds),
        "first_epoch_s": round(seconds[0], 2),
        "epoch_s": round(per_epoch, 2),
        "fixed_s": round(fixed, 1),
        "projected_s": round(fixed + seconds[0] + per_epoch * (full_epochs - 1), 1),
        "measured_s": round(wall, 1) if len(seconds) == full_epochs else None,
    }


def _sampler_of(run_dir: Path) -> str:
    kept = sorted(path.stem.removeprefix("sampler-") for path in run_dir.glob("sampler-*.npz"))
    return ",".join(kept) or "-"


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="Models to time (default: every registered model, and EXTRA_CASES).")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs timed per case (at least 2).")
    parser.add_argument("--full", action="store_true", help="Train each case through its whole recipe.")
    parser.add_argument("--data-dir", default=os.environ.get("GENMODELS_DATA_DIR", "../shared/data"))
    parser.add_argument("--json", type=Path, help="Also write the rows to this file.")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch also traces the graphs")

    from genmodels.plugins.loader import build_registry

    recipes = {spec.name: spec.train.epochs for spec in build_registry().models}
    registered = sorted(recipes)
    cases = [(name, name, []) for name in (args.models or registered)]
    if not args.models:
        cases += EXTRA_CASES
    print(f"CPU flags: {cpu_flags()}", flush=True)
    print(f"{'case':<18} {'epochs':>7} {'1st epoch':>10} {'epoch':>7} {'fixed':>7} {'projected':>10} {'measured':>9}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="train-times-") as tmp:
        for label, model, extra in cases:
            epochs = None if args.full else args.epochs
            row = time_case(label, model, extra, recipes[model], epochs, Path(tmp), args.data_dir)
            rows.append(row)
            if "error" in row:
                print(f"{label:<18} failed: {row['error']}", flush=True)
                continue
            print(
                f"{label:<18} {row['recipe_epochs']:>7} {row['first_epoch_s']:>9.1f}s {row['epoch_s']:>6.2f}s "
                f"{row['fixed_s']:>6.1f}s {minutes(row['projected_s']):>10} {minutes(row['measured_s']):>9}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"cpu_flags": cpu_flags(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
