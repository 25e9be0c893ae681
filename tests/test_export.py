"""`genmodels export`: a TensorFlow SavedModel that a program with TensorFlow alone loads and runs, whose
`sample_prior`, `encode` and `decode` give genmodels' own figures (the same images for the same seed), and whose
`sample` decodes codings drawn, in the graph, from the run's fitted sampler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import random_binary_images, run_main, snapshot

# Tiny runs of the models whose priors draw differently: N(0, I) (vae), N(0, I) with labels (cvae), the VampPrior
# (a categorical and a normal draw), hvae's two layers (a VampPrior over z2, then z1 given z2), ae's fitted Gaussian;
# conv-vae, whose convolutions are the other kind of layers; iaf-vae, whose codings pass through a flow; and
# factor-vae, which holds a critic. (beta-vae and iwae are vae's parts, other losses.)
MLP = {"hidden": (16,)}
MODELS = {
    "vae": MLP,
    "cvae": {**MLP, "classes": 3},
    "vamp": {**MLP, "components": 3},
    "hvae": {**MLP, "top_dim": 2, "components": 3},
    "ae": MLP,
    "conv-vae": {"channels": (4, 8)},
    "iaf-vae": {**MLP, "flows": 2, "made_hidden": (8,), "context": 4},
    "factor-vae": {**MLP, "critic_hidden": (4,)},
}
CLASSES = 3
N, SEED, OTHER_SEED = 12, 7, 8
LABELS = (np.arange(N) * 2 % CLASSES).astype(np.int32)  # 0, 2, 1, 0, ...: not the every-class-in-turn order
EXACT = dict(rtol=0, atol=1e-6)  # float32 rounding: a TensorFlow graph may fuse the layers' operations differently

# The program that uses the exports: TensorFlow only. genmodels, its plugins and Keras cannot be imported in it.
TENSORFLOW_ONLY = textwrap.dedent(
    """
    import sys
    sys.modules["genmodels"] = None
    sys.modules["genmodels_plugins"] = None
    sys.modules["keras"] = None
    import json
    import time

    import numpy as np
    import tensorflow as tf

    jobs = json.load(open(sys.argv[1]))
    arrays, report = {}, {"signatures": {}}
    try:
        import genmodels  # noqa: F401
        report["genmodels_importable"] = True
    except ImportError:
        report["genmodels_importable"] = False
    for name, job in jobs["models"].items():
        exported = tf.saved_model.load(job["dir"])
        x = np.load(job["inputs"])
        given = {"labels": x["labels"]} if job["conditional"] else {}
        n, seed = job["n"], job["seed"]
        arrays[f"{name}/sample"] = exported.sample(n=n, seed=seed, **given).numpy()
        arrays[f"{name}/sample_again"] = exported.sample(n=n, seed=seed, **given).numpy()
        arrays[f"{name}/sample_codings"] = exported.sample_codings(n=n, seed=seed).numpy()
        arrays[f"{name}/decoded_codings"] = exported.decode(arrays[f"{name}/sample_codings"], **given).numpy()
        arrays[f"{name}/sample_prior"] = exported.sample_prior(n=n, seed=seed, **given).numpy()
        arrays[f"{name}/sample_other_seed"] = exported.sample_prior(n=n, seed=job["other_seed"], **given).numpy()
        arrays[f"{name}/encode"] = exported.encode(x["images"], **given).numpy()
        arrays[f"{name}/decode"] = exported.decode(x["codings"], **given).numpy()
        serving = exported.signatures  # as TF Serving calls them: tensors in, a dictionary out
        tensors = {key: tf.constant(value) for key, value in given.items()}
        arrays[f"{name}/served_sample"] = serving["sample"](n=tf.constant(n), seed=tf.constant(seed, tf.int64), **tensors)["images"].numpy()
        arrays[f"{name}/served_encode"] = serving["encode"](images=tf.constant(x["images"]), **tensors)["codings"].numpy()
        arrays[f"{name}/served_decode"] = serving["decode"](codings=tf.constant(x["codings"]), **tensors)["images"].numpy()
        if job["conditional"]:
            arrays[f"{name}/every_class"] = exported.sample_prior(n=n, seed=seed, labels=np.zeros(0, np.int32)).numpy()
            arrays[f"{name}/one_class"] = exported.sample_prior(n=n, seed=seed, labels=[2]).numpy()
        if name == "vae":
            arrays["vae/many_codings"] = exported.sample_codings(n=20000, seed=5).numpy()
        report["signatures"][name] = {
            key: {
                "inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in function.structured_input_signature[1].items()},
                "outputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in function.structured_outputs.items()},
            }
            for key, function in serving.items()
        }
        if name == "vae":
            start = time.perf_counter()
            exported.sample(n=60, seed=0).numpy()
            report["first_sample_60"] = time.perf_counter() - start
            times = []
            for seed in range(21):
                start = time.perf_counter()
                exported.sample(n=60, seed=seed).numpy()
                times.append(time.perf_counter() - start)
            report["median_sample_60"] = sorted(times)[10]
    np.savez(jobs["out"], **arrays)
    json.dump(report, open(jobs["report"], "w"))
    """
)


def tiny_data():
    """200 random 0/1 28x28 images with labels 0, 1, 2: a labelled dataset every model here trains on."""
    import genmodels

    images = random_binary_images(200, seed=3)
    labels = np.arange(200) % CLASSES
    return genmodels.Dataset(
        "three", train=images[:150], test=images[150:], train_labels=labels[:150], test_labels=labels[150:]
    )


def train(name, run_dir, **options):
    import genmodels

    return genmodels.train(
        name,
        dataset=tiny_data(),
        epochs=1,
        latent_dim=2,
        batch_size=150,
        epoch_images=0,
        xla=False,
        run_dir=run_dir,
        verbose=0,
        **{**MODELS[name], **options},
    )


def genmodels_decode(run, codings, labels=None):
    """What `run.decode` gives (hvae's codings are [z1, z2], latent_dim + top_dim wide)."""
    return run.decode(codings, labels)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each model of MODELS trained for an epoch and exported; per model what genmodels gives (`expected`)
    and what the export gives (`got`) in the TensorFlow-only program, and that program's `report`."""
    folder = tmp_path_factory.mktemp("export")
    images = (tiny_data().test[:N].reshape(-1, 28, 28, 1)).astype(np.float32)  # 0/1 pixels, as floats in [0, 1]
    jobs, expected, runs = {}, {}, {}
    for name in MODELS:
        run = runs[name] = train(name, folder / f"run-{name}")
        labels = LABELS if run.model.conditional else None
        codings = run.encode(images, labels)
        expected[name] = {
            "sample_prior": run.sample(N, seed=SEED, labels=labels, sampler="prior"),
            "sample_other_seed": run.sample(N, seed=OTHER_SEED, labels=labels, sampler="prior"),
            "encode": codings,
            "decode": genmodels_decode(run, codings, labels),
        }
        if run.model.conditional:
            expected[name]["every_class"] = run.sample(N, seed=SEED, sampler="prior")
            expected[name]["one_class"] = run.sample(N, seed=SEED, labels=2, sampler="prior")
        np.savez(folder / f"inputs-{name}.npz", images=images, codings=codings, labels=LABELS)
        jobs[name] = {
            "dir": str(run.export(folder / f"export-{name}")),  # its sample draws from the run's gmm sampler
            "inputs": str(folder / f"inputs-{name}.npz"),
            "conditional": run.model.conditional,
            "n": N,
            "seed": SEED,
            "other_seed": OTHER_SEED,
        }
    (folder / "use_export.py").write_text(TENSORFLOW_ONLY)
    (folder / "jobs.json").write_text(
        json.dumps({"models": jobs, "out": str(folder / "got.npz"), "report": str(folder / "report.json")})
    )
    done = subprocess.run(
        [sys.executable, str(folder / "use_export.py"), str(folder / "jobs.json")],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(folder / "got.npz")
    return {
        "expected": expected,
        "got": {
            name: {key.partition("/")[2]: got[key] for key in got.files if key.startswith(f"{name}/")}
            for name in MODELS
        },
        "report": json.loads((folder / "report.json").read_text()),
        "runs": runs,
        "folder": folder,
    }


@pytest.mark.slow
def test_the_program_that_used_the_exports_could_not_import_genmodels(exported):
    assert exported["report"]["genmodels_importable"] is False


@pytest.mark.parametrize("name", MODELS)
def test_sample_prior_with_a_seed_gives_the_images_genmodels_gives_for_that_seed(exported, name):
    expected, got = exported["expected"][name], exported["got"][name]
    assert got["sample_prior"].shape == (N, 28, 28, 1) and got["sample_prior"].dtype == np.float32
    np.testing.assert_allclose(got["sample_prior"], expected["sample_prior"], **EXACT)
    np.testing.assert_allclose(got["sample_other_seed"], expected["sample_other_seed"], **EXACT)
    assert np.abs(got["sample_prior"] - got["sample_other_seed"]).max() > 0.01  # another seed, other images
    assert 0.0 <= got["sample_prior"].min() and got["sample_prior"].max() <= 1.0


@pytest.mark.parametrize("name", MODELS)
def test_sample_decodes_the_codings_of_the_fitted_sampler_the_same_for_the_same_seed(exported, name):
    got = exported["got"][name]
    width = 4 if name == "hvae" else 2
    assert got["sample_codings"].shape == (N, width) and got["sample"].shape == (N, 28, 28, 1)
    np.testing.assert_array_equal(got["sample"], got["sample_again"])
    if name != "cvae":  # cvae's sample draws every class in turn; decode was given LABELS
        np.testing.assert_allclose(got["sample"], got["decoded_codings"], **EXACT)
    assert np.abs(got["sample"] - got["sample_prior"]).max() > 0.01  # the sampler's codings, not the prior's


@pytest.mark.slow
def test_the_exported_sampler_draws_codings_from_the_fitted_mixture(exported):
    """20 000 codings drawn in the SavedModel have the fitted mixture's mean and variance, and each component
    is drawn about as often as its weight says."""
    run = exported["runs"]["vae"]
    mixture = run.fitted_sampler("gmm")
    codings = exported["got"]["vae"]["many_codings"].astype(np.float64)
    weights = mixture.weights / mixture.weights.sum()
    mean = weights @ mixture.means
    variance = weights @ (mixture.variances + mixture.means**2) - mean**2
    assert codings.shape == (20000, 2)
    np.testing.assert_allclose(codings.mean(axis=0), mean, atol=4 * np.sqrt(variance / 20000).max())
    np.testing.assert_allclose(codings.var(axis=0), variance, rtol=0.05)
    drawn_by_numpy = mixture.sample(20000, seed=5).astype(np.float64)  # genmodels' own draws: the same law
    np.testing.assert_allclose(codings.var(axis=0), drawn_by_numpy.var(axis=0), rtol=0.06)
    info = json.loads((exported["folder"] / "export-vae" / "genmodels-export.json").read_text())
    assert info["sampler"] == "gmm"


@pytest.mark.parametrize("name", MODELS)
def test_encode_and_decode_give_genmodels_codings_and_images(exported, name):
    expected, got = exported["expected"][name], exported["got"][name]
    width = 4 if name == "hvae" else 2  # hvae's codings are [z1, z2]
    assert got["encode"].shape == (N, width) and got["decode"].shape == (N, 28, 28, 1)
    np.testing.assert_allclose(got["encode"], expected["encode"], **EXACT)
    np.testing.assert_allclose(got["decode"], expected["decode"], **EXACT)


@pytest.mark.parametrize("name", MODELS)
def test_the_serving_signatures_give_what_the_functions_give(exported, name):
    got = exported["got"][name]
    np.testing.assert_array_equal(got["served_sample"], got["sample"])
    np.testing.assert_array_equal(got["served_encode"], got["encode"])
    np.testing.assert_array_equal(got["served_decode"], got["decode"])


def test_a_conditional_model_samples_the_labels_it_is_given_one_label_or_every_class_in_turn(exported):
    expected, got = exported["expected"]["cvae"], exported["got"]["cvae"]
    np.testing.assert_allclose(
        got["every_class"], expected["every_class"], **EXACT
    )  # labels=[]: as Run.sample(n, seed)
    np.testing.assert_allclose(
        got["one_class"], expected["one_class"], **EXACT
    )  # labels=[2]: as Run.sample(n, seed, labels=2)
    assert np.abs(got["every_class"] - got["sample_prior"]).max() > 0.01  # other labels, other images, same codings


def test_signatures_are_named_and_shaped_for_serving(exported):
    signatures = exported["report"]["signatures"]
    draw = {"n": ["int32", []], "seed": ["int64", []]}
    assert signatures["vae"] == {
        "sample": {"inputs": draw, "outputs": {"images": ["float32", [None, 28, 28, 1]]}},
        "sample_prior": {"inputs": draw, "outputs": {"images": ["float32", [None, 28, 28, 1]]}},
        "sample_codings": {"inputs": draw, "outputs": {"codings": ["float32", [None, 2]]}},
        "encode": {
            "inputs": {"images": ["float32", [None, 28, 28, 1]]},
            "outputs": {"codings": ["float32", [None, 2]]},
        },
        "decode": {
            "inputs": {"codings": ["float32", [None, 2]]},
            "outputs": {"images": ["float32", [None, 28, 28, 1]]},
        },
    }
    labels = {"labels": ["int32", [None]]}
    assert {key: value["inputs"] for key, value in signatures["cvae"].items()} == {
        "sample": {**draw, **labels},
        "sample_prior": {**draw, **labels},
        "sample_codings": draw,
        "encode": {"images": ["float32", [None, 28, 28, 1]], **labels},
        "decode": {"codings": ["float32", [None, 2]], **labels},
    }
    assert signatures["hvae"]["decode"]["inputs"] == {"codings": ["float32", [None, 4]]}


def test_the_export_describes_itself_for_people(exported):
    info = json.loads((exported["folder"] / "export-cvae" / "genmodels-export.json").read_text())
    assert {key: info[key] for key in ("model", "image_shape", "pixels", "latent_dim", "classes")} == {
        "model": "cvae",
        "image_shape": [28, 28, 1],
        "pixels": "binary",
        "latent_dim": 2,
        "classes": 3,
    }
    assert info["signatures"]["sample"]["inputs"] == {
        "n": {"dtype": "int32", "shape": []},
        "seed": {"dtype": "int64", "shape": []},
        "labels": {"dtype": "int32", "shape": [None]},
    }
    assert info["signatures"]["decode"]["outputs"] == {"images": {"dtype": "float32", "shape": [None, 28, 28, 1]}}


def test_sampling_60_images_from_the_export_takes_well_under_a_second(exported):
    report = exported["report"]
    print(
        f"\nexported vae (784-16-2): sample(n=60) first call {report['first_sample_60'] * 1000:.1f} ms, "
        f"then {report['median_sample_60'] * 1000:.2f} ms (median of 21)"
    )
    assert (
        report["first_sample_60"] < 5.0 and report["median_sample_60"] < 5.0
    )  # a loose bound: the figure is in docs/export.md


# The command line


def test_genmodels_export_writes_a_saved_model_that_samples_as_genmodels_sample(capsys, exported, tmp_path):
    import tensorflow as tf

    run = exported["runs"]["vae"]
    outcome = run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", tmp_path / "vae")
    assert outcome.code == 0, outcome.err
    assert outcome.out.strip() == str(tmp_path / "vae")
    assert sorted(path.name for path in (tmp_path / "vae").iterdir()) == [
        "assets",
        "fingerprint.pb",
        "genmodels-export.json",
        "saved_model.pb",
        "variables",
    ]
    loaded = tf.saved_model.load(str(tmp_path / "vae"))
    np.testing.assert_allclose(
        loaded.sample_prior(n=60, seed=3).numpy(), run.sample(60, seed=3, sampler="prior"), **EXACT
    )
    np.testing.assert_allclose(
        loaded.sample(n=60, seed=3).numpy(), run.decode(loaded.sample_codings(n=60, seed=3).numpy()), **EXACT
    )
    assert [path.name for path in tmp_path.iterdir()] == ["vae"]  # no temporary folder left beside it


def test_an_earlier_export_is_replaced_only_with_force(capsys, exported, tmp_path):
    run = exported["runs"]["vae"]
    out = tmp_path / "vae"
    assert run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", out).code == 0
    before = snapshot(out)
    run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", out).assert_one_error_line(
        str(out), "already holds an export", "--force"
    )
    assert snapshot(out) == before
    assert run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", out, "--force").code == 0
    assert json.loads((out / "genmodels-export.json").read_text())["model"] == "vae"
    assert [path.name for path in tmp_path.iterdir()] == ["vae"]


def test_force_replaces_only_the_files_the_earlier_export_wrote(capsys, exported, tmp_path):
    import tensorflow as tf

    run = exported["runs"]["vae"]
    out = tmp_path / "vae"
    assert run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", out).code == 0
    written = json.loads((out / "genmodels-export.json").read_text())["files"]
    assert "saved_model.pb" in written and any(name.startswith("variables/") for name in written)
    (out / "NOTES.txt").write_text("how I use it")
    (out / "other-model").mkdir()
    (out / "other-model" / "weights.bin").write_bytes(b"not genmodels'")
    (out / "variables" / "mine.txt").write_text("left in a folder the export also uses")
    assert run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", out, "--force").code == 0
    assert (out / "NOTES.txt").read_text() == "how I use it"
    assert (out / "other-model" / "weights.bin").read_bytes() == b"not genmodels'"
    assert (out / "variables" / "mine.txt").is_file()
    loaded = tf.saved_model.load(str(out))
    np.testing.assert_allclose(
        loaded.sample_prior(n=4, seed=3).numpy(), run.sample(4, seed=3, sampler="prior"), **EXACT
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["vae"]  # nothing left beside it


def test_force_over_an_export_without_a_file_list_keeps_what_is_not_a_saved_model(capsys, exported, tmp_path):
    run = exported["runs"]["vae"]
    out = tmp_path / "vae"
    assert run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", out).code == 0
    info = json.loads((out / "genmodels-export.json").read_text())
    del info["files"]  # as an export written before the list was kept
    (out / "genmodels-export.json").write_text(json.dumps(info))
    (out / "NOTES.txt").write_text("mine")
    assert run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", out, "--force").code == 0
    assert (out / "NOTES.txt").read_text() == "mine" and "files" in json.loads(
        (out / "genmodels-export.json").read_text()
    )


def test_a_folder_that_is_not_empty_is_refused_even_with_force(capsys, exported, tmp_path):
    run = exported["runs"]["vae"]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    for extra in ([], ["--force"]):
        run_main(
            capsys, "export", "vae", "--run-dir", run.run_dir, "--out", tmp_path / "notes", *extra
        ).assert_one_error_line("is not empty", "holds no genmodels export")
    assert snapshot(tmp_path / "notes") == {"keep.txt": b"mine"}
    before = snapshot(run.run_dir)  # the run's own folder is never an export target
    run_main(capsys, "export", "vae", "--run-dir", run.run_dir, "--out", run.run_dir, "--force").assert_one_error_line(
        "is not empty"
    )
    assert snapshot(run.run_dir) == before


def test_an_empty_folder_receives_the_export(capsys, exported, tmp_path):
    (tmp_path / "empty").mkdir()
    assert (
        run_main(
            capsys, "export", "vae", "--run-dir", exported["runs"]["vae"].run_dir, "--out", tmp_path / "empty"
        ).code
        == 0
    )
    assert (tmp_path / "empty" / "saved_model.pb").is_file()


def test_a_missing_run_or_a_file_as_out_is_one_error_line(capsys, exported, tmp_path):
    run_main(
        capsys, "export", "vae", "--run-dir", tmp_path / "nothing", "--out", tmp_path / "out"
    ).assert_one_error_line("No trained model in", "genmodels train vae")
    run_main(
        capsys, "export", "cvae", "--run-dir", exported["runs"]["vae"].run_dir, "--out", tmp_path / "out"
    ).assert_one_error_line("holds a 'vae' model, not 'cvae'")
    (tmp_path / "file").write_text("x")
    run_main(
        capsys, "export", "vae", "--run-dir", exported["runs"]["vae"].run_dir, "--out", tmp_path / "file"
    ).assert_one_error_line("is a file")
    assert not (tmp_path / "out").exists()
    run_main(capsys, "export", "vae", "--run-dir", exported["runs"]["vae"].run_dir).assert_one_error_line("--out")


def test_a_failed_export_leaves_nothing_written_and_an_earlier_export_as_it_was(exported, tmp_path, monkeypatch):
    import genmodels.runs.export

    run = exported["runs"]["vae"]
    genmodels.runs.export.export_saved_model(run, tmp_path / "earlier")
    before = snapshot(tmp_path / "earlier")

    def disk_full(module, serving, folder):
        (folder / "saved_model.pb").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(genmodels.runs.export, "_save", disk_full)
    for out, force in ((tmp_path / "new", False), (tmp_path / "earlier", True)):
        with pytest.raises(OSError):
            genmodels.runs.export.export_saved_model(run, out, force=force)
    assert not (tmp_path / "new").exists()
    assert snapshot(tmp_path / "earlier") == before
    assert [path.name for path in tmp_path.iterdir()] == ["earlier"]


def test_the_half_written_export_of_a_killed_process_is_removed_and_nothing_else(exported, tmp_path):
    import genmodels.runs.export
    from genmodels.core.atomic import owner_record

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(gone.stdout)  # a process that has exited
    abandoned, writing, foreign = (tmp_path / f".tmp-out-{tag}" for tag in ("abandoned", "writing", "foreign"))
    for folder in (abandoned, writing, foreign):
        folder.mkdir()
        (folder / "saved_model.pb").write_bytes(b"half")
    record = json.loads(owner_record())
    (abandoned / genmodels.runs.export.PARTIAL_OWNER).write_text(json.dumps({**record, "pid": dead_pid}))
    (writing / genmodels.runs.export.PARTIAL_OWNER).write_text(json.dumps(record))  # this process: still writing
    genmodels.runs.export.export_saved_model(exported["runs"]["vae"], tmp_path / "out")
    assert sorted(path.name for path in tmp_path.iterdir()) == [".tmp-out-foreign", ".tmp-out-writing", "out"]
    assert (
        genmodels.runs.export.PARTIAL_OWNER
        not in json.loads((tmp_path / "out" / "genmodels-export.json").read_text())["files"]
    )
    assert not (tmp_path / "out" / genmodels.runs.export.PARTIAL_OWNER).exists()


@pytest.mark.parametrize("command", [["export", "--help"], ["export", "vae", "--run-dir", "no-such-run", "--out", "."]])
def test_help_and_refusals_never_import_tensorflow(command, tmp_path):
    (tmp_path / "something").write_text("x")  # "." is not empty: refused before the run is even read
    probe = (
        "import sys; from genmodels.cli.program import main; sys.argv = ['genmodels', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TENSORFLOW IMPORTED' if 'tensorflow' in sys.modules else 'no tensorflow')"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.stdout.strip().endswith("no tensorflow"), result.stdout + result.stderr
    assert "--help" in command or "is not empty" in result.stderr
