"""Training and evaluation throughput of genmodels beside the baselines it must beat, in one table.

    python benchmarks/performance.py            # everything, about 10 minutes on 2 cores
    python benchmarks/performance.py --quick    # fewer epochs and images, about 4 minutes

Every case runs in its own Python process (so no case inherits another's threads, compiled
functions or memory) and all of them run one after another in this one invocation, so the ratios
compare figures taken on the same machine in the same minutes. The cases:

- matmul: a 2048x2048 matrix product, float32 (best of XLA and TensorFlow's oneDNN kernels) and
  bfloat16, in GFLOP/s: the machine's own arithmetic limit that the others are measured against;
- compat-v1: the seed's graph as Geron wrote it, tf.compat.v1 placeholders, Session and AdamOptimizer,
  one `session.run` with a feed_dict per batch;
- keras-fit: the same VAE as a plain Keras model with the custom `train_step` of the Keras guide,
  trained by `model.fit` on NumPy arrays, with Keras' defaults (no XLA on a CPU) and with
  `jit_compile=True`;
- genmodels: `genmodels.training.trainer.train` exactly as `genmodels train vae` runs it (its test pass after
  every epoch included in its time), in float32 and bfloat16, and at batch 150, 500 and 1000;
- products: the matrix products of one training step alone (forward and backward, batch 150, no
  activations, losses or optimizer), looped as the trainer loops steps, with XLA and with oneDNN:
  what an epoch would cost if everything but the products were free, the floor for any trainer;
- evaluate: the importance-weighted NLL of `genmodels evaluate` at k=5000 on a subset of test images;
- startup: wall time of `genmodels --help`, `genmodels list`, `import tensorflow` and
  `genmodels sample vae -n 60`.

Throughput is model FLOPs per second: 2 x multiply-adds of the Dense layers for a forward pass and
3x that for a training step (forward and backward), the usual count. Each training case reports
the mean over its timed epochs (the first epoch, which compiles, is not timed) and the test loss
(negative ELBO, one coding per image) it reaches.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HIDDEN = (500, 500)
LATENT = 20
PIXELS = 784
SEED = 0


def _dense_flops(sizes) -> int:
    return 2 * sum(a * b for a, b in zip(sizes, sizes[1:]))


def encoder_flops() -> int:
    """FLOPs of one image through the encoder: the MLP and its two heads (mean and log-variance)."""
    return _dense_flops([PIXELS, *HIDDEN]) + 2 * _dense_flops([HIDDEN[-1], LATENT])


def decoder_flops() -> int:
    """FLOPs of one coding through the decoder."""
    return _dense_flops([LATENT, *HIDDEN[::-1], PIXELS])


def forward_flops() -> int:
    """FLOPs of one image's forward pass through the seed's VAE (Dense layers only)."""
    return encoder_flops() + decoder_flops()


TRAIN_FLOPS = 3 * forward_flops()  # forward + backward per image


def _data():
    import numpy as np

    from genmodels.data.sources import load_dataset
    from genmodels.plugins.loader import get_registry

    data = load_dataset("binarized-mnist", get_registry())
    return data.train.astype(np.float32), data.test.astype(np.float32)


def _test_loss(encode, decode, test) -> float:
    """Negative ELBO in nats per test image, one coding each, computed in NumPy from the model's outputs."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    total = 0.0
    for start in range(0, len(test), 1000):
        x = test[start : start + 1000]
        mean, log_var = encode(x)
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape).astype(np.float32)
        logits = decode(z)
        recon = np.sum(np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits))), axis=1)
        kl = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=1)
        total += float(np.sum(recon + kl))
    return total / len(test)


# ---- cases: each prints one JSON object on its last line ----------------------------------------


