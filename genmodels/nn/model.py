"""GenerativeModel: one Keras model that composes an encoder, a decoder, a prior and loss terms."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genmodels.core.errors import DatasetError
from genmodels.nn.interfaces import Critic, Decoder, Encoder, ForwardPass, LatentPrior, Loss, StepUpdate


class GenerativeModel(keras.Model):
    """Trains on the sum of its loss terms and reports each term as its own metric.

    The cost of a batch is the sum over terms of their mean over examples, so for a VAE whose
    terms are reconstruction and KL the `loss` metric is the negative ELBO in nats per image.

    A conditional model (`classes` > 0) is given each image's class label: its steps take
    `(images, labels)`, and its encoder and decoder receive the labels one-hot as `condition=`.
    An unconditional model ignores labels, and its parts are never passed a condition.

    `critics` are networks trained against the model on optimizers of their own (`Critic`: a discriminator),
    one step each after every step of the model; `updates` change variables without gradients after every
    training step (`StepUpdate`: an exponential moving average). Both are for models that need them; most have none.
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        prior: LatentPrior,
        losses: Sequence[Loss],
        *,
        seed: int | None = None,
        classes: int = 0,
        critics: Sequence[Critic] = (),
        updates: Sequence[StepUpdate] = (),
        **kwargs,
    ):
        super().__init__(**kwargs)
        names = [term.name for term in losses]
        if not names or len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"loss terms need distinct names other than 'loss'; received {names}.")
        critic_names = [critic.name for critic in critics]
        if len(set(names + critic_names)) != len(names) + len(critic_names):
            raise ValueError(
                f"critics need distinct names, none of them a loss term's; received {critic_names} beside {names}."
            )
        self.encoder = encoder
        self.decoder = decoder
        self.prior = prior
        self.loss_terms = list(losses)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.classes = int(classes)
        self.warmup_steps = 0  # optimizer steps over which warm-up terms reach their weight (`warm_up_over`)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.term_trackers = [keras.metrics.Mean(name=name) for name in names]
        self.critics = list(critics)
        self.critic_optimizers = [critic.make_optimizer() for critic in self.critics]  # saved with the weights
        self.critic_trackers = [keras.metrics.Mean(name=name) for name in critic_names]
        self.step_updates = list(updates)

    def warm_up_over(self, steps: int) -> None:
        """Raise the weight of every warm-up loss term (`Loss.warmup`, the KL's) linearly from 0 to its own over the
        first `steps` optimizer steps; 0 switches warm-up off. The trainer calls it from `--kl-warmup`."""
        self.warmup_steps = max(int(steps), 0)

    @property
    def metrics(self):
        return [self.loss_tracker, *self.term_trackers, *self.critic_trackers]

    @property
    def generative_variables(self) -> list:
        """The trainable variables the model's own optimizer updates: every one but its critics'."""
        owned = {id(variable) for critic in self.critics for variable in critic.trainable_variables}
        return [variable for variable in self.trainable_variables if id(variable) not in owned]

    @property
    def conditional(self) -> bool:
        """Whether the model is given each image's class label."""
        return self.classes > 0

    def condition_of(self, labels):
        """The condition the parts receive for integer `labels`: one-hot rows, or None for an unconditional model."""
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError(
                f"this model is conditional on {self.classes} classes: it needs a label for every image, received none."
            )
        return ops.one_hot(ops.cast(labels, "int32"), self.classes)

    def forward(self, x, labels=None, training: bool = False) -> ForwardPass:
        """Encode, draw one coding from q(z|x), decode."""
        condition = self.condition_of(labels)
        posterior = call_part(self.encoder, x, condition, training)
        z = posterior.sample(self.seed_generator)
        likelihood = call_part(self.decoder, z, condition, training)
        return ForwardPass(
            x=x,
            posterior=posterior,
            z=z,
            likelihood=likelihood,
            prior=self.prior,
            decoder=self.decoder,
            seed=self.seed_generator,
            condition=condition,
        )

    def call(self, x, labels=None, training: bool = False):
        """Reconstructions: the mean of p(x|z) for a coding drawn from q(z|x)."""
        return self.forward(x, labels, training=training).likelihood.mean()

    def loss_terms_of(self, x, labels=None, training: bool = False) -> dict:
        """Each loss term for each example of `x` (with its label, for a conditional model)."""
        return self.terms_of(self.forward(x, labels, training=training))

    def terms_of(self, forward: ForwardPass) -> dict:
        """Each loss term for each example of a pass."""
        return {term.name: term(forward) for term in self.loss_terms}

    def _cost(self, terms: dict):
        """The mean over examples of the loss terms, each times its weight (and warm-up factor)."""
        weighted = {name: self._weighted(term, value) for (name, value), term in zip(terms.items(), self.loss_terms)}
        cost = ops.mean(_total(weighted))
        if self.losses:  # regularisation added by layers
            cost = cost + ops.sum(self.losses)
        return cost

    def replica_cost(self, terms: dict, global_rows, replicas: int):
        """One replica's share of `_cost` for a global batch of `global_rows` images split across `replicas`:
        its weighted terms summed over its own images, over global_rows (the shares sum to the batch's cost)."""
        weighted = {name: self._weighted(term, value) for (name, value), term in zip(terms.items(), self.loss_terms)}
        cost = ops.sum(_total(weighted)) / ops.cast(global_rows, "float32")
        if self.losses:
            cost = cost + ops.sum(self.losses) / replicas
        return cost

    def objective(self, terms: dict):
        """The model's `loss` from its terms (name -> values, in the order of `loss_terms`): the sum of every term
        but the auxiliary ones (`Loss.auxiliary`), unweighted; what a run is selected on."""
        kept = {name: value for (name, value), term in zip(terms.items(), self.loss_terms) if not term.auxiliary}
        return _total(kept) if kept else _total(terms)

    def _weighted(self, term: Loss, value):
        weight = float(term.weight)
        if term.warmup and self.warmup_steps > 0:
            done = ops.cast(self.optimizer.iterations + 1, "float32") / float(self.warmup_steps)
            return value * (weight * ops.minimum(done, 1.0))
        return value if weight == 1.0 else value * weight

    def _record(self, terms: dict, critic_losses: Sequence = ()) -> dict:
        # Per-example values, so each metric is the exact mean over images, whatever the batch sizes.
        self.loss_tracker.update_state(self.objective(terms))
        for tracker, value in zip(self.term_trackers, terms.values()):
            tracker.update_state(value)
        for tracker, value in zip(self.critic_trackers, critic_losses):
            tracker.update_state(value)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        x, labels = _unpack(data)
        variables = self.generative_variables
        with tf.GradientTape() as tape:
            forward = self.forward(x, labels, training=True)
            terms = self.terms_of(forward)
            cost = self._cost(terms)
        gradients = tape.gradient(cost, variables)
        self.optimizer.apply(gradients, variables)
        critic_losses = self.train_critics(forward)
        for update in self.step_updates:
            update(forward)
        return self._record(terms, critic_losses)

    def train_critics(self, forward: ForwardPass) -> list:
        """One step of each critic on its loss over `forward`, whose tensors were computed outside the critic's
        gradient tape (so they are data to it); each critic's loss per example."""
        losses = []
        for critic, optimizer in zip(self.critics, self.critic_optimizers):
            with tf.GradientTape() as tape:
                loss = critic.critic_loss(forward)
                mean = ops.mean(loss)
            optimizer.apply(tape.gradient(mean, critic.trainable_variables), critic.trainable_variables)
            losses.append(loss)
        return losses

    def test_step(self, data):
        x, labels = _unpack(data)
        forward = self.forward(x, labels, training=False)
        terms = self.terms_of(forward)
        return self._record(terms, [critic.critic_loss(forward) for critic in self.critics])

    def encode(self, x, labels=None):
        """The mean coding of each input."""
        return call_part(self.encoder, x, self.condition_of(labels), False).mean()

    def decode(self, z, labels=None):
        """The mean of p(x|z) for each coding: pixel probabilities or values, clipped to [0, 1] (a mixture's mean
        can pass 1 by a rounding error)."""
        return ops.clip(call_part(self.decoder, z, self.condition_of(labels), False).mean(), 0.0, 1.0)

    def generate(self, n: int, seed: int | keras.random.SeedGenerator | None = None, labels=None, draw: bool = False):
        """`n` new images: codings drawn from the prior, decoded to their mean (pixel probabilities), or with
        `draw` each pixel drawn from p(x|z) (0/1 pixels, 8-bit levels: values the data can hold).

        `seed` is an int (the same int, the same images), a SeedGenerator to draw from, or None (the
        model's own generator). A conditional model draws images of the given `labels` (one per
        image); without them, of every class in turn (0, 1, ..., classes - 1, 0, ...).
        """
        if self.conditional and labels is None:
            labels = ops.arange(n) % self.classes
        if seed is None:
            seed = self.seed_generator
        elif not isinstance(seed, keras.random.SeedGenerator):
            seed = keras.random.SeedGenerator(seed)
        codings = self.prior.sample(n, seed=seed)
        if not draw:
            return self.decode(codings, labels)
        return call_part(self.decoder, codings, self.condition_of(labels), False).sample(seed)

    @property
    def coding_dim(self) -> int:
        """The width of the codings `encode` gives and `decode` takes: the prior's latent_dim, or the encoder's
        when it is wider (a hierarchical model's codings join its layers, as hvae's [z1, z2])."""
        return int(getattr(self.encoder, "latent_dim", 0) or self.prior.latent_dim)

    @property
    def coding_shape(self) -> tuple[int, ...]:
        """The shape of one coding: (coding_dim,), unless the encoder states a `coding_shape` of as many values
        (vq-vae's (7, 7, 16) for digits: a map of code vectors). `encode` and `decode` use flat rows of coding_dim
        values, the shape's values in row-major order; samplers are given the codings in this shape."""
        shape = tuple(int(n) for n in (getattr(self.encoder, "coding_shape", None) or (self.coding_dim,)))
        if int(np.prod(shape)) != self.coding_dim:
            raise ValueError(f"the encoder's coding_shape {shape} does not hold {self.coding_dim} values.")
        return shape

    def build_for(self, input_dim: int) -> None:
        """Create every weight by running one tiny batch through the model."""
        if not self.prior.built:
            self.prior.build(None)
        if self.critics:  # built first, so that the model's own build finds every part built
            forward = self.forward(ops.zeros((2, input_dim)), ops.zeros((2,), "int32") if self.conditional else None)
            for critic, optimizer in zip(self.critics, self.critic_optimizers):
                critic.critic_loss(forward)
                optimizer.build(critic.trainable_variables)
        self(ops.zeros((1, input_dim)), ops.zeros((1,), "int32") if self.conditional else None)


