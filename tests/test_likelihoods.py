"""The decoder likelihoods over image values, checked against independent computations.

Logistic masses are computed here straight from their definition, F(upper) - F(lower) with
F(z) = 1 / (1 + exp(-z)), in 50-digit decimal arithmetic: no cancellation or underflow can hide
there, so it checks the numerically stable float32 forms of the module in every regime.
"""

from __future__ import annotations

import decimal

import keras
import numpy as np
import pytest
import tensorflow as tf

from genmodels.nn.distributions import Bernoulli
from genmodels.core.errors import ConfigError
from genmodels.nn.likelihoods import (
    GAUSSIAN_MIN_SCALE,
    LIKELIHOODS,
    LOGISTIC_MIN_SCALE,
    MIXTURE_COMPONENTS,
    SHARED_SCALE_INITIAL,
    DiscretizedLogistic,
    DiscretizedLogisticMixture,
    Gaussian,
    PixelLikelihood,
    likelihood_kind,
)

RNG = np.random.default_rng(0)
LEVELS = np.arange(256)
EXPECTED_TYPES = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "gaussian-shared": Gaussian,
    "logistic": DiscretizedLogistic,
    "logistic-mixture": DiscretizedLogisticMixture,
}


def f32(array) -> tf.Tensor:
    return tf.constant(np.asarray(array, dtype=np.float32))


def grid(levels) -> np.ndarray:
    """The float32 values the model sees for 8-bit levels k: k / 255."""
    return np.asarray(levels, dtype=np.float32) / np.float32(255)


def logistic_log_mass(level: int, loc: float, log_scale: float) -> float:
    """log P(level) of the discretized logistic, from its definition in 50-digit decimals.

    The bin of level k is [k/255 - h, k/255 + h] with h = 1/510, stretched to -inf for k = 0 and to
    +inf for k = 255; its mass is F(upper) - F(lower), F(z) = 1 / (1 + exp(-(z - loc) / scale)), or
    equally S(lower) - S(upper) with S = 1 - F = 1 / (1 + exp((z - loc) / scale)), taken for bins
    above loc so that the difference is of two tiny numbers, not of two numbers next to 1.
    `loc` and `log_scale` are taken as the float32 numbers the model holds."""
    with decimal.localcontext() as context:
        context.prec, context.Emin, context.Emax = 50, decimal.MIN_EMIN, decimal.MAX_EMAX  # exp(-1e11) too
        level = int(level)
        loc, log_scale = decimal.Decimal(float(np.float32(loc))), decimal.Decimal(float(np.float32(log_scale)))
        scale, h, x = log_scale.exp(), decimal.Decimal(1) / 510, decimal.Decimal(level) / 255

        def cdf(value):
            return 1 / (1 + (-(value - loc) / scale).exp())

        def survival(value):
            return 1 / (1 + ((value - loc) / scale).exp())

        if level > 0 and x - h > loc:
            mass = survival(x - h) - (0 if level == 255 else survival(x + h))
        else:
            mass = (1 if level == 255 else cdf(x + h)) - (0 if level == 0 else cdf(x - h))
        return float(mass.ln())


def logistic_log_masses(levels, loc, log_scale) -> np.ndarray:
    return np.vectorize(logistic_log_mass)(levels, loc, log_scale)


def mixture_log_mass(level: int, logits, locs, log_scales) -> float:
    """log sum_k softmax(logits)_k mass_k(level), in float64 from the decimal masses."""
    logits = np.asarray(logits, dtype=np.float64)
    log_weights = logits - np.logaddexp.reduce(logits)
    return float(
        np.logaddexp.reduce([w + logistic_log_mass(level, m, s) for w, m, s in zip(log_weights, locs, log_scales)])
    )


def level_masses(dist, rows: int) -> np.ndarray:
    """P(level) of every one of the 256 levels under each of the `rows` single-value rows of `dist`,
    shaped (256, rows): the batch is repeated 256 times and row j * rows + i is asked about level j."""
    x = grid(np.repeat(LEVELS, rows))[:, None]
    return np.exp(dist.repeat(256).log_prob(f32(x)).numpy().reshape(256, rows))