def case_matmul(args) -> dict:
    import genmodels.core.backend  # noqa: F401
    import tensorflow as tf

    n = 2048
    result = {}
    for name, dtype, jit in [
        ("float32-xla", tf.float32, True),
        ("float32-onednn", tf.float32, False),
        ("bfloat16-onednn", tf.bfloat16, False),
    ]:
        a = tf.cast(tf.random.normal((n, n)), dtype)
        b = tf.cast(tf.random.normal((n, n)), dtype)
        product = tf.function(tf.matmul, jit_compile=jit)
        product(a, b)
        times = []
        for _ in range(15):  # one product per call; eager CPU calls return when the result is computed
            started = time.perf_counter()
            product(a, b)
            times.append(time.perf_counter() - started)
        result[name] = 2 * n**3 / sorted(times)[len(times) // 2] / 1e9  # the median call
    result["float32"] = max(result["float32-xla"], result["float32-onednn"])
    return result


def case_compat_v1(args) -> dict:
    import genmodels.core.backend  # noqa: F401
    import numpy as np
    import tensorflow as tf

    train, test = _data()
    v1 = tf.compat.v1
    v1.disable_eager_execution()
    v1.set_random_seed(SEED)
    he = v1.initializers.variance_scaling(scale=2.0)

    def dense(h, units, activation=None, name=None):
        with v1.variable_scope(name, reuse=v1.AUTO_REUSE):
            w = v1.get_variable("kernel", [h.shape[-1], units], initializer=he)
            b = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
            out = tf.matmul(h, w) + b
            return activation(out) if activation else out

    X = v1.placeholder(tf.float32, [None, PIXELS])
    h1 = dense(X, HIDDEN[0], tf.nn.elu, "h1")
    h2 = dense(h1, HIDDEN[1], tf.nn.elu, "h2")
    mean = dense(h2, LATENT, name="mean")
    gamma = dense(h2, LATENT, name="gamma")
    codings = mean + tf.exp(0.5 * gamma) * tf.random.normal(tf.shape(gamma))

    def decoder(z):
        h4 = dense(z, HIDDEN[1], tf.nn.elu, "h4")
        h5 = dense(h4, HIDDEN[0], tf.nn.elu, "h5")
        return dense(h5, PIXELS, name="logits")

    logits = decoder(codings)
    Z = v1.placeholder(tf.float32, [None, LATENT])
    decoded = decoder(Z)
    reconstruction = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=X, logits=logits))
    latent = 0.5 * tf.reduce_sum(tf.exp(gamma) + tf.square(mean) - 1 - gamma)
    cost = (reconstruction + latent) / tf.cast(tf.shape(X)[0], tf.float32)
    training_op = v1.train.AdamOptimizer(1e-3).minimize(cost)
    rng = np.random.default_rng(SEED)
    times = []
    with v1.Session() as session:
        session.run(v1.global_variables_initializer())
        for epoch in range(args.epochs):
            started = time.perf_counter()
            order = rng.permutation(len(train))
            for start in range(0, len(train), args.batch_size):
                session.run(training_op, feed_dict={X: train[order[start : start + args.batch_size]]})
            times.append(time.perf_counter() - started)
        loss = _test_loss(lambda x: session.run([mean, gamma], {X: x}), lambda z: session.run(decoded, {Z: z}), test)
    return {"epoch_seconds": times, "test_loss": loss}


