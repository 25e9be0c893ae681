"""The four parts a model is made of. A plugin implements some of them and reuses the rest."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import keras

from genmodels.nn.distributions import Distribution


class Encoder(keras.layers.Layer):
    """Maps a batch of inputs x to the posterior q(z|x) over codings, a `Distribution`.

    In a conditional model `call` also receives `condition=`, the one-hot labels (batch, classes).
    """

    def call(self, x, training: bool = False) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError


class Decoder(keras.layers.Layer):
    """Maps a batch of codings z to the likelihood p(x|z) over inputs, a `Distribution`.

    In a conditional model `call` also receives `condition=`, the one-hot labels (batch, classes).
    """

    def call(self, z, training: bool = False) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError


class LatentPrior(keras.layers.Layer):
    """The prior p(z) over codings: draws codings and scores them."""

    def __init__(self, latent_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim

    def sample(self, n: int, seed=None):
        """`n` codings drawn from the prior, shaped (n, latent_dim)."""
        raise NotImplementedError

    def log_prob(self, z):
        """log p(z) per row of `z`."""
        raise NotImplementedError

    def marginal_log_prob(self, z):
        """log p(z_u) of each coordinate of each row, (batch, latent_dim): the prior's one-dimensional marginals,
        for the KL per latent dimension (the active-units metric). Optional: this default raises NotImplementedError."""
        raise NotImplementedError

    def kl(self, posterior: Distribution, z):
        """KL(q(z|x) || p(z)) per example; this default is the one-sample estimate log q(z|x) - log p(z)."""
        return posterior.log_prob(z) - self.log_prob(z)

    def adapt(self, codings) -> None:
        """Fit to the training set's codings once training ends; most priors have nothing to fit."""

    def call(self, z):
        return self.log_prob(z)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "latent_dim": self.latent_dim}


@dataclass
class ForwardPass:
    """One pass through a model: the input, q(z|x), the sampled coding, p(x|z) and the prior; the
    decoder and seed generator, for loss terms that draw and decode codings of their own (IWAE);
    and the condition (one-hot labels) of a conditional model, else None."""

    x: Any
    posterior: Distribution
    z: Any
    likelihood: Distribution
    prior: LatentPrior
    decoder: Decoder | None = None
    seed: keras.random.SeedGenerator | None = None
    condition: Any = None

    def decode(self, z, training: bool = False) -> Distribution:
        """p(x|z) for codings `z` of this pass's images: one row per image, or several stacked as
        `Distribution.repeat` stacks them (all first samples, then all second ...); the condition follows."""
        if self.condition is None:
            return self.decoder(z, training=training)
        repeats = keras.ops.shape(z)[0] // keras.ops.shape(self.condition)[0]
        return self.decoder(z, condition=keras.ops.tile(self.condition, [repeats, 1]), training=training)


class Loss(ABC):
    """A named term of the cost: one value per example; the model minimises the weighted sum of their means.

    `weight` scales the term in the cost only: metrics and evaluations report every term unweighted,
    so a VAE's `loss` stays its negative ELBO whatever the weights. A term with `warmup = True` has
    its weight raised linearly from 0 over the first `--kl-warmup` epochs of a training. An `auxiliary`
    term (a VQ-VAE's codebook and commitment terms, a penalty that is no part of the model's objective) is
    minimised with the others and reported on its own, but left out of `loss`: the total the model is judged
    and selected on (`--keep best`, `--early-stopping`), its negative ELBO where it has one.

    Subclasses set these as class attributes or in `__init__`; a term's name is its metric's name.
    """

    name: str = "loss"
    weight: float = 1.0
    warmup: bool = False
    auxiliary: bool = False

    @abstractmethod
    def __call__(self, forward: ForwardPass) -> Any:
        """The term for each example of the batch, shaped (batch,)."""

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "warmup": self.warmup, "auxiliary": self.auxiliary}


class Critic(keras.layers.Layer):
    """A network trained against the model on an optimizer of its own: a discriminator, as FactorVAE's (which tells
    codings from codings with their dimensions shuffled) or an adversarial autoencoder's (codings from prior draws).

    Each training step first updates the model on its cost, then takes one step of the critic on the mean of
    `critic_loss(forward)`, the same pass over the batch: its tensors are data there, gradients reach only the
    critic's weights. The model's optimizer never changes the critic's weights and the critic's optimizer never
    the model's, whatever loss term calls the critic. `critic_loss` is reported as a metric under the critic's
    `name` (not part of `loss`); the critic's optimizer, `make_optimizer()`, is saved with every checkpoint.
    """

    learning_rate: float = 1e-4

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        """The critic's own optimizer; this default is Adam(learning_rate, beta_1=0.5, beta_2=0.9), as GAN critics use."""
        return keras.optimizers.Adam(self.learning_rate, beta_1=0.5, beta_2=0.9)

    def critic_loss(self, forward: ForwardPass) -> Any:  # pragma: no cover - abstract
        """The critic's loss for each example of the batch, shaped (batch,)."""
        raise NotImplementedError


class StepUpdate(ABC):
    """A change to the model's variables that no gradient makes (an exponential moving average of a codebook's
    entries): called with each training step's pass after the optimizers' steps, never while evaluating."""

    @abstractmethod
    def __call__(self, forward: ForwardPass) -> None:
        """Assign new values to some of the model's variables, from this training step's `forward`."""
