"""A VAE with two stochastic layers (Burda et al. 2015; the HVAE of Tomczak & Welling 2018):

    q(z1, z2 | x) = q(z2 | x) q(z1 | x, z2),        p(x, z1, z2) = p(x | z1, z2) p(z1 | z2) p(z2)

with p(z2) a VampPrior (or N(0, I) with `-o components=0`), trained on the ELBO or, with `-o k=5`,
on iwae's importance-weighted bound. The coding the core sees is z = [z1, z2]:
the encoder returns the two-layer posterior as one `Distribution`, the prior is p(z1 | z2) p(z2)
as one `LatentPrior`, and the decoder reads both layers; the losses, the KL (its Monte Carlo
estimate) and every command are the core's.
"""

from __future__ import annotations

from dataclasses import dataclass

from genmodels import MLPConfig, ModelSpec, TrainConfig, hookimpl, option
from genmodels.errors import ConfigError


@dataclass
class HVAEConfig(MLPConfig):
    """z1's size is latent_dim; z2's is top_dim. The conditional layers have one hidden layer of the last hidden size."""

    hidden: tuple[int, ...] = option((300, 300), "Hidden layer sizes of the encoder q(z2 | x); the decoder mirrors them.")
    activation: str = option("gated", "Activation of the hidden layers: gated (gated linear units, as in Tomczak & Welling's HVAE) or a Keras activation name.")
    latent_dim: int = option(40, "Dimension of the bottom coding z1.")
    top_dim: int = option(40, "Dimension of the top coding z2.")
    components: int = option(500, "Pseudo-inputs of the VampPrior over z2 (0: p(z2) = N(0, I)).")
    k: int = option(1, "Importance samples per image: 1 trains on the ELBO, more on iwae's k-sample bound.")

    def validate(self) -> None:
        super().validate()
        if self.top_dim < 1 or self.components < 0 or self.k < 1:
            raise ConfigError(
                f"top_dim and k must be at least 1 and components at least 0, received {self.top_dim}, {self.k} and {self.components}."
            )


def build(config: HVAEConfig):
    """Two Gaussian layers of codings between an MLP encoder and an MLP decoder (Bernoulli for binary images)."""
    from keras import ops

    from genmodels.components import (GaussianMLPEncoder, ImportanceWeightedBound, KLDivergence, MLPDecoder, Reconstruction,
                                      StandardNormalPrior, VampPrior, likelihood_of)
    from genmodels.distributions import Distribution
    from genmodels.interfaces import Encoder, LatentPrior
    from genmodels.model import GenerativeModel

    d1, d2, last = config.latent_dim, config.top_dim, config.hidden[-1:]
    options = dict(activation=config.activation, initializer=config.initializer)
    split = lambda z: (z[:, :d1], z[:, d1:])  # noqa: E731  ([z1, z2] -> z1, z2)

    class TwoLayerPosterior(Distribution):
        """q(z2 | x) q(z1 | x, z2) over [z1, z2]; q(z1 | x, z2) is the `bottom` network's Gaussian."""

        def __init__(self, x, top, bottom):
            self.x, self.top, self.bottom = x, top, bottom
            self._drawn = (None, None)  # the last z drawn and its q(z1 | x, z2), reused when log_prob scores that z

        def sample(self, seed=None):
            z2 = self.top.sample(seed)
            lower = self.bottom(self.x, condition=z2)
            z = ops.concatenate([lower.sample(seed), z2], axis=-1)
            self._drawn = (z, lower)
            return z

        def mean(self):
            z2 = self.top.mean()
            return ops.concatenate([self.bottom(self.x, condition=z2).mean(), z2], axis=-1)

        def log_prob(self, z):
            z1, z2 = split(z)
            lower = self._drawn[1] if z is self._drawn[0] else self.bottom(self.x, condition=z2)
            return self.top.log_prob(z2) + lower.log_prob(z1)

        def repeat(self, k):
            return TwoLayerPosterior(ops.tile(self.x, [k, 1]), self.top.repeat(k), self.bottom)

    class TwoLayerEncoder(Encoder):
        """x -> q(z2 | x) by an MLP; (x, z2) -> q(z1 | x, z2) by a one-hidden-layer MLP."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.top = GaussianMLPEncoder(d2, hidden=config.hidden, **options, name="top")
            self.bottom = GaussianMLPEncoder(d1, hidden=last, **options, name="bottom")
            self.latent_dim = d1 + d2

        def build(self, input_shape):
            self.top(ops.zeros((1, config.input_dim)))
            self.bottom(ops.zeros((1, config.input_dim)), condition=ops.zeros((1, d2)))
            self.built = True

        def call(self, x, training=False):
            return TwoLayerPosterior(x, self.top(x, training=training), self.bottom)

    class TwoLayerPrior(LatentPrior):
        """p(z1 | z2) p(z2), p(z1 | z2) a Gaussian from a one-hidden-layer MLP."""

        def __init__(self, top_prior, **kwargs):
            super().__init__(d1 + d2, **kwargs)
            self.top_prior = top_prior
            self.bottom = GaussianMLPEncoder(d1, hidden=last, **options, name="conditional")

        def build(self, input_shape=None):
            if not self.top_prior.built:
                self.top_prior.build(None)
            self.bottom(ops.zeros((1, d2)))
            self.built = True

        def sample(self, n, seed=None):
            z2 = self.top_prior.sample(n, seed=seed)
            return ops.concatenate([self.bottom(z2).sample(seed), z2], axis=-1)

        def log_prob(self, z):
            z1, z2 = split(z)
            return self.top_prior.log_prob(z2) + self.bottom(z2).log_prob(z1)

    encoder = TwoLayerEncoder()
    top_prior = VampPrior(encoder.top, config.components, config.input_dim) if config.components else StandardNormalPrior(d2)
    return GenerativeModel(
        encoder=encoder,
        decoder=MLPDecoder(config.input_dim, hidden=config.hidden[::-1], likelihood=likelihood_of(config), **options),
        prior=TwoLayerPrior(top_prior),
        losses=[Reconstruction(), KLDivergence()] if config.k == 1 else [ImportanceWeightedBound(config.k)],
    )


@hookimpl
def register_models(register):
    register(
        ModelSpec(
            name="hvae",
            description="Two stochastic layers, z1 given z2, with a VampPrior over z2 (hierarchical VampPrior VAE).",
            build=build,
            config=HVAEConfig,
            # the longest run that fits 2 hours alone on a 2-core CPU; the epoch is chosen on the validation split
            train=TrainConfig(epochs=450, batch_size=150, learning_rate=1e-3, lr_schedule="cosine", kl_warmup=50, keep="best"),
        )
    )
