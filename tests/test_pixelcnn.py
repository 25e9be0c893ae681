"""The pixelcnn sampler: a PixelCNN over maps of code indices that draws maps of codes position by position.

What it finds in the codings (the codebook, despite float rounding), what it refuses (flat codings, continuous
maps), the causal masks of its network, and, fitted to maps with strong spatial structure, that it learns the
structure, scores it better than independent positions, repeats its draws for a seed and rebuilds from its arrays.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from genmodels.core.errors import ConfigError, DatasetError
from genmodels.samplers.fitting import drawn_codings
from genmodels_plugins.pixelcnn import (
    BLOCK,
    MAX_CODES,
    PixelCNN,
    codebook_of,
    fit_pixelcnn,
    mask,
    nearest_codes,
)

HEIGHT, WIDTH, DEPTH, CODES = 4, 5, 3, 4  # not square: rows and columns cannot be swapped unnoticed
BOOK = np.random.default_rng(7).normal(size=(CODES, DEPTH))


def column_maps(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Maps whose every column copies its first row's code, drawn uniformly: 2 bits a map per column, none else."""
    first = np.random.default_rng(seed).integers(0, CODES, size=(n, 1, WIDTH))
    indices = np.repeat(first, HEIGHT, axis=1)
    return BOOK[indices], indices


def random_network(seed: int = 0, codes: int = CODES) -> PixelCNN:
    """A PixelCNN with small random weights in the sampler's layout (its kernels masked), no training."""
    rng = np.random.default_rng(seed)

    def normal(size):  # small: soft conditionals, every code can be drawn
        return 0.3 * rng.normal(size=size)

    channels, inner, span = 8, 4, 2 * WIDTH - 1
    network = {
        "embedding": normal((codes, 5)),
        "first_kernel": normal((3, span, 5, channels)) * mask(2, WIDTH, "A")[:, :, None, None],
        "first_bias": normal(channels),
        "head_kernel": normal((channels, channels)),
        "head_bias": normal(channels),
        "logits_kernel": normal((channels, codes)),
        "logits_bias": normal(codes),
    }
    shapes = {
        "in_kernel": (channels, inner),
        "in_bias": (inner,),
        "kernel": (2, span, inner, inner),
        "bias": (inner,),
        "out_kernel": (inner, channels),
        "out_bias": (channels,),
    }
    blocks = [{name: normal(shapes[name]) for name in BLOCK} for _ in range(2)]
    for block in blocks:
        block["kernel"] = block["kernel"] * mask(1, WIDTH, "B")[:, :, None, None]
    return PixelCNN(normal((codes, DEPTH)), (HEIGHT, WIDTH, DEPTH), network, blocks, {})


def test_the_codebook_is_the_distinct_vectors_of_the_maps_despite_float_rounding():
    maps, indices = column_maps(200, seed=0)
    noisy = maps + np.random.default_rng(1).uniform(-1e-7, 1e-7, size=maps.shape)  # what encoding leaves
    codebook, found = codebook_of(noisy)
    assert codebook.shape == (CODES, DEPTH)
    order = np.argmin(np.abs(codebook[:, None] - BOOK[None]).max(axis=2), axis=1)  # found code -> true code
    np.testing.assert_allclose(codebook, BOOK[order], atol=1e-6)
    np.testing.assert_array_equal(order[found], indices)
    np.testing.assert_array_equal(nearest_codes(BOOK[indices[:5]] + 0.01, codebook), found[:5])


def test_codings_that_are_flat_rows_or_not_codes_are_refused_in_one_line():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError) as flat:
        fit_pixelcnn(rng.normal(size=(50, 20)), rng.normal(size=(10, 20)), seed=0)
    message = str(flat.value)
    assert "\n" not in message and "maps of codes" in message and "flat rows of 20 values" in message
    assert "gmm" in message  # what to use instead
    continuous = rng.normal(size=(300, HEIGHT, WIDTH, DEPTH))  # 6000 distinct vectors
    with pytest.raises(ConfigError, match=f"more than {MAX_CODES} distinct vectors"):
        fit_pixelcnn(continuous, continuous[:10], seed=0)


