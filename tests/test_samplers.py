"""Latent samplers fitted after training: the mixture's maths, its choice on validation, its file in the run, and the
commands and API that draw from it."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import run_main
from genmodels import SamplerSpec, hookimpl
from genmodels.core.errors import DatasetError, UnknownNameError
from genmodels.plugins.loader import build_registry
from genmodels.samplers.fitting import check_sampler_name, drawn_codings, fitted_sampler, sampler_path
from genmodels.samplers.sampler import PRIOR, FittedSampler
from genmodels_plugins.samplers import GaussianMixture, fit_gmm, fit_mixture


def clusters(centres: np.ndarray, per: int, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(centre, spread, size=(per, len(centre))) for centre in centres])


CENTRES = np.array([[-4.0, 0.0, 1.0], [4.0, 1.0, -1.0], [0.0, -5.0, 3.0]])


def test_the_mixture_density_is_the_weighted_sum_of_its_gaussians():
    rng = np.random.default_rng(0)
    weights, means, variances = np.array([0.2, 0.5, 0.3]), rng.normal(size=(3, 4)), rng.uniform(0.2, 2.0, size=(3, 4))
    z = rng.normal(size=(7, 4))
    direct = sum(
        w * np.prod(np.exp(-0.5 * (z - m) ** 2 / v) / np.sqrt(2 * np.pi * v), axis=1)
        for w, m, v in zip(weights, means, variances)
    )
    np.testing.assert_allclose(
        GaussianMixture(weights, means, variances).log_likelihoods(z), np.log(direct), rtol=1e-10
    )


def test_em_finds_well_separated_clusters_and_their_weights():
    parts = [
        clusters(CENTRES[:1], 300, 0.5, 0),
        clusters(CENTRES[1:2], 100, 0.5, 1),
        clusters(CENTRES[2:], 100, 0.5, 2),
    ]
    mixture = fit_mixture(np.concatenate(parts), 3, seed=0)
    order = np.argsort(mixture.means[:, 0])
    np.testing.assert_allclose(mixture.means[order], [parts[i].mean(axis=0) for i in (0, 2, 1)], atol=1e-3)
    np.testing.assert_allclose(mixture.weights[order], [0.6, 0.2, 0.2], atol=0.02)
    np.testing.assert_allclose(mixture.variances, 0.25, rtol=0.3)


def test_the_number_of_components_is_chosen_on_the_validation_codings():
    train, valid = clusters(CENTRES, 200, 0.3, 0), clusters(CENTRES, 50, 0.3, 1)
    chosen = fit_gmm(train, valid, seed=0)
    one = fit_mixture(train, 1, seed=0)
    assert len(chosen.weights) >= 3
    assert chosen.valid_log_likelihood > one.log_likelihoods(valid).mean() + 1.0
    assert chosen.info()["components"] == len(chosen.weights)
    # at most one component per 20 training codings, and a fixed count when nothing is held out
    assert len(fit_gmm(train[:60], valid, seed=0).weights) <= 3
    assert len(fit_gmm(train, valid[:0], seed=0).weights) == 10


def test_draws_follow_the_mixture_and_repeat_for_a_seed():
    mixture = GaussianMixture(np.array([0.25, 0.75]), np.array([[-3.0, 0.0], [3.0, 0.0]]), np.full((2, 2), 0.01))
    draws = mixture.sample(4000, seed=5)
    assert draws.dtype == np.float32 and draws.shape == (4000, 2)
    assert abs((draws[:, 0] > 0).mean() - 0.75) < 0.03
    np.testing.assert_array_equal(draws, mixture.sample(4000, seed=5))
    assert not np.array_equal(draws, mixture.sample(4000, seed=6))


def test_a_mixture_rebuilds_from_its_arrays_and_refuses_inconsistent_ones():
    mixture = fit_gmm(clusters(CENTRES, 100, 0.3, 0), clusters(CENTRES, 20, 0.3, 1), seed=0)
    again = GaussianMixture.from_arrays(mixture.arrays())
    np.testing.assert_array_equal(again.sample(50, seed=1), mixture.sample(50, seed=1))
    assert again.valid_log_likelihood == mixture.valid_log_likelihood
    with pytest.raises(ValueError):
        GaussianMixture.from_arrays({**mixture.arrays(), "variances": -mixture.variances})


class _Encoder:
    """A stand-in model whose codings are the images' first two pixels (no TensorFlow)."""

    coding_dim, coding_shape, conditional = 2, (2,), False

    def encode(self, rows, labels=None):
        return rows[:, :2]


