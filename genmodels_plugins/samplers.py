"""The built-in latent sampler, registered through `register_samplers` as a third party's would be.

- `gmm`: a Gaussian mixture with diagonal covariances fitted by EM to the posterior means of the training
  images (at most 20 000 of them); the number of components is the one, of 1, 2, 5, 10, 20, 50 and 100 (at
  most one per 20 training codings), whose mixture gives the validation images' codings the highest likelihood.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmodels import hookimpl
from genmodels.errors import DatasetError
from genmodels.samplers import FittedSampler
from genmodels.specs import SamplerSpec

COMPONENTS = (1, 2, 5, 10, 20, 50, 100)  # the candidates, chosen between on the validation codings
CODINGS_PER_COMPONENT = 20  # no more components than one per this many training codings
FALLBACK_COMPONENTS = 10  # without validation codings to choose on
MAX_ITERATIONS = 200
TOLERANCE = 1e-4  # stop when the mean log-likelihood per coding gains less than this in an iteration
MAX_FIT_CODINGS = 20_000  # a larger training set is fitted on this many of its codings, drawn with the seed
VARIANCE_FLOOR = 1e-4  # added to every variance: no component collapses onto one coding


class GaussianMixture(FittedSampler):
    """A mixture of `len(weights)` Gaussians with diagonal covariances over D-dimensional codings."""

    def __init__(
        self, weights: np.ndarray, means: np.ndarray, variances: np.ndarray, valid_log_likelihood: float | None = None
    ):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.asarray(means, dtype=np.float64)
        self.variances = np.asarray(variances, dtype=np.float64)
        self.valid_log_likelihood = valid_log_likelihood

    def log_likelihoods(self, codings: np.ndarray) -> np.ndarray:
        """log p(z) of each row of `codings`, (N,)."""
        joint = self._joint(np.asarray(codings, dtype=np.float64))
        top = joint.max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))

    def _joint(self, codings: np.ndarray) -> np.ndarray:
        """log(w_k N(z | mu_k, var_k)) for every coding and component, (N, K), from matrix products (no (N, K, D) array)."""
        precision = 1.0 / self.variances
        quadratic = (
            (codings**2) @ precision.T
            - 2.0 * codings @ (self.means * precision).T
            + (self.means**2 * precision).sum(axis=1)
        )
        return np.log(self.weights) - 0.5 * (quadratic + np.log(2 * np.pi * self.variances).sum(axis=1))

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        noise = rng.standard_normal((n, self.means.shape[1]))
        return (self.means[component] + np.sqrt(self.variances[component]) * noise).astype(np.float32)

    def graph_sample(self, n, seed):
        """The same draws in TensorFlow: a component from the weights, then its Gaussian, each from stateless seeds
        [seed, 0] and [seed, 1]."""
        import tensorflow as tf

        seed = tf.cast(seed, tf.int64)
        logits = tf.constant(np.log(self.weights / self.weights.sum())[None, :], tf.float32)
        component = tf.random.stateless_categorical(logits, n, seed=tf.stack([seed, tf.constant(0, tf.int64)]))[0]
        means = tf.gather(tf.constant(self.means, tf.float32), component)
        scales = tf.gather(tf.constant(np.sqrt(self.variances), tf.float32), component)
        return means + scales * tf.random.stateless_normal(
            tf.shape(means), seed=tf.stack([seed, tf.constant(1, tf.int64)])
        )

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {"weights": self.weights, "means": self.means, "variances": self.variances}
        if self.valid_log_likelihood is not None:
            arrays["valid_log_likelihood"] = np.float64(self.valid_log_likelihood)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> GaussianMixture:
        weights, means, variances = (
            np.asarray(arrays[key], dtype=np.float64) for key in ("weights", "means", "variances")
        )
        if (
            weights.ndim != 1
            or means.shape != variances.shape
            or means.shape[:1] != weights.shape
            or (variances <= 0).any()
        ):
            raise ValueError("inconsistent mixture arrays")
        valid = arrays.get("valid_log_likelihood")
        return cls(weights, means, variances, None if valid is None else float(valid))

    def info(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"components": len(self.weights)}
        if self.valid_log_likelihood is not None:
            facts["validation log-likelihood per coding"] = round(self.valid_log_likelihood, 3)
        return facts


def fit_mixture(codings: np.ndarray, components: int, seed: int = 0) -> GaussianMixture:
    """EM for a diagonal Gaussian mixture, its means started at `components` distinct codings drawn with `seed`."""
    codings = np.asarray(codings, dtype=np.float64)
    count = len(codings)
    rng = np.random.default_rng(seed)
    means = codings[rng.choice(count, size=components, replace=False)]
    variances = np.tile(codings.var(axis=0) + VARIANCE_FLOOR, (components, 1))
    mixture = GaussianMixture(np.full(components, 1.0 / components), means, variances)
    previous = -np.inf
    for _ in range(MAX_ITERATIONS):
        joint = mixture._joint(codings)
        top = joint.max(axis=1, keepdims=True)
        log_likelihood = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
        responsibility = np.exp(joint - log_likelihood[:, None])
        mass = responsibility.sum(axis=0) + 1e-12
        means = (responsibility.T @ codings) / mass[:, None]
        variances = np.maximum((responsibility.T @ codings**2) / mass[:, None] - means**2, 0.0) + VARIANCE_FLOOR
        mixture = GaussianMixture(mass / count, means, variances)
        if log_likelihood.mean() - previous < TOLERANCE:
            break
        previous = log_likelihood.mean()
    return mixture


def fit_gmm(train: np.ndarray, valid: np.ndarray, seed: int) -> GaussianMixture:
    """The mixture whose number of components gives the validation codings the highest mean log-likelihood."""
    train, valid = (np.asarray(c).reshape(len(c), int(np.prod(np.shape(c)[1:]))) for c in (train, valid))
    if len(train) == 0:
        raise DatasetError("the run's dataset has no training images to fit the gmm sampler to.")
    if len(train) > MAX_FIT_CODINGS:
        train = train[np.sort(np.random.default_rng(seed).choice(len(train), MAX_FIT_CODINGS, replace=False))]
    most = max(1, len(train) // CODINGS_PER_COMPONENT)
    candidates = [k for k in COMPONENTS if k <= most] or [1]
    if len(valid) == 0:
        return fit_mixture(train, min(FALLBACK_COMPONENTS, candidates[-1]), seed)
    best: GaussianMixture | None = None
    for components in candidates:
        mixture = fit_mixture(train, components, seed)
        mixture.valid_log_likelihood = float(mixture.log_likelihoods(valid).mean())
        if best is None or mixture.valid_log_likelihood > best.valid_log_likelihood:
            best = mixture
    return best


@hookimpl
def register_samplers(register):
    register(
        SamplerSpec(
            name="gmm",
            description="Gaussian mixture fitted to the training codings; components (1-100) chosen on validation",
            fit=fit_gmm,
            load=GaussianMixture.from_arrays,
        )
    )
