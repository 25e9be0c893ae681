"""GenerativeModel: one Keras model that composes an encoder, a decoder, a prior and loss terms."""

from __future__ import annotations

import genmodels.backend  # noqa: F401  (TensorFlow, imported quietly)

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import ops

from genmodels.interfaces import Decoder, Encoder, ForwardPass, LatentPrior, Loss


class GenerativeModel(keras.Model):
    """Trains on the sum of its loss terms and reports each term as its own metric.

    The cost of a batch is the sum over terms of their mean over examples, so for a VAE whose
    terms are reconstruction and KL the `loss` metric is the negative ELBO in nats per image.
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        prior: LatentPrior,
        losses: Sequence[Loss],
        *,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        names = [term.name for term in losses]
        if not names or len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"loss terms need distinct names other than 'loss'; received {names}.")
        self.encoder = encoder
        self.decoder = decoder
        self.prior = prior
        self.loss_terms = list(losses)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.warmup_steps = 0  # set by the trainer from --kl-warmup: steps over which warm-up terms reach their weight
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.term_trackers = [keras.metrics.Mean(name=name) for name in names]

    @property
    def metrics(self):
        return [self.loss_tracker, *self.term_trackers]

    def forward(self, x, training: bool = False) -> ForwardPass:
        """Encode, draw one coding from q(z|x), decode."""
        posterior = self.encoder(x, training=training)
        z = posterior.sample(self.seed_generator)
        likelihood = self.decoder(z, training=training)
        return ForwardPass(
            x=x, posterior=posterior, z=z, likelihood=likelihood, prior=self.prior, decoder=self.decoder, seed=self.seed_generator
        )

    def call(self, x, training: bool = False):
        """Reconstructions: the mean of p(x|z) for a coding drawn from q(z|x)."""
        return self.forward(x, training=training).likelihood.mean()

    def loss_terms_of(self, x, training: bool = False) -> dict:
        """Each loss term for each example of `x`."""
        forward = self.forward(x, training=training)
        return {term.name: term(forward) for term in self.loss_terms}

    def _cost(self, terms: dict):
        """The mean over examples of the loss terms, each times its weight (and warm-up factor)."""
        weighted = {name: self._weighted(term, value) for (name, value), term in zip(terms.items(), self.loss_terms)}
        cost = ops.mean(_total(weighted))
        if self.losses:  # regularisation added by layers
            cost = cost + ops.sum(self.losses)
        return cost

    def _weighted(self, term: Loss, value):
        weight = float(term.weight)
        if term.warmup and self.warmup_steps > 0:
            done = ops.cast(self.optimizer.iterations + 1, "float32") / float(self.warmup_steps)
            return value * (weight * ops.minimum(done, 1.0))
        return value if weight == 1.0 else value * weight

    def _record(self, terms: dict) -> dict:
        # Per-example values, so each metric is the exact mean over images, whatever the batch sizes.
        self.loss_tracker.update_state(_total(terms))
        for tracker, value in zip(self.term_trackers, terms.values()):
            tracker.update_state(value)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.loss_terms_of(data, training=True)
            cost = self._cost(terms)
        gradients = tape.gradient(cost, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._record(terms)

    def test_step(self, data):
        terms = self.loss_terms_of(data, training=False)
        return self._record(terms)

    def encode(self, x):
        """The mean coding of each input."""
        return self.encoder(x, training=False).mean()

    def generate(self, n: int, seed: int | None = None):
        """`n` new images: codings drawn from the prior, decoded to their mean (pixel probabilities)."""
        z = self.prior.sample(n, seed=keras.random.SeedGenerator(seed) if seed is not None else self.seed_generator)
        return self.decoder(z, training=False).mean()

    def build_for(self, input_dim: int) -> None:
        """Create every weight by running one tiny batch through the model."""
        if not self.prior.built:
            self.prior.build(None)
        self(ops.zeros((1, input_dim)))


def _total(terms: dict):
    values = list(terms.values())
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total