def graph_draws(sampler, n, seed):
    """`sampler.graph_sample` run inside a tf.function, as an exported model runs it."""
    import tensorflow as tf

    draw = tf.function(lambda n, seed: sampler.graph_sample(n, seed))
    first = draw(tf.constant(n), tf.constant(seed, tf.int64)).numpy()
    np.testing.assert_array_equal(first, draw(tf.constant(n), tf.constant(seed, tf.int64)).numpy())
    return first.astype(np.float64)


class _Counting(FittedSampler):
    def __init__(self, mean):
        self.mean = np.asarray(mean)

    def sample(self, n, seed):
        return np.tile(self.mean.astype(np.float32), (n, 1))

    def arrays(self):
        return {"mean": self.mean}


FITS: list = []  # (training codings, validation codings) of every fit of CentrePlugin's sampler


class CentrePlugin:
    """A plugin whose sampler draws the mean training coding, counting its fits."""

    @staticmethod
    @hookimpl
    def register_samplers(register):
        def fit(train, valid, seed):
            FITS.append((len(train), len(valid)))
            return _Counting(train.mean(axis=0))

        register(
            SamplerSpec(
                name="centre", description="the mean coding", fit=fit, load=lambda arrays: _Counting(arrays["mean"])
            )
        )


def test_a_fitted_sampler_is_kept_for_its_weights_and_fitted_again_when_they_change(tmp_path):
    FITS.clear()
    fits = FITS
    registry = build_registry([CentrePlugin()])
    rng = np.random.default_rng(0)
    dataset = SimpleNamespace(train=rng.random((40, 3)), valid=rng.random((10, 3)), scale=1.0)
    weights = tmp_path / "best.weights.h5"
    weights.write_bytes(b"first weights")
    first = fitted_sampler("centre", registry, _Encoder(), dataset, run_dir=tmp_path, weights=weights)
    np.testing.assert_allclose(first.sample(1, 0)[0], dataset.train[:, :2].mean(axis=0), rtol=1e-6)
    assert fits == [(40, 10)] and sampler_path(tmp_path, "centre").is_file()
    fitted_sampler("centre", registry, _Encoder(), dataset, run_dir=tmp_path, weights=weights)
    assert len(fits) == 1  # loaded, not fitted again
    weights.write_bytes(b"weights of a longer training")
    fitted_sampler("centre", registry, _Encoder(), dataset, run_dir=tmp_path, weights=weights)
    assert len(fits) == 2
    sampler_path(tmp_path, "centre").write_bytes(b"not an npz")
    fitted_sampler("centre", registry, _Encoder(), dataset, run_dir=tmp_path, weights=weights)
    assert len(fits) == 3  # an unreadable file is replaced by a new fit
    assert fitted_sampler(PRIOR, registry, _Encoder(), dataset, run_dir=tmp_path, weights=weights) is None


class _MapEncoder:
    """A stand-in model whose codings are maps: the images' first twelve pixels as a 2x2 map of 3-value vectors."""

    coding_dim, coding_shape, conditional = 12, (2, 2, 3), False

    def encode(self, rows, labels=None):
        return rows[:, :12]


class _Maps(FittedSampler):
    def __init__(self, first):
        self.first = np.asarray(first)

    def sample(self, n, seed):  # maps shaped as the codings, (n, 2, 2, 3)
        return np.repeat(self.first[None].astype(np.float32), n, axis=0)

    def arrays(self):
        return {"first": self.first}


SHAPES: list = []  # the shapes of the training and validation codings that ShapePlugin's sampler was given