GENERATE_CHUNK = 1000  # images decoded at once by `generate_in_chunks`


def generate_in_chunks(
    model: GenerativeModel,
    n: int,
    seed: int | None = None,
    labels=None,
    draw: bool = False,
    chunk: int = GENERATE_CHUNK,
    codings: np.ndarray | None = None,
) -> np.ndarray:
    """`model.generate(n, seed, labels, draw)` as a NumPy array, decoded `chunk` images at a time so that memory
    grows with the images alone, not with the decoder's outputs for all of them at once.

    Given `codings` (n of them: a sampler's draws, `genmodels.samplers`), those are decoded instead of the prior's
    (drawn pixels still follow `seed`). Up to `chunk` prior images it is `generate` itself. Beyond, the codings
    are drawn as `generate` draws them (the same seed, the same codings), so the means are the same images;
    drawn pixels (`draw`) are drawn chunk by chunk."""
    if codings is None and n <= chunk:
        return np.asarray(model.generate(n, seed=seed, labels=labels, draw=draw))
    if model.conditional and labels is None:
        labels = np.arange(n) % model.classes
    generator = model.seed_generator if seed is None else keras.random.SeedGenerator(seed)
    if codings is None:
        codings = model.prior.sample(n, seed=generator)
    parts = []
    for start in range(0, n, chunk):
        part_labels = None if labels is None else labels[start : start + chunk]
        part = codings[start : start + chunk]
        if draw:
            likelihood = call_part(model.decoder, part, model.condition_of(part_labels), False)
            parts.append(np.asarray(likelihood.sample(generator)))
        else:
            parts.append(np.asarray(model.decode(part, part_labels)))
    return np.concatenate(parts)


