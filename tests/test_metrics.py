"""Sample-quality and latent metrics of trained models: FID beside its real-data floor, precision and recall,
active units and the KL per dimension; metrics as plugins; the digit feature network cached and checked."""

from __future__ import annotations

import json
import shutil
import types

import numpy as np
import pytest

from conftest import run_main

SAMPLES = 2000


@pytest.fixture(scope="session")
def digits_vae(tmp_path_factory):
    """A vae trained for 3 epochs on binarized MNIST (its 50000 training images), as a Run."""
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "binarized_mnist.npz").is_file() or not (SHARED_DATA / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real data is not at {SHARED_DATA}; set GENMODELS_DATA_DIR")
    import os

    os.environ["GENMODELS_DATA_DIR"] = str(SHARED_DATA)
    import genmodels

    return genmodels.train(
        "vae", "binarized-mnist", epochs=3, run_dir=tmp_path_factory.mktemp("digits") / "vae", verbose=0
    )


@pytest.fixture(scope="session")
def digits_context(digits_vae):
    """The metric context `evaluate` builds for that run: its test images, 2000 samples, the digit feature network."""
    from genmodels.evaluation.metric_context import MetricContext
    from genmodels.plugins.loader import get_registry

    data = digits_vae.dataset()
    return MetricContext(
        model=digits_vae.model,
        model_name="vae",
        dataset=data,
        split="test",
        images=data.rows("test"),
        labels=None,
        seed=0,
        samples=SAMPLES,
        feature_source=get_registry().dataset("binarized-mnist").features,
    )


@pytest.mark.slow
def test_the_digit_feature_network_is_a_good_classifier_of_labelled_mnist(digits_context):
    info = digits_context.feature_network().info
    assert info["kind"] == "classifier" and info["name"] == "mnist-digits-t10k"
    assert info["test_accuracy"] > 0.95 and info["test_images"] == 2000
    assert len(info["data_sha256"]) == 64 and len(info["weights_sha256"]) == 64


@pytest.mark.slow
def test_a_models_samples_score_between_held_out_real_images_and_independent_pixel_noise(digits_context):
    from genmodels.evaluation.sample_quality import fid, precision_recall

    context = digits_context
    reference = context.real_features(context.images)
    samples = context.features(context.generated())
    real = context.real_features(context.real_rows("train", SAMPLES))
    marginals = context.real_rows("train").mean(axis=0)  # each pixel drawn alone, from its own frequency of ink
    noise = (np.random.default_rng(1).random((SAMPLES, marginals.size)) < marginals).astype(np.float32)
    noise_features = context.features(noise)
    scores = {
        name: fid(reference, features)
        for name, features in (("real", real), ("model", samples), ("noise", noise_features))
    }
    assert scores["real"] < scores["model"] < scores["noise"], scores
    # noise collapses to one small region of feature space (high precision, as a collapsed mode has): recall shows it
    recall = {
        name: precision_recall(reference, features).recall
        for name, features in (("real", real), ("model", samples), ("noise", noise_features))
    }
    assert recall["real"] > recall["model"] > recall["noise"], recall


def test_generated_samples_are_binary_images_for_binary_data_and_repeat_with_the_seed(digits_context):
    images = digits_context.generated()
    assert images.shape == (SAMPLES, 784) and set(np.unique(images)) <= {0.0, 1.0}
    from genmodels.evaluation.metric_context import MetricContext

    again = MetricContext(**{**vars(digits_context), "_cache": {}})
    np.testing.assert_array_equal(again.generated(), images)


def test_real_features_are_cached_by_the_images_and_the_networks_weights(digits_context, features_cache):
    rows = digits_context.images[:100]
    first = digits_context.real_features(rows)
    cached = list((features_cache / "mnist-digits-t10k").glob("real-*.npz"))
    assert cached
    np.testing.assert_array_equal(digits_context.real_features(rows), first)
    np.testing.assert_allclose(first, digits_context.features(rows), rtol=1e-5, atol=1e-6)


def test_the_kl_per_dimension_adds_up_to_the_kl_term_under_a_standard_normal_prior(digits_context):
    from genmodels.evaluation.likelihood import loss_terms
    from genmodels.plugins.loader import get_registry

    figures = get_registry().metric("active-units").compute(digits_context)
    kl = loss_terms(digits_context.model, digits_context.images)["kl"]
    assert sum(figures["kl_per_dimension"]) == pytest.approx(kl, rel=1e-4)
    assert figures["latent_dim"] == 20 and 0 < figures["active_units"] <= 20
    active = [variance > 0.01 for variance in figures["posterior_mean_variances"]]
    assert sum(active) == figures["active_units"]


@pytest.mark.slow
def test_evaluate_computes_every_metric_and_compare_shows_them(digits_vae, tmp_path, capsys):
    run_dir = shutil.copytree(digits_vae.run_dir, tmp_path / "vae")
    outcome = run_main(
        capsys, "evaluate", "vae", "--run-dir", run_dir, "-n", "500", "--k", "10", "--samples", "1000", "--seed", "2"
    )
    assert outcome.code == 0, outcome.err
    figures = json.loads((run_dir / "evaluation-test-n500.json").read_text())
    assert figures["nll"] is not None and figures["k"] == 10
    fid, prd, units = (figures["metrics"][name] for name in ("fid", "prd", "active-units"))
    assert fid["samples"] == 1000 and fid["reference_images"] == 500 and fid["seed"] == 2 and fid["seconds"] >= 0
    assert fid["fid"] > fid["floor"] > 0 and fid["fid_standard_error"] > 0 and fid["floor_split"] == "train"
    assert fid["feature_network"]["name"] == "mnist-digits-t10k"
    assert 0 <= prd["precision"] <= 1 and 0 <= prd["recall"] <= 1 and prd["k"] == 3
    assert units["active_units"] <= units["latent_dim"] == 20
    assert "FID" in outcome.out and "floor" in outcome.out and "active units" in outcome.out
    shutil.copy(run_dir / "evaluation-test-n500.json", run_dir / "evaluation-test.json")
    compared = run_main(capsys, "compare", run_dir)
    assert compared.code == 0 and f"{fid['fid']:.2f} ({fid['floor']:.2f})" in compared.out


def test_metrics_from_the_python_api(digits_vae):
    figures = digits_vae.metrics(["active-units"], samples=10)
    assert set(figures) == {"active-units"} and figures["active-units"]["latent_dim"] == 20


def test_an_unknown_metric_is_one_line_naming_the_known_ones(tiny_run, capsys):
    run_main(capsys, "evaluate", "vae", "--run-dir", tiny_run, "--metrics", "nll,fdi").assert_one_error_line(
        "fdi", "fid", "active-units"
    )


def test_a_metric_that_does_not_apply_is_recorded_with_its_reason(tiny_run, tiny_npz):
    import genmodels
    from genmodels.core.errors import NotApplicableError
    from genmodels.evaluation.metrics import run_metrics
    from genmodels.evaluation.metric_context import MetricContext
    from genmodels.plugins.loader import build_registry
    from genmodels.specs import MetricSpec

    def never(context):
        raise NotApplicableError("it needs a model with labels")

    @genmodels.hookimpl
    def register_metrics(register):
        register(MetricSpec("labelled-only", "Something only a conditional model has.", compute=never))

    import genmodels_plugins.metrics as built_in

    registry = build_registry(
        [built_in, types.SimpleNamespace(register_metrics=register_metrics)], entry_points=False, strict=True
    )
    run = genmodels.load(tiny_run)
    data = run.dataset()
    context = MetricContext(
        model=run.model, model_name="vae", dataset=data, split="test", images=data.rows("test"), labels=None, samples=50
    )
    figures = run_metrics(["labelled-only", "active-units"], context, registry)
    assert figures["labelled-only"] == {"skipped": "it needs a model with labels"}
    assert figures["active-units"]["latent_dim"] == 2


@pytest.mark.slow
def test_an_unlabelled_dataset_gets_a_reference_autoencoder_of_its_own(run_copy, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GENMODELS_FEATURES_DIR", str(tmp_path / "features"))
    outcome = run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "fid,prd", "--samples", "200")
    assert outcome.code == 0, outcome.err
    figures = json.loads((run_copy / "evaluation-test.json").read_text())["metrics"]["fid"]
    assert (
        figures["feature_network"]["kind"] == "autoencoder"
        and "test_reconstruction_error" in figures["feature_network"]
    )
    assert figures["floor_images"] == 200 and figures["reference_images"] == 100


def test_a_cached_feature_network_whose_weights_changed_is_refused_in_one_line(
    digits_context, features_cache, tmp_path, monkeypatch, capsys
):
    from conftest import SHARED_DATA

    digits_context.feature_network()  # trained and cached
    copy = shutil.copytree(features_cache / "mnist-digits-t10k", tmp_path / "features" / "mnist-digits-t10k")
    with np.load(copy / "weights.npz") as npz:
        arrays = {key: npz[key].copy() for key in npz.files}
    first = sorted(arrays)[0]
    arrays[first].flat[0] += 0.5
    np.savez(copy / "weights.npz", **arrays)
    monkeypatch.setenv("GENMODELS_FEATURES_DIR", str(tmp_path / "features"))
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(SHARED_DATA))
    run_main(capsys, "features", "binarized-mnist").assert_one_error_line("mnist-digits-t10k", "weights")


