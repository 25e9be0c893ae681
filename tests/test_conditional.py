"""Conditional models: the label reaches the encoder and decoder, `sample --label 7` draws sevens,
and a labelled dataset is required, checked before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import random_binary_images, run_main

from genmodels.nn.components import mlp_vae
from genmodels.nn.losses import ImportanceWeightedBound
from genmodels.core.model_config import MLPConfig
from genmodels.core.train_config import TrainConfig
from genmodels.data.dataset import Dataset
from genmodels.core.errors import DatasetError
from genmodels.plugins.loader import build_registry
from genmodels.training.trainer import train

SMALL = MLPConfig(latent_dim=4, hidden=(16,), input_dim=784)


def _model(classes=3):
    model = mlp_vae(SMALL, classes=classes)
    model.build_for(784)
    return model


def test_the_label_reaches_the_decoder_and_the_encoder():
    model = _model()
    z = np.zeros((3, 4), np.float32)
    images = np.asarray(model.decode(z, np.array([0, 1, 2])))
    assert not np.allclose(images[0], images[1]) and not np.allclose(images[1], images[2])
    x = np.repeat(random_binary_images(1).astype(np.float32), 3, axis=0)
    codings = np.asarray(model.encode(x, np.array([0, 1, 2])))
    assert not np.allclose(codings[0], codings[1])
    assert model.encoder.body.layers[0].kernel.shape == (784 + 3, 16)  # the one-hot label is part of the input


def test_generate_draws_every_class_in_turn_unless_labels_are_given():
    model = _model()
    z_of = lambda labels: np.asarray(model.generate(6, seed=1, labels=labels))  # noqa: E731
    assert np.allclose(z_of(None), z_of(np.array([0, 1, 2, 0, 1, 2])))
    assert not np.allclose(z_of(None), z_of(np.full(6, 2)))


def test_a_conditional_model_refuses_to_run_without_labels():
    with pytest.raises(ValueError, match="conditional on 3 classes: it needs a label for every image"):
        _model().loss_terms_of(random_binary_images(2).astype(np.float32))


def test_loss_terms_that_decode_their_own_codings_get_the_condition_too():
    model = mlp_vae(SMALL, classes=3, losses=[ImportanceWeightedBound(4)])
    model.build_for(784)
    images, labels = random_binary_images(5).astype(np.float32), np.array([0, 1, 2, 0, 1])
    assert np.isfinite(np.asarray(model.loss_terms_of(images, labels)["iwae"])).all()


def test_an_unconditional_model_ignores_labels():
    model = mlp_vae(SMALL)
    model.build_for(784)
    assert model.condition_of(np.array([1, 2])) is None


@pytest.mark.parametrize(
    "labels, message",
    [
        (None, "needs a label for every image, but synthetic train has none"),
        (
            np.array([0, 1, 5] * 100),
            "labels from 0 to 5, but the model has classes=3 (labels 0 to 2); train with -o classes=6",
        ),
    ],
)
def test_training_a_conditional_model_checks_the_labels_before_writing_anything(tmp_path, labels, message):
    images = random_binary_images(400)
    data = Dataset(
        "synthetic",
        train=images[:300],
        test=images[300:],
        train_labels=labels,
        test_labels=None if labels is None else labels[:100],
    )
    spec = build_registry().model("cvae")
    with pytest.raises(DatasetError) as error:
        train(
            spec,
            spec.config().replace(classes=3, latent_dim=2, hidden="8"),
            TrainConfig(epochs=1),
            data,
            tmp_path / "run",
            verbose=0,
        )
    assert message in str(error.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def _classifier(npz_path):
    """A 5-nearest-neighbour digit classifier over the labelled training images (96% right on real test digits)."""
    with np.load(npz_path) as npz:
        train, labels = npz["train"].reshape(-1, 784) / 255.0, npz["train_labels"]  # 8-bit greys as the model sees them

    def classify(images):
        images = images.reshape(len(images), -1)
        distances = (images**2).sum(1)[:, None] - 2 * images @ train.T + (train**2).sum(1)[None]
        nearest = np.argsort(distances, axis=1)[:, :5]
        return np.array([np.bincount(labels[row], minlength=10).argmax() for row in nearest])

    return classify


@pytest.mark.slow
def test_cvae_learns_labelled_mnist_and_sample_label_7_draws_sevens(labelled_mnist, tmp_path, capsys):
    run_dir = tmp_path / "cvae"
    trained = run_main(
        capsys,
        "train",
        "cvae",
        "--dataset",
        labelled_mnist,
        "--epochs",
        "15",
        "--latent-dim",
        "4",
        "--run-dir",
        run_dir,
    )
    assert trained.code == 0, trained.err
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["dynamic_binarize"] is True and config["model_config"]["classes"] == 10
    classify = _classifier(labelled_mnist)

    drawn = run_main(capsys, "sample", "cvae", "-n", "40", "--label", "7", "--npy", "--run-dir", run_dir)
    assert drawn.code == 0, drawn.err
    sevens = np.mean(classify(np.load(run_dir / "samples-40-label7-seed0.npy")) == 7)
    assert sevens >= 0.6, f"only {sevens:.0%} of the images drawn with --label 7 look like a 7"

    # Without --label, the grid's columns go through the digits 0..9 (a chance match would be 10%).
    run_main(capsys, "sample", "cvae", "-n", "60", "--npy", "--run-dir", run_dir)
    assert np.mean(classify(np.load(run_dir / "samples-60-seed0.npy")) == np.arange(60) % 10) >= 0.6

    # Scored given its true labels, the model explains the test images better than given shuffled ones.
    from genmodels.evaluation.likelihood import evaluate
    from genmodels.runs.loading import load_model

    model, _ = load_model(run_dir, build_registry(), "cvae")
    with np.load(labelled_mnist) as npz:
        test = (np.random.default_rng(0).random((200, 784)) < npz["test"][:200].reshape(-1, 784) / 255.0).astype(
            np.float32
        )
        labels = npz["test_labels"][:200]
    true = evaluate(model, test, model_name="cvae", split="test", k=50, labels=labels)
    shuffled = evaluate(model, test, model_name="cvae", split="test", k=50, labels=np.roll(labels, 1))
    assert true.conditional and true.nll < true.negative_elbo and true.nll < shuffled.nll - 10, (true.nll, shuffled.nll)


@pytest.mark.slow
def test_evaluate_writes_conditional_figures_and_the_commands_take_the_labels(labelled_mnist, tmp_path, capsys):
    run_dir = tmp_path / "cvae"
    assert (
        run_main(
            capsys,
            "train",
            "cvae",
            "--dataset",
            labelled_mnist,
            "--epochs",
            "1",
            "--run-dir",
            run_dir,
            "-o",
            "hidden=16",
            "--latent-dim",
            "2",
        ).code
        == 0
    )
    scored = run_main(capsys, "evaluate", "cvae", "--run-dir", run_dir, "--metrics", "nll", "--k", "10", "-n", "50")
    assert scored.code == 0 and "each given its label: -log p(x|y)" in scored.out
    assert json.loads((run_dir / "evaluation-test-n50.json").read_text())["conditional"] is True
    for command in (
        ["reconstruct", "-n", "4"],
        ["interpolate", "-n", "2", "--steps", "3"],
        ["latent", "--side", "3", "--label", "4"],
    ):
        outcome = run_main(capsys, command[0], "cvae", *command[1:], "--run-dir", run_dir)
        assert outcome.code == 0, outcome.err


@pytest.mark.slow
def test_label_errors_are_one_line(tiny_run, labelled_mnist, tmp_path, capsys):
    run_main(capsys, "sample", "vae", "--label", "3", "--run-dir", tiny_run).assert_one_error_line(
        "--label picks the class a conditional model (such as cvae) draws; vae is not conditional."
    )
    run_dir = tmp_path / "cvae"
    run_main(
        capsys, "train", "cvae", "--dataset", labelled_mnist, "--epochs", "1", "--run-dir", run_dir, "-o", "hidden=8"
    )
    run_main(capsys, "sample", "cvae", "--label", "10", "--run-dir", run_dir).assert_one_error_line(
        "--label must be a class from 0 to 9 for this cvae model, received 10."
    )
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, train=random_binary_images(200), test=random_binary_images(50))
    run_main(capsys, "train", "cvae", "--dataset", unlabelled, "--run-dir", tmp_path / "other").assert_one_error_line(
        "this model is conditional: it needs a label for every image, but unlabelled.npz train has none."
    )
    assert not (tmp_path / "other" / "config.json").exists()
