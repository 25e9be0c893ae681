"""Ready-made parts: MLP encoders and decoder, convolution layers, the standard and fitted Gaussian priors, and losses."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from genmodels.core.errors import ConfigError
from genmodels.core.pixels import AUTO
from genmodels.nn.convolutions import Conv2D, Conv2DTranspose  # noqa: F401  (Keras' layers, fast under XLA on a CPU)
from genmodels.nn.distributions import DiagonalGaussian, PointMass
from genmodels.nn.hierarchical import TwoLayerEncoder, TwoLayerPosterior, TwoLayerPrior  # noqa: F401  (two layers of codings)
from genmodels.nn.interfaces import Critic, Decoder, Encoder, ForwardPass, LatentPrior, Loss
from genmodels.nn.likelihoods import PixelLikelihood
from genmodels.nn.losses import KLDivergence, Reconstruction
from genmodels.nn.priors import StandardNormalPrior


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


def likelihood_of(config) -> str:
    """The decoder's likelihood a config names; `auto` (not yet fitted to a dataset, as when a model is
    built outside training) means bernoulli, the likelihood of the binary images the seed's models train on."""
    name = getattr(config, "likelihood", "bernoulli")
    return "bernoulli" if name == AUTO else name


def dropout_of(config) -> float:
    """The decoder's dropout rate a config names (`MLPConfig.dropout`); `auto` (not yet fitted to a dataset) means none."""
    rate = getattr(config, "dropout", "0")
    return 0.0 if rate == AUTO else float(rate)


def _mirrored_decoder(config) -> MLPDecoder:
    """The MLP decoder of an MLPConfig: the encoder's hidden layers in reverse, the config's likelihood and dropout."""
    return MLPDecoder(
        config.input_dim,
        hidden=config.hidden[::-1],
        likelihood=likelihood_of(config),
        dropout=dropout_of(config),
        activation=config.activation,
        initializer=config.initializer,
    )


def mlp_vae(
    config,
    *,
    prior=None,
    losses: Sequence[Loss] | None = None,
    classes: int = 0,
    encoder: Encoder | None = None,
    critics: Sequence[Critic] = (),
):
    """The seed's VAE from an MLPConfig: Gaussian MLP encoder, an MLP decoder mirroring it (with the config's likelihood,
    Bernoulli for the seed), N(0, I) prior, reconstruction and KL losses. A variant passes the parts it changes: `prior`
    may be a LatentPrior or a function of the encoder that returns one (a prior built on the encoder); `encoder`
    replaces the Gaussian one (a flow posterior's, `FlowMLPEncoder`); `critics` are trained against the model
    (`genmodels.interfaces.Critic`); `classes` > 0 makes it conditional on labels, which the encoder and decoder
    receive with their input."""
    from genmodels.nn.model import GenerativeModel

    mlp = dict(activation=config.activation, initializer=config.initializer)
    if encoder is None:
        encoder = GaussianMLPEncoder(config.latent_dim, hidden=config.hidden, **mlp)
    if prior is None:
        prior = StandardNormalPrior(config.latent_dim)
    elif not isinstance(prior, LatentPrior):
        prior = prior(encoder)
    return GenerativeModel(
        encoder=encoder,
        decoder=_mirrored_decoder(config),
        prior=prior,
        losses=list(losses) if losses is not None else [Reconstruction(), KLDivergence()],
        classes=classes,
        critics=critics,
    )


def mlp_autoencoder(config, *, prior: LatentPrior, losses: Sequence[Loss], critics: Sequence[Critic] = ()):
    """An autoencoder from an MLPConfig: the VAE's MLPs with a deterministic coding (DeterministicMLPEncoder), the
    decoder mirroring it with the config's likelihood, and the given prior, loss terms (ae's, wae's, rae's) and
    critics (an adversarial autoencoder's discriminator)."""
    from genmodels.nn.model import GenerativeModel

    return GenerativeModel(
        encoder=DeterministicMLPEncoder(
            config.latent_dim, hidden=config.hidden, activation=config.activation, initializer=config.initializer
        ),
        decoder=_mirrored_decoder(config),
        prior=prior,
        losses=list(losses),
        critics=critics,
    )


class CodingCritic(Critic):
    """A discriminator of codings: an MLP from a coding to one logit, trained to tell `real(forward)` codings (logit
    high) from `fake(forward)` ones (logit low) by the logistic loss softplus(-logit(real)) + softplus(logit(fake)) per
    example. By default real codings are draws of the prior and fake ones the batch's codings, as an adversarial
    autoencoder's discriminator sees them; a subclass overrides `real` and `fake` (FactorVAE's tells the codings from
    the same codings with each dimension shuffled across the batch)."""

    def __init__(
        self,
        hidden: Sequence[int] = (1000, 1000),
        activation: str = "leaky_relu",
        learning_rate: float = 1e-4,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.hidden = tuple(int(units) for units in hidden)
        self.activation = activation
        self.learning_rate = float(learning_rate)
        self.body = mlp(self.hidden, activation, "he_normal", name="mlp")
        self.head = keras.layers.Dense(1, name="logit")

    def logit(self, z, training: bool = False):
        """The critic's logit for each coding: high for codings it takes for real."""
        return self(z, training=training)

    def call(self, z, training: bool = False):
        return ops.squeeze(self.head(self.body(z, training=training)), -1)

    def real(self, forward: ForwardPass):
        """The codings the critic should call real: as many draws of the prior as the batch has images."""
        return ops.cast(forward.prior.sample(ops.shape(forward.z)[0], seed=forward.seed), forward.z.dtype)

    def fake(self, forward: ForwardPass):
        """The codings the critic should call fake: the batch's codings."""
        return forward.z

    def critic_loss(self, forward: ForwardPass):
        real, fake = self.logit(self.real(forward), True), self.logit(self.fake(forward), True)
        return ops.softplus(-real) + ops.softplus(fake)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden": list(self.hidden),
            "activation": self.activation,
            "learning_rate": self.learning_rate,
        }
