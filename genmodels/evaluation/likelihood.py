"""Evaluation: the negative ELBO and the importance-weighted estimate of the negative log-likelihood.

The estimate (Burda et al. 2015) is, per image x, with z_1..z_k drawn from q(z|x):

    NLL(x) ~= -log( (1/k) * sum_i p(x|z_i) p(z_i) / q(z_i|x) )

It needs only the parts' densities (the encoder's posterior, the prior and the decoder's
likelihood), so every model built from the core interfaces gets it for free. The k samples are
processed in chunks with a running log-sum-exp, so k = 5000 fits in memory. A conditional model
is scored given each image's label: the estimate is then of -log p(x|y).
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from genmodels.core.errors import ConfigError
from genmodels.core.pixels import BINARY, EIGHT_BIT, fit_note, fits
from genmodels.evaluation.baselines import PixelBaseline
from genmodels.evaluation.baselines import score as score_baseline
from genmodels.nn.model import GenerativeModel, call_part, check_labels

DEFAULT_K = 5000
DEFAULT_BATCH_SIZE = 100
# Rows (images x samples) decoded per compiled call: 10000 keeps each layer's activations (20-30 MB)
# near the cache; 50000 was 1.5x slower on 2 cores (docs/performance.md).
SAMPLES_PER_STEP = 10_000


@dataclass
class Evaluation:
    """Figures of one evaluation, as written to evaluation-SPLIT.json; nats per image."""

    model: str
    split: str
    images: int
    k: int | None  # importance samples per image; None when the NLL was not asked for (--metrics)
    seed: int
    terms: dict[str, float]
    nll: float | None = None
    nll_standard_error: float | None = None
    negative_elbo: float | None = None
    note: str = ""
    seconds: float = 0.0
    conditional: bool = False  # the figures are of -log p(x|y), given each image's label
    pixels: str = BINARY  # the kind of values scored (genmodels.pixels)
    likelihood: str | None = None  # the support of the decoder's likelihood: binary, 8bit or continuous
    likelihood_fits: bool = True  # whether the figures are a likelihood of that data (see note when not)
    bits_per_dim: float | None = None  # the NLL in bits per value, for a probability mass that fits the data
    epoch: int | None = None  # the epoch whose weights were scored
    metrics: dict[str, dict] = field(
        default_factory=dict
    )  # each plugin metric's figures (genmodels.metrics.run_metrics)
    baseline: dict | None = (
        None  # the independent-pixel baseline's figures on the same images (genmodels.evaluation.baselines)
    )

    def beaten(self) -> bool | None:
        """Whether the model's NLL is below the independent-pixel baseline's on the same images (None when
        either is missing, or the model's figures are not a likelihood of the data)."""
        if self.nll is None or self.baseline is None or not self.likelihood_fits:
            return None
        return self.nll < self.baseline["nll"]

    def to_dict(self) -> dict:
        return asdict(self)

    def added_to(self, earlier: dict | None) -> dict:
        """These figures joined with an earlier evaluation of the same weights on the same images (`earlier`, as
        `to_dict` gave it): every metric of either (this one's where both have it), and the earlier likelihood
        figures when this evaluation did not compute the likelihood. An earlier evaluation of other weights or
        other images is replaced whole."""
        figures = self.to_dict()
        same = (
            isinstance(earlier, dict)
            and earlier.get("model") == self.model
            and earlier.get("epoch") == self.epoch
            and earlier.get("images") == self.images
            and isinstance(earlier.get("metrics"), dict)
        )
        if not same:
            return figures
        figures["metrics"] = {**earlier["metrics"], **figures["metrics"]}
        if self.k is None and earlier.get("k") is not None:
            figures.update({key: earlier.get(key) for key in LIKELIHOOD_FIGURES})
        return figures


# what `evaluate` computes with the likelihood (the top-level seed is the likelihood's; each metric keeps its own)
LIKELIHOOD_FIGURES = (
    "k",
    "seed",
    "nll",
    "nll_standard_error",
    "negative_elbo",
    "note",
    "likelihood",
    "likelihood_fits",
    "bits_per_dim",
    "baseline",
)


@dataclass
class Share:
    """This process's part of an evaluation: every `count`-th batch from `index`; `total` and `rows` put
    the parts of all processes together (here, alone, they return what they are given)."""

    index: int = 0
    count: int = 1

    def total(self, values: np.ndarray) -> np.ndarray:
        """`values` summed over every process."""
        return values

    def rows(self, rows: np.ndarray, per_worker: int) -> np.ndarray:
        """Every process's `rows` ((n, width) floats, at most `per_worker` each), one after another."""
        return rows


def likelihood_support(model: GenerativeModel, input_dim: int) -> str | None:
    """The `support` of the decoder's likelihood (what data it is a likelihood of), from one tiny pass."""
    forward = model.forward(ops.zeros((1, input_dim)), ops.zeros((1,), "int32") if model.conditional else None)
    return type(forward.likelihood).support


def has_posterior_density(model: GenerativeModel, input_dim: int) -> bool:
    """Whether q(z|x) has a density (a deterministic encoder's point mass does not)."""
    posterior = call_part(model.encoder, ops.zeros((1, input_dim)), model.condition_of(ops.zeros((1,), "int32")))
    try:
        posterior.log_prob(posterior.mean())
    except NotImplementedError:
        return False
    return True


TERMS_BATCH_SIZE = 1000


def batch_seed(seed: int, stream: str, batch: int) -> list[int]:
    """The state [key, 0] a seed generator is given before batch `batch` of the pass `stream`: its draws
    then depend on (seed, pass, batch) alone, so a batch draws the same numbers whichever worker scores
    it and however many batches came before (see `evaluate`'s `share`)."""
    digest = hashlib.sha256(f"{seed}:{stream}:{batch}".encode()).digest()
    return [int.from_bytes(digest[:4], "big") % (2**31 - 1), 0]


def term_sums(
    model: GenerativeModel,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    seed: int = 0,
    batches: Iterable[int] | None = None,
    batch_size: int = TERMS_BATCH_SIZE,
) -> dict[str, float]:
    """Each loss term summed over the images of `batches` (of `batch_size`; all by default), one coding drawn per image."""
    sums: dict[str, float] = {term.name: 0.0 for term in model.loss_terms}
    for batch in range(math.ceil(len(images) / batch_size)) if batches is None else batches:
        start = batch * batch_size
        model.seed_generator.state.assign(batch_seed(seed, "terms", batch))
        terms = model.loss_terms_of(images[start : start + batch_size], _rows(labels, start, batch_size))
        for name, value in terms.items():
            sums[name] += float(ops.sum(value))
    return sums


def loss_terms(
    model: GenerativeModel, images: np.ndarray, labels: np.ndarray | None = None, *, seed: int = 0
) -> dict[str, float]:
    """Mean of each loss term over `images` (one coding drawn per image), and their total `loss`."""
    means = {name: total / len(images) for name, total in term_sums(model, images, labels, seed=seed).items()}
    return {"loss": float(model.objective(means)), **means}


class ImportanceSampler:
    """Streams k importance samples per image through a compiled step; returns log p(x) estimates."""

    def __init__(self, model: GenerativeModel, k: int, seed: int = 0, samples_per_step: int = SAMPLES_PER_STEP):
        if k < 1:
            raise ValueError(f"k must be at least 1, received {k}.")
        self.model = model
        self.k = k
        self.samples_per_step = samples_per_step
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # A plain TensorFlow graph, not XLA: at thousands of rows per product, TensorFlow's oneDNN
        # matmuls beat XLA's own (2.8x per chunk here), and per-op overhead no longer matters.
        self._step = tf.function(self._chunk, jit_compile=False)

    def _chunk(self, x, x_repeated, labels, repeats: int):
        """log-sum-exp over `repeats` samples of log w, and their sum, for each image of `x`
        (`x_repeated`: `x` tiled `repeats` times, made once for all of a batch's chunks)."""
        model = self.model
        posterior = call_part(model.encoder, x, model.condition_of(labels)).repeat(repeats)
        z = posterior.sample(self.seed_generator)
        labels_repeated = None if labels is None else ops.tile(labels, [repeats])
        log_w = (
            call_part(model.decoder, z, model.condition_of(labels_repeated)).log_prob(x_repeated)
            + model.prior.log_prob(z)
            - posterior.log_prob(z)
        )
        log_w = ops.reshape(log_w, (repeats, -1))
        return ops.logsumexp(log_w, axis=0), ops.sum(log_w, axis=0)

    def log_likelihood(
        self, x: np.ndarray, labels: np.ndarray | None = None, batch: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per image: the k-sample estimate of log p(x) (of log p(x|y) given `labels`, for a conditional model),
        and the mean of log w (an ELBO estimate). With `batch`, the draws are those of that batch of the pass
        (`batch_seed`), whatever came before; without, they continue the sampler's stream."""
        if batch is not None:
            self.seed_generator.state.assign(batch_seed(self.seed, "importance", batch))
        x = tf.convert_to_tensor(x, tf.float32)
        labels = None if labels is None or not self.model.conditional else tf.convert_to_tensor(labels, tf.int32)
        per_step = max(1, min(self.k, self.samples_per_step // int(x.shape[0])))
        tiled = {}  # repeats -> x tiled that many times; at most two sizes per batch
        running = None
        total = 0.0
        done = 0
        while done < self.k:
            repeats = min(per_step, self.k - done)
            if repeats not in tiled:
                tiled[repeats] = tf.tile(x, [repeats, 1])
            lse, summed = self._step(x, tiled[repeats], labels, repeats)
            running = lse if running is None else np.logaddexp(running, lse)
            total = total + summed
            done += repeats
        return np.asarray(running) - math.log(self.k), np.asarray(total) / self.k


def evaluate(
    model: GenerativeModel,
    images: np.ndarray,
    *,
    model_name: str,
    split: str,
    k: int = DEFAULT_K,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    labels: np.ndarray | None = None,
    pixels: str = BINARY,
    epoch: int | None = None,
    share: Share | None = None,
    likelihood: bool = True,
    baseline: PixelBaseline | None = None,
) -> Evaluation:
    """Loss terms, negative ELBO and importance-weighted NLL of `model` on `images` (float rows in [0, 1]
    of data of kind `pixels`); a conditional model is scored given `labels` (one per image), so its
    figures are of -log p(x|y). Batches are drawn in a seeded random order (held-out sets may be sorted
    by class); bits per dimension are given when the likelihood is a probability mass that fits the data,
    and a note says so when its figures are not a likelihood of the data.

    Each batch draws from a seed of its own (`batch_seed`), so with a `share` (this worker's part of a
    distributed evaluation: `genmodels.training.distributed.ProcessGroup.share`) each worker scores every
    `count`-th batch and the gathered figures are the one-process figures. `progress(n)` is called after
    every batch this process scores, with the number of images it held. With `likelihood` off only the loss
    terms are computed (no importance sampling: `k` is None). With a `baseline` (`genmodels.evaluation.baselines.for_dataset`),
    its figures on the same images stand beside the model's (`Evaluation.baseline`).
    """
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    labels = check_labels(model, labels, f"the {split} split") if model.conditional else None
    order = np.random.default_rng(seed).permutation(len(images))
    images, labels = images[order], (None if labels is None else labels[order])
    share = share or Share()
    support = likelihood_support(model, images.shape[1])
    term_batches = range(share.index, math.ceil(len(images) / TERMS_BATCH_SIZE), share.count)
    sums = share.total(np.array(list(term_sums(model, images, labels, seed=seed, batches=term_batches).values())))
    means = dict(zip([term.name for term in model.loss_terms], (sums / len(images)).tolist()))
    result = Evaluation(
        model=model_name,
        split=split,
        images=len(images),
        k=k if likelihood else None,
        seed=seed,
        terms={"loss": float(model.objective(means)), **means},
        conditional=model.conditional,
        pixels=pixels,
        likelihood=support,
        likelihood_fits=fits(support, pixels),
        note=fit_note(support, pixels),
        epoch=epoch,
    )
    if baseline is not None:
        result.baseline = score_baseline(baseline, images).to_dict()
    if not has_posterior_density(model, images.shape[1]):
        result.note = _joined(
            result.note,
            f"The {model_name} model's encoder is deterministic: q(z|x) is a point mass with no density, "
            "so neither the ELBO nor the importance-weighted likelihood is defined; only its loss terms are.",
        )
        result.seconds = round(time.perf_counter() - started, 2)
        return result
    if not likelihood:
        result.seconds = round(time.perf_counter() - started, 2)
        return result
    count = math.ceil(len(images) / batch_size)
    positions, log_px, mean_log_w = _importance_pass(
        model, images, labels, k, seed, batch_size, progress, range(share.index, count, share.count)
    )
    gathered = share.rows(
        np.stack([positions, log_px, mean_log_w], axis=1), per_worker=math.ceil(count / share.count) * batch_size
    )
    gathered = gathered[np.argsort(gathered[:, 0])]
    nll_all = -gathered[:, 1]
    result.nll = float(nll_all.mean())
    result.nll_standard_error = float(nll_all.std(ddof=1) / math.sqrt(len(nll_all))) if len(nll_all) > 1 else 0.0
    result.negative_elbo = float(-gathered[:, 2].mean())
    if result.likelihood_fits and support in (BINARY, EIGHT_BIT):  # a probability mass: a code length
        result.bits_per_dim = result.nll / (images.shape[1] * math.log(2.0))
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def image_log_likelihoods(
    model: GenerativeModel,
    images: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    k: int = DEFAULT_K,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    what: str = "this",
) -> np.ndarray:
    """The k-sample importance-weighted estimate of log p(x) (log p(x|y) given `labels`) of each of `images`
    (float rows in [0, 1]), in their order: the per-image figures whose negated mean `evaluate` reports as
    the NLL for the same images and seed. A ConfigError for a model whose encoder is deterministic."""
    if not has_posterior_density(model, images.shape[1]):
        raise ConfigError(
            f"the {what} model's encoder is deterministic: q(z|x) has no density, so it has no likelihood estimate."
        )
    if model.conditional:
        labels = check_labels(model, labels, "the images")
    elif labels is not None:
        raise ConfigError(f"labels are for conditional models; the {what} model is not conditional.")
    order = np.random.default_rng(seed).permutation(len(images))
    _, log_px, _ = _importance_pass(
        model, images[order], None if labels is None else labels[order], k, seed, batch_size, None
    )
    return log_px[np.argsort(order)]


def _importance_pass(
    model, images, labels, k: int, seed: int, batch_size: int, progress, batches: Iterable[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the images of `batches` (all by default): their positions, the k-sample estimate of log p(x) and
    the mean of log w (an ELBO), each batch drawing from its own seed (`batch_seed`)."""
    sampler = ImportanceSampler(model, k, seed)
    positions, log_px, mean_log_w = [], [], []
    for batch in range(math.ceil(len(images) / batch_size)) if batches is None else batches:
        start = batch * batch_size
        batch_log_px, batch_mean = sampler.log_likelihood(
            images[start : start + batch_size], _rows(labels, start, batch_size), batch=batch
        )
        positions.append(np.arange(start, start + len(batch_log_px), dtype=np.float64))
        log_px.append(batch_log_px)
        mean_log_w.append(batch_mean)
        if progress:
            progress(len(batch_log_px))
    if not positions:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    return (
        np.concatenate(positions),
        np.concatenate(log_px).astype(np.float64),
        np.concatenate(mean_log_w).astype(np.float64),
    )


def _joined(*notes: str) -> str:
    return " ".join(note for note in notes if note)


def _rows(labels: np.ndarray | None, start: int, size: int) -> np.ndarray | None:
    return None if labels is None else labels[start : start + size]
