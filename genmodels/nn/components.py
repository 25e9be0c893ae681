"""Ready-made parts: MLP encoders and decoder, convolution layers, the standard and fitted Gaussian priors, and losses."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from genmodels.nn.convolutions import Conv2D, Conv2DTranspose  # noqa: F401  (Keras' layers, fast under XLA on a CPU)
from genmodels.nn.hierarchical import TwoLayerEncoder, TwoLayerPosterior, TwoLayerPrior  # noqa: F401  (two layers of codings)
from genmodels.nn.distributions import LOG_2PI, DiagonalGaussian, PointMass
from genmodels.nn.random import standard_normal
from genmodels.core.errors import ConfigError
from genmodels.core.pixels import AUTO
from genmodels.nn.interfaces import Decoder, Encoder, ForwardPass, LatentPrior, Loss
from genmodels.nn.likelihoods import PixelLikelihood


def keras_name(kind: str, name: str) -> str:
    """`name` if Keras knows it as an activation or initializer, else a ConfigError.

    Keras looks plain names up in its own tables; nothing is imported, whatever a config says.
    """
    lookup = {"activation": keras.activations.get, "initializer": keras.initializers.get}[kind]
    try:
        lookup(name)
    except ValueError:
        raise ConfigError(
            f"{name!r} is not a Keras {kind} name (such as {'elu' if kind == 'activation' else 'he_normal'})."
        ) from None
    return name


GATED = "gated"  # the activation name of gated hidden layers (GatedDense)


class GatedDense(keras.layers.Layer):
    """A gated linear unit (Dauphin et al. 2017), the hidden layer of Tomczak & Welling's VampPrior models:
    (W x + b) * sigmoid(V x + c), two Dense products of the same input, the second gating the first."""

    def __init__(self, units: int, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.kernel_initializer = kernel_initializer
        self.linear = keras.layers.Dense(units, kernel_initializer=kernel_initializer, name="linear")
        self.gate = keras.layers.Dense(units, activation="sigmoid", kernel_initializer=kernel_initializer, name="gate")

    def build(self, input_shape):
        self.linear.build(input_shape)
        self.gate.build(input_shape)
        self.built = True

    def call(self, x):
        return self.linear(x) * self.gate(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "kernel_initializer": self.kernel_initializer}


def mlp(hidden: Sequence[int], activation: str, initializer: str, name: str, dropout: float = 0.0) -> keras.Sequential:
    """A stack of Dense layers with the same activation and initializer; `activation` "gated" makes each a GatedDense.
    With `dropout` > 0, each hidden layer's output is dropped at that rate while training (Keras' Dropout)."""
    initializer = keras_name("initializer", initializer)
    if activation == GATED:
        layers = [
            GatedDense(units, kernel_initializer=initializer, name=f"hidden{i}")
            for i, units in enumerate(hidden, start=1)
        ]
    else:
        activation = keras_name("activation", activation)
        layers = [
            keras.layers.Dense(units, activation=activation, kernel_initializer=initializer, name=f"hidden{i}")
            for i, units in enumerate(hidden, start=1)
        ]
    if dropout:
        layers = [
            item
            for i, layer in enumerate(layers, start=1)
            for item in (layer, keras.layers.Dropout(dropout, name=f"dropout{i}"))
        ]
    return keras.Sequential(layers, name=name)


class _MLPPart:
    """Shared config of the MLP-based parts.

    With `branches` > 0 the input and the condition first pass through hidden layers of their own,
    `branches` units each, joined before `hidden` (the wiring of Tomczak & Welling's HVAE); a part
    given no condition then splits its input after its first `split` columns (a decoder reading
    the coding [z1, z2]). Without branches a condition is concatenated to the input.
    """

    def _mlp_init(
        self,
        hidden: Sequence[int],
        activation: str,
        initializer: str,
        branches: int = 0,
        split: int = 0,
        dropout: float = 0.0,
    ) -> None:
        self.hidden = tuple(int(units) for units in hidden)
        self.activation = activation
        self.initializer = initializer
        self.branches, self.split = int(branches), int(split)
        self.dropout = float(dropout)
        self.body = mlp(self.hidden, activation, initializer, name="mlp", dropout=self.dropout)
        if self.branches:
            self.input_branch = mlp((self.branches,), activation, initializer, name="input_branch")
            self.condition_branch = mlp((self.branches,), activation, initializer, name="condition_branch")

    def _dense(self, units: int, name: str) -> keras.layers.Dense:
        return keras.layers.Dense(units, kernel_initializer=self.initializer, name=name)

    def _body(self, inputs, condition, training):
        """The hidden layers' output: the input with its condition (one-hot labels, a coding) joined in."""
        if self.branches:
            if condition is None:
                inputs, condition = inputs[:, : self.split], inputs[:, self.split :]
            inputs = ops.concatenate(
                [
                    self.input_branch(inputs, training=training),
                    self.condition_branch(ops.cast(condition, inputs.dtype), training=training),
                ],
                axis=-1,
            )
        elif condition is not None:
            inputs = ops.concatenate([inputs, ops.cast(condition, inputs.dtype)], axis=-1)
        return self.body(inputs, training=training)

    def _mlp_config(self) -> dict[str, Any]:
        config = {"hidden": list(self.hidden), "activation": self.activation, "initializer": self.initializer}
        if self.dropout:
            config["dropout"] = self.dropout
        return {**config, "branches": self.branches, "split": self.split} if self.branches else config


class GaussianMLPEncoder(_MLPPart, Encoder):
    """MLP to a diagonal Gaussian q(z|x): one head for the mean, one for gamma = log(sigma^2).

    Every MLP part here takes an optional `condition` (one-hot labels), concatenated to its input.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden=(500, 500),
        activation="elu",
        initializer="he_normal",
        branches: int = 0,
        split: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._mlp_init(hidden, activation, initializer, branches, split)
        self.latent_dim = latent_dim
        self.mean_head = self._dense(latent_dim, "mean")
        self.log_var_head = self._dense(latent_dim, "log_var")

    def call(self, x, condition=None, training=False):
        h = self._body(x, condition, training)
        return DiagonalGaussian(self.mean_head(h), self.log_var_head(h))

    def get_config(self):
        return {**super().get_config(), **self._mlp_config(), "latent_dim": self.latent_dim}


class DeterministicMLPEncoder(_MLPPart, Encoder):
    """MLP to a single coding: the plain autoencoder's encoder."""

    def __init__(self, latent_dim: int, hidden=(500, 500), activation="elu", initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self._mlp_init(hidden, activation, initializer)
        self.latent_dim = latent_dim
        self.coding_head = self._dense(latent_dim, "coding")

    def call(self, x, condition=None, training=False):
        return PointMass(self.coding_head(self._body(x, condition, training)))

    def get_config(self):
        return {**super().get_config(), **self._mlp_config(), "latent_dim": self.latent_dim}


class MLPDecoder(_MLPPart, Decoder):
    """MLP from codings to the likelihood p(x|z) named `likelihood` (see genmodels.pixels.LIKELIHOODS):
    its last layer gives each of the `output_dim` values the likelihood's raw parameters. `dropout` > 0
    drops the hidden layers' outputs at that rate while training."""

    def __init__(
        self,
        output_dim: int,
        hidden=(500, 500),
        activation="elu",
        initializer="he_normal",
        likelihood: str = "bernoulli",
        branches: int = 0,
        split: int = 0,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._mlp_init(hidden, activation, initializer, branches, split, dropout)
        self.output_dim = output_dim
        self.likelihood = likelihood
        self.head = PixelLikelihood(likelihood, name="likelihood")
        self.logits_head = self._dense(output_dim * self.head.params_per_value, "logits")  # the name runs have saved

    def call(self, z, condition=None, training=False):
        return self.head(self.logits_head(self._body(z, condition, training)))

    def get_config(self):
        return {
            **super().get_config(),
            **self._mlp_config(),
            "output_dim": self.output_dim,
            "likelihood": self.likelihood,
        }


class BernoulliMLPDecoder(MLPDecoder):
    """MLP from codings to the logits of independent Bernoulli pixels."""

    def __init__(self, output_dim: int, hidden=(500, 500), activation="elu", initializer="he_normal", **kwargs):
        kwargs.pop("likelihood", None)
        super().__init__(output_dim, hidden, activation, initializer, likelihood="bernoulli", **kwargs)


class StandardNormalPrior(LatentPrior):
    """p(z) = N(0, I), with the closed-form KL for Gaussian posteriors."""

    def sample(self, n, seed=None):
        return standard_normal((n, self.latent_dim), seed=seed)

    def log_prob(self, z):
        return -0.5 * ops.sum(LOG_2PI + ops.square(z), axis=-1)

    def marginal_log_prob(self, z):
        return -0.5 * (LOG_2PI + ops.square(z))

    def kl(self, posterior, z):
        if isinstance(posterior, DiagonalGaussian):
            return posterior.kl_to_standard_normal()
        return super().kl(posterior, z)


class FittedGaussianPrior(LatentPrior):
    """A diagonal Gaussian fitted to the training codings after training (for models with no prior of their own).

    Its mean and log-variance are non-trainable weights, so they are saved with the model.
    """

    def build(self, input_shape=None):
        self.loc = self.add_weight(shape=(self.latent_dim,), initializer="zeros", trainable=False, name="loc")
        self.log_var = self.add_weight(shape=(self.latent_dim,), initializer="zeros", trainable=False, name="log_var")
        self.built = True

    def _distribution(self, n):
        loc = ops.broadcast_to(self.loc, (n, self.latent_dim))
        return DiagonalGaussian(loc, ops.broadcast_to(self.log_var, (n, self.latent_dim)))

    def sample(self, n, seed=None):
        return self._distribution(n).sample(seed)

    def log_prob(self, z):
        return self._distribution(ops.shape(z)[0]).log_prob(z)

    def marginal_log_prob(self, z):
        return -0.5 * (LOG_2PI + self.log_var + ops.square(z - self.loc) * ops.exp(-self.log_var))

    def adapt(self, codings):
        codings = ops.convert_to_tensor(codings)
        self.loc.assign(ops.mean(codings, axis=0))
        self.log_var.assign(ops.log(ops.var(codings, axis=0) + 1e-6))


class VampPrior(LatentPrior):
    """The VampPrior of Tomczak & Welling (2018): (1/K) sum_k q(z | u_k), the mixture of `encoder`'s own Gaussian
    posteriors at K learned pseudo-inputs u_k = sigmoid(w_k) in [0, 1]^input_dim.

    The encoder's weights belong to the model's encoder; the prior adds only the pseudo-inputs' logits.
    """

    def __init__(self, encoder: Encoder, components: int, input_dim: int, **kwargs: Any):
        super().__init__(encoder.latent_dim, **kwargs)
        object.__setattr__(self, "_encoder", encoder)  # not tracked by Keras: its weights are saved with the encoder
        self.components, self.input_dim = components, input_dim

    def build(self, input_shape=None):
        self.pseudo_logits = self.add_weight(
            shape=(self.components, self.input_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.5),
            name="pseudo_logits",
        )
        self.built = True

    def _mixture(self):
        posterior = self._encoder(ops.sigmoid(self.pseudo_logits))
        return posterior.loc, posterior.log_var  # (K, latent_dim) each

    def log_prob(self, z):
        loc, log_var = self._mixture()
        precision = ops.exp(-log_var)
        # sum_d (z - loc)^2 / var for every (row, component), as matrix products: (B, K)
        squared = ops.matmul(ops.square(z), ops.transpose(precision)) - 2.0 * ops.matmul(
            z, ops.transpose(loc * precision)
        )
        squared = squared + ops.sum(ops.square(loc) * precision, axis=-1)
        log_components = -0.5 * (self.latent_dim * LOG_2PI + ops.sum(log_var, axis=-1) + squared)
        return ops.logsumexp(log_components, axis=-1) - math.log(self.components)

    def marginal_log_prob(self, z):
        loc, log_var = self._mixture()  # (K, d): each coordinate's marginal is a mixture of K normals
        squared = ops.square(z[:, None, :] - loc[None]) * ops.exp(-log_var)[None]
        return ops.logsumexp(-0.5 * (LOG_2PI + log_var[None] + squared), axis=1) - math.log(self.components)

    def sample(self, n, seed=None):
        loc, log_var = self._mixture()
        which = keras.random.randint((n,), 0, self.components, seed=seed)
        loc, log_var = ops.take(loc, which, axis=0), ops.take(log_var, which, axis=0)
        return loc + ops.exp(0.5 * log_var) * standard_normal((n, self.latent_dim), seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "components": self.components, "input_dim": self.input_dim}


class ImportanceWeightedBound(Loss):
    """The k-sample bound of Burda et al. (2015), a Loss term named "iwae":
    -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x), per image (k = 1: the negative ELBO)."""

    name = "iwae"

    def __init__(self, k: int):
        self.k = int(k)

    def __call__(self, forward: ForwardPass):
        posterior = forward.posterior.repeat(self.k)
        z = posterior.sample(forward.seed)
        images = ops.tile(forward.x, [self.k, 1])
        log_w = forward.decode(z).log_prob(images) + forward.prior.log_prob(z) - posterior.log_prob(z)
        return math.log(self.k) - ops.logsumexp(ops.reshape(log_w, (self.k, -1)), axis=0)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class Reconstruction(Loss):
    """-log p(x|z) under the decoder's distribution; for Bernoulli pixels, the summed sigmoid cross-entropy."""

    name = "reconstruction"

    def __call__(self, forward: ForwardPass):
        return -forward.likelihood.log_prob(forward.x)


class KLDivergence(Loss):
    """KL(q(z|x) || p(z)), the VAE's latent loss; exact when the prior knows a closed form.

    `weight` is the beta of a beta-VAE; the term takes part in `--kl-warmup`.
    """

    name = "kl"
    warmup = True

    def __init__(self, weight: float = 1.0):
        self.weight = float(weight)

    def __call__(self, forward: ForwardPass):
        return forward.prior.kl(forward.posterior, forward.z)


def likelihood_of(config) -> str:
    """The decoder's likelihood a config names; `auto` (not yet fitted to a dataset, as when a model is
    built outside training) means bernoulli, the likelihood of the binary images the seed's models train on."""
    name = getattr(config, "likelihood", "bernoulli")
    return "bernoulli" if name == AUTO else name


def dropout_of(config) -> float:
    """The decoder's dropout rate a config names (`MLPConfig.dropout`); `auto` (not yet fitted to a dataset) means none."""
    rate = getattr(config, "dropout", "0")
    return 0.0 if rate == AUTO else float(rate)


def mlp_vae(config, *, prior=None, losses: Sequence[Loss] | None = None, classes: int = 0):
    """The seed's VAE from an MLPConfig: Gaussian MLP encoder, an MLP decoder mirroring it (with the config's likelihood,
    Bernoulli for the seed), N(0, I) prior, reconstruction and KL losses. A variant passes the one part it changes; `prior`
    may be a LatentPrior or a function of the encoder that returns one (a prior built on the encoder);
    `classes` > 0 makes it conditional on labels, which the encoder and decoder receive with their input."""
    from genmodels.nn.model import GenerativeModel

    mlp = dict(activation=config.activation, initializer=config.initializer)
    encoder = GaussianMLPEncoder(config.latent_dim, hidden=config.hidden, **mlp)
    if prior is None:
        prior = StandardNormalPrior(config.latent_dim)
    elif not isinstance(prior, LatentPrior):
        prior = prior(encoder)
    return GenerativeModel(
        encoder=encoder,
        decoder=MLPDecoder(
            config.input_dim,
            hidden=config.hidden[::-1],
            likelihood=likelihood_of(config),
            dropout=dropout_of(config),
            **mlp,
        ),
        prior=prior,
        losses=list(losses) if losses is not None else [Reconstruction(), KLDivergence()],
        classes=classes,
    )