class ShapePlugin:
    """A plugin whose sampler records the shapes of the codings it is fitted to and draws the first training map."""

    @staticmethod
    @hookimpl
    def register_samplers(register):
        def fit(train, valid, seed):
            SHAPES.append((train.shape, valid.shape))
            return _Maps(train[0])

        register(SamplerSpec(name="shapes", description="the first map", fit=fit, load=lambda a: _Maps(a["first"])))


def test_samplers_are_given_the_codings_in_their_shape_and_their_draws_are_decoded_flat():
    SHAPES.clear()
    rng = np.random.default_rng(0)
    dataset = SimpleNamespace(train=rng.random((40, 16)), valid=rng.random((10, 16)), scale=1.0)
    registry = build_registry([ShapePlugin()])
    maps = fitted_sampler("shapes", registry, _MapEncoder(), dataset)
    assert SHAPES == [((40, 2, 2, 3), (10, 2, 2, 3))]
    np.testing.assert_allclose(maps.first.reshape(-1), dataset.train[0, :12], rtol=1e-6)  # row-major: (h, w, d)
    drawn = drawn_codings(maps, 5, seed=0)
    assert drawn.shape == (5, 12)
    np.testing.assert_allclose(drawn[3], dataset.train[0, :12], rtol=1e-6)
    fitted_sampler("shapes", registry, _Encoder(), dataset)  # a model without coding_shape: flat rows
    assert SHAPES[-1] == ((40, 2), (10, 2))
    empty = SimpleNamespace(train=dataset.train, valid=dataset.valid[:0], scale=1.0)
    fitted_sampler("shapes", registry, _MapEncoder(), empty)
    assert SHAPES[-1] == ((40, 2, 2, 3), (0, 2, 2, 3))


def test_the_gmm_fits_maps_of_codings_as_it_fits_their_flat_rows():
    train, valid = clusters(CENTRES, 100, 0.3, 0), clusters(CENTRES, 20, 0.3, 1)
    train, valid = np.concatenate([train] * 4, axis=1), np.concatenate([valid] * 4, axis=1)  # 12 values
    flat = fit_gmm(train, valid, seed=0)
    maps = fit_gmm(train.reshape(-1, 2, 2, 3), valid.reshape(-1, 2, 2, 3), seed=0)
    for name, array in flat.arrays().items():
        np.testing.assert_array_equal(maps.arrays()[name], array)
    assert maps.sample(7, seed=1).shape == (7, 12)


