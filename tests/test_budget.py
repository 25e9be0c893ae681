"""A training budget that fits the data: small training splits are passed over several times an epoch,
the budget is recorded and resumed, and a training that ended while still improving says so."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import genmodels
from conftest import random_binary_images
from genmodels.core.train_config import TrainConfig
from genmodels.core.errors import TrainingWarning
from genmodels.runs.checkpoints import still_improving
from genmodels.training.epochs import epoch_order


@pytest.mark.parametrize(
    ("epoch_images", "train_size", "batch_size", "passes", "steps"),
    [
        (40_000, 50_000, 150, 1, 334),  # binarized MNIST: one pass, the seed's 334 steps an epoch
        (40_000, 1530, 150, 27, 276),  # a folder of about 2000 images: 27 passes
        (40_000, 7200, 100, 6, 432),
        (0, 1530, 150, 1, 11),  # 0: one pass, as before the option existed
        (1000, 1000, 10, 1, 100),
    ],
)
def test_an_epoch_passes_over_a_small_split_until_it_has_shown_epoch_images(
    epoch_images, train_size, batch_size, passes, steps
):
    config = TrainConfig(epoch_images=epoch_images, batch_size=batch_size)
    assert config.passes(train_size) == passes
    assert config.steps_per_epoch(train_size) == steps


def test_an_epoch_of_several_passes_shows_every_image_once_per_pass_in_a_fresh_order():
    order = np.asarray(epoch_order(10, seed=3, epoch=2, passes=3))
    passes = order.reshape(3, 10)
    assert all(sorted(row) == list(range(10)) for row in passes)
    assert len({tuple(row) for row in passes}) == 3
    # the passes of epoch 2 follow those of epoch 1: six different shuffles in all
    first = np.asarray(epoch_order(10, seed=3, epoch=1, passes=3)).reshape(3, 10)
    assert len({tuple(row) for row in np.concatenate([first, passes])}) == 6
    # one pass an epoch is the order it always was
    assert (
        np.asarray(epoch_order(10, seed=3, epoch=2)).tolist()
        == np.asarray(epoch_order(10, seed=3, epoch=2, passes=1)).tolist()
    )


@pytest.fixture
def small_npz(tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, train=random_binary_images(200), test=random_binary_images(50, seed=1))
    return path


@pytest.mark.slow
def test_the_budget_is_recorded_and_a_resumed_run_trains_what_the_uninterrupted_one_would(small_npz, tmp_path):
    options = dict(dataset=str(small_npz), hidden=(16,), latent_dim=2, epoch_images=900, batch_size=60, verbose=0)
    whole = genmodels.train("vae", epochs=2, run_dir=tmp_path / "whole", **options)
    stored = json.loads((tmp_path / "whole" / "config.json").read_text())
    assert stored["train"]["epoch_images"] == 900
    # 180 training images after the validation split: 5 passes, 900 images, 15 steps of 60 an epoch
    assert [record["steps"] for record in whole.history] == [15, 15]
    genmodels.train("vae", epochs=1, run_dir=tmp_path / "cut", **options)
    resumed = genmodels.train("vae", run_dir=tmp_path / "cut", resume=True, epochs=2, verbose=0)
    assert resumed.history[1]["train"] == pytest.approx(whole.history[1]["train"], rel=1e-5)
    assert resumed.history[1]["valid"] == pytest.approx(whole.history[1]["valid"], rel=1e-5)


def test_a_run_stored_before_the_budget_existed_reads_as_one_pass_an_epoch():
    stored = TrainConfig().to_dict()
    del stored["epoch_images"]
    assert TrainConfig.from_dict(stored).epoch_images == 0


def history_of(losses):
    return [{"epoch": i + 1, "train": {"loss": loss}, "valid": {"loss": loss}} for i, loss in enumerate(losses)]


def test_a_validation_loss_still_falling_steeply_at_the_end_is_reported():
    falling = [300 - 10 * epoch for epoch in range(10)]  # a straight line down: the last tenth made 2 of 9 steps
    message = still_improving(history_of(falling))
    assert message is not None and "--epochs" in message and "--resume" in message


@pytest.mark.parametrize(
    "losses",
    [
        [
            200,
            120,
            105,
            101,
            100,
            99.8,
            99.7,
            99.65,
            99.62,
            99.6,
        ],  # converged: the last epochs make under 1% of the fall
        [200, 120, 100, 98, 99, 100, 101, 102, 103, 104],  # overfitting: rising at the end
        [200, 150],  # too short to judge
        [100, 100, 100, 100],  # never fell
    ],
)
def test_a_converged_rising_or_too_short_training_is_not_reported(losses):
    assert still_improving(history_of(losses)) is None


@pytest.mark.slow
def test_training_that_ends_while_improving_warns_once_in_one_line(small_npz, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        genmodels.train(
            "vae",
            dataset=str(small_npz),
            epochs=3,
            hidden=(16,),
            latent_dim=2,
            epoch_images=0,
            learning_rate=1e-4,
            run_dir=tmp_path / "short",
            verbose=0,
        )
    mine = [w for w in caught if issubclass(w.category, TrainingWarning)]
    assert len(mine) == 1 and "\n" not in str(mine[0].message)


@pytest.mark.slow
def test_drawn_samples_hold_values_the_data_can_take_and_the_mean_is_the_default(tmp_path):
    path = tmp_path / "levels.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        train=rng.integers(0, 256, size=(120, 8, 8), dtype=np.uint8),
        test=rng.integers(0, 256, size=(20, 8, 8), dtype=np.uint8),
    )
    run = genmodels.train(
        "vae",
        dataset=str(path),
        epochs=1,
        hidden=(16,),
        latent_dim=2,
        epoch_images=0,
        run_dir=tmp_path / "run",
        verbose=0,
    )
    drawn = run.sample(30, seed=1, draw=True)
    levels = drawn * 255
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)  # 8-bit levels k / 255
    np.testing.assert_array_equal(drawn, run.sample(30, seed=1, draw=True))  # the same seed, the same draws
    mean = run.sample(30, seed=1)
    assert not np.allclose(mean * 255, np.round(mean * 255), atol=1e-3)  # the mean is no draw