def assert_frequencies_match(samples: np.ndarray, masses: np.ndarray):
    """Each column of `samples` (draws on the grid) against the masses (256, columns): every level's
    frequency within 5 standard errors of its mass, plus 2e-4 for the cut tails and float32 rounding."""
    draws = samples.shape[0]
    for column in range(samples.shape[1]):
        counts = np.bincount(np.rint(samples[:, column] * 255).astype(int), minlength=256)
        p = masses[:, column]
        tolerance = 5 * np.sqrt(p * (1 - p) / draws) + 2e-4
        assert np.all(np.abs(counts / draws - p) <= tolerance), column


def assert_on_the_grid(samples: np.ndarray):
    assert np.all((samples >= 0) & (samples <= 1))
    np.testing.assert_array_equal(samples, grid(np.rint(samples * 255)))  # exactly the values k / 255 of the data


# Gaussian


def test_gaussian_log_density_is_the_normal_log_density_summed():
    loc, log_scale, x = RNG.normal(size=(3, 4, 6)).astype(np.float32)
    expected = np.sum(-0.5 * np.log(2 * np.pi) - log_scale - 0.5 * ((x - loc) / np.exp(log_scale)) ** 2, axis=-1)
    np.testing.assert_allclose(Gaussian(f32(loc), f32(log_scale)).log_prob(f32(x)), expected, rtol=1e-5, atol=1e-5)


def test_gaussian_samples_have_its_mean_and_scale():
    draws, loc, scale = 100_000, np.array([0.2, -1.0, 3.0]), np.array([0.05, 1.0, 2.0])
    z = (
        Gaussian(f32(np.tile(loc, (draws, 1))), f32(np.tile(np.log(scale), (draws, 1))))
        .sample(seed=keras.random.SeedGenerator(3))
        .numpy()
    )
    assert np.all(np.abs(z.mean(axis=0) - loc) < 5 * scale / np.sqrt(draws))
    assert np.all(np.abs(z.std(axis=0) - scale) < 5 * scale / np.sqrt(2 * draws))


def test_gaussian_sampling_is_reparameterised():
    loc, log_scale = (
        tf.Variable(RNG.normal(size=(3, 4)), dtype=tf.float32),
        tf.Variable(RNG.normal(size=(3, 4)), dtype=tf.float32),
    )
    with tf.GradientTape() as tape:
        z = Gaussian(loc, log_scale).sample(seed=7)
        total = tf.reduce_sum(z)
    d_loc, d_log_scale = tape.gradient(total, [loc, log_scale])
    np.testing.assert_allclose(d_loc, np.ones((3, 4)))  # dz/dloc = 1
    np.testing.assert_allclose(d_log_scale, (z - loc).numpy(), rtol=1e-5, atol=1e-6)  # dz/dlog_scale = scale * eps


# Discretized logistic

EDGE_AND_MIDDLE = [0, 1, 127, 254, 255]
EXTREMES = [  # (level, loc, log_scale)
    (
        128,
        -50.0,
        -7.0,
    ),  # far below, narrowest: the CDF difference is 0 in float32 (PixelCNN++'s fallback, 0.68 nats off)
    (128, -50.0, 0.0),  # far below, broad
    (0, -50.0, -7.0),  # bottom edge bin holds all the mass
    (255, -50.0, -7.0),  # top edge bin holds ~none of it
    (0, 50.0, -7.0),
    (255, 50.0, -7.0),
    (77, 77 / 255, -7.0),  # centred on its own level: 79% of the mass, the most a middle bin holds at the floor
    (78, 77 / 255, -7.0),  # next level, narrowest
    (200, 0.5, 6.0),  # a scale far wider than the range
    (3, 0.0, -30.0),  # a scale far below any floor
]