@pytest.mark.slow
def test_a_features_folder_that_cannot_be_written_costs_the_cache_not_the_metric(
    run_copy, capsys, monkeypatch, tmp_path
):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("GENMODELS_FEATURES_DIR", str(tmp_path / "a-file" / "features"))  # nothing can be made under it
    outcome = run_main(
        capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "nll,fid", "--k", "2", "--samples", "200"
    )
    assert outcome.code == 0, outcome.err
    assert "Warning:" in outcome.err and "could not be cached" in outcome.err and "Traceback" not in outcome.err
    figures = json.loads((run_copy / "evaluation-test.json").read_text())
    assert figures["nll"] > 0 and figures["metrics"]["fid"]["fid"] >= 0


def test_figures_computed_before_a_failing_metric_are_saved(run_copy, capsys, monkeypatch, tmp_path):
    import genmodels.evaluation.feature_cache
    from genmodels.core.errors import GenmodelsError

    def broken(*args, **kwargs):
        raise GenmodelsError("the feature network could not be trained")

    monkeypatch.setenv("GENMODELS_FEATURES_DIR", str(tmp_path / "features"))
    monkeypatch.setattr(genmodels.evaluation.feature_cache, "train_network", broken)
    outcome = run_main(
        capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "nll,active-units,fid", "--k", "2"
    )
    errors = [line for line in outcome.err.splitlines() if line.startswith("Error:")]
    assert outcome.code == 1 and len(errors) == 1 and "could not be trained" in errors[0] and "saved in" in errors[0]
    assert "Traceback" not in outcome.err
    figures = json.loads((run_copy / "evaluation-test.json").read_text())
    assert figures["nll"] > 0 and "active-units" in figures["metrics"] and "fid" not in figures["metrics"]


def test_evaluations_of_the_same_weights_accumulate_in_the_json(run_copy, capsys):
    path = run_copy / "evaluation-test.json"
    assert run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "nll", "--k", 5).code == 0
    nll = json.loads(path.read_text())["nll"]
    assert run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "active-units").code == 0
    both = json.loads(path.read_text())
    assert both["nll"] == nll and both["k"] == 5 and set(both["metrics"]) == {"active-units"}  # the likelihood is kept
    assert run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "nll", "--k", 3).code == 0
    again = json.loads(path.read_text())
    assert again["k"] == 3 and "active-units" in again["metrics"]  # the new likelihood, the earlier metric kept
    # figures of other weights are replaced, not joined
    path.write_text(json.dumps({**again, "epoch": 99}))
    assert run_main(capsys, "evaluate", "vae", "--run-dir", run_copy, "--metrics", "nll", "--k", 3).code == 0
    assert json.loads(path.read_text())["metrics"] == {}