def call_part(part, inputs, condition=None, training: bool = False):
    """Call an encoder or decoder, passing `condition` only when there is one (unconditional parts need not accept it)."""
    if condition is None:
        return part(inputs, training=training)
    return part(inputs, condition=condition, training=training)


def check_labels(model: GenerativeModel, labels, what: str):
    """`labels` if the conditional `model` can take them, else a DatasetError saying what is wrong."""
    if labels is None:
        raise DatasetError(
            f"this model is conditional: it needs a label for every image, but {what} has none. "
            "Use a labelled dataset (such as mnist) or an .npz with train_labels and test_labels."
        )
    if np.ndim(labels) != 1:
        raise DatasetError(
            f"{what} has {np.shape(labels)[1]} label factors per image; a conditional model takes one class label per image."
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= model.classes):
        raise DatasetError(
            f"{what} has labels from {labels.min()} to {labels.max()}, but the model has classes={model.classes} "
            f"(labels 0 to {model.classes - 1}); train with -o classes={int(labels.max()) + 1}."
        )
    return labels


def _unpack(data):
    """(images, labels) from what a step receives: images alone, or an (images, labels) pair."""
    if isinstance(data, (tuple, list)):
        if len(data) not in (1, 2):
            raise ValueError(f"a step takes images or (images, labels); received a tuple of {len(data)}.")
        return data[0], (data[1] if len(data) == 2 else None)
    return data, None


def _total(terms: dict):
    values = list(terms.values())
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total