def test_discretized_logistic_log_mass_equals_the_definition_in_edge_middle_and_extreme_cases():
    ordinary = [
        (level, loc, log_scale)
        for level in EDGE_AND_MIDDLE
        for loc, log_scale in [(0.3, -3.0), (0.9, -5.0), (0.02, -1.5), (1.4, -2.0)]
    ]
    levels, loc, log_scale = np.array(ordinary + EXTREMES).T
    levels = levels.astype(int)
    ours = DiscretizedLogistic(f32(loc[:, None]), f32(log_scale[:, None])).log_prob(f32(grid(levels)[:, None])).numpy()
    expected = logistic_log_masses(levels, loc, log_scale)
    # 1e-4 nats, and relative 1e-6 beyond: float32 holds a log mass of -55,000 only to 0.004
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-4)


def test_the_mass_stays_exact_where_the_float32_cdf_difference_is_zero():
    loc, log_scale, level = -50.0, 0.0, 128
    upper, lower = (np.float32(grid(level) + sign / 510 - loc) for sign in (1, -1))
    naive = np.float32(1) / (1 + np.exp(-upper)) - np.float32(1) / (1 + np.exp(-lower))
    assert naive == 0  # log(naive) would be -inf
    ours = DiscretizedLogistic(f32([[loc]]), f32([[log_scale]])).log_prob(f32([[grid(level)]])).numpy()
    np.testing.assert_allclose(ours, [logistic_log_mass(level, loc, log_scale)], atol=1e-4)


def test_in_the_far_tail_a_bin_holds_the_density_at_its_centre_times_its_width():
    # PixelCNN++'s fallback, exact when the bin is narrow against the scale
    loc, log_scale, level = -20.0, 0.0, 100
    centred = grid(level) - loc
    log_density = -centred - log_scale - 2 * np.log1p(np.exp(-centred))
    ours = DiscretizedLogistic(f32([[loc]]), f32([[log_scale]])).log_prob(f32([[grid(level)]])).numpy()
    np.testing.assert_allclose(ours, [log_density + np.log(1 / 255)], atol=1e-4)


@pytest.mark.parametrize(
    "loc, log_scale",
    [([0.5, 0.0, 1.0, 0.3], [-2.0, -7.0, -7.0, 1.0]), ([-50.0, 50.0, 0.501, 0.7], [-7.0, -7.0, -7.0, 8.0])],
    ids=["ordinary", "extreme"],
)
def test_the_masses_of_all_256_levels_sum_to_one(loc, log_scale):
    dist = DiscretizedLogistic(f32(np.array(loc)[:, None]), f32(np.array(log_scale)[:, None]))
    np.testing.assert_allclose(level_masses(dist, len(loc)).sum(axis=0), 1.0, atol=1e-5)


def test_discretized_logistic_samples_are_grid_values_with_the_level_masses():
    draws, loc, log_scale = 100_000, np.array([0.5, 0.01, 0.97, 0.4]), np.log([0.02, 0.03, 0.01, 0.002])
    dist = DiscretizedLogistic(f32(np.tile(loc, (draws, 1))), f32(np.tile(log_scale, (draws, 1))))
    samples = dist.sample(seed=keras.random.SeedGenerator(5)).numpy()
    assert_on_the_grid(samples)
    masses = np.exp(logistic_log_masses(LEVELS[:, None], loc[None, :], log_scale[None, :]))
    assert_frequencies_match(samples, masses)


def test_the_mean_of_a_discretized_logistic_is_its_loc_clipped_to_the_range():
    dist = DiscretizedLogistic(f32([[-0.3, 0.4, 1.7]]), f32([[-2.0, -2.0, -2.0]]))
    np.testing.assert_allclose(dist.mean(), [[0.0, 0.4, 1.0]])


# Mixture of discretized logistics


def test_mixture_log_mass_is_the_log_of_the_weighted_masses():
    rows, k = 6, 3
    logits, locs = RNG.normal(size=(rows, 1, k)) * 2, RNG.uniform(-0.2, 1.2, size=(rows, 1, k))
    log_scales = RNG.uniform(-7, 0, size=(rows, 1, k))
    locs[0, 0] = [-50.0, 50.0, 0.5]  # extreme components mixed with an ordinary one
    levels = np.array([0, 255, 128, 17, 254, 99])
    ours = (
        DiscretizedLogisticMixture(f32(logits), f32(locs), f32(log_scales)).log_prob(f32(grid(levels)[:, None])).numpy()
    )
    expected = [mixture_log_mass(level, logits[i, 0], locs[i, 0], log_scales[i, 0]) for i, level in enumerate(levels)]
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-4)