def test_each_position_is_given_a_distribution_over_the_codes_of_every_position_before_it_and_none_after():
    sampler = random_network()
    rng = np.random.default_rng(1)
    indices = rng.integers(0, CODES, size=(6, HEIGHT * WIDTH))
    before = sampler.position_log_probs(indices.reshape(6, HEIGHT, WIDTH)).reshape(6, -1, CODES)
    np.testing.assert_allclose(np.exp(before).sum(axis=-1), 1.0, rtol=1e-9)
    for position in range(HEIGHT * WIDTH - 1):
        changed = indices.copy()
        changed[:, position] = (changed[:, position] + 1) % CODES
        after = sampler.position_log_probs(changed.reshape(6, HEIGHT, WIDTH)).reshape(6, -1, CODES)
        np.testing.assert_array_equal(after[:, : position + 1], before[:, : position + 1])
        assert not np.allclose(after[:, -1], before[:, -1])  # the last position sees it: no blind spot


def test_drawing_position_by_position_follows_the_whole_map_density():
    sampler = random_network()
    uniforms = np.random.default_rng(2).random((40, HEIGHT, WIDTH))
    indices, log_probs = sampler.draw(uniforms)
    np.testing.assert_allclose(log_probs.sum(axis=(1, 2)), sampler.log_likelihoods(indices), rtol=1e-5, atol=1e-4)
    first = np.exp(sampler.position_log_probs(indices)[:, 0, 0])  # the first position: the inverse of its CDF
    np.testing.assert_array_equal(indices[:, 0, 0], (np.cumsum(first, axis=1) < uniforms[:, :1, 0]).sum(axis=1))


def test_draws_are_code_vectors_in_the_codings_shape_the_same_for_a_seed_and_rebuilt_from_arrays():
    sampler = random_network()
    drawn = sampler.sample(30, seed=4)
    assert drawn.shape == (30, HEIGHT, WIDTH, DEPTH) and drawn.dtype == np.float32
    distances = np.abs(drawn.reshape(-1, 1, DEPTH) - sampler.codebook[None].astype(np.float32)).max(axis=2)
    assert (distances.min(axis=1) == 0).all()  # every vector is a code
    np.testing.assert_array_equal(drawn, sampler.sample(30, seed=4))
    assert not np.array_equal(drawn, sampler.sample(30, seed=5))
    assert drawn_codings(sampler, 30, seed=4).shape == (30, HEIGHT * WIDTH * DEPTH)  # the model decodes flat rows
    rebuilt = PixelCNN.from_arrays(sampler.arrays())
    np.testing.assert_array_equal(rebuilt.sample(30, seed=4), drawn)
    with pytest.raises(DatasetError, match="do not fit together"):
        PixelCNN.from_arrays({**sampler.arrays(), "block1_kernel": np.zeros((2, 3, 4, 4))})
    with pytest.raises(DatasetError, match="lack"):
        PixelCNN.from_arrays({key: value for key, value in sampler.arrays().items() if key != "codebook"})


@pytest.fixture(scope="module")
def fitted():
    train, _ = column_maps(2000, seed=0)
    valid, valid_indices = column_maps(300, seed=1)
    return fit_pixelcnn(train, valid, seed=0, steps=300), valid_indices


@pytest.mark.slow
def test_a_fitted_pixelcnn_draws_the_structure_of_its_training_maps(fitted):
    sampler, _ = fitted
    codes = nearest_codes(sampler.sample(500, seed=0), sampler.codebook)
    copies = (codes == codes[:, :1]).all(axis=(1, 2)).mean()
    rng = np.random.default_rng(0)  # each position drawn on its own, from its marginal (uniform here)
    independent = rng.integers(0, CODES, size=(500, HEIGHT, WIDTH))
    assert copies > 0.9 and (independent == independent[:, :1]).all(axis=(1, 2)).mean() < 0.01
    first_row = np.bincount(codes[:, 0].ravel(), minlength=CODES) / codes[:, 0].size
    np.testing.assert_allclose(first_row, 1 / CODES, atol=0.06)  # and the first row's codes as often as each other


