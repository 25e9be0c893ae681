"""Loss terms: the reconstruction term, the KL divergence (the VAE's two), the importance-weighted bound and MMD."""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math

from keras import ops

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


class MaximumMeanDiscrepancy(Loss):
    """MMD(q(z) || p(z)) between the batch's codings and as many draws of the prior, with the inverse multiquadric
    kernel C / (C + ||a - b||^2) summed over scales C = s * 2 * latent_dim (s in `SCALES`), as Tolstikhin et al.
    (2018) compute it for WAE-MMD: the unbiased estimate over the batch. A Loss term named "mmd" whose value is the
    batch's estimate, given to every image (its mean over a batch is the estimate; it depends on the batch size)."""

    name = "mmd"
    SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

    def __init__(self, weight: float = 1.0, auxiliary: bool = False):
        self.weight, self.auxiliary = float(weight), bool(auxiliary)

    def __call__(self, forward: ForwardPass):
        z = forward.z
        n = ops.shape(z)[0]
        drawn = ops.cast(forward.prior.sample(n, seed=forward.seed), z.dtype)
        same = 1.0 - ops.eye(n, dtype=z.dtype)
        count = ops.cast(n, z.dtype)
        estimate = 0.0
        for scale in self.SCALES:
            c = scale * 2.0 * ops.cast(ops.shape(z)[1], z.dtype)
            within = (_kernel(z, z, c) + _kernel(drawn, drawn, c)) * same
            estimate = (
                estimate
                + ops.sum(within) / (count * (count - 1.0))
                - 2.0 * ops.sum(_kernel(z, drawn, c)) / (count * count)
            )
        return ops.zeros((n,), z.dtype) + estimate

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def _kernel(a, b, c):
    """The inverse multiquadric kernel c / (c + ||a_i - b_j||^2) of every pair of rows, (len(a), len(b))."""
    distances = (
        ops.sum(ops.square(a), axis=1)[:, None]
        - 2.0 * ops.matmul(a, ops.transpose(b))
        + ops.sum(ops.square(b), axis=1)[None, :]
    )
    return c / (c + ops.maximum(distances, 0.0))