def test_a_one_component_mixture_is_the_discretized_logistic():
    loc, log_scale = RNG.uniform(-0.2, 1.2, size=(4, 10)), RNG.uniform(-7, 0, size=(4, 10))
    x = f32(grid(RNG.integers(0, 256, size=(4, 10))))
    mixture = DiscretizedLogisticMixture(
        f32(RNG.normal(size=(4, 10, 1))), f32(loc[..., None]), f32(log_scale[..., None])
    )
    np.testing.assert_allclose(
        mixture.log_prob(x), DiscretizedLogistic(f32(loc), f32(log_scale)).log_prob(x), rtol=1e-6
    )
    np.testing.assert_allclose(mixture.mean(), np.clip(loc, 0, 1), rtol=1e-6)


def test_the_masses_of_a_mixture_sum_to_one_and_its_mean_weights_the_clipped_locs():
    logits, locs = RNG.normal(size=(3, 1, 4)) * 3, RNG.uniform(-0.5, 1.5, size=(3, 1, 4))
    log_scales = RNG.uniform(-7, 1, size=(3, 1, 4))
    dist = DiscretizedLogisticMixture(f32(logits), f32(locs), f32(log_scales))
    np.testing.assert_allclose(level_masses(dist, 3).sum(axis=0), 1.0, atol=1e-5)
    weights = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(dist.mean(), np.sum(weights * np.clip(locs, 0, 1), axis=-1), rtol=1e-5)


