"""The PixelCNN sampler (van den Oord et al. 2016), registered through `register_samplers`: a prior over maps of codes.

`pixelcnn`: for codings that are maps of code vectors (a model whose `coding_shape` is (height, width, depth), as
vq-vae's 7x7 map of 16-value codes), the codebook is the set of distinct vectors of the training maps (up to float
rounding; at most 4096 of them), each map becomes a map of code indices, and an autoregressive network gives each
position a categorical distribution over the codes given the positions before it in raster order. The network: an
embedding of the codes, a masked convolution of type A (it sees only earlier positions), four residual blocks around
masked convolutions of type B (they also see their own position's features), 64 channels (32 inside the blocks),
two 1x1 layers to the K logits. The masked kernels are 2W - 1 wide on a map W wide, so every layer sees the whole
rows above it, which removes the blind spot of stacked 3x3 masks; the first sees two rows up (more for maps taller than
seven rows) and each block one more, so every position sees every position before it.

Fitted by maximum likelihood on the training maps (3000 Adam steps of 64 maps, fewer when that would be more than 20
passes over a small set of maps, at least 200); the weights kept are those, of every 500th step (and the last), that
give the validation maps the lowest negative log-likelihood. Sampling draws the maps position by position in NumPy
from the weights kept as arrays: one pass of the network per position, each computing only that position's features
from the features of the positions before it (the masks make those final as soon as they are computed), then that
position's code from its softmax. Fitting imports TensorFlow (as the model did already);
`load` and `sample` do not. For vq-vae's 50 000 digit maps the fit took 4 min here, the 2 cores shared with other
trainings (2000 steps took 2 min, but left the validation maps 1 nat worse and the samples' FID 13.3 against 9.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from genmodels import hookimpl
from genmodels.errors import ConfigError, DatasetError
from genmodels.samplers import FittedSampler
from genmodels.specs import SamplerSpec

MAX_CODES = 4096  # more distinct position vectors than this and the codings are not codes from a codebook
TOLERANCE = 1e-4  # vectors closer than this (times their largest value, at least 1) are the same code
EMBEDDING = 16  # values of each code's learned embedding, the network's input
CHANNELS = 64  # the residual stream's channels
BOTTLENECK = 32  # channels of each block's masked convolution
BLOCKS = 4
FIRST_ROWS = 2  # rows above a position that the first masked convolution sees; each block sees one more
STEPS = 3000
MOST_PASSES = 20  # over a small set of maps the fit stops after this many passes (but takes at least MIN_STEPS)
MIN_STEPS = 200
CHECK_EVERY = 500
BATCH_SIZE = 64
LEARNING_RATE = 2e-3  # falls to 0 along a cosine over the steps
SAMPLE_CHUNK = 1000  # maps drawn together
NETWORK = ("embedding", "first_kernel", "first_bias", "head_kernel", "head_bias", "logits_kernel", "logits_bias")
BLOCK = ("in_kernel", "in_bias", "kernel", "bias", "out_kernel", "out_bias")
FACTS = {  # what `info` calls the facts of the fit
    "codes": "codes",
    "kept_step": "kept step",
    "validation_nll": "validation NLL per map (nats)",
    "validation_bits": "validation bits per position",
    "marginal_bits": "independent positions' bits per position",
}


def mask(rows_above: int, width: int, kind: str) -> np.ndarray:
    """The mask of a (rows_above + 1) x (2 width - 1) kernel centred on the current position: every tap in the
    rows above; in the current row, the taps left of the centre (kind "A") or up to it (kind "B")."""
    centre = width - 1
    allowed = np.ones((rows_above + 1, 2 * width - 1))
    allowed[-1, centre + (kind == "B") :] = 0.0
    return allowed


def _shape_refusal(codings: np.ndarray) -> str:
    shape = codings.shape[1:]
    what = f"flat rows of {shape[0]} values" if len(shape) == 1 else f"shaped {tuple(shape)}"
    return (
        f"the pixelcnn sampler models maps of codes (codings shaped height x width x depth, as vq-vae's); this "
        f"model's codings are {what}: choose another sampler (gmm, maf, two-stage)."
    )


def codebook_of(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct vectors of `maps` (N, H, W, D), (K, D), and each position's index among them, (N, H, W); vectors
    that differ by float rounding only are one code. Refuses (ConfigError) more than MAX_CODES distinct vectors."""
    rows = maps.reshape(-1, maps.shape[-1])
    tolerance = TOLERANCE * max(1.0, float(np.abs(rows).max(initial=0.0)))
    keys = np.round(rows / tolerance).astype(np.int64)
    if len(np.unique(keys[: 16 * MAX_CODES], axis=0)) > MAX_CODES:  # continuous values refused before a long sort
        raise _too_many()
    mixer = np.random.default_rng(0).integers(1, 2**62, size=keys.shape[1])  # one int64 per row: a fast sort
    with np.errstate(over="ignore"):
        hashes = (keys * mixer).sum(axis=1)
    unique, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    if not np.array_equal(keys[first][inverse.reshape(-1)], keys):  # two keys with one hash: sort the rows
        unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    if len(unique) > MAX_CODES:
        raise _too_many()
    candidates, label, kept = rows[first], np.full(len(first), -1), []
    for index in range(len(candidates)):  # keys split by a rounding boundary join the code they round next to
        if label[index] < 0:
            near = (np.abs(candidates - candidates[index]).max(axis=1) <= 2 * tolerance) & (label < 0)
            label[near] = len(kept)
            kept.append(index)
    return candidates[kept], label[inverse.reshape(-1)].reshape(maps.shape[:-1])