def case_keras_fit(args) -> dict:
    import genmodels.core.backend  # noqa: F401
    import keras
    import numpy as np
    import tensorflow as tf

    train, test = _data()
    keras.utils.set_random_seed(SEED)

    def mlp(sizes):
        return [keras.layers.Dense(units, activation="elu", kernel_initializer="he_normal") for units in sizes]

    class PlainVAE(keras.Model):
        """The seed's VAE written the way the Keras guide writes a VAE: layers and a custom train_step."""

        def __init__(self):
            super().__init__()
            self.encoder = keras.Sequential(mlp(HIDDEN))
            self.mean = keras.layers.Dense(LATENT, kernel_initializer="he_normal")
            self.gamma = keras.layers.Dense(LATENT, kernel_initializer="he_normal")
            self.decoder = keras.Sequential(
                [*mlp(HIDDEN[::-1]), keras.layers.Dense(PIXELS, kernel_initializer="he_normal")]
            )
            self.seed_generator = keras.random.SeedGenerator(SEED)
            self.loss_tracker = keras.metrics.Mean(name="loss")

        @property
        def metrics(self):
            return [self.loss_tracker]

        def encode(self, x):
            h = self.encoder(x)
            return self.mean(h), self.gamma(h)

        def train_step(self, x):
            with tf.GradientTape() as tape:
                mean, gamma = self.encode(x)
                z = mean + keras.ops.exp(0.5 * gamma) * keras.random.normal(
                    keras.ops.shape(mean), seed=self.seed_generator
                )
                logits = self.decoder(z)
                reconstruction = keras.ops.sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=1)
                latent = 0.5 * keras.ops.sum(keras.ops.exp(gamma) + keras.ops.square(mean) - 1 - gamma, axis=1)
                cost = keras.ops.mean(reconstruction + latent)
            self.optimizer.apply(tape.gradient(cost, self.trainable_weights), self.trainable_weights)
            self.loss_tracker.update_state(cost)
            return {"loss": self.loss_tracker.result()}

        def call(self, x):
            return self.decoder(self.encode(x)[0])

    model = PlainVAE()
    model(train[:1])
    kwargs = {"jit_compile": True} if args.jit else {}
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **kwargs)

    class Timer(keras.callbacks.Callback):
        times: list = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            Timer.times.append(time.perf_counter() - self.started)

    model.fit(train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    loss = _test_loss(
        lambda x: tuple(np.asarray(t) for t in model.encode(x)), lambda z: np.asarray(model.decoder(z)), test
    )
    return {"epoch_seconds": Timer.times, "test_loss": loss, "jit_compile": model.jit_compile}


def case_genmodels(args) -> dict:
    from genmodels.data.sources import load_dataset
    from genmodels.evaluation.likelihood import loss_terms
    from genmodels.plugins.loader import get_registry
    from genmodels.training.trainer import train

    registry = get_registry()
    spec = registry.model("vae")
    data = load_dataset("binarized-mnist", registry)
    config = spec.train.replace(epochs=args.epochs, batch_size=args.batch_size, precision=args.precision)
    result = train(spec, spec.config(), config, data, Path(args.run_dir), verbose=0)
    return {
        "epoch_seconds": [record["train_seconds"] for record in result.history],  # training steps, as the baselines
        "with_test_pass": [record["seconds"] for record in result.history],
        "test_loss": loss_terms(result.model, data.rows("test"))["loss"],  # training watches validation only
    }


def case_products(args) -> dict:
    import genmodels.core.backend  # noqa: F401
    import tensorflow as tf

    batch, steps = args.batch_size, 50_000 // args.batch_size
    layers = [
        (PIXELS, HIDDEN[0]),
        (HIDDEN[0], HIDDEN[1]),
        (HIDDEN[1], 2 * LATENT),
        (LATENT, HIDDEN[1]),
        (HIDDEN[1], HIDDEN[0]),
        (HIDDEN[0], PIXELS),
    ]
    weights = [tf.random.normal(shape) * 0.01 for shape in layers]
    x = tf.random.normal((batch, PIXELS))

    def step(shift):
        """The step's products: each Dense layer forward (X W), and backward (X^T dY for the weights, dY W^T for the inputs)."""
        inputs, h = [], x + shift  # the shift keeps the loop body from being hoisted out as loop-invariant
        for index, w in enumerate(weights):
            inputs.append(h)
            h = h @ w
            if index == 2:  # the heads' output (mean and log-variance) -> a coding
                h = h[:, :LATENT] + h[:, LATENT:]
        grads, d = [], h
        for index in reversed(range(len(weights))):
            if index == 2:
                d = tf.concat([d, d], axis=1)
            grads.append(tf.matmul(inputs[index], d, transpose_a=True))
            if index:
                d = tf.matmul(d, weights[index], transpose_b=True)
        return grads

    import keras

    variables = [keras.Variable(w) for w in weights]
    optimizer = keras.optimizers.Adam(1e-6)
    optimizer.build(variables)
    cases = {"xla": (True, False), "onednn": (False, False), "adam": (True, True)}
    result = {}
    for name, (jit, adam) in cases.items():

        @tf.function(jit_compile=jit)
        def epoch():
            def body(i, carried):
                grads = step(tf.cast(i, tf.float32) * 1e-30)
                if adam:  # Keras' Adam applying them to the weights: the optimizer's share of a step
                    optimizer.apply(grads[::-1], variables)
                return i + 1, grads

            return tf.while_loop(
                lambda i, _: i < steps, body, (tf.constant(0), [tf.zeros_like(w) for w in weights[::-1]])
            )[1]

        epoch()
        times = []
        for _ in range(3):
            started = time.perf_counter()
            [t.numpy() for t in epoch()]
            times.append(time.perf_counter() - started)
        result[name] = min(times)
    return {"epoch_seconds_" + name: seconds for name, seconds in result.items()}


def case_evaluate(args) -> dict:
    import numpy as np

    from genmodels.data.sources import load_dataset
    from genmodels.evaluation.likelihood import evaluate
    from genmodels.plugins.loader import get_registry
    from genmodels.runs.loading import load_model

    registry = get_registry()
    model, _config = load_model(Path(args.run_dir), registry, "vae")
    test = load_dataset("binarized-mnist", registry).test
    images = test[np.random.default_rng(SEED).choice(len(test), args.images, replace=False)]
    evaluate(model, images[:10], model_name="vae", split="test", k=args.k)  # compiles
    started = time.perf_counter()
    result = evaluate(model, images, model_name="vae", split="test", k=args.k)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "nll": result.nll, "images": args.images, "k": args.k, **_bernoulli_kernels(test)}


