"""Feature networks (genmodels.evaluation.feature_networks): trained offline on small synthetic images the tests make
themselves, deterministic from their seed, cached, and refused when their data or weights do not match."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from genmodels.core.errors import ChecksumError, ConfigError
from genmodels.evaluation.feature_networks import FeatureNetwork, FeatureRecipe, TrainingImages
from genmodels.evaluation.feature_cache import cached_network, load_network, save_network
from genmodels.evaluation.feature_training import train_network

RECIPE = FeatureRecipe(epochs=3, batch_size=16, feature_dim=16, seed=0)
SIDE = 16


def bars(count: int, *, seed: int, side: int = SIDE, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`count` uint8 images of 4 classes on a noisy dark ground: a bright bar at the top, bottom, left or right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, count)
    images = rng.integers(0, 70, (count, side, side, channels)).astype(np.uint8)
    for image, label in zip(images, labels):
        at = int(rng.integers(1, 4))
        brightness = rng.integers(170, 256, channels)
        if label == 0:
            image[at : at + 3, 2:-2] = brightness
        elif label == 1:
            image[-at - 3 : -at, 2:-2] = brightness
        elif label == 2:
            image[2:-2, at : at + 3] = brightness
        else:
            image[2:-2, -at - 3 : -at] = brightness
    return images, labels


def bar_images(
    name: str = "bars", *, labelled: bool = True, side: int = SIDE, channels: int = 1, train: int = 320
) -> TrainingImages:
    x, y = bars(train, seed=1, side=side, channels=channels)
    tx, ty = bars(80, seed=2, side=side, channels=channels)
    return TrainingImages(
        name=name,
        description="synthetic bars, 4 classes",
        train=x,
        train_labels=y if labelled else None,
        test=tx,
        test_labels=ty if labelled else None,
        pixels="8bit",
    )


@pytest.fixture(scope="module")
def images() -> TrainingImages:
    return bar_images()


@pytest.fixture(scope="module")
def network(images) -> FeatureNetwork:
    return train_network(images, RECIPE)


@pytest.fixture(scope="module")
def saved(network, tmp_path_factory) -> Path:
    """A cache root holding `network`, saved as cached_network would: root/bars."""
    root = tmp_path_factory.mktemp("saved")
    save_network(network, root / "bars")
    return root


@pytest.fixture
def cache(saved, tmp_path) -> Path:
    """A copy of the saved cache that a test may alter."""
    return Path(shutil.copytree(saved, tmp_path / "cache"))


def test_a_classifier_of_separable_classes_is_accurate_and_gives_finite_features(network, images):
    assert network.kind == "classifier" and network.image_shape == (SIDE, SIDE, 1)
    info = network.info
    assert info["classes"] == 4 and info["test_images"] == 80
    assert info["test_accuracy"] >= 0.8  # chance is 0.25
    assert info["recipe"] == dataclasses.asdict(RECIPE) and info["data_sha256"] == images.data_sha256()
    features = network.features(images.test, pixels="8bit")
    assert features.shape == (80, RECIPE.feature_dim) and features.dtype == np.float32
    assert np.isfinite(features).all()
    # flattened rows of values in [0, 1] are the same images
    rows = images.test.reshape(80, -1).astype(np.float32) / 255
    np.testing.assert_array_equal(network.features(rows), features)


@pytest.mark.slow
def test_training_is_deterministic_from_the_seed(network, images):
    again = train_network(images, RECIPE)
    assert again.info["weights_sha256"] == network.info["weights_sha256"]
    assert all(np.array_equal(a, b) for a, b in zip(again.weights, network.weights))
    np.testing.assert_array_equal(again.features(images.test, "8bit"), network.features(images.test, "8bit"))
    other = train_network(images, dataclasses.replace(RECIPE, seed=1))
    assert other.info["weights_sha256"] != network.info["weights_sha256"]


def test_cached_network_trains_once_then_loads_the_same_network(images, tmp_path):
    calls: list[str] = []
    first = cached_network(tmp_path, images, RECIPE, progress=calls.append)
    assert len(calls) == RECIPE.epochs and "loss" in calls[0]
    assert sorted(p.name for p in (tmp_path / "bars").iterdir()) == ["network.json", "weights.npz"]
    calls.clear()
    second = cached_network(tmp_path, images, RECIPE, progress=calls.append)
    assert calls == []  # not trained again
    assert second.info == first.info
    np.testing.assert_array_equal(second.features(images.test, "8bit"), first.features(images.test, "8bit"))


def test_a_refusal_names_the_command_that_retrains_the_network_of_this_dataset(images, cache):
    changed = dataclasses.replace(images, train=images.train.copy())
    changed.train[0, 0, 0, 0] ^= 1
    hint = "genmodels features 'my photos' --retrain"
    with pytest.raises(ChecksumError, match="other data") as caught:
        cached_network(cache, changed, RECIPE, retrain_hint=hint)
    assert hint in str(caught.value)


def test_a_network_trained_on_other_data_is_refused(images, cache):
    changed = dataclasses.replace(images, train=images.train.copy())
    changed.train[0, 0, 0, 0] ^= 1
    with pytest.raises(ChecksumError, match="trained on other data") as caught:
        cached_network(cache, changed, RECIPE)
    message = str(caught.value)
    assert "\n" not in message and str(cache / "bars") in message and "--retrain" in message
    assert images.data_sha256() in message and changed.data_sha256() in message
    relabelled = dataclasses.replace(images, train_labels=(images.train_labels + 1) % 4)
    with pytest.raises(ChecksumError, match="other data"):
        load_network(cache / "bars", relabelled, RECIPE)


def test_a_network_with_altered_weights_is_refused_and_retrain_replaces_it(network, images, cache):
    weights = cache / "bars" / "weights.npz"
    with np.load(weights) as stored:
        arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
    arrays[0].flat[0] += 0.01
    np.savez(weights, *arrays)
    with pytest.raises(ChecksumError, match="weights changed since it was trained") as caught:
        cached_network(cache, images, RECIPE)
    assert network.info["weights_sha256"] in str(caught.value)

    retrained = cached_network(cache, images, RECIPE, retrain=True)
    assert retrained.info["weights_sha256"] == network.info["weights_sha256"]
    assert load_network(cache / "bars", images, RECIPE).info["weights_sha256"] == network.info["weights_sha256"]


def test_a_network_of_another_recipe_or_without_its_description_is_refused(images, cache):
    with pytest.raises(ChecksumError, match="another recipe"):
        load_network(cache / "bars", images, dataclasses.replace(RECIPE, epochs=4))
    (cache / "bars" / "network.json").write_text("{not json")
    with pytest.raises(ChecksumError, match="no readable network.json"):
        cached_network(cache, images, RECIPE)


def test_weights_are_never_unpickled(images, cache):
    info = json.loads((cache / "bars" / "network.json").read_text())
    np.savez(cache / "bars" / "weights.npz", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ChecksumError, match="no readable weights.npz"):
        load_network(cache / "bars", images, RECIPE)
    assert json.loads((cache / "bars" / "network.json").read_text()) == info


def test_unlabelled_images_give_an_autoencoder_with_a_reconstruction_error():
    unlabelled = bar_images("bars-unlabelled", labelled=False, train=160)
    network = train_network(unlabelled, dataclasses.replace(RECIPE, epochs=2))
    assert network.kind == "autoencoder" and "classes" not in network.info
    error = network.info["test_reconstruction_error"]
    assert 0 < error < 0.25  # mean squared error per value in [0, 1]
    features = network.features(unlabelled.test, pixels="8bit")
    assert features.shape == (80, RECIPE.feature_dim) and np.isfinite(features).all()


def test_colour_images_work_and_small_or_misshapen_images_are_refused(network):
    colour = bar_images("bars-colour", side=32, channels=3, train=64)
    colour_network = train_network(colour, dataclasses.replace(RECIPE, epochs=1))
    assert colour_network.image_shape == (32, 32, 3)
    assert colour_network.features(colour.test[:5], "8bit").shape == (5, RECIPE.feature_dim)

    tiny = bar_images("bars-tiny", side=SIDE, train=32)
    tiny = dataclasses.replace(tiny, train=tiny.train[:, :7, :7], test=tiny.test[:, :7, :7])
    with pytest.raises(ConfigError, match=r"at least 8x8.*\(7, 7, 1\)"):
        train_network(tiny, RECIPE)

    with pytest.raises(ConfigError, match=r"\(16, 16, 1\).*\(3, 28, 28, 1\)"):
        network.features(np.zeros((3, 28, 28, 1), np.float32))
    with pytest.raises(ConfigError, match=r"\(3, 100\)"):
        network.features(np.zeros((3, 100), np.float32))


def test_binary_uint8_pixels_are_read_as_zero_and_one(network, images):
    binary = (images.test > 127).astype(np.uint8)
    as_floats = binary.astype(np.float32)
    np.testing.assert_array_equal(network.features(binary, pixels="binary"), network.features(as_floats))
    with pytest.raises(ValueError, match="'binary'.*'8bit'"):
        network.features(binary)  # uint8 without saying which kind
    assert not np.array_equal(network.features(binary, pixels="8bit"), network.features(as_floats))
    with pytest.raises(ConfigError, match="binary.*0.0 to 255.0"):
        train_network(dataclasses.replace(images, pixels="binary"), RECIPE)  # 8-bit levels are not 0/1 pixels