def _too_many() -> ConfigError:
    return ConfigError(
        f"the pixelcnn sampler models maps whose position vectors are codes of a codebook (at most {MAX_CODES}); "
        f"these codings take more than {MAX_CODES} distinct vectors: choose another sampler (gmm, maf, two-stage)."
    )


def nearest_codes(maps: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """The index of the code nearest to each position's vector of `maps` (N, H, W, D), (N, H, W)."""
    rows = maps.reshape(-1, maps.shape[-1])
    squared = (codebook**2).sum(axis=1)
    found = [
        np.argmin(squared - 2.0 * rows[start : start + 4096] @ codebook.T, axis=1)
        for start in range(0, len(rows), 4096)
    ]
    return np.concatenate(found or [np.zeros(0, int)]).reshape(maps.shape[:-1])


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _masked_conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A masked convolution of whole maps (N, H, W, C): the taps of the rows above and of the current row up to
    the centre (the mask zeroes those after it that it does not allow)."""
    rows_above, half = kernel.shape[0] - 1, (kernel.shape[1] - 1) // 2
    height, width = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (rows_above, 0), (half, half), (0, 0)))
    out = np.zeros((*x.shape[:3], kernel.shape[3]), x.dtype) + bias
    for i in range(rows_above + 1):
        for j in range(kernel.shape[1] if i < rows_above else half + 1):
            out += padded[:, i : i + height, j : j + width] @ kernel[i, j]
    return out


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class PixelCNN(FittedSampler):
    """Maps of codes drawn position by position from the network's conditionals, returned as code vectors."""

    def __init__(self, codebook, shape, network: dict[str, np.ndarray], blocks: list[dict[str, np.ndarray]], facts):
        self.codebook = np.asarray(codebook, np.float64)
        self.shape = tuple(int(n) for n in shape)  # (H, W, D)
        self.network = {name: np.asarray(network[name], np.float32) for name in NETWORK}
        self.blocks = [{name: np.asarray(block[name], np.float32) for name in BLOCK} for block in blocks]
        self.facts = dict(facts)

    def position_log_probs(self, indices: np.ndarray) -> np.ndarray:
        """log p(code at each position | the codes before it), (N, H, W, K), from one pass over whole maps."""
        net = self.network
        x = _masked_conv(net["embedding"][np.asarray(indices)], net["first_kernel"], net["first_bias"])
        for block in self.blocks:
            inner = _relu(_relu(x) @ block["in_kernel"] + block["in_bias"])
            x = x + _relu(_masked_conv(inner, block["kernel"], block["bias"])) @ block["out_kernel"] + block["out_bias"]
        return _log_softmax(self._logits(x).astype(np.float64))

    def _logits(self, x: np.ndarray) -> np.ndarray:
        net = self.network
        return _relu(_relu(x) @ net["head_kernel"] + net["head_bias"]) @ net["logits_kernel"] + net["logits_bias"]

    def log_likelihoods(self, indices: np.ndarray) -> np.ndarray:
        """log p(map) in nats of each map of code indices (N, H, W)."""
        indices = np.asarray(indices)
        log_probs = self.position_log_probs(indices)
        return np.take_along_axis(log_probs, indices[..., None], axis=-1)[..., 0].sum(axis=(1, 2))

    def draw(self, uniforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Maps of code indices (N, H, W), each position's code the inverse of its conditional's distribution
        function at that position's uniform (N, H, W), and the log-probability of each code drawn (N, H, W)."""
        net, height, width = self.network, self.shape[0], self.shape[1]
        count = len(uniforms)
        first_rows, half = net["first_kernel"].shape[0] - 1, width - 1
        inputs = np.zeros((count, first_rows + height, 2 * half + width, net["embedding"].shape[1]), np.float32)
        inners = [  # each block's masked-convolution input, kept for the positions drawn so far
            np.zeros(
                (count, block["kernel"].shape[0] - 1 + height, 2 * half + width, block["kernel"].shape[2]), np.float32
            )
            for block in self.blocks
        ]
        indices, log_probs = np.zeros((count, height, width), np.int64), np.zeros((count, height, width))
        for r in range(height):
            for c in range(width):
                x = _patch(inputs, r, c, net["first_kernel"]) + net["first_bias"]
                for block, inner in zip(self.blocks, inners):
                    rows_above = block["kernel"].shape[0] - 1
                    inner[:, r + rows_above, c + half] = _relu(_relu(x) @ block["in_kernel"] + block["in_bias"])
                    masked = _relu(_patch(inner, r, c, block["kernel"]) + block["bias"])
                    x = x + masked @ block["out_kernel"] + block["out_bias"]
                log_p = _log_softmax(self._logits(x).astype(np.float64))
                cumulative = np.cumsum(np.exp(log_p), axis=1)
                drawn = (cumulative < uniforms[:, r, c, None] * cumulative[:, -1:]).sum(axis=1)
                drawn = np.minimum(drawn, log_p.shape[1] - 1)
                indices[:, r, c], log_probs[:, r, c] = drawn, log_p[np.arange(count), drawn]
                inputs[:, r + first_rows, c + half] = net["embedding"][drawn]
        return indices, log_probs

    def sample(self, n: int, seed: int) -> np.ndarray:
        """`n` maps of code vectors, (n, H, W, D) float32, drawn SAMPLE_CHUNK maps at a time."""
        uniforms = np.random.default_rng(seed).random((n, *self.shape[:2]))
        chunks = [self.draw(uniforms[start : start + SAMPLE_CHUNK])[0] for start in range(0, n, SAMPLE_CHUNK)]
        indices = np.concatenate(chunks) if chunks else np.zeros((0, *self.shape[:2]), np.int64)
        return self.codebook[indices].astype(np.float32)

    def graph_log_probs(self, indices):
        """`position_log_probs` in TensorFlow, for maps of code indices (N, H, W) given as a tensor: every masked
        convolution one convolution of the map padded above and at both sides (the kernels are stored masked)."""
        import tensorflow as tf

        def conv(x, kernel, bias):
            rows_above, half = kernel.shape[0] - 1, (kernel.shape[1] - 1) // 2
            padded = tf.pad(x, [[0, 0], [rows_above, 0], [half, half], [0, 0]])
            return tf.nn.conv2d(padded, tf.constant(kernel), strides=1, padding="VALID") + tf.constant(bias)

        def dense(x, kernel, bias):
            return tf.tensordot(x, tf.constant(kernel), 1) + tf.constant(bias)

        net = self.network
        x = conv(tf.gather(tf.constant(net["embedding"]), indices), net["first_kernel"], net["first_bias"])
        for block in self.blocks:
            inner = tf.nn.relu(dense(tf.nn.relu(x), block["in_kernel"], block["in_bias"]))
            x = x + dense(
                tf.nn.relu(conv(inner, block["kernel"], block["bias"])), block["out_kernel"], block["out_bias"]
            )
        head = tf.nn.relu(dense(tf.nn.relu(x), net["head_kernel"], net["head_bias"]))
        return tf.nn.log_softmax(dense(head, net["logits_kernel"], net["logits_bias"]), axis=-1)

    def graph_sample(self, n, seed):
        """`sample` in TensorFlow: position by position in raster order, each code drawn from its conditional given
        the codes before it (a pass of the network over the map each time), from stateless seeds [seed, position]."""
        import tensorflow as tf

        height, width = self.shape[:2]
        seed = tf.cast(seed, tf.int64)

        def draw_one(position, indices):  # one symbolic loop: the graph holds the network once
            r, c = position // width, position % width
            logits = tf.gather(tf.gather(self.graph_log_probs(indices), r, axis=1), c, axis=1)
            step_seed = tf.stack([seed, tf.cast(position, tf.int64)])
            drawn = tf.random.stateless_categorical(logits, 1, seed=step_seed, dtype=tf.int32)[:, 0]
            place = tf.reshape(tf.one_hot(position, height * width, dtype=tf.int32), [1, height, width])
            return position + 1, indices + place * drawn[:, None, None]

        indices = tf.zeros(tf.stack([n, height, width]), tf.int32)  # positions not drawn yet hold code 0: unseen
        _, indices = tf.while_loop(lambda position, _: position < height * width, draw_one, (tf.constant(0), indices))
        return tf.gather(tf.constant(self.codebook, tf.float32), indices)

    def arrays(self) -> dict[str, np.ndarray]:
        blocks = {f"block{index}_{name}": block[name] for index, block in enumerate(self.blocks) for name in BLOCK}
        facts = {f"fact_{key}": np.float64(value) for key, value in self.facts.items()}
        shape = np.asarray(self.shape, np.int64)
        return {"codebook": self.codebook, "shape": shape, **self.network, **blocks, **facts}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> PixelCNN:
        try:
            codebook, shape = np.asarray(arrays["codebook"], np.float64), tuple(np.asarray(arrays["shape"]).tolist())
            network = {name: np.asarray(arrays[name]) for name in NETWORK}
            count = sum(1 for key in arrays if key.startswith("block") and key.endswith("_in_kernel"))
            blocks = [{name: np.asarray(arrays[f"block{i}_{name}"]) for name in BLOCK} for i in range(count)]
        except KeyError as exc:
            raise DatasetError(f"a pixelcnn sampler's arrays lack {exc}.") from None
        if not _fits(codebook, shape, network, blocks):
            raise DatasetError("a pixelcnn sampler's arrays do not fit together or are not finite.")
        facts = {key.removeprefix("fact_"): float(value) for key, value in arrays.items() if key.startswith("fact_")}
        return cls(codebook, shape, network, blocks, facts)

    def info(self) -> dict[str, Any]:
        return {
            FACTS.get(key, key): int(value) if key in ("codes", "kept_step") else round(float(value), 3)
            for key, value in self.facts.items()
        }


def _patch(features: np.ndarray, r: int, c: int, kernel: np.ndarray) -> np.ndarray:
    """One position's masked convolution from the padded features kept so far (N, rows_above + H, 2(W - 1) + W, C)."""
    window = features[:, r : r + kernel.shape[0], c : c + kernel.shape[1]]
    return window.reshape(len(features), -1) @ kernel.reshape(-1, kernel.shape[3])


def _fits(codebook, shape, network, blocks) -> bool:
    """Whether the arrays make one network over maps of `shape` and codes of `codebook` (shapes and finite values)."""
    try:
        return _shapes_fit(codebook, shape, network, blocks) and all(
            np.isfinite(array).all()
            for array in (codebook, *network.values(), *(array for block in blocks for array in block.values()))
        )
    except IndexError:  # an array with fewer axes than it should have
        return False


def _shapes_fit(codebook, shape, network, blocks) -> bool:
    if len(shape) != 3 or codebook.ndim != 2 or codebook.shape[1] != shape[2] or not blocks:
        return False
    codes, width = codebook.shape[0], shape[1]
    embedding, first = network["embedding"], network["first_kernel"]
    channels = first.shape[3]
    fits = (
        embedding.shape == (codes, embedding.shape[1])
        and first.ndim == 4
        and first.shape[1:3] == (2 * width - 1, embedding.shape[1])
        and network["first_bias"].shape == (channels,)
        and network["head_kernel"].shape == (channels, channels)
        and network["head_bias"].shape == (channels,)
        and network["logits_kernel"].shape == (channels, codes)
        and network["logits_bias"].shape == (codes,)
        and all(
            block["in_kernel"].shape[0] == channels
            and block["kernel"].shape[1:] == (2 * width - 1, block["in_kernel"].shape[1], block["in_kernel"].shape[1])
            and block["in_bias"].shape == block["bias"].shape == (block["in_kernel"].shape[1],)
            and block["out_kernel"].shape == (block["in_kernel"].shape[1], channels)
            and block["out_bias"].shape == (channels,)
            for block in blocks
        )
    )
    return bool(fits)


def marginal_nll(train: np.ndarray, valid: np.ndarray, codes: int) -> float:
    """The validation maps' mean NLL (nats per map) under independent per-position marginals of the training maps
    (counts plus one half): the baseline that a model of the codes' dependence has to beat."""
    total = 0.0
    for r in range(train.shape[1]):
        for c in range(train.shape[2]):
            counts = np.bincount(train[:, r, c], minlength=codes) + 0.5
            total -= np.log(counts[valid[:, r, c]] / counts.sum()).mean()
    return total


def fit_pixelcnn(
    train: np.ndarray,
    valid: np.ndarray,
    seed: int = 0,
    *,
    steps: int | None = None,
    log: Callable[[str], None] | None = None,
) -> PixelCNN:
    """The network fitted to the training maps' code indices by maximum likelihood (`steps` Adam steps, by default
    `fit_steps(len(train))`); the step kept is chosen on the validation maps, whose score `log` is given at every
    check. Refuses (ConfigError) codings that are not maps of codes."""
    train, valid = np.asarray(train, np.float64), np.asarray(valid, np.float64)
    if train.ndim != 4:
        raise ConfigError(_shape_refusal(train))
    if len(train) == 0:
        raise DatasetError("the run's dataset has no training images to fit the pixelcnn sampler to.")
    steps = fit_steps(len(train)) if steps is None else steps
    codebook, train_codes = codebook_of(train)
    valid_codes = nearest_codes(valid, codebook) if len(valid) else None
    network, blocks, kept_step, best = _train(train_codes, valid_codes, len(codebook), seed, steps, log)
    height, width = train.shape[1:3]
    facts: dict[str, float] = {"codes": len(codebook), "kept_step": kept_step}
    if valid_codes is not None:
        positions = height * width
        facts["validation_nll"] = best
        facts["validation_bits"] = best / positions / math.log(2)
        facts["marginal_bits"] = marginal_nll(train_codes, valid_codes, len(codebook)) / positions / math.log(2)
    return PixelCNN(codebook, train.shape[1:], network, blocks, facts)


def fit_steps(maps: int) -> int:
    """Adam steps for `maps` training maps: STEPS, or MOST_PASSES passes over a set too small for them (>= MIN_STEPS)."""
    return int(min(STEPS, max(MIN_STEPS, MOST_PASSES * math.ceil(maps / BATCH_SIZE))))


def _train(
    train: np.ndarray,
    valid: np.ndarray | None,
    codes: int,
    seed: int,
    steps: int,
    log: Callable[[str], None] | None = None,
):
    """TensorFlow's maximum-likelihood fit: the kept (masked) weights as arrays, the kept step and its score."""
    import genmodels.backend  # noqa: F401  (TensorFlow, imported quietly)

    import keras
    import tensorflow as tf

    height, width = train.shape[1:]
    positions = height * width
    first_rows = max(FIRST_ROWS, height - 1 - BLOCKS)
    rng = np.random.default_rng(seed)

    def he(*shape):  # He-normal weights from the seed: the same seed, the same network
        fan_in = int(np.prod(shape[:-1]))
        return tf.Variable(rng.standard_normal(shape).astype(np.float32) * np.float32(math.sqrt(2.0 / fan_in)))

    def zeros(n):
        return tf.Variable(tf.zeros(n))

    span = 2 * width - 1
    network = {
        "embedding": tf.Variable(rng.standard_normal((codes, EMBEDDING)).astype(np.float32)),
        "first_kernel": he(first_rows + 1, span, EMBEDDING, CHANNELS),
        "first_bias": zeros(CHANNELS),
        "head_kernel": he(CHANNELS, CHANNELS),
        "head_bias": zeros(CHANNELS),
        "logits_kernel": he(CHANNELS, codes),
        "logits_bias": zeros(codes),
    }
    blocks = [
        {
            "in_kernel": he(CHANNELS, BOTTLENECK),
            "in_bias": zeros(BOTTLENECK),
            "kernel": he(2, span, BOTTLENECK, BOTTLENECK),
            "bias": zeros(BOTTLENECK),
            "out_kernel": he(BOTTLENECK, CHANNELS),
            "out_bias": zeros(CHANNELS),
        }
        for _ in range(BLOCKS)
    ]
    masks = {
        "A": tf.constant(mask(first_rows, width, "A")[:, :, None, None], tf.float32),
        "B": tf.constant(mask(1, width, "B")[:, :, None, None], tf.float32),
    }
    variables = [*network.values(), *(v for block in blocks for v in block.values())]

    def conv(x, kernel, kind):
        rows_above = kernel.shape[0] - 1
        x = tf.pad(x, [[0, 0], [rows_above, 0], [width - 1, width - 1], [0, 0]])
        return tf.nn.conv2d(x, kernel * masks[kind], 1, "VALID")

    def nll(indices):
        x = conv(tf.gather(network["embedding"], indices), network["first_kernel"], "A") + network["first_bias"]
        for block in blocks:
            inner = tf.nn.relu(tf.nn.relu(x) @ block["in_kernel"] + block["in_bias"])
            masked = tf.nn.relu(conv(inner, block["kernel"], "B") + block["bias"])
            x = x + masked @ block["out_kernel"] + block["out_bias"]
        head = tf.nn.relu(tf.nn.relu(x) @ network["head_kernel"] + network["head_bias"])
        logits = head @ network["logits_kernel"] + network["logits_bias"]
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(indices, logits), axis=[1, 2])

    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps))

    @tf.function
    def step(indices):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(nll(indices))
        optimizer.apply(tape.gradient(loss, variables), variables)

    score_of = tf.function(nll)

    def validation_nll() -> float:
        parts = [score_of(tf.constant(valid[i : i + 2000], tf.int32)).numpy() for i in range(0, len(valid), 2000)]
        return float(np.concatenate(parts).astype(np.float64).mean())

    def kept():
        weights = {name: v.numpy() for name, v in network.items()}
        weights["first_kernel"] = weights["first_kernel"] * masks["A"].numpy()
        kept_blocks = [{name: v.numpy() for name, v in block.items()} for block in blocks]
        for block in kept_blocks:
            block["kernel"] = block["kernel"] * masks["B"].numpy()
        return weights, kept_blocks

    train = train.astype(np.int32)
    best, weights, kept_step, order = np.inf, kept(), 0, np.empty(0, int)
    for done in range(1, steps + 1):
        if len(order) < BATCH_SIZE:  # a fresh pass in a fresh order
            order = np.concatenate([order, rng.permutation(len(train))])
        batch, order = order[:BATCH_SIZE], order[BATCH_SIZE:]
        step(tf.constant(train[batch]))
        if done % CHECK_EVERY == 0 or done == steps:
            score = validation_nll() if valid is not None else -done
            if score < best:
                best, weights, kept_step = score, kept(), done
            if log is not None:
                bits = score / math.log(2) / positions
                figure = f", validation {bits:.3f} bits per position" if valid is not None else ""
                log(f"pixelcnn sampler: step {done} of {steps}{figure}")
    return (*weights, kept_step, best)


@hookimpl
def register_samplers(register):
    register(
        SamplerSpec(
            name="pixelcnn",
            description="PixelCNN over maps of codes (vq-vae): codes drawn position by position; steps chosen on validation",
            fit=fit_pixelcnn,
            load=PixelCNN.from_arrays,
        )
    )