def _bernoulli_kernels(test) -> dict:
    """Milliseconds for the Bernoulli log-likelihood of one importance-sampling chunk (10000 x 784),
    as genmodels computes it in a graph (one XLA-fused kernel) and as the same maths in TensorFlow ops."""
    import genmodels.core.backend  # noqa: F401
    import numpy as np
    import tensorflow as tf

    from genmodels.nn.distributions import Bernoulli, bernoulli_log_prob
    from genmodels.evaluation.likelihood import SAMPLES_PER_STEP

    rng = np.random.default_rng(SEED)
    logits = tf.constant(rng.normal(size=(SAMPLES_PER_STEP, PIXELS)).astype("float32") * 5)
    x = tf.constant(test[rng.integers(len(test), size=SAMPLES_PER_STEP)].astype("float32"))
    kernels = {
        "fused": tf.function(lambda logits, v: Bernoulli(logits).log_prob(v)),
        "tf_ops": tf.function(bernoulli_log_prob),
    }
    result = {"chunk": f"{SAMPLES_PER_STEP} x {PIXELS}"}
    for name, kernel in kernels.items():
        kernel(logits, x).numpy()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(10):
                out = kernel(logits, x)
            out.numpy()
            times.append((time.perf_counter() - started) / 10)
        result[f"bernoulli_ms_{name}"] = 1000 * min(times)
    return result


def case_startup(args) -> dict:
    exe = [sys.executable, "-m", "genmodels"]

    def wall(command: list[str], repeats: int = 3) -> float:
        """The best of `repeats` wall times of a command."""
        best = math.inf
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            best = min(best, time.perf_counter() - started)
        return best

    return {
        "help": wall([*exe, "--help"]),
        "list": wall([*exe, "list"]),
        "import tensorflow": wall([sys.executable, "-c", "import tensorflow"]),
        "sample -n 60": wall(
            [
                *exe,
                "sample",
                "vae",
                "-n",
                "60",
                "--run-dir",
                args.run_dir,
                "--out",
                os.path.join(args.run_dir, "bench.png"),
            ]
        ),
    }


CASES = {
    "matmul": case_matmul,
    "compat-v1": case_compat_v1,
    "keras-fit": case_keras_fit,
    "genmodels": case_genmodels,
    "products": case_products,
    "evaluate": case_evaluate,
    "startup": case_startup,
}


# ---- the driver ----------------------------------------------------------------------------------


