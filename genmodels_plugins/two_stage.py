"""The two-stage VAE sampler (Dai & Wipf 2019), registered through `register_samplers` as a third party's would be.

`two-stage`: a second, small VAE fitted after training to the posterior means of the training images (at most
20 000 of them, standardized): an MLP encoder to as many codings as the first model has, an MLP decoder back,
a Gaussian likelihood whose variance it learns, 6000 Adam steps. The weights kept are those, of every 200th
step, whose validation codings score the lowest negative ELBO (the last ones without validation codings).
Sampling draws N(0, I), decodes it through the second decoder, adds the noise of its learned likelihood and
undoes the standardization; the decoder's weights are kept as arrays, so sampling is a few matrix products in
NumPy. Fitting imports TensorFlow (as the model did already) and takes about half a minute here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmodels import hookimpl
from genmodels.errors import DatasetError
from genmodels.samplers import FittedSampler, standardized_rows
from genmodels.specs import SamplerSpec

HIDDEN = 256  # units of each of the two hidden layers of the second encoder and decoder
STEPS = 6000  # Adam steps over the codings, whatever their number
CHECK_EVERY = 200  # steps between two scores of the validation codings
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
MAX_FIT_CODINGS = 20_000  # a larger training set is fitted on this many of its codings, drawn with the seed
LAYERS = ("kernel_1", "bias_1", "kernel_2", "bias_2", "kernel_3", "bias_3")


class TwoStageSampler(FittedSampler):
    """Codings decoded from N(0, I) draws by the second VAE's decoder (a ReLU MLP), then de-standardized."""

    def __init__(
        self,
        layers: dict[str, np.ndarray],
        center: np.ndarray,
        scale: np.ndarray,
        log_gamma: float,
        facts: dict[str, Any],
    ):
        self.layers = {name: np.asarray(layers[name], dtype=np.float64) for name in LAYERS}
        self.center, self.scale = np.asarray(center, np.float64), np.asarray(scale, np.float64)
        self.log_gamma = float(log_gamma)
        self.facts = facts

    def decode(self, u: np.ndarray) -> np.ndarray:
        return _decode(self.layers, u, self.scale, self.center)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """Draws of the second VAE's density: u ~ N(0, I), its decoded mean plus the learned likelihood's noise
        (without the noise, a second stage whose decoder learned little would give nearly one point)."""
        rng = np.random.default_rng(seed)
        u = rng.standard_normal((n, self.layers["kernel_1"].shape[0]))
        noise = np.exp(0.5 * self.log_gamma) * rng.standard_normal((n, self.center.shape[0]))
        return (self.decode(u) + noise * self.scale).astype(np.float32)

    def graph_sample(self, n, seed):
        """`sample` in TensorFlow: u and the noise from stateless normal draws seeded [seed, 0] and [seed, 1]."""
        import tensorflow as tf

        seed = tf.cast(seed, tf.int64)
        u = tf.random.stateless_normal(
            tf.stack([n, self.layers["kernel_1"].shape[0]]), seed=tf.stack([seed, tf.constant(0, tf.int64)])
        )
        noise = float(np.exp(0.5 * self.log_gamma)) * tf.random.stateless_normal(
            tf.stack([n, self.center.shape[0]]), seed=tf.stack([seed, tf.constant(1, tf.int64)])
        )
        constants = {name: tf.constant(value, tf.float32) for name, value in self.layers.items()}
        scale, center = tf.constant(self.scale, tf.float32), tf.constant(self.center, tf.float32)
        return _decode(constants, u, scale, center, tf.math) + noise * scale

    def arrays(self) -> dict[str, np.ndarray]:
        facts = {f"fact_{key}": np.float64(value) for key, value in self.facts.items()}
        return {
            **self.layers,
            "center": self.center,
            "scale": self.scale,
            "log_gamma": np.float64(self.log_gamma),
            **facts,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> TwoStageSampler:
        try:
            layers = {name: np.asarray(arrays[name], dtype=np.float64) for name in LAYERS}
            center, scale = (np.asarray(arrays[key], dtype=np.float64) for key in ("center", "scale"))
            log_gamma = float(arrays["log_gamma"])
        except KeyError as exc:
            raise DatasetError(f"a two-stage sampler's arrays lack {exc}.") from None
        width = center.shape[0] if center.ndim == 1 else -1
        shapes_fit = (
            layers["kernel_1"].shape[0] == width
            and layers["kernel_1"].shape[1] == layers["bias_1"].shape[0] == layers["kernel_2"].shape[0]
            and layers["kernel_2"].shape[1] == layers["bias_2"].shape[0] == layers["kernel_3"].shape[0]
            and layers["kernel_3"].shape[1] == layers["bias_3"].shape[0] == width == scale.shape[0]
        )
        finite = all(np.isfinite(array).all() for array in (*layers.values(), center, scale)) and np.isfinite(log_gamma)
        if not shapes_fit or not finite:
            raise DatasetError("a two-stage sampler's arrays do not fit together or are not finite.")
        facts = {key.removeprefix("fact_"): float(value) for key, value in arrays.items() if key.startswith("fact_")}
        return cls(layers, center, scale, log_gamma, facts)

    def info(self) -> dict[str, Any]:
        return {key.replace("_", " "): round(value, 3) for key, value in self.facts.items()}


def _decode(layers: dict[str, Any], u, scale, center, math: Any = np):
    """The second VAE's decoded mean of u, de-standardized: NumPy arrays, or with `math` = tf.math tensors."""
    h = math.maximum(u @ layers["kernel_1"] + layers["bias_1"], 0.0)
    h = math.maximum(h @ layers["kernel_2"] + layers["bias_2"], 0.0)
    return (h @ layers["kernel_3"] + layers["bias_3"]) * scale + center


def fit_two_stage(train: np.ndarray, valid: np.ndarray, seed: int = 0) -> TwoStageSampler:
    """The second VAE fitted to the standardized training codings; the step kept is chosen on the validation ones."""
    import genmodels.backend  # noqa: F401  (TensorFlow, imported quietly)

    import keras
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x_train, x_valid, center, scale = standardized_rows(train, valid, rng, MAX_FIT_CODINGS)
    width = x_train.shape[1]
    keras.utils.set_random_seed(seed)
    dense = dict(activation="relu", kernel_initializer="he_normal")
    encoder = keras.Sequential([keras.layers.Dense(HIDDEN, **dense), keras.layers.Dense(HIDDEN, **dense)])
    encoder.add(keras.layers.Dense(2 * width))
    decoder = keras.Sequential([keras.layers.Dense(HIDDEN, **dense), keras.layers.Dense(HIDDEN, **dense)])
    decoder.add(keras.layers.Dense(width))
    encoder.build((None, width))
    decoder.build((None, width))
    log_gamma = tf.Variable(0.0)  # the likelihood's learned log-variance, shared by every value
    variables = [*encoder.trainable_variables, *decoder.trainable_variables, log_gamma]
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    draws = tf.random.Generator.from_seed(seed)

    def negative_elbo(x):
        h = encoder(x)
        mean, log_var = h[:, :width], h[:, width:]
        u = mean + tf.exp(0.5 * log_var) * draws.normal(tf.shape(mean))
        squared = tf.reduce_sum(tf.square(x - decoder(u)), axis=1)
        reconstruction = 0.5 * squared * tf.exp(-log_gamma) + 0.5 * width * (np.log(2 * np.pi) + log_gamma)
        kl = 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - log_var - 1.0, axis=1)
        return tf.reduce_mean(reconstruction + kl)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = negative_elbo(x)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    best, kept, kept_step, order = np.inf, (decoder.get_weights(), 0.0), 0, np.empty(0, int)
    for done in range(1, STEPS + 1):
        if len(order) < BATCH_SIZE:  # a fresh pass in a fresh order
            order = np.concatenate([order, rng.permutation(len(x_train))])
        batch, order = order[:BATCH_SIZE], order[BATCH_SIZE:]
        step(tf.constant(x_train[batch]))
        if done % CHECK_EVERY == 0:
            score = float(negative_elbo(tf.constant(x_valid))) if x_valid is not None else -done
            if score < best:
                best, kept, kept_step = score, (decoder.get_weights(), float(log_gamma.numpy())), done
    layers = dict(zip(LAYERS, kept[0]))
    facts = {"kept_step": kept_step}
    if x_valid is not None:
        facts["validation_negative_elbo"] = best
    facts["likelihood_log_variance"] = kept[1]
    return TwoStageSampler(layers, center, scale, kept[1], facts)


@hookimpl
def register_samplers(register):
    register(
        SamplerSpec(
            name="two-stage",
            description="Two-stage VAE: a second VAE fitted to the training codings; its steps chosen on validation",
            fit=fit_two_stage,
            load=TwoStageSampler.from_arrays,
        )
    )