def test_mixture_samples_are_grid_values_with_the_mixture_masses():
    draws = 100_000
    logits = np.log([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    locs, log_scales = np.array([[0.2, 0.5, 0.9], [0.0, 0.4, 1.0]]), np.log([[0.02, 0.01, 0.03], [0.05, 0.002, 0.01]])
    dist = DiscretizedLogisticMixture(*(f32(np.tile(p, (draws, 1, 1))) for p in (logits, locs, log_scales)))
    samples = dist.sample(seed=11).numpy()
    assert_on_the_grid(samples)
    masses = np.exp(
        [[mixture_log_mass(level, logits[d], locs[d], log_scales[d]) for d in range(2)] for level in LEVELS]
    )
    assert_frequencies_match(samples, masses)


# Every distribution


def make_distributions(rows: int = 3, values: int = 5) -> dict[str, object]:
    loc, log_scale = RNG.uniform(-0.2, 1.2, size=(rows, values)), RNG.uniform(-7, 0, size=(rows, values))
    k = 3
    return {
        "gaussian": Gaussian(f32(loc), f32(log_scale)),
        "logistic": DiscretizedLogistic(f32(loc), f32(log_scale)),
        "mixture": DiscretizedLogisticMixture(
            f32(RNG.normal(size=(rows, values, k))),
            f32(RNG.uniform(-0.2, 1.2, size=(rows, values, k))),
            f32(RNG.uniform(-7, 0, size=(rows, values, k))),
        ),
    }


@pytest.mark.parametrize("name", ["gaussian", "logistic", "mixture"])
def test_a_repeated_distribution_gives_the_log_probs_tiled(name):
    dist = make_distributions()[name]
    x = f32(grid(RNG.integers(0, 256, size=(3, 5))))
    repeated = dist.repeat(4)
    np.testing.assert_allclose(repeated.log_prob(tf.tile(x, [4, 1])), np.tile(dist.log_prob(x).numpy(), 4), rtol=1e-6)
    assert repeated.sample(seed=1).shape == (12, 5) and repeated.mean().shape == (12, 5)


@pytest.mark.parametrize("name", ["gaussian", "logistic", "mixture"])
def test_draws_follow_the_seed(name):
    dist = make_distributions()[name]
    np.testing.assert_array_equal(
        dist.sample(seed=keras.random.SeedGenerator(2)), dist.sample(seed=keras.random.SeedGenerator(2))
    )
    np.testing.assert_array_equal(dist.sample(seed=4), dist.sample(seed=4))
    generator = keras.random.SeedGenerator(2)
    assert not np.array_equal(dist.sample(seed=generator), dist.sample(seed=generator))


# The head


def raw_outputs(name: str, rows: int = 2, values: int = 6, spread: float = 1.0) -> tf.Tensor:
    return f32(RNG.normal(size=(rows, values * LIKELIHOODS[name].params)) * spread)


def sigmoid(raw):
    return 1 / (1 + np.exp(-raw))


def soft_floor(raw, min_scale):
    """The head's log-scale of a raw number: log(min_scale + exp(raw))."""
    return np.logaddexp(np.log(min_scale), raw)


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_each_head_builds_its_distribution_from_raw_outputs(name):
    layer = PixelLikelihood(name)
    dist = layer(raw_outputs(name))
    assert isinstance(dist, EXPECTED_TYPES[name])
    assert layer.kind == likelihood_kind(name) and layer.params_per_value == LIKELIHOODS[name].params
    assert dist.support == LIKELIHOODS[name].support
    assert dist.mean().shape == (2, 6) and dist.sample(seed=0).shape == (2, 6)
    assert dist.log_prob(f32(grid(RNG.integers(0, 256, size=(2, 6))))).shape == (2,)
    assert len(layer.trainable_weights) == (1 if name == "gaussian-shared" else 0)
    assert PixelLikelihood.from_config(layer.get_config()).likelihood == name


def test_the_raw_outputs_are_read_value_major():
    rows, values = 2, 3
    raw = np.arange(rows * values * 2, dtype=np.float32).reshape(rows, values * 2) / 10 - 1
    for name, min_scale, mean_of in [
        ("gaussian", GAUSSIAN_MIN_SCALE, sigmoid),
        ("logistic", LOGISTIC_MIN_SCALE, lambda r: r),
    ]:
        dist = PixelLikelihood(name)(f32(raw))
        np.testing.assert_allclose(dist.loc, mean_of(raw[:, 0::2]), rtol=1e-6)  # value d: raw[2d] is its mean,
        np.testing.assert_allclose(
            dist.log_scale, soft_floor(raw[:, 1::2], min_scale), atol=1e-6
        )  # raw[2d + 1] its scale

    k = MIXTURE_COMPONENTS
    raw = np.arange(rows * values * 3 * k, dtype=np.float32).reshape(rows, values * 3 * k) / 100 - 1
    dist = PixelLikelihood("logistic-mixture")(f32(raw))
    blocks = raw.reshape(rows, values, 3 * k)  # value d: raw[15d : 15d + 15] = 5 logits, 5 locs, 5 log-scales
    np.testing.assert_allclose(dist.logits, blocks[..., :k])
    np.testing.assert_allclose(dist.loc, blocks[..., k : 2 * k])
    np.testing.assert_allclose(dist.log_scale, soft_floor(blocks[..., 2 * k :], LOGISTIC_MIN_SCALE), atol=1e-6)

    raw = RNG.normal(size=(rows, values)).astype(np.float32)
    shared = PixelLikelihood("gaussian-shared")
    dist = shared(f32(raw))
    np.testing.assert_allclose(dist.loc, sigmoid(raw), rtol=1e-6)  # a Gaussian's mean lies in (0, 1), the data's range
    np.testing.assert_allclose(dist.log_scale, np.full((rows, values), np.log(SHARED_SCALE_INITIAL)), atol=1e-6)
    assert [w.name for w in shared.trainable_weights] == ["log_scale"] and shared.trainable_weights[0].shape == ()

    logits = PixelLikelihood("bernoulli")(f32(raw))
    np.testing.assert_array_equal(logits.logits, raw)  # unchanged


def test_scales_never_fall_below_their_floor():
    raw = f32(np.full((1, 4), -100.0))
    assert np.allclose(np.exp(PixelLikelihood("gaussian")(raw).log_scale), GAUSSIAN_MIN_SCALE)
    assert np.allclose(np.exp(PixelLikelihood("logistic")(raw).log_scale), LOGISTIC_MIN_SCALE)


def test_an_unknown_likelihood_name_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match="'poisson'") as error:
        PixelLikelihood("poisson")
    assert all(name in str(error.value) for name in LIKELIHOODS)
    with pytest.raises(ConfigError):
        likelihood_kind("Gaussian")


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_gradients_are_finite_for_extreme_raw_outputs(name):
    layer = PixelLikelihood(name)
    raw = tf.Variable(np.sign(RNG.normal(size=(3, 8 * LIKELIHOODS[name].params))) * 100.0, dtype=tf.float32)
    x = f32(grid(RNG.choice([0, 1, 128, 254, 255], size=(3, 8))))
    with tf.GradientTape() as tape:
        log_prob = layer(raw).log_prob(x)
        total = tf.reduce_sum(log_prob)
    gradients = tape.gradient(total, [raw, *layer.trainable_weights])
    assert np.all(np.isfinite(log_prob))
    assert all(np.all(np.isfinite(g)) for g in gradients)


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_every_head_gives_the_same_numbers_eagerly_in_a_graph_and_compiled_by_xla(name):
    layer = PixelLikelihood(name)
    raw, x = raw_outputs(name, rows=3, values=10, spread=3.0), f32(grid(RNG.integers(0, 256, size=(3, 10))))

    def everything(generator):
        def compute(raw, x):
            dist = layer(raw)
            return dist.log_prob(x), dist.mean(), dist.sample(seed=9), dist.sample(seed=generator)

        return compute

    eager = everything(keras.random.SeedGenerator(1))(raw, x)
    for ours, expected in zip(tf.function(everything(keras.random.SeedGenerator(1)))(raw, x), eager):
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)  # float32 rounding of graph rewrites

    @tf.function(jit_compile=True)
    def compiled(raw, x):
        dist = layer(raw)
        return dist.log_prob(x), dist.mean()

    log_prob, mean = compiled(raw, x)
    np.testing.assert_allclose(log_prob, eager[0], rtol=1e-5)
    np.testing.assert_allclose(mean, eager[1], rtol=1e-5, atol=1e-6)