def test_an_unknown_sampler_name_lists_the_prior_and_the_registered_ones():
    with pytest.raises(UnknownNameError) as refused:
        check_sampler_name("gm", build_registry())
    known = str(refused.value).partition("Known samplers:")[2]
    assert {"gmm", "maf", "pixelcnn", "two-stage", "prior"} <= {name.strip(" .") for name in known.split(",")}
    check_sampler_name(PRIOR, build_registry())
    check_sampler_name("gmm", build_registry())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A vae trained for two epochs on 8-bit images of two kinds (dark and bright) through the Python API."""
    import genmodels

    rng = np.random.default_rng(0)
    dark, bright = rng.integers(0, 60, size=(200, 8, 8)), rng.integers(190, 256, size=(200, 8, 8))
    images = np.concatenate([dark, bright]).astype(np.uint8)[rng.permutation(400)]
    path = tmp_path_factory.mktemp("two-kinds") / "two-kinds.npz"
    np.savez(path, train=images[:340], test=images[340:])
    run = genmodels.train(
        "vae",
        dataset=str(path),
        epochs=2,
        hidden=(32,),
        latent_dim=2,
        epoch_images=8000,
        run_dir=path.parent / "run",
        verbose=0,
    )
    return run


@pytest.mark.slow
def test_training_fits_the_default_sampler_and_draws_its_grid_from_it(trained):
    saved = np.load(sampler_path(trained.run_dir, "gmm"))
    assert int(saved["weights"].shape[0]) >= 1 and str(saved["sampler"]) == "gmm"
    assert (trained.run_dir / "samples.png").is_file()


def test_sample_draws_from_the_fitted_sampler_or_from_the_prior(trained, tmp_path, capsys):
    run_dir = shutil.copytree(trained.run_dir, tmp_path / "run")
    outcome = run_main(capsys, "sample", "vae", "--run-dir", run_dir, "-n", 16, "--seed", 3, "--npy")
    assert outcome.code == 0, outcome.err
    from_cli = np.load(run_dir / "samples-16-seed3.npy")
    np.testing.assert_array_equal(trained.sample(16, seed=3), from_cli)
    prior = run_main(
        capsys, "sample", "vae", "--run-dir", run_dir, "-n", 16, "--seed", 3, "--npy", "--sampler", "prior"
    )
    assert prior.code == 0, prior.err
    np.testing.assert_array_equal(
        np.load(run_dir / "samples-16-seed3-prior.npy"), trained.sample(16, seed=3, sampler="prior")
    )
    # the mixture draws where the training images' codings are: their spread, not the prior's N(0, 1)
    codings = trained.encode(trained.dataset().train)
    draws = trained.fitted_sampler().sample(4000, seed=0)
    np.testing.assert_allclose(draws.mean(axis=0), codings.mean(axis=0), atol=0.1 * codings.std())
    np.testing.assert_allclose(draws.std(axis=0), codings.std(axis=0), rtol=0.1)
    run_main(capsys, "sample", "vae", "--run-dir", run_dir, "--sampler", "gm").assert_one_error_line(
        "'gm'", "gmm", "prior"
    )


@pytest.mark.slow
def test_evaluate_records_the_sampler_beside_the_sample_metrics(trained, tmp_path, capsys):
    run_dir = shutil.copytree(trained.run_dir, tmp_path / "run")
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", run_dir, "--metrics", "fid", "--samples", 200)
    assert outcome.code == 0, outcome.err
    assert "gmm sampler" in outcome.out
    figures = json.loads((run_dir / "evaluation-test.json").read_text())["metrics"]["fid"]
    assert figures["sampler"] == "gmm"
    outcome = run_main(
        capsys, "evaluate", "vae", "--run-dir", run_dir, "--metrics", "fid", "--samples", 200, "--sampler", "prior"
    )
    assert json.loads((run_dir / "evaluation-test.json").read_text())["metrics"]["fid"]["sampler"] == "prior"
    assert trained.metrics(["fid"], samples=200)["fid"]["fid"] == pytest.approx(figures["fid"], rel=1e-5)


def test_fit_sampler_keeps_the_runs_fit_refits_on_request_and_refuses_the_prior(trained, tmp_path, capsys):
    run_dir = shutil.copytree(trained.run_dir, tmp_path / "run")
    path = sampler_path(run_dir, "gmm")
    before = path.read_bytes()
    kept = run_main(capsys, "fit-sampler", "vae", "--run-dir", run_dir)
    assert kept.code == 0 and "kept" in kept.out and "components" in kept.out and path.read_bytes() == before
    path.write_bytes(b"damaged")  # a fit that cannot be read is fitted again
    assert run_main(capsys, "fit-sampler", "vae", "--run-dir", run_dir).code == 0
    assert path.read_bytes() == before  # the same fit: same codings, same seed
    mtime = path.stat().st_mtime_ns
    refit = run_main(capsys, "fit-sampler", "vae", "--run-dir", run_dir, "--refit")
    assert refit.code == 0 and "saved" in refit.out and path.stat().st_mtime_ns != mtime
    run_main(capsys, "fit-sampler", "vae", "--run-dir", run_dir, "--sampler", "prior").assert_one_error_line(
        "prior", "genmodels list"
    )


def test_fit_sampler_refuses_the_pixelcnn_for_codings_that_are_not_maps(trained, capsys):
    run_main(capsys, "fit-sampler", "vae", "--run-dir", trained.run_dir, "--sampler", "pixelcnn").assert_one_error_line(
        "pixelcnn", "maps of codes", "flat rows of 2 values", "gmm"
    )
    assert not sampler_path(trained.run_dir, "pixelcnn").exists()


@pytest.mark.slow
def test_the_two_stage_sampler_learns_where_the_codings_are_and_rebuilds_from_its_arrays():
    from genmodels_plugins.two_stage import TwoStageSampler, fit_two_stage

    rng = np.random.default_rng(0)

    def codings(n):  # two clusters far from N(0, I), one twice as likely
        centre = np.where(rng.random((n, 1)) < 2 / 3, [[4.0, -2.0, 1.0]], [[-3.0, 3.0, 0.0]])
        return centre + 0.3 * rng.standard_normal((n, 3))

    training = codings(2000)
    sampler = fit_two_stage(training, codings(300), seed=0)
    draws = sampler.sample(3000, seed=1)
    np.testing.assert_allclose(draws.std(axis=0), training.std(axis=0), rtol=0.3)  # the spread, not one point
    assert draws.shape == (3000, 3) and draws.dtype == np.float32
    near_first = np.linalg.norm(draws - [4.0, -2.0, 1.0], axis=1) < 1.5
    near_second = np.linalg.norm(draws - [-3.0, 3.0, 0.0], axis=1) < 1.5
    assert (near_first | near_second).mean() > 0.9 and 0.5 < near_first.mean() < 0.8
    graph = graph_draws(sampler, 3000, seed=1)  # as an export draws them: the same law, TensorFlow's numbers
    assert graph.shape == (3000, 3) and sampler.in_graph
    graph_first = np.linalg.norm(graph - [4.0, -2.0, 1.0], axis=1) < 1.5
    graph_second = np.linalg.norm(graph - [-3.0, 3.0, 0.0], axis=1) < 1.5
    assert (graph_first | graph_second).mean() > 0.9 and abs(graph_first.mean() - near_first.mean()) < 0.05
    np.testing.assert_allclose(graph.std(axis=0), draws.std(axis=0), rtol=0.1)
    assert 200 <= sampler.info()["kept step"] <= 6000 and "validation negative elbo" in sampler.info()
    rebuilt = TwoStageSampler.from_arrays(sampler.arrays())
    np.testing.assert_array_equal(rebuilt.sample(50, seed=2), sampler.sample(50, seed=2))
    broken = {**sampler.arrays(), "kernel_2": np.zeros((3, 3))}
    with pytest.raises(DatasetError, match="do not fit together"):
        TwoStageSampler.from_arrays(broken)


@pytest.mark.slow
def test_the_maf_sampler_learns_where_the_codings_are_scores_them_and_rebuilds_from_its_arrays():
    from genmodels_plugins.maf import MaskedAutoregressiveFlow, fit_maf

    rng = np.random.default_rng(0)

    def codings(n):  # a curved band: the second coordinate is the square of the first, with a little noise
        first = rng.uniform(-2, 2, size=(n, 1))
        return np.concatenate([first, first**2 + 0.1 * rng.standard_normal((n, 1)), rng.standard_normal((n, 1))], 1)

    flow = fit_maf(codings(3000), codings(300), seed=0)
    draws = flow.sample(2000, seed=1)
    assert draws.shape == (2000, 3) and draws.dtype == np.float32
    assert np.mean(np.abs(draws[:, 1] - draws[:, 0] ** 2) < 0.5) > 0.85  # on the band, not in the box around it
    graph = graph_draws(flow, 2000, seed=1)  # the inversion in TensorFlow, as an export runs it
    assert graph.shape == (2000, 3) and flow.in_graph
    assert np.mean(np.abs(graph[:, 1] - graph[:, 0] ** 2) < 0.5) > 0.85
    np.testing.assert_allclose(graph.mean(axis=0), draws.mean(axis=0), atol=0.15)
    held_out = codings(500)
    gaussian = -0.5 * (
        ((held_out - held_out.mean(0)) / held_out.std(0)) ** 2 + np.log(2 * np.pi * held_out.var(0))
    ).sum(1)
    assert flow.log_likelihoods(held_out).mean() > gaussian.mean() + 0.5  # a better density than one Gaussian
    rebuilt = MaskedAutoregressiveFlow.from_arrays(flow.arrays())
    np.testing.assert_array_equal(rebuilt.sample(50, seed=2), flow.sample(50, seed=2))
    with pytest.raises(DatasetError, match="do not fit together"):
        MaskedAutoregressiveFlow.from_arrays({**flow.arrays(), "w2_3": np.zeros((3, 3))})


def test_each_maf_output_depends_only_on_the_dimensions_before_it():
    from genmodels_plugins.maf import HIDDEN, _made, masks

    rng = np.random.default_rng(0)
    first, second = masks(4)
    layer = {
        "w1": rng.standard_normal((4, HIDDEN)) * first,
        "b1": rng.standard_normal(HIDDEN),
        "w2": rng.standard_normal((HIDDEN, 8)) * second,
        "b2": rng.standard_normal(8),
    }
    x = rng.standard_normal((5, 4))
    for d in range(4):
        changed = x.copy()
        changed[:, d:] = rng.standard_normal((5, 4 - d))  # x_d and after: outputs 0..d must not move
        for before, after in zip(_made(layer, x), _made(layer, changed)):
            np.testing.assert_array_equal(before[:, : d + 1], after[:, : d + 1])
            if d < 3:
                assert not np.allclose(before[:, d + 1 :], after[:, d + 1 :])  # the later ones do see it


def test_a_model_spec_names_the_sampler_its_samples_draw_from_unless_told():
    registry = build_registry()
    assert registry.model("vae").sampler == "gmm"
    assert registry.model("vq-vae").sampler == "pixelcnn"  # a PixelCNN over its maps of codes
    for spec in registry.models:  # every default is a sampler the registry holds, or the prior
        check_sampler_name(spec.sampler, registry)


def test_an_export_takes_a_sampler_that_draws_in_a_graph_and_refuses_or_skips_one_that_cannot():
    from genmodels.core.errors import ConfigError, ExportWarning
    from genmodels.workflows import export_sampler

    registry = build_registry()
    numpy_only = _Counting([0.0, 0.0])  # draws in NumPy alone: no graph_sample
    mixture = GaussianMixture(np.ones(1), np.zeros((1, 2)), np.ones((1, 2)))
    assert mixture.in_graph and not numpy_only.in_graph
    spec = registry.model("vae")
    assert export_sampler(registry, None, spec, lambda name: mixture) == ("gmm", mixture)
    assert export_sampler(registry, "prior", spec, lambda name: None) == ("prior", None)
    with pytest.raises(ConfigError, match="maf"):  # named: refused in one line
        export_sampler(registry, "maf", spec, lambda name: numpy_only)
    vq = registry.model("vq-vae")
    with pytest.warns(ExportWarning, match="pixelcnn"):  # the model's own default: the prior instead, said aloud
        assert export_sampler(registry, None, vq, lambda name: numpy_only) == ("prior", None)


def test_the_mixture_draws_in_a_tensorflow_graph_from_the_law_it_draws_from_in_numpy():
    import tensorflow as tf

    mixture = GaussianMixture(np.array([0.25, 0.75]), np.array([[-5.0, 0.0], [5.0, 1.0]]), np.array([[1.0, 4.0]] * 2))
    draw = tf.function(lambda n, seed: mixture.graph_sample(n, seed))
    codings = draw(tf.constant(20000), tf.constant(3, tf.int64)).numpy()
    np.testing.assert_array_equal(codings, draw(tf.constant(20000), tf.constant(3, tf.int64)).numpy())
    assert np.abs(codings - draw(tf.constant(20000), tf.constant(4, tf.int64)).numpy()).max() > 0.1
    right = codings[:, 0] > 0
    assert right.mean() == pytest.approx(0.75, abs=0.015)  # each component as often as its weight
    np.testing.assert_allclose(codings[right].mean(axis=0), [5.0, 1.0], atol=0.05)
    np.testing.assert_allclose(codings[right].var(axis=0), [1.0, 4.0], rtol=0.06)
    numpy_draws = mixture.sample(20000, seed=3)
    assert (numpy_draws[:, 0] > 0).mean() == pytest.approx(0.75, abs=0.015)
