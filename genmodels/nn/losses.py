"""Loss terms: the reconstruction term, the KL divergence (the VAE's two) and the importance-weighted bound."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math

from keras import ops

from genmodels.nn.convolutions import Conv2D, Conv2DTranspose  # noqa: F401  (Keras' layers, fast under XLA on a CPU)
from genmodels.nn.hierarchical import TwoLayerEncoder, TwoLayerPosterior, TwoLayerPrior  # noqa: F401  (two layers of codings)
from genmodels.nn.interfaces import ForwardPass, Loss


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