def test_draws_compiled_by_xla_are_valid_and_follow_the_seed():
    # XLA's stateless random kernels give other numbers than TensorFlow's for the same seed (a property
    # of TensorFlow, not of these distributions): compiled draws are valid, not equal to eager ones
    names = ["logistic", "logistic-mixture"]  # the Gaussian and Bernoulli draws are those of distributions.py
    layers = {name: PixelLikelihood(name) for name in names}
    raws = {name: raw_outputs(name, rows=3, values=10, spread=3.0) for name in names}
    generator = keras.random.SeedGenerator(1)

    @tf.function(jit_compile=True)
    def draw(raws):
        return {name: layer(raws[name]).sample(seed=generator) for name, layer in layers.items()}

    first, second = draw(raws), draw(raws)
    for name in names:
        assert first[name].shape == (3, 10) and not np.array_equal(first[name], second[name])
        assert_on_the_grid(first[name].numpy())


@pytest.mark.parametrize("name", list(LIKELIHOODS))
def test_the_maths_stays_float32_under_mixed_precision(name):
    raw = tf.cast(raw_outputs(name), tf.bfloat16)
    x = f32(grid(RNG.integers(0, 256, size=(2, 6))))
    expected = PixelLikelihood(name)(tf.cast(raw, tf.float32)).log_prob(x)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        default = PixelLikelihood(name)
        explicit = PixelLikelihood(name, dtype="mixed_bfloat16")
        assert default.compute_dtype == "float32"
        np.testing.assert_allclose(default(raw).log_prob(x), expected, rtol=1e-6)
        log_prob = explicit(raw).log_prob(x)
    finally:
        keras.config.set_dtype_policy(previous)
    assert log_prob.dtype == tf.float32
    np.testing.assert_allclose(log_prob, expected, rtol=1e-6)