@pytest.mark.slow
def test_a_fitted_pixelcnn_scores_the_validation_maps_better_than_independent_positions(fitted):
    sampler, valid_indices = fitted
    facts = sampler.info()
    assert facts["codes"] == CODES and 1 <= facts["kept step"] <= 300
    assert facts["independent positions' bits per position"] == pytest.approx(2.0, abs=0.05)  # log2(4), uniform
    truth = WIDTH * 2 / (HEIGHT * WIDTH)  # 2 bits for each column's first code, the rest is determined
    assert truth - 0.05 < facts["validation bits per position"] < truth + 0.3
    nats = facts["validation NLL per map (nats)"]
    assert -sampler.log_likelihoods(nearest_codes(BOOK[valid_indices], sampler.codebook)).mean() == pytest.approx(
        nats, abs=2e-3
    )  # the NumPy network that samples is the one TensorFlow fitted
    assert PixelCNN.from_arrays(sampler.arrays()).info() == facts


def test_the_tensorflow_network_an_export_runs_gives_the_numpy_networks_conditionals():
    import tensorflow as tf

    sampler = random_network()
    indices = np.random.default_rng(3).integers(0, CODES, size=(6, HEIGHT, WIDTH))
    in_graph = sampler.graph_log_probs(tf.constant(indices, tf.int32)).numpy()
    np.testing.assert_allclose(in_graph, sampler.position_log_probs(indices), atol=1e-5)


def test_drawing_in_a_tensorflow_graph_follows_the_law_numpy_draws_from():
    import tensorflow as tf

    sampler = random_network()
    draw = tf.function(lambda n, seed: sampler.graph_sample(n, seed))
    drawn = draw(tf.constant(3000), tf.constant(1, tf.int64)).numpy()
    assert sampler.in_graph and drawn.shape == (3000, HEIGHT, WIDTH, DEPTH)
    np.testing.assert_array_equal(drawn, draw(tf.constant(3000), tf.constant(1, tf.int64)).numpy())
    in_graph = nearest_codes(drawn.astype(np.float64), sampler.codebook)
    in_numpy = nearest_codes(sampler.sample(3000, seed=1).astype(np.float64), sampler.codebook)
    # maps drawn from one law score alike under it (the mean log-likelihood estimates minus its entropy) ...
    scores = [sampler.log_likelihoods(codes) for codes in (in_graph, in_numpy)]
    spread = np.hypot(scores[0].std(), scores[1].std()) / np.sqrt(3000)
    assert abs(scores[0].mean() - scores[1].mean()) < 4 * spread
    # ... and give each position's codes the same frequencies (the last position: it depends on all the others)
    for codes_at in ((0, 0), (HEIGHT - 1, WIDTH - 1)):
        frequencies = [
            np.bincount(codes[:, codes_at[0], codes_at[1]], minlength=CODES) / 3000 for codes in (in_graph, in_numpy)
        ]
        np.testing.assert_allclose(frequencies[0], frequencies[1], atol=0.04)


def test_a_long_fit_reports_its_progress_through_the_log_it_is_given(tmp_path):
    from genmodels.plugins.loader import build_registry
    from genmodels.samplers.fitting import fitted_sampler

    train, _ = column_maps(300, seed=0)
    valid, _ = column_maps(50, seed=1)
    lines: list[str] = []

    class Maps:  # a stand-in model whose codings are the maps themselves
        coding_dim, coding_shape, conditional = HEIGHT * WIDTH * DEPTH, (HEIGHT, WIDTH, DEPTH), False

        def encode(self, rows, labels=None):
            return rows

    data = SimpleNamespace(train=train.reshape(300, -1), valid=valid.reshape(50, -1), scale=1.0)
    fitted_sampler("pixelcnn", build_registry(), Maps(), data, log=lines.append)
    progress = [line for line in lines if line.startswith("pixelcnn sampler: step ")]
    assert progress and progress[-1].startswith("pixelcnn sampler: step 200 of 200")  # 20 passes of 5 batches < 200
    assert "bits per position" in progress[-1] and lines[-1].startswith("Fitted the pixelcnn sampler")
