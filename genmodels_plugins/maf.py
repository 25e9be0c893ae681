"""The masked autoregressive flow sampler (MAF, Papamakarios et al. 2017), registered through `register_samplers`.

`maf`: a density over the standardized posterior means of the training images (at most 20 000 of them) made of
five MADE layers (one masked hidden layer of 128 ReLU units each), the order of the dimensions reversed between
layers: each layer maps a coding x to u_d = (x_d - mu_d(x_<d)) exp(-alpha_d(x_<d)), and the last u is N(0, I).
Fitted by maximum likelihood (6000 Adam steps); the weights kept are those, of every 200th step, that give the
validation codings the highest likelihood. Sampling inverts the layers one dimension at a time in NumPy from the
weights kept as arrays; fitting imports TensorFlow (as the model did already).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmodels import hookimpl
from genmodels.errors import DatasetError
from genmodels.samplers import FittedSampler, standardized_rows
from genmodels.specs import SamplerSpec

LAYERS = 5
HIDDEN = 128
STEPS = 6000
CHECK_EVERY = 200
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
MAX_FIT_CODINGS = 20_000
ALPHA_LIMIT = 5.0  # |alpha| is squashed below this: no layer scales a dimension by more than e^5
NAMES = ("w1", "b1", "w2", "b2")  # each layer's masked weights (the masks already applied) and biases


def masks(width: int) -> tuple[np.ndarray, np.ndarray]:
    """MADE's masks for one hidden layer: hidden unit k sees inputs of degree <= its own (k % (width - 1) + 1);
    output d (its mu and its alpha) sees hidden units of degree < d + 1, so it depends on x_<d only."""
    inputs = np.arange(1, width + 1)
    hidden = np.arange(HIDDEN) % max(width - 1, 1) + 1
    first = (inputs[:, None] <= hidden[None, :]).astype(np.float64)
    second = (hidden[:, None] < inputs[None, :]).astype(np.float64)
    return first, np.concatenate([second, second], axis=1)


def _made(layer: dict[str, Any], x, math: Any = np) -> tuple[Any, Any]:
    """One layer's (mu, alpha) for x: NumPy arrays, or with `math` = tf.math TensorFlow tensors."""
    h = math.maximum(x @ layer["w1"] + layer["b1"], 0.0)
    out = h @ layer["w2"] + layer["b2"]
    width = x.shape[1]
    return out[:, :width], ALPHA_LIMIT * math.tanh(out[:, width:] / ALPHA_LIMIT)