def run_case(name: str, **options) -> dict:
    """Run one case in a fresh interpreter and return its JSON result."""
    command = [sys.executable, __file__, "--case", name]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    print(f"  running {name} {' '.join(f'{k}={v}' for k, v in options.items())} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(result: dict) -> float:
    """Mean seconds per epoch, leaving out the first (compiling) epoch."""
    times = result["epoch_seconds"]
    return sum(times[1:]) / len(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and images")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=150, help=argparse.SUPPRESS)
    parser.add_argument("--jit", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=5000, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write every raw result to this JSON file")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(CASES[args.case](args)))
        return

    epochs = 3 if args.quick else 4
    scaling_images = 100_000 if args.quick else 500_000  # the same number of images at every batch size
    raw: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as scratch:
        run = lambda name: os.path.join(scratch, name)  # noqa: E731
        raw["matmul"] = run_case("matmul")
        raw["compat-v1"] = run_case("compat-v1", epochs=epochs)
        raw["keras-fit"] = run_case("keras-fit", epochs=2 if args.quick else 3)
        raw["keras-fit-xla"] = run_case("keras-fit", epochs=epochs, jit=1)
        raw["genmodels"] = run_case("genmodels", epochs=epochs, run_dir=run("float32"))
        raw["products"] = run_case("products")
        for batch in (150, 500, 1000):
            for precision in ("float32", "bfloat16"):
                raw[f"batch-{batch}-{precision}"] = run_case(
                    "genmodels",
                    epochs=scaling_images // 50_000,
                    batch_size=batch,
                    precision=precision,
                    run_dir=run(f"b{batch}{precision}"),
                )
        raw["evaluate"] = run_case("evaluate", run_dir=run("float32"), images=50 if args.quick else 200)
        raw["startup"] = run_case("startup", run_dir=run("float32"))
        raw["matmul-end"] = run_case("matmul")  # the machine's speed drifts: measure the limit before and after
    report(raw)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))


def report(raw: dict) -> None:
    import platform

    # The higher of the two float32 measurements: the ratios below are never flattered by a slow minute.
    peak = max(raw["matmul"]["float32"], raw["matmul-end"]["float32"])
    images = 50_000
    print(
        f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}"
    )
    for key, when in (("matmul", "first"), ("matmul-end", "last")):
        m = raw[key]
        print(
            f"Matmul 2048x2048, {when}: float32 XLA {m['float32-xla']:.0f}, oneDNN {m['float32-onednn']:.0f}; "
            f"bfloat16 oneDNN {m['bfloat16-onednn']:.0f} GFLOP/s"
        )
    print(f"Ratios use the best float32 figure: {peak:.0f} GFLOP/s")
    print(f"Model: {TRAIN_FLOPS / 1e6:.2f} MFLOP per training image (forward + backward), batch 150\n")
    print(
        f"{'training, batch 150':<34}{'s/epoch':>9}{'GFLOP/s':>9}{'of matmul':>11}{'genmodels x':>13}{'test loss':>11}"
    )
    ours = timed(raw["genmodels"])
    for name, label in [
        ("compat-v1", "seed's tf.compat.v1 graph"),
        ("keras-fit", "Keras fit (defaults, no XLA)"),
        ("keras-fit-xla", "Keras fit, jit_compile=True"),
        ("genmodels", "genmodels train"),
    ]:
        seconds = timed(raw[name])
        rate = TRAIN_FLOPS * images / seconds / 1e9
        print(
            f"{label:<34}{seconds:>9.2f}{rate:>9.0f}{rate / peak:>10.0%}{seconds / ours:>13.2f}{raw[name]['test_loss']:>11.2f}"
        )
    labels = {
        "xla": "its matrix products alone, XLA",
        "onednn": "its matrix products alone, oneDNN",
        "adam": "products and Adam's update, XLA",
    }
    for name, label in labels.items():
        seconds = raw["products"][f"epoch_seconds_{name}"]
        rate = TRAIN_FLOPS * images / seconds / 1e9
        print(f"{label:<34}{seconds:>9.2f}{rate:>9.0f}{rate / peak:>10.0%}{seconds / ours:>13.2f}{'':>11}")
    floor = min(raw["products"]["epoch_seconds_xla"], raw["products"]["epoch_seconds_onednn"])
    print(
        f"(2x the tf.compat.v1 graph is {timed(raw['compat-v1']) / 2:.2f} s/epoch; the step's products alone take {floor:.2f} s, "
        f"with Adam's update {raw['products']['epoch_seconds_adam']:.2f} s)"
    )
    with_test = sum(raw["genmodels"]["with_test_pass"][1:]) / len(raw["genmodels"]["with_test_pass"][1:])
    print(f"(genmodels' epoch with its test pass: {with_test:.2f} s; the baselines have no test pass)")
    print(
        f"\n{'batch size and precision':<34}{'s/epoch':>9}{'GFLOP/s':>9}{'of matmul':>11}{'epochs':>13}{'test loss':>11}"
    )
    for batch in (150, 500, 1000):
        for precision in ("float32", "bfloat16"):
            result = raw[f"batch-{batch}-{precision}"]
            seconds = timed(result)
            rate = TRAIN_FLOPS * images / seconds / 1e9
            label = f"batch {batch}, {precision}"
            print(
                f"{label:<34}{seconds:>9.2f}{rate:>9.0f}{rate / peak:>10.0%}{len(result['epoch_seconds']):>13}{result['test_loss']:>11.2f}"
            )
    ev = raw["evaluate"]
    decodes = ev["images"] * ev["k"]
    flops = decodes * decoder_flops() + ev["images"] * encoder_flops()
    rate = flops / ev["seconds"] / 1e9
    full = ev["seconds"] / ev["images"] * 10_000
    print(
        f"\nevaluate k={ev['k']} on {ev['images']} test images: {ev['seconds']:.1f} s, {rate:.0f} GFLOP/s = {rate / peak:.0%} of matmul "
        f"(10000 images: about {full / 60:.1f} min)"
    )
    print(
        f"  its Bernoulli log-likelihood per chunk of {ev['chunk']} pixels: {ev['bernoulli_ms_fused']:.1f} ms fused by XLA, "
        f"{ev['bernoulli_ms_tf_ops']:.1f} ms as TensorFlow ops ({ev['bernoulli_ms_tf_ops'] / ev['bernoulli_ms_fused']:.1f}x)"
    )
    start = raw["startup"]
    print("startup: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in start.items()))


if __name__ == "__main__":
    main()
