"""Flow posteriors: a diagonal Gaussian pushed through invertible steps whose parameters depend on the image.

q(z|x) is then richer than a diagonal Gaussian while its density stays exact at the codings it produces:
log q(z_K|x) = log N(z_0) - sum_k log|det df_k/dz_{k-1}|. Two kinds of step are here: the planar step of
Rezende & Mohamed (2015) and the inverse autoregressive step of Kingma et al. (2016); an encoder
(`FlowMLPEncoder`) gives the base Gaussian and each step's per-image context.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from genmodels.nn.components import _MLPPart
from genmodels.nn.distributions import DiagonalGaussian, Distribution, as_float32
from genmodels.nn.interfaces import Encoder


class FlowStep(keras.layers.Layer):
    """One invertible map z -> f(z) of a flow posterior: `call(z, context)` returns f(z) and log|det df/dz| per row.

    `context_dim` is how many values per image the encoder gives this step (`context`, (batch, context_dim));
    0 when it takes none."""

    context_dim: int = 0

    def call(self, z, context=None):  # pragma: no cover - abstract
        raise NotImplementedError


class PlanarStep(FlowStep):
    """f(z) = z + u' tanh(w.z + b) (Rezende & Mohamed 2015). u, w (dim values each) and b are the step's own weights,
    the same for every image, or with `amortized` given per image by the encoder's context (2 dim + 1 values: a
    richer posterior, less stable to train). u' = u + (m(w.u) - w.u) w / |w|^2, m(a) = -1 + softplus(a), so that
    w.u' > -1 and f is invertible; log|det| = log|1 + u'.w (1 - tanh^2(w.z + b))|."""

    def __init__(self, dim: int, amortized: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.dim, self.amortized = int(dim), bool(amortized)
        self.context_dim = 2 * self.dim + 1 if self.amortized else 0

    def build(self, *shapes):
        if not self.amortized:
            small = keras.initializers.RandomNormal(stddev=0.01)
            self.u = self.add_weight(shape=(1, self.dim), initializer=small, name="u")
            self.w = self.add_weight(shape=(1, self.dim), initializer=small, name="w")
            self.b = self.add_weight(shape=(1, 1), initializer="zeros", name="b")
        self.built = True

    def call(self, z, context=None):
        d = self.dim
        if self.amortized:
            context = as_float32(context)
            u, w, b = context[:, :d], context[:, d : 2 * d], context[:, 2 * d :]
        else:
            u, w, b = as_float32(self.u), as_float32(self.w), as_float32(self.b)
        wu = ops.sum(w * u, axis=-1, keepdims=True)
        u = u + (ops.softplus(wu) - 1.0 - wu) * w / (ops.sum(ops.square(w), axis=-1, keepdims=True) + 1e-8)
        t = ops.tanh(ops.sum(w * z, axis=-1, keepdims=True) + b)
        slope = 1.0 + ops.sum(u * w, axis=-1) * (1.0 - ops.squeeze(ops.square(t), -1))
        return z + u * t, ops.log(ops.abs(slope) + 1e-8)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "amortized": self.amortized}


class MaskedDense(keras.layers.Dense):
    """A Dense layer whose kernel is multiplied by a fixed 0/1 `mask` (inputs x units): MADE's autoregressive wiring."""

    def __init__(self, units: int, mask: np.ndarray, **kwargs: Any):
        super().__init__(units, **kwargs)
        self.mask = np.asarray(mask, dtype="float32")

    def call(self, inputs):
        outputs = ops.matmul(inputs, self.kernel * self.mask)
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs


class AutoregressiveStep(FlowStep):
    """The inverse autoregressive step of Kingma et al. (2016): a MADE (Germain et al. 2015) of z and of the encoder's
    context h gives, for each dimension i, m_i and s_i from the dimensions before it; sigma = sigmoid(s),
    f(z) = sigma z + (1 - sigma) m, log|det| = sum log sigma. `reverse` orders the dimensions last to first (steps
    alternate); s starts near `gate_bias` so that the step starts near the identity."""

    def __init__(
        self,
        dim: int,
        context_dim: int,
        hidden: Sequence[int] = (320, 320),
        reverse: bool = False,
        gate_bias: float = 1.5,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.dim, self.context_dim, self.hidden = int(dim), int(context_dim), tuple(int(n) for n in hidden)
        self.reverse, self.gate_bias = bool(reverse), float(gate_bias)
        order = np.arange(1, self.dim + 1)
        degrees = [order[::-1] if self.reverse else order]
        for units in self.hidden:  # each hidden unit sees the inputs up to its degree, 1 .. dim - 1
            degrees.append(np.arange(units) % max(self.dim - 1, 1) + 1)
        self.masked = [
            MaskedDense(units, degrees[i + 1][None, :] >= degrees[i][:, None], name=f"hidden{i + 1}")
            for i, units in enumerate(self.hidden)
        ]
        out_mask = degrees[0][None, :] > degrees[-1][:, None]  # output i sees hidden units of lower degree
        small = keras.initializers.RandomNormal(stddev=0.01)
        self.shift = MaskedDense(self.dim, out_mask, kernel_initializer=small, name="shift")
        self.gate = MaskedDense(
            self.dim,
            out_mask,
            kernel_initializer=small,
            bias_initializer=keras.initializers.Constant(self.gate_bias),
            name="gate",
        )
        self.context_in = keras.layers.Dense(self.hidden[0], use_bias=False, name="context") if context_dim else None

    def call(self, z, context=None):
        h = self.masked[0](z)
        if self.context_in is not None:  # the context reaches every unit of the first hidden layer
            h = h + self.context_in(context)
        h = ops.elu(h)
        for layer in self.masked[1:]:
            h = ops.elu(layer(h))
        sigma = ops.sigmoid(as_float32(self.gate(h)))
        # log(sigma + 1e-12), not the exact log_sigmoid: with the exact form `hvae -o flows=4` went to NaN at epoch
        # 64 of its recipe, where this one trained on (docs/models.md, "Against the target")
        return sigma * z + (1.0 - sigma) * as_float32(self.shift(h)), ops.sum(ops.log(sigma + 1e-12), axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "context_dim": self.context_dim,
            "hidden": list(self.hidden),
            "reverse": self.reverse,
            "gate_bias": self.gate_bias,
        }


def autoregressive_steps(
    count: int, dim: int, context_dim: int, hidden: Sequence[int] = (320, 320)
) -> list[AutoregressiveStep]:
    """`count` inverse autoregressive steps over `dim` dimensions, the order of the dimensions reversed from one step
    to the next (as Kingma et al. do), named iaf0, iaf1, ..."""
    return [AutoregressiveStep(dim, context_dim, hidden, reverse=i % 2 == 1, name=f"iaf{i}") for i in range(int(count))]


class FlowPosterior(Distribution):
    """q(z|x): `base`, a diagonal Gaussian, pushed through `steps` in turn, each with its per-image context.

    Its density is exact at the codings it produces (its draws, `sample`, and the image of the base's mean,
    `mean`): each remembers its log q, which `log_prob` returns for that same tensor. Any other value raises
    NotImplementedError, for a flow need not have an inverse in closed form (a planar one has none)."""

    def __init__(self, base: DiagonalGaussian, steps: Sequence[FlowStep], contexts: Sequence[Any]):
        self.base, self.steps, self.contexts = base, list(steps), list(contexts)
        self._known: list[tuple[Any, Any]] = []

    def _push(self, z):
        log_q = self.base.log_prob(z)
        for step, context in zip(self.steps, self.contexts):
            z, log_det = step(z, context)
            log_q = log_q - log_det
        self._known.append((z, log_q))
        return z

    def sample(self, seed=None):
        return self._push(self.base.sample(seed))

    def mean(self):
        """f_K(...f_1(mean of the base)): the coding of the base's most likely point (a flow moves the mean)."""
        return self._push(self.base.mean())

    def log_prob(self, value):
        for z, log_q in self._known:
            if value is z:
                return log_q
        raise NotImplementedError(
            "a flow posterior's density is known only at the codings it produced (its draws and its mean)."
        )

    def repeat(self, k: int) -> FlowPosterior:
        return FlowPosterior(
            self.base.repeat(k),
            self.steps,
            [None if c is None else ops.tile(c, [k] + [1] * (len(c.shape) - 1)) for c in self.contexts],
        )


class FlowMLPEncoder(_MLPPart, Encoder):
    """The Gaussian MLP encoder with a flow after it: heads for the base's mean and log-variance and for each step's
    context from the same hidden layers; `call` gives a `FlowPosterior` through `steps`. `condition`, `branches`
    and `split` are those of `GaussianMLPEncoder` (so it can be q(z1 | x, z2) of a two-layer model)."""

    def __init__(
        self,
        latent_dim: int,
        steps: Sequence[FlowStep],
        hidden=(500, 500),
        activation="elu",
        initializer="he_normal",
        branches: int = 0,
        split: int = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self._mlp_init(hidden, activation, initializer, branches, split)
        self.latent_dim = int(latent_dim)
        self.mean_head = self._dense(latent_dim, "mean")
        self.log_var_head = self._dense(latent_dim, "log_var")
        self.steps = list(steps)
        self.context_heads = [
            self._dense(step.context_dim, f"context{i}") if step.context_dim else None
            for i, step in enumerate(self.steps, start=1)
        ]

    def build(self, input_shape):
        for step in self.steps:  # the steps run only when the posterior draws; their weights exist from here
            context = ops.zeros((1, step.context_dim)) if step.context_dim else None
            step(ops.zeros((1, self.latent_dim)), context)
        self.built = True

    def call(self, x, condition=None, training=False):
        h = self._body(x, condition, training)
        base = DiagonalGaussian(self.mean_head(h), self.log_var_head(h))
        contexts = [None if head is None else head(h) for head in self.context_heads]
        return FlowPosterior(base, self.steps, contexts)

    def get_config(self):
        return {**super().get_config(), **self._mlp_config(), "latent_dim": self.latent_dim}
