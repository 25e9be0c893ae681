"""The decoder's likelihood p(x|z) over image values, and the head that builds it from raw outputs.

The model sees every image as float32 values x in [0, 1] (8-bit levels k as x = k / 255), shaped
(batch, D) with D = height * width * channels flattened row-major. A decoder ends in D * P raw
numbers per image, P per value; `PixelLikelihood` turns them into one of the distributions below,
chosen by name from `LIKELIHOODS`. All the probability maths is float32 (written with keras.ops and
TensorFlow, no TF Probability) and has finite gradients for extreme parameters. log_prob and mean
give the same numbers eagerly and inside `tf.function`, with or without XLA (to float32 rounding);
draws too, except under XLA, whose random kernels turn a seed into other (equally valid) numbers.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genmodels.core.pixels import LIKELIHOODS, MIXTURE_COMPONENTS, LikelihoodKind, likelihood_kind  # noqa: F401  (the table, re-exported)
from genmodels.nn.distributions import LOG_2PI, Bernoulli, Distribution, as_float32
from genmodels.nn.random import philox_seed, standard_normal

LEVELS = 256  # 8-bit images: x takes the values k / 255

# Soft floors of the scales, so that no density or mass can become infinite (a scale shrinking to
# zero on a value the decoder predicts exactly would drive the loss to -inf):
# - Gaussians: one 8-bit level, 1/255. A density narrower than the quantisation step of the data
#   only rewards memorising levels; the floor bounds log p at -log(1/255) - 0.92 = 4.6 nats per value.
# - Logistics: PixelCNN++'s clamp (Salimans et al. 2017) of exp(-7) on data spanning [-1, 1], which
#   is 0.12 of a level; on this [0, 1] grid the same width is exp(-7) / 2 = exp(-7.69), so a middle
#   bin can hold tanh(1/(1020 s)) = 97% of the mass: -0.03 nats per perfectly predicted middle value
#   (the edge bins 0 and 1 can still hold all of it).
GAUSSIAN_MIN_SCALE = 1.0 / 255.0
LOGISTIC_MIN_SCALE = math.exp(-7.0) / 2.0

# The shared scale of `gaussian-shared` starts at 0.1: a tenth of the range of the values, narrow
# enough that the reconstruction term outweighs the KL term from the start (no posterior collapse),
# wide enough that the poor reconstructions of an untrained decoder give moderate gradients
# (squared errors are weighted by 1 / scale^2 = 100, not 255^2).
SHARED_SCALE_INITIAL = 0.1


# Uniform draws are kept in [UNIFORM_EPS, 1 - UNIFORM_EPS] so their logarithms stay finite; this
# cuts only the logistic's tails beyond log(1 / UNIFORM_EPS) = 13.8 scales, a mass of 2e-6.
UNIFORM_EPS = 1e-6

# Below this, log(1 - exp(-t)) is taken as log(t): the error, t / 2, is under 1.1e-9 nats.
_LOG1MEXP_SMALL = -20.0
_LOG1MEXP_LARGE = 30.0  # above this, log(1 - exp(-t)) is 0 in float32 and its gradient 0


def soft_floor_log_scale(raw, min_scale: float):
    """log(min_scale) + softplus(raw - log(min_scale)): a log-scale that never goes below
    log(min_scale), is about `raw` well above it, and is smooth (gradients never vanish abruptly)."""
    log_min = math.log(min_scale)
    return log_min + ops.softplus(as_float32(raw) - log_min)


def _uniform(shape, seed: keras.random.SeedGenerator | int | None = None):
    """U(UNIFORM_EPS, 1 - UNIFORM_EPS) float32 draws; from a SeedGenerator through Philox (see
    `genmodels.nn.random.philox_seed`), else from `keras.random.uniform` with `seed`."""
    if isinstance(seed, keras.random.SeedGenerator):
        draws = tf.random.stateless_uniform(shape, seed=philox_seed(seed), dtype="float32", alg="philox")
    else:
        draws = keras.random.uniform(shape, seed=seed, dtype="float32")
    return ops.clip(draws, UNIFORM_EPS, 1.0 - UNIFORM_EPS)


def _log1mexp_of_exp(log_t):
    """log(1 - exp(-t)) for t = exp(log_t) > 0, accurate from t = 0 (about log t) to t = inf (0)."""
    safe = ops.clip(log_t, _LOG1MEXP_SMALL, _LOG1MEXP_LARGE)  # both branches stay finite, so do gradients
    exact = ops.log(-ops.expm1(-ops.exp(safe)))
    return ops.where(log_t < _LOG1MEXP_SMALL, log_t, exact)


def discretized_logistic_log_mass(x, loc, log_scale, levels: int = LEVELS):
    """Elementwise log mass of the grid values `x` under discretized logistics (no sum).

    The mass of x is F(x + h) - F(x - h), F the logistic CDF of (loc, exp(log_scale)) and
    h = 1 / (2 (levels - 1)) half a level; the bin of x = 0 reaches down to -inf (mass F(h)) and the
    bin of x = 1 up to +inf (mass 1 - F(1 - h)). With a = (x - h - loc) / s and b = (x + h - loc) / s,
    the exact identity sigmoid(b) - sigmoid(a) = sigmoid(b) (1 - sigmoid(a)) (1 - exp(a - b)) gives,
    in log-sigmoid / softplus form,

        log mass = -softplus(-b) - softplus(a) + log(1 - exp(-(b - a))),   b - a = 2h / s,

    where the bottom bin keeps only the first term and the top bin only the second. No term cancels,
    so this is accurate to float32 rounding everywhere, including where the CDF difference itself is
    0 in float32. (PixelCNN++ falls back there to the density at the centre times the bin width 2h,
    which is exact only when 2h / s is small: at the floor s = exp(-7) on this grid it is 0.68 nats
    off. The exact form needs no fallback, has no jump, and makes the masses of all levels sum to 1.)
    """
    x = as_float32(x)
    half = 0.5 / (levels - 1)
    inv_scale = ops.exp(-log_scale)
    centered = x - loc
    log_cdf_plus = -ops.softplus(-(centered + half) * inv_scale)  # log F(x + h)
    log_survival_minus = -ops.softplus((centered - half) * inv_scale)  # log (1 - F(x - h))
    log_width = _log1mexp_of_exp(math.log(2.0 * half) - log_scale)  # log(1 - exp(-2h / s))
    bottom = x < half
    top = x > 1.0 - half
    middle = log_cdf_plus + log_survival_minus + log_width
    return ops.where(bottom, log_cdf_plus, ops.where(top, log_survival_minus, middle))


def _logistic_on_grid(loc, log_scale, u, levels: int):
    """The logistic variate of the uniforms `u` (inverse CDF), rounded to the grid k / (levels - 1)
    and clipped to [0, 1]: a draw of the discretized logistic."""
    logistic = loc + ops.exp(log_scale) * (ops.log(u) - ops.log1p(-u))
    steps = levels - 1
    level = ops.cast(ops.clip(ops.round(logistic * steps), 0.0, steps), "int32")
    return ops.take(_grid_values(levels), level)


def _grid_values(levels: int = LEVELS):
    """The float32 values k / (levels - 1), k = 0..levels-1, each the correctly rounded quotient, as
    data scaled by division holds them (a constant table: graph rewrites of a division by the
    constant into a product could otherwise move a draw by one unit in the last place)."""
    return ops.convert_to_tensor(np.arange(levels, dtype=np.float32) / np.float32(levels - 1))


class Gaussian(Distribution):
    """Independent N(loc, exp(log_scale)^2) per value: a density over real values.

    `log_scale` is broadcast to the shape of `loc` (one scale per value; a shared scale is a scalar
    broadcast). Sampling is reparameterised, so gradients reach both parameters.
    """

    support = "continuous"

    def __init__(self, loc, log_scale):
        self.loc = as_float32(loc)
        self.log_scale = ops.broadcast_to(as_float32(log_scale), ops.shape(self.loc))

    def sample(self, seed=None):
        eps = standard_normal(ops.shape(self.loc), seed=seed)
        return self.loc + ops.exp(self.log_scale) * eps

    def mean(self):
        return self.loc

    def log_prob(self, value):
        standardized = (as_float32(value) - self.loc) * ops.exp(-self.log_scale)
        return -ops.sum(0.5 * LOG_2PI + self.log_scale + 0.5 * ops.square(standardized), axis=-1)


class DiscretizedLogistic(Distribution):
    """Independent discretized logistics (Salimans et al. 2017, PixelCNN++) on the grid k / (levels - 1).

    The mass of a value is the logistic mass of its bin, the edge bins reaching to -inf and +inf (see
    `discretized_logistic_log_mass`). `mean()` is loc clipped to [0, 1]: the value the decoder
    predicts, not the exact mean of the discretized variable, which differs near the edges, where the
    mass beyond them piles up on 0 and 1 (at loc = 0 the exact mean is about log(2) * scale).
    """

    support = "8bit"

    def __init__(self, loc, log_scale, levels: int = LEVELS):
        if levels < 2:
            raise ValueError(f"levels must be at least 2, received {levels}.")
        self.loc = as_float32(loc)
        self.log_scale = ops.broadcast_to(as_float32(log_scale), ops.shape(self.loc))
        self.levels = int(levels)

    def sample(self, seed=None):
        u = _uniform(ops.shape(self.loc), seed=seed)
        return _logistic_on_grid(self.loc, self.log_scale, u, self.levels)

    def mean(self):
        return ops.clip(self.loc, 0.0, 1.0)

    def log_prob(self, value):
        return ops.sum(discretized_logistic_log_mass(value, self.loc, self.log_scale, self.levels), axis=-1)


class DiscretizedLogisticMixture(Distribution):
    """Per value, a mixture of K discretized logistics; parameters shaped (batch, D, K).

    The weights are softmax(logits) over the last axis; log_prob is, per value, the logsumexp over
    components of log weight + log mass, summed over D. `mean()` is sum_k weight_k * clip(loc_k, 0, 1)
    (each component's mean as in `DiscretizedLogistic`).
    """

    support = "8bit"

    def __init__(self, logits, loc, log_scale, levels: int = LEVELS):
        if levels < 2:
            raise ValueError(f"levels must be at least 2, received {levels}.")
        self.logits = as_float32(logits)
        self.loc = as_float32(loc)
        self.log_scale = ops.broadcast_to(as_float32(log_scale), ops.shape(self.loc))
        self.levels = int(levels)

    @property
    def components(self) -> int:
        return self.logits.shape[-1]

    def sample(self, seed=None):
        """A component per value by Gumbel-max, then a draw of it; one uniform draw feeds both (so an
        int seed gives independent component choices and variates)."""
        k = self.components
        u = _uniform((*ops.shape(self.logits)[:-1], k + 1), seed=seed)
        gumbel = -ops.log(-ops.log(u[..., :k]))
        chosen = ops.one_hot(ops.argmax(self.logits + gumbel, axis=-1), k, dtype="float32")
        loc = ops.sum(chosen * self.loc, axis=-1)
        log_scale = ops.sum(chosen * self.log_scale, axis=-1)
        return _logistic_on_grid(loc, log_scale, u[..., k], self.levels)

    def mean(self):
        weights = ops.exp(self.log_weights())
        return ops.sum(weights * ops.clip(self.loc, 0.0, 1.0), axis=-1)

    def log_weights(self):
        """log softmax(logits): the log weights of the components, shaped like `logits`."""
        return self.logits - ops.logsumexp(self.logits, axis=-1, keepdims=True)

    def log_prob(self, value):
        log_mass = discretized_logistic_log_mass(as_float32(value)[..., None], self.loc, self.log_scale, self.levels)
        per_value = ops.logsumexp(self.log_weights() + log_mass, axis=-1)
        return ops.sum(per_value, axis=-1)


class PixelLikelihood(keras.layers.Layer):
    """The decoder's head: raw outputs (batch, D * P) to the likelihood named `likelihood` over D values.

    The raw numbers are laid out value-major: reshaped to (batch, D, P), row d holds the P parameters
    of value d. Per value they are:

    - bernoulli (P = 1): the logit; the raw (batch, D) go unchanged to `Bernoulli` (its fused path).
    - gaussian (P = 2): raw mean, raw log-scale.
    - gaussian-shared (P = 1): raw mean; the scale is one trainable weight `log_scale` of this layer,
      shared by all values and images (its raw value; started so that the scale is SHARED_SCALE_INITIAL).
    - logistic (P = 2): loc, raw log-scale of a `DiscretizedLogistic`.
    - logistic-mixture (P = 3K, K = MIXTURE_COMPONENTS): K logits, K locs, K raw log-scales.

    A Gaussian's mean is sigmoid(raw mean), inside the [0, 1] range of the data: a pixel that is
    exactly 0 (MNIST's background) is then matched to within the scale's floor by any very negative
    raw number, rather than by a linear output cancelling to exactly 0, which made the decoder of an
    unbounded mean noisy away from the training codings (speckled samples) and its density far worse.
    Every raw log-scale r becomes `soft_floor_log_scale(r, min_scale)`, i.e. the scale
    min_scale + exp(r): GAUSSIAN_MIN_SCALE for the Gaussians, LOGISTIC_MIN_SCALE for the logistics.
    The layer computes in float32 by default (its dtype policy; its weight is never autocast), and
    casts its input to float32 in any case, so the probability maths stays float32 in a
    mixed-precision model.
    """

    def __init__(self, likelihood: str, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.kind = likelihood_kind(likelihood)
        self.likelihood = self.kind.name
        self.params_per_value = self.kind.params

    def build(self, input_shape=None):
        if self.likelihood == "gaussian-shared":
            # soft floor inverted: min + exp(raw) = SHARED_SCALE_INITIAL
            initial = math.log(SHARED_SCALE_INITIAL - GAUSSIAN_MIN_SCALE)
            self.log_scale = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(initial),
                dtype="float32",
                trainable=True,
                autocast=False,  # read in float32 under any dtype policy
                name="log_scale",
            )

    def call(self, raw):
        if self.likelihood == "bernoulli":
            return Bernoulli(raw)
        raw = as_float32(raw)
        if len(raw.shape) != 2:
            raise ValueError(
                f"{self.name} expects raw outputs shaped (batch, values * {self.params_per_value}), received {raw.shape}."
            )
        if self.likelihood == "gaussian-shared":
            return Gaussian(ops.sigmoid(raw), soft_floor_log_scale(as_float32(self.log_scale), GAUSSIAN_MIN_SCALE))
        size, per_value = raw.shape[-1], self.params_per_value
        if size is None or size % per_value:
            raise ValueError(
                f"{self.name}: a {self.likelihood} likelihood takes {per_value} raw numbers per value, received {size} per image."
            )
        params = ops.reshape(raw, (-1, size // per_value, per_value))
        if self.likelihood == "gaussian":
            return Gaussian(ops.sigmoid(params[..., 0]), soft_floor_log_scale(params[..., 1], GAUSSIAN_MIN_SCALE))
        if self.likelihood == "logistic":
            return DiscretizedLogistic(params[..., 0], soft_floor_log_scale(params[..., 1], LOGISTIC_MIN_SCALE))
        k = MIXTURE_COMPONENTS
        return DiscretizedLogisticMixture(
            params[..., :k], params[..., k : 2 * k], soft_floor_log_scale(params[..., 2 * k :], LOGISTIC_MIN_SCALE)
        )

    def get_config(self):
        return {**super().get_config(), "likelihood": self.likelihood}
