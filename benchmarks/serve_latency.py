"""How fast `genmodels serve` answers a latent slider: the latency of decoding one coding into a PNG over HTTP.

    python benchmarks/serve_latency.py                                  # a vae trained for 1 epoch here
    python benchmarks/serve_latency.py --run-dir runs/vae --requests 200

Starts `genmodels serve` on the run's parent folder as a process on 127.0.0.1 (a free port), loads the model with one
request, then sends REQUESTS slider decodes (random codings, one connection kept alive, one request at a time, as one
browser's debounced slider does) and prints their p50, p95 and worst latency in milliseconds, with the CPU's flags.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conv_performance import cpu_flags  # noqa: E402  (the CPU flags every benchmark reports)

TARGET_P95_MS = 100.0


def one_epoch_vae(folder: Path) -> Path:
    """A vae trained for one epoch with its default recipe otherwise (binarized MNIST, or random images without it)."""
    import genmodels

    run_dir = folder / "vae"
    try:
        genmodels.train("vae", run_dir=run_dir, epochs=1, verbose=0)
    except genmodels.errors.DatasetError:
        images = (np.random.default_rng(0).random((2000, 784)) < 0.2).astype(np.uint8)
        np.savez(folder / "random.npz", train=images[:1500], test=images[1500:])
        genmodels.train("vae", dataset=str(folder / "random.npz"), run_dir=run_dir, epochs=1, verbose=0, force=True)
    return run_dir


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run-dir", type=Path, help="a trained run (the vae's default recipe, say) [default: a 1-epoch vae]"
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    run_dir = args.run_dir or one_epoch_vae(Path(scratch.name))
    run_dir = run_dir.resolve()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "genmodels", "serve", str(run_dir.parent), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        deadline = time.monotonic() + 60
        while True:
            try:
                get(connection, "/api/runs")
                break
            except OSError:
                connection.close()
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"genmodels serve did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.3)
        config = json.loads((run_dir / "config.json").read_text())
        latent_dim = config["model_config"]["latent_dim"]
        base = f"/png/decode/{run_dir.name}?z="
        started = time.perf_counter()
        status, body = get(connection, base + ",".join(["0"] * latent_dim))
        first = time.perf_counter() - started
        if status != 200:
            raise SystemExit(f"decode failed ({status}): {body.decode()[:500]}")
        rng = np.random.default_rng(args.seed)
        times = []
        for _ in range(args.requests):
            coding = ",".join(f"{value:.3f}" for value in rng.uniform(-3, 3, latent_dim))
            started = time.perf_counter()
            status, body = get(connection, base + coding)
            times.append((time.perf_counter() - started) * 1000)
            assert status == 200 and body.startswith(b"\x89PNG"), status
    finally:
        server.terminate()
        server.wait(timeout=20)
        scratch.cleanup()
    p50, p95 = np.percentile(times, [50, 95])
    flags = cpu_flags()
    print(
        f"run: {run_dir} ({config['model']}, {latent_dim}-D codings, {'x'.join(map(str, config['dataset']['image_shape']))})"
    )
    print(f"first decode (loads the model): {first * 1000:.0f} ms")
    print(f"{args.requests} slider decodes: p50 {p50:.1f} ms, p95 {p95:.1f} ms, worst {max(times):.1f} ms")
    print(
        f"p95 / target {TARGET_P95_MS:.0f} ms: {p95 / TARGET_P95_MS:.2f} ({'within' if p95 <= TARGET_P95_MS else 'over'} target)"
    )
    print(
        "CPU: "
        + (", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in flags.items()) if flags else "unknown")
    )
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
