"""Critics (networks trained against the model on optimizers of their own) and updates made without gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import random_binary_images
from keras import ops

from genmodels.components import CodingCritic, KLDivergence, Reconstruction, mlp_vae
from genmodels.config import MLPConfig, TrainConfig
from genmodels.data import Dataset
from genmodels.errors import ConfigError
from genmodels.interfaces import Loss, StepUpdate
from genmodels.plugins.loader import build_registry
from genmodels.training.trainer import train

SMALL = MLPConfig(latent_dim=3, hidden=(16,), input_dim=784)


class Fooled(Loss):
    """A term of the model that calls the critic: softplus(-logit(z)), an adversarial autoencoder's."""

    name, auxiliary = "fooled", True

    def __init__(self, critic):
        self.critic = critic

    def __call__(self, forward):
        return ops.softplus(-self.critic.logit(forward.z))


class StillCritic(CodingCritic):
    """A critic whose optimizer takes steps of size 0."""

    def make_optimizer(self):
        return keras.optimizers.SGD(0.0)


def compiled(critic, learning_rate=1e-2):
    model = mlp_vae(SMALL, losses=[Reconstruction(), KLDivergence(), Fooled(critic)], critics=[critic])
    model.build_for(784)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate))
    model.optimizer.build(model.generative_variables)
    return model


def values(variables):
    return [np.array(variable) for variable in variables]


def changed(before, variables):
    return [not np.array_equal(old, np.array(new)) for old, new in zip(before, variables)]


def test_the_models_step_moves_only_its_own_weights_and_the_critics_step_only_the_critics():
    images = tf.constant(random_binary_images(32, seed=1).astype(np.float32))
    critic = StillCritic(hidden=(8,), name="discriminator")
    model = compiled(critic)  # the model learns, the critic's steps are of size 0
    assert {id(v) for v in model.generative_variables}.isdisjoint(id(v) for v in critic.trainable_variables)
    own, theirs = values(model.generative_variables), values(critic.trainable_variables)
    logs = model.train_step(images)
    assert all(changed(own, model.generative_variables))  # the term calling the critic moved no critic weight
    assert not any(changed(theirs, critic.trainable_variables))
    assert np.isfinite(float(logs["discriminator"]))

    critic = CodingCritic(hidden=(8,), learning_rate=1e-2, name="discriminator")
    model = compiled(critic, learning_rate=0.0)  # now only the critic learns
    own, theirs = values(model.generative_variables), values(critic.trainable_variables)
    model.train_step(images)
    assert not any(changed(own, model.generative_variables))
    assert all(changed(theirs, critic.trainable_variables))
    assert int(model.critic_optimizers[0].iterations) == 1 and int(model.optimizer.iterations) == 1


def test_a_coding_critic_learns_to_tell_prior_draws_from_shifted_codings():
    critic = CodingCritic(hidden=(32,), learning_rate=1e-2, name="discriminator")
    model = compiled(critic, learning_rate=0.0)
    rng = np.random.default_rng(0)
    forward = model.forward(tf.constant(random_binary_images(200, seed=2).astype(np.float32)))
    forward.z = tf.constant(rng.standard_normal((200, 3)).astype(np.float32) + 3.0)  # far from N(0, I)
    first = float(np.mean(model.train_critics(forward)[0]))
    for _ in range(100):
        last = float(np.mean(model.train_critics(forward)[0]))
    assert last < 0.2 < 2 * np.log(2) - 0.3 < first + 0.3  # from about chance (2 log 2) to nearly always right


def test_critic_names_must_differ_from_the_loss_terms():
    with pytest.raises(ValueError, match="critics need distinct names"):
        mlp_vae(SMALL, critics=[CodingCritic(hidden=(4,), name="kl")])


class Count(StepUpdate):
    """Counts the training steps in a variable of the model's."""

    def __init__(self, counter):
        self.counter = counter

    def __call__(self, forward):
        self.counter.assign_add(1.0)


def test_an_update_runs_after_every_training_step_and_never_while_evaluating():
    model = mlp_vae(SMALL)
    counter = keras.Variable(0.0, trainable=False, name="steps")
    model.step_updates.append(Count(counter))
    model.build_for(784)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = tf.constant(random_binary_images(10, seed=3).astype(np.float32))
    step = tf.function(model.train_step)
    for _ in range(3):
        step(images)
    model.test_step(images)
    assert float(counter.numpy()) == 3.0


@pytest.mark.slow
def test_a_run_with_a_critic_resumes_to_the_uninterrupted_result(tmp_path):
    spec = build_registry().model("factor-vae")
    config = spec.config().replace(latent_dim=3, hidden=(16,), critic_hidden=(8,))
    images = random_binary_images(300, seed=4)
    data = Dataset(name="random", train=images[:250], test=images[250:])
    recipe = TrainConfig(epochs=2, batch_size=50)
    whole = train(spec, config, recipe, data, tmp_path / "whole", verbose=0).history
    train(spec, config, recipe.replace(epochs=1), data, tmp_path / "split", verbose=0)
    resumed = train(spec, config, recipe, data, tmp_path / "split", resume=True, verbose=0).history
    assert [r["valid"] for r in resumed] == [r["valid"] for r in whole]  # the critic's optimizer state came back
    assert "discriminator" in whole[-1]["valid"] and "discriminator" in whole[-1]["train"]


@pytest.mark.slow
def test_a_model_with_a_critic_refuses_to_train_distributed_in_one_line(tmp_path):
    spec = build_registry().model("aae")
    data = Dataset(name="random", train=random_binary_images(60), test=random_binary_images(20, seed=1))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with pytest.raises(ConfigError, match="one process only"):
        train(
            spec,
            spec.config().replace(latent_dim=2, hidden=(8,), critic_hidden=(4,)),
            TrainConfig(epochs=1, batch_size=20, distribute=True),
            data,
            tmp_path / "run",
            verbose=0,
            strategy=strategy,
        )
