"""Two stochastic layers of codings, z = [z1, z2], as the core's one Encoder and one LatentPrior:

    q(z1, z2 | x) = q(z2 | x) q(z1 | x, z2),        p(z1, z2) = p(z1 | z2) p(z2)

(Burda et al. 2015; the HVAE of Tomczak & Welling 2018). The parts are any networks that return a
`Distribution`: `top(x)` gives q(z2 | x), `bottom(x, condition=z2)` gives q(z1 | x, z2), and the
prior's `bottom(z2)` gives p(z1 | z2), so an MLP model and a convolutional one share these classes.
The decoder reads the whole coding [z1, z2]; the losses are the core's (the KL is its Monte Carlo
estimate log q(z|x) - log p(z)).
"""

from __future__ import annotations

from typing import Any

from keras import ops

from genmodels.nn.distributions import Distribution
from genmodels.nn.interfaces import Encoder, LatentPrior


def split(z, bottom_dim: int):
    """[z1, z2] -> (z1, z2), z1 being the first `bottom_dim` columns."""
    return z[:, :bottom_dim], z[:, bottom_dim:]


class TwoLayerPosterior(Distribution):
    """q(z2 | x) q(z1 | x, z2) over [z1, z2]: `top` is q(z2 | x), `bottom(x, condition=z2)` gives q(z1 | x, z2).

    The codings it produced (its draws and its mean) keep their q(z1 | x, z2) and their z1, which `log_prob`
    reuses when it scores that same z: so q(z1 | x, z2) may be a flow posterior, whose density is known only
    at its own codings.
    """

    def __init__(self, x, top: Distribution, bottom, bottom_dim: int):
        self.x, self.top, self.bottom, self.bottom_dim = x, top, bottom, bottom_dim
        self._known: list[tuple[Any, Distribution, Any]] = []

    def _join(self, z2, lower: Distribution, z1):
        z = ops.concatenate([z1, z2], axis=-1)
        self._known.append((z, lower, z1))
        return z

    def sample(self, seed=None):
        z2 = self.top.sample(seed)
        lower = self.bottom(self.x, condition=z2)
        return self._join(z2, lower, lower.sample(seed))

    def mean(self):
        z2 = self.top.mean()
        lower = self.bottom(self.x, condition=z2)
        return self._join(z2, lower, lower.mean())

    def log_prob(self, z):
        z1, z2 = split(z, self.bottom_dim)
        for known, lower, drawn in self._known:
            if z is known:
                return self.top.log_prob(z2) + lower.log_prob(drawn)
        return self.top.log_prob(z2) + self.bottom(self.x, condition=z2).log_prob(z1)

    def repeat(self, k):
        return TwoLayerPosterior(ops.tile(self.x, [k, 1]), self.top.repeat(k), self.bottom, self.bottom_dim)


class TwoLayerEncoder(Encoder):
    """x -> q(z2 | x) by `top`; (x, z2) -> q(z1 | x, z2) by `bottom`; codings [z1, z2] of both widths together."""

    def __init__(self, top: Encoder, bottom: Encoder, input_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.top, self.bottom, self.input_dim = top, bottom, input_dim
        self.latent_dim = bottom.latent_dim + top.latent_dim

    def build(self, input_shape=None):
        self.top(ops.zeros((1, self.input_dim)))
        self.bottom(ops.zeros((1, self.input_dim)), condition=ops.zeros((1, self.top.latent_dim)))
        self.built = True

    def call(self, x, training=False):
        return TwoLayerPosterior(x, self.top(x, training=training), self.bottom, self.bottom.latent_dim)


class TwoLayerPrior(LatentPrior):
    """p(z1 | z2) p(z2): `top_prior` is any LatentPrior over z2 (a VampPrior, N(0, I)); `bottom(z2)` gives p(z1 | z2)."""

    def __init__(self, top_prior: LatentPrior, bottom: Encoder, **kwargs: Any):
        super().__init__(bottom.latent_dim + top_prior.latent_dim, **kwargs)
        self.top_prior, self.bottom = top_prior, bottom

    def build(self, input_shape=None):
        if not self.top_prior.built:
            self.top_prior.build(None)
        self.bottom(ops.zeros((1, self.top_prior.latent_dim)))
        self.built = True

    def sample(self, n, seed=None):
        z2 = self.top_prior.sample(n, seed=seed)
        return ops.concatenate([self.bottom(z2).sample(seed), z2], axis=-1)

    def log_prob(self, z):
        z1, z2 = split(z, self.bottom.latent_dim)
        return self.top_prior.log_prob(z2) + self.bottom(z2).log_prob(z1)