class MaskedAutoregressiveFlow(FittedSampler):
    """Codings drawn by inverting the flow's layers from N(0, I), then de-standardized."""

    def __init__(self, layers: list[dict[str, np.ndarray]], center, scale, facts: dict[str, Any]):
        self.layers = [{name: np.asarray(layer[name], np.float64) for name in NAMES} for layer in layers]
        self.center, self.scale, self.facts = np.asarray(center, np.float64), np.asarray(scale, np.float64), facts

    def log_likelihoods(self, codings: np.ndarray) -> np.ndarray:
        """log p(z) of each row of `codings` (in the codings' own units)."""
        x = (np.asarray(codings, np.float64) - self.center) / self.scale
        total = -np.log(self.scale).sum() * np.ones(len(x))
        for index, layer in enumerate(self.layers):
            mu, alpha = _made(layer, x)
            x, total = (x - mu) * np.exp(-alpha), total - alpha.sum(axis=1)
            if index < len(self.layers) - 1:
                x = x[:, ::-1]
        return total - 0.5 * (x**2 + np.log(2 * np.pi)).sum(axis=1)

    def sample(self, n: int, seed: int) -> np.ndarray:
        x = np.random.default_rng(seed).standard_normal((n, self.center.shape[0]))
        for index, layer in reversed(list(enumerate(self.layers))):
            if index < len(self.layers) - 1:
                x = x[:, ::-1]
            u, x = x, np.zeros_like(x)
            for d in range(u.shape[1]):  # x_d needs x_<d: one dimension at a time
                mu, alpha = _made(layer, x)
                x[:, d] = u[:, d] * np.exp(alpha[:, d]) + mu[:, d]
        return (x * self.scale + self.center).astype(np.float32)

    def graph_sample(self, n, seed):
        """`sample`'s inversion in TensorFlow, from a stateless normal draw seeded [seed, 0]."""
        import tensorflow as tf

        width = self.center.shape[0]
        x = tf.random.stateless_normal(
            tf.stack([n, width]), seed=tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        )
        for index, layer in reversed(list(enumerate(self.layers))):
            if index < len(self.layers) - 1:
                x = x[:, ::-1]
            weights = {name: tf.constant(value, tf.float32) for name, value in layer.items()}
            u, x = x, tf.zeros_like(x)
            for d in range(width):  # x_d needs x_<d; x's column d is 0 until it is set
                mu, alpha = _made(weights, x, tf.math)
                x = x + tf.one_hot(d, width)[None, :] * (
                    u[:, d : d + 1] * tf.exp(alpha[:, d : d + 1]) + mu[:, d : d + 1]
                )
        return x * tf.constant(self.scale, tf.float32) + tf.constant(self.center, tf.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        layers = {f"{name}_{index}": layer[name] for index, layer in enumerate(self.layers) for name in NAMES}
        facts = {f"fact_{key}": np.float64(value) for key, value in self.facts.items()}
        return {**layers, "center": self.center, "scale": self.scale, **facts}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> MaskedAutoregressiveFlow:
        try:
            center, scale = (np.asarray(arrays[key], np.float64) for key in ("center", "scale"))
            count = sum(1 for key in arrays if key.startswith("w1_"))
            layers = [{name: np.asarray(arrays[f"{name}_{index}"]) for name in NAMES} for index in range(count)]
        except KeyError as exc:
            raise DatasetError(f"a MAF sampler's arrays lack {exc}.") from None
        width = center.shape[0] if center.ndim == 1 else -1
        fits = (
            count > 0
            and scale.shape == (width,)
            and all(
                layer["w1"].shape[0] == width
                and layer["w1"].shape[1] == layer["b1"].shape[0] == layer["w2"].shape[0]
                and layer["w2"].shape[1] == layer["b2"].shape[0] == 2 * width
                for layer in layers
            )
        )
        if not fits:
            raise DatasetError("a MAF sampler's arrays do not fit together.")
        facts = {key.removeprefix("fact_"): float(value) for key, value in arrays.items() if key.startswith("fact_")}
        return cls(layers, center, scale, facts)

    def info(self) -> dict[str, Any]:
        return {key.replace("_", " "): round(value, 3) for key, value in self.facts.items()}


def fit_maf(train: np.ndarray, valid: np.ndarray, seed: int = 0) -> MaskedAutoregressiveFlow:
    """The flow fitted to the standardized training codings by maximum likelihood; the step kept chosen on validation."""
    import genmodels.backend  # noqa: F401  (TensorFlow, imported quietly)

    import keras
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x_train, x_valid, center, scale = standardized_rows(train, valid, rng, MAX_FIT_CODINGS)
    width = x_train.shape[1]
    first, second = (tf.constant(mask, tf.float32) for mask in masks(width))
    keras.utils.set_random_seed(seed)
    init = keras.initializers.GlorotUniform(seed=seed)
    variables = []
    for _ in range(LAYERS):
        variables += [
            tf.Variable(init((width, HIDDEN))),
            tf.Variable(tf.zeros(HIDDEN)),
            tf.Variable(0.01 * init((HIDDEN, 2 * width))),
            tf.Variable(tf.zeros(2 * width)),
        ]
    optimizer = keras.optimizers.Adam(LEARNING_RATE)

    def log_likelihood(x):
        total = tf.zeros(tf.shape(x)[0])
        for index in range(LAYERS):
            w1, b1, w2, b2 = variables[4 * index : 4 * index + 4]
            out = tf.nn.relu(x @ (w1 * first) + b1) @ (w2 * second) + b2
            mu, alpha = out[:, :width], ALPHA_LIMIT * tf.tanh(out[:, width:] / ALPHA_LIMIT)
            x, total = (x - mu) * tf.exp(-alpha), total - tf.reduce_sum(alpha, axis=1)
            if index < LAYERS - 1:
                x = tf.reverse(x, axis=[1])
        return total - 0.5 * tf.reduce_sum(tf.square(x) + np.log(2 * np.pi), axis=1)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(log_likelihood(x))
        optimizer.apply(tape.gradient(loss, variables), variables)

    def kept_layers():
        values = [v.numpy().astype(np.float64) for v in variables]
        masked = masks(width)
        return [
            {
                "w1": values[4 * i] * masked[0],
                "b1": values[4 * i + 1],
                "w2": values[4 * i + 2] * masked[1],
                "b2": values[4 * i + 3],
            }
            for i in range(LAYERS)
        ]

    best, kept, kept_step, order = -np.inf, kept_layers(), 0, np.empty(0, int)
    for done in range(1, STEPS + 1):
        if len(order) < BATCH_SIZE:
            order = np.concatenate([order, rng.permutation(len(x_train))])
        batch, order = order[:BATCH_SIZE], order[BATCH_SIZE:]
        step(tf.constant(x_train[batch]))
        if done % CHECK_EVERY == 0:
            score = float(tf.reduce_mean(log_likelihood(tf.constant(x_valid)))) if x_valid is not None else done
            if score > best:
                best, kept, kept_step = score, kept_layers(), done
    facts = {"kept_step": kept_step}
    flow = MaskedAutoregressiveFlow(kept, center, scale, facts)
    if x_valid is not None:
        flow.facts["validation_log_likelihood_per_coding"] = float(flow.log_likelihoods(valid).mean())
    return flow


@hookimpl
def register_samplers(register):
    register(
        SamplerSpec(
            name="maf",
            description="Masked autoregressive flow fitted to the training codings; its steps chosen on validation",
            fit=fit_maf,
            load=MaskedAutoregressiveFlow.from_arrays,
        )
    )
