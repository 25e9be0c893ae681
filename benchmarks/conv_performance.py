"""The convolutional VAE in genmodels beside the same model in PyTorch eager, and its convolutions alone, in one table.

    pip install -e ".[torch-benchmark]"              # PyTorch for the comparison (never a dependency of genmodels)
    python benchmarks/conv_performance.py            # everything, 20-40 minutes on an idle 2-core machine
    python benchmarks/conv_performance.py --quick    # few images and epochs, about 3-5 minutes: a check that it all runs
    python benchmarks/conv_performance.py --datasets colour --json conv.json

The model is `conv-vae` with its default options: Conv2D(32, 3, stride 2, same, elu) -> Conv2D(64, 3, stride 2,
same, elu) -> Dense(2 x 20) (mean and log-variance); Dense(h/4 x w/4 x 64, elu) -> Conv2DTranspose(32, 3, stride 2,
same, elu) -> Conv2DTranspose(channels x P, 3, stride 2, same) -> the likelihood; batch 150, Adam 1e-3, loss the
reconstruction term summed over the values plus the closed-form KL term, averaged over the batch. On two datasets:

- mnist: binarized MNIST, 28x28x1 (binarized_mnist.npz of $GENMODELS_DATA_DIR, else of ../shared/data), with the
  Bernoulli likelihood (P = 1, a logit per pixel);
- colour: 32x32x3 8-bit images made here from a seeded generator (smooth random colour fields, plus a little
  noise, rounded to levels 0..255; `colour_images`), with genmodels' Gaussian likelihood (`-o likelihood=gaussian`,
  P = 2 per value: mean = sigmoid(raw mean), log-scale = log(1/255) + softplus(raw - log(1/255)), values-major).

Every case runs in its own Python process (no case inherits another's threads, compiled functions or memory;
TensorFlow and PyTorch never share a process), one after another in this one invocation, so the ratios compare
figures taken on the same machine in the same minutes. The cases, per dataset:

- genmodels: `genmodels.training.trainer.train` exactly as `genmodels train conv-vae` runs it (its recipe: no XLA, TensorFlow
  graphs whose convolutions are oneDNN's), in compiled multi-step loops over uint8 images kept in memory; seconds of
  its training steps per epoch (the validation pass after each epoch is left out) and the final test loss; and again
  as `genmodels train conv-vae --xla` runs it: XLA-compiled steps whose convolutions are matrix products of patches
  (genmodels.nn.convolutions);
- torch: the same architecture in PyTorch eager (nn.Conv2d / nn.ConvTranspose2d with stride 2, padding 1 and
  output_padding 1, so the shapes are TensorFlow's 'same'; ELU; He-normal initialisation, Glorot-uniform for the last
  layer as Keras' default there), the same loss, Adam 1e-3 (Keras' epsilon 1e-7), batch 150, the same images and
  epochs, `torch.set_num_threads(os.cpu_count())`, the images kept as uint8 and converted batch by batch; once in
  PyTorch's default (contiguous NCHW) memory format and once channels-last: the faster is "torch best";
- floor: the model's four convolutions alone (the encoder's two Conv2D and the decoder's two Conv2DTranspose,
  forward and backward for a batch of 150: 4 + 7 oneDNN kernels, no activations, dense layers, losses or optimizer)
  in a tf.function loop without XLA, over the batches of one epoch: what an epoch would cost if all else were free,
  with TensorFlow's own convolutions;
- floor-lowered: the same convolutions, forward and backward, as genmodels computes them under XLA (patches and
  matrix products), in an XLA-compiled loop: the floor of genmodels' own way;
- matmul: the machine's float32 rate on a 2048 x 2048 product (XLA and oneDNN, the higher kept); the convolutions'
  FLOPs divided by it are what an epoch's convolutions would take at that rate; and oneDNN's bfloat16 rate;
- precision: genmodels as `genmodels train conv-vae` runs it, in float32 and with `--precision bfloat16`, on fewer
  images (bfloat16 is several times slower on a CPU without avx512_bf16): s/epoch and test loss of each;
- evaluate: the importance-weighted NLL at k = 5000 of `genmodels.evaluation.likelihood.evaluate` on test images, with the
  model that the genmodels case trained; and the same estimator in PyTorch for the model that its torch case trained
  (the encoder once per image, k codings, the decoder in chunks of 10000 rows, a running logsumexp), in images/s.

Sizes (training images x epochs; the first, compiling epoch of each training is not timed):

    default:  mnist 50000 x 3, colour 50000 x 3; test loss on 2000 test images; evaluate 200 images (batches of 100);
              precision 10000 x 3 each
    --quick:  mnist  3000 x 3, colour  3000 x 3; test loss on  500 test images; evaluate  30 images (batches of 10);
              precision 1500 x 3 each

The report starts with the CPU's flags that decide these rates (avx2, avx512f, avx512_bf16, amx_bf16): machines of one
kind differ in them, and the matmul rate with them.

The test loss is the negative ELBO in nats per image with one coding each, computed in NumPy from each model's
outputs with the same noise, so the two trainings are scored alike; after equal epochs they should be close. The
evaluation rate leaves out the first batch (which traces and warms up) when there are several.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

LATENT = 20
CHANNELS = (32, 64)  # conv-vae's default
BATCH = 150
LEARNING_RATE = 1e-3
ADAM_EPSILON = 1e-7  # Keras' default (PyTorch's is 1e-8)
SEED = 0
K = 5000
ROWS_PER_CHUNK = 10_000  # genmodels.evaluation.likelihood.SAMPLES_PER_STEP: images x samples decoded at once
VALID_IMAGES = 1000  # genmodels' validation pass after each epoch (not timed) runs over these
FULL_EVALUATION = 10_000  # the test images of a full `genmodels evaluate`
CPU_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_bf16",
    "amx_bf16",
)  # what decides these figures: hosts of one kind differ in them
LOG_2PI = math.log(2.0 * math.pi)
GAUSSIAN_LOG_MIN_SCALE = math.log(1.0 / 255.0)  # genmodels.nn.likelihoods.GAUSSIAN_MIN_SCALE
REPO = Path(__file__).resolve().parents[1]


class ImageSet(NamedTuple):
    """A dataset of the benchmark: its images' shape, what their values are and the likelihood trained on them."""

    title: str
    shape: tuple[int, int, int]
    pixels: str  # genmodels.core.pixels: "binary" or "8bit"
    likelihood: str
    params: int  # raw decoder outputs per value

    @property
    def values(self) -> int:
        return math.prod(self.shape)

    @property
    def scale(self) -> float:
        """What a stored uint8 value is multiplied by to give the model's value in [0, 1]."""
        return 1.0 / 255.0 if self.pixels == "8bit" else 1.0


DATASETS = {
    "mnist": ImageSet("binarized MNIST 28x28x1, Bernoulli", (28, 28, 1), "binary", "bernoulli", 1),
    "colour": ImageSet("generated colour 32x32x3 (8-bit), Gaussian", (32, 32, 3), "8bit", "gaussian", 2),
}


def conv_flops(name: str) -> dict[str, int]:
    """FLOPs of one image through the model's convolutions (2 x multiply-adds): forward, and a training step, which
    adds for every convolution its kernel's gradient and, except for the first (the images need none), its input's."""
    data = DATASETS[name]
    height, width, channels = data.shape
    stages, size = [], (height, width)
    for inputs, outputs in zip((channels, *CHANNELS[:-1]), CHANNELS):  # encoder: outputs at half the size
        size = (size[0] // 2, size[1] // 2)
        stages.append(2 * size[0] * size[1] * inputs * outputs * 9)
    decoder = [*CHANNELS[::-1], channels * data.params]
    for inputs, outputs in zip(decoder, decoder[1:]):  # decoder: each input position scatters into a 3x3 window
        stages.append(2 * size[0] * size[1] * inputs * outputs * 9)
        size = (size[0] * 2, size[1] * 2)
    forward = sum(stages)
    return {"forward": forward, "train": 3 * forward - stages[0]}


# ---- data (NumPy only: the PyTorch cases never import TensorFlow) --------------------------------


def data_file() -> Path:
    """binarized_mnist.npz in $GENMODELS_DATA_DIR, else in ../shared/data beside the repository, else genmodels' cache."""
    configured = os.environ.get("GENMODELS_DATA_DIR")
    if configured:
        return Path(configured).expanduser() / "binarized_mnist.npz"
    shared = REPO.parent / "shared" / "data" / "binarized_mnist.npz"
    if shared.is_file():
        return shared
    from genmodels.data.store import data_dir  # no TensorFlow

    return data_dir() / "binarized_mnist.npz"


def colour_images(count: int, seed: int, size: int = 32, grid: int = 4) -> "np.ndarray":  # noqa: F821
    """`count` smooth random colour images (count, size, size, 3), uint8: per channel a `grid` x `grid` field of
    uniform levels interpolated bilinearly to size x size, plus Gaussian noise of 4 levels, rounded and clipped.
    Each thousand images has a seed of its own, so fewer images are the first ones of more."""
    import numpy as np

    position = np.linspace(0.0, grid - 1.0, size)
    weights = np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(grid)[None, :])).astype(
        np.float32
    )  # (size, grid)
    images = np.empty((count, size, size, 3), dtype=np.uint8)
    for start in range(0, count, 1000):
        n = min(1000, count - start)
        rng = np.random.default_rng([seed, start // 1000])
        coarse = rng.random((1000, grid, grid, 3), dtype=np.float32)[:n] * np.float32(
            255.0
        )  # a whole thousand's draws, always
        smooth = (weights @ coarse.transpose(0, 3, 1, 2) @ weights.T).transpose(0, 2, 3, 1)  # (n, size, size, 3)
        noisy = smooth + rng.standard_normal((1000, size, size, 3), dtype=np.float32)[:n] * np.float32(4.0)
        images[start : start + n] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return images


def load_images(name: str, train_images: int, test_images: int = FULL_EVALUATION) -> dict[str, "np.ndarray"]:  # noqa: F821
    """The first `train_images` training images, VALID_IMAGES validation and `test_images` test images, each
    (N, H, W, C) uint8 as stored; the same arrays for every case (each split of the colour data has its own seed)."""
    import numpy as np

    shape = DATASETS[name].shape
    if name == "colour":
        counts = {"train": train_images, "valid": VALID_IMAGES, "test": test_images}
        return {
            split: colour_images(count, seed=SEED * 10 + index) for index, (split, count) in enumerate(counts.items())
        }
    with np.load(data_file(), allow_pickle=False) as npz:
        arrays = {
            "train": npz["train"][:train_images],
            "valid": npz["valid"][:VALID_IMAGES],
            "test": npz["test"][:test_images],
        }
    if len(arrays["train"]) < train_images:
        raise SystemExit(
            f"{data_file()} holds {len(arrays['train'])} training images, fewer than the {train_images} asked for."
        )
    return {split: array.astype(np.uint8).reshape(len(array), *shape) for split, array in arrays.items()}


def test_rows(name: str, images: "np.ndarray") -> "np.ndarray":  # noqa: F821
    """The fixed test images whose loss is reported, as the model sees them: float32 rows in [0, 1], (N, H*W*C)."""
    import numpy as np

    return images.reshape(len(images), -1).astype(np.float32) * np.float32(DATASETS[name].scale)


def log_likelihood(raw: "np.ndarray", x: "np.ndarray", likelihood: str) -> "np.ndarray":  # noqa: F821
    """log p(x|z) per row in NumPy (float64), from a decoder's raw outputs (B, D * P) laid out values-major as
    genmodels.nn.likelihoods.PixelLikelihood reads them, for values x (B, D) in [0, 1]."""
    import numpy as np

    raw, x = np.asarray(raw, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if likelihood == "bernoulli":
        return -np.sum(np.maximum(raw, 0) - raw * x + np.log1p(np.exp(-np.abs(raw))), axis=1)
    if likelihood != "gaussian":
        raise ValueError(f"the benchmark knows the bernoulli and gaussian likelihoods, not {likelihood!r}.")
    params = raw.reshape(len(raw), -1, 2)
    mean = 1.0 / (1.0 + np.exp(-params[..., 0]))
    log_scale = GAUSSIAN_LOG_MIN_SCALE + np.logaddexp(0.0, params[..., 1] - GAUSSIAN_LOG_MIN_SCALE)
    standardized = (x - mean) * np.exp(-log_scale)
    return -np.sum(0.5 * LOG_2PI + log_scale + 0.5 * standardized**2, axis=1)


def test_loss(encode, decode_raw, rows, likelihood: str, batch: int = 500) -> float:
    """Negative ELBO in nats per image, one coding each, from a model's `encode` (rows -> mean, log-variance) and
    `decode_raw` (codings -> raw outputs, values-major); the codings' noise comes from SEED, the same for every model."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    total = 0.0
    for start in range(0, len(rows), batch):
        x = rows[start : start + batch]
        mean, log_var = (np.asarray(t, dtype=np.float32) for t in encode(x))
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape).astype(np.float32)
        reconstruction = -log_likelihood(decode_raw(z), x, likelihood)
        kl = 0.5 * np.sum(np.exp(log_var) + mean.astype(np.float64) ** 2 - 1.0 - log_var, axis=1)
        total += float(np.sum(reconstruction + kl))
    return total / len(rows)


# ---- the model in PyTorch -------------------------------------------------------------------------


def torch_vae(name: str, layout: str = "contiguous"):
    """conv-vae's encoder and decoder for dataset `name` as a torch.nn.Module in `layout` ("contiguous" or
    "channels_last"), initialised as Keras initialises conv-vae (He-normal, the last layer Glorot-uniform, zero biases).

    `encode(x)` takes images (B, C, H, W) and gives the mean and log-variance of q(z|x); `decode(z)` gives the raw
    outputs (B, C * P, H, W) whose channel c * P + p holds parameter p of channel c, as genmodels' values-major layout."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    data = DATASETS[name]
    height, width, channels = data.shape
    small = (height // 2 ** len(CHANNELS), width // 2 ** len(CHANNELS))
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format

    def he_normal_(weight):
        """Keras' he_normal: a normal of std sqrt(2 / fan_in) truncated at 2 std (rescaled for the truncation)."""
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
        std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
        nn.init.trunc_normal_(weight, 0.0, std, -2.0 * std, 2.0 * std)

    class ConvVAE(nn.Module):
        def __init__(self):
            super().__init__()
            encoder = []
            for inputs, outputs in zip((channels, *CHANNELS[:-1]), CHANNELS):
                encoder += [nn.Conv2d(inputs, outputs, 3, stride=2, padding=1), nn.ELU()]
            self.encoder = nn.Sequential(*encoder, nn.Flatten())
            self.head = nn.Linear(CHANNELS[-1] * small[0] * small[1], 2 * LATENT)
            self.dense = nn.Linear(LATENT, CHANNELS[-1] * small[0] * small[1])
            decoder = []
            sizes = [*CHANNELS[::-1], channels * data.params]
            for inputs, outputs in zip(sizes, sizes[1:]):
                decoder += [nn.ConvTranspose2d(inputs, outputs, 3, stride=2, padding=1, output_padding=1), nn.ELU()]
            self.decoder = nn.Sequential(*decoder[:-1])  # no activation after the last: raw parameters
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    he_normal_(module.weight)
                    nn.init.zeros_(module.bias)
            nn.init.xavier_uniform_(
                self.decoder[-1].weight
            )  # Keras' default: conv-vae gives its last layer no initializer

        def encode(self, x):
            h = self.head(self.encoder(x))
            return h[:, :LATENT], h[:, LATENT:]

        def decode(self, z):
            h = F.elu(self.dense(z)).view(-1, CHANNELS[-1], *small).contiguous(memory_format=memory_format)
            return self.decoder(h)

    return ConvVAE().to(memory_format=memory_format)


def torch_log_likelihood(raw, x, likelihood: str):
    """log p(x|z) per image in PyTorch, from raw outputs (..., C * P, H, W) for images x (..., C, H, W) that broadcast
    to them (the evaluation decodes many codings of each image); the parameterisation of genmodels.nn.likelihoods."""
    import torch
    import torch.nn.functional as F

    if likelihood == "bernoulli":
        return -F.binary_cross_entropy_with_logits(raw, x.expand_as(raw), reduction="none").sum(dim=(-3, -2, -1))
    params = raw.unflatten(-3, (x.shape[-3], 2))  # (..., C, 2, H, W): channel c * 2 + p is parameter p of channel c
    mean = torch.sigmoid(params[..., 0, :, :])
    log_scale = GAUSSIAN_LOG_MIN_SCALE + F.softplus(params[..., 1, :, :] - GAUSSIAN_LOG_MIN_SCALE)
    standardized = (x - mean) * torch.exp(-log_scale)
    return -(0.5 * LOG_2PI + log_scale + 0.5 * standardized.square()).sum(dim=(-3, -2, -1))


def _torch_images(images, scale: float, layout: str):
    """A batch of stored uint8 images (B, H, W, C) as float32 (B, C, H, W) in `layout`."""
    import torch

    x = images.permute(0, 3, 1, 2).float()  # NHWC storage: this is channels-last already
    if scale != 1.0:
        x = x.mul_(scale)
    return x.contiguous(memory_format=torch.channels_last if layout == "channels_last" else torch.contiguous_format)


def _torch_rows(model, name: str, layout: str):
    """A torch model's `encode` and `decode_raw` on NumPy rows, for `test_loss`."""
    import numpy as np
    import torch

    height, width, channels = DATASETS[name].shape
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format

    @torch.inference_mode()
    def encode(rows):
        x = torch.from_numpy(np.ascontiguousarray(rows)).view(-1, height, width, channels).permute(0, 3, 1, 2)
        mean, log_var = model.encode(x.contiguous(memory_format=memory_format))
        return mean.numpy(), log_var.numpy()

    @torch.inference_mode()
    def decode_raw(z):
        raw = model.decode(torch.from_numpy(z))
        return raw.permute(0, 2, 3, 1).reshape(len(z), -1).numpy()  # NHWC flattened: genmodels' values-major rows

    return encode, decode_raw


# ---- cases: each prints one JSON object on its last line ------------------------------------------


def case_genmodels(args) -> dict:
    from genmodels.data.dataset import Dataset
    from genmodels.plugins.loader import get_registry
    from genmodels.training.trainer import train

    import numpy as np

    data = DATASETS[args.dataset]
    images = load_images(args.dataset, args.images, args.test_images)
    dataset = Dataset(
        args.dataset, train=images["train"], valid=images["valid"], test=images["test"], pixels=data.pixels
    )
    spec = get_registry().model("conv-vae")
    config = spec.train.replace(epochs=args.epochs, batch_size=BATCH, learning_rate=LEARNING_RATE, seed=SEED)
    if args.xla:
        config = config.replace(xla=True)  # XLA, its convolutions as matrix products (genmodels.nn.convolutions)
    if args.precision != "float32":
        config = config.replace(precision=args.precision)
    result = train(spec, spec.config(likelihood=data.likelihood), config, dataset, Path(args.run_dir), verbose=0)
    model = result.model

    def encode(rows):
        posterior = model.encoder(rows)
        return np.asarray(posterior.loc), np.asarray(posterior.log_var)

    def decode_raw(z):
        return np.asarray(model.decoder.body(z)).reshape(len(z), -1)  # what ConvDecoder hands its likelihood

    return {
        "epoch_seconds": [record["train_seconds"] for record in result.history],  # the training steps alone
        "with_valid_pass": [record["seconds"] for record in result.history],
        "test_loss": test_loss(encode, decode_raw, test_rows(args.dataset, images["test"]), data.likelihood),
        "train_loss": result.final["train"]["loss"],
        "images": len(dataset.train),
        "xla": config.xla,
        "precision": config.precision,
    }


def case_torch(args) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(SEED)
    data = DATASETS[args.dataset]
    images = load_images(args.dataset, args.images, args.test_images)
    train = torch.from_numpy(images["train"])  # uint8, converted a batch at a time
    model = torch_vae(args.dataset, args.layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=ADAM_EPSILON)
    shuffle = torch.Generator().manual_seed(SEED)
    times, losses = [], []
    for _epoch in range(args.epochs):
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=shuffle)
        total = 0.0
        for start in range(0, len(train), BATCH):
            x = _torch_images(train[order[start : start + BATCH]], data.scale, args.layout)
            mean, log_var = model.encode(x)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            reconstruction = -torch_log_likelihood(model.decode(z), x, data.likelihood)
            kl = 0.5 * (torch.exp(log_var) + mean.square() - 1.0 - log_var).sum(dim=1)
            cost = (reconstruction + kl).mean()
            optimizer.zero_grad(set_to_none=True)
            cost.backward()
            optimizer.step()
            total += cost.detach() * len(x)
        losses.append(float(total) / len(train))
        times.append(time.perf_counter() - started)
    model.eval()
    if args.run_dir:
        Path(args.run_dir).mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), Path(args.run_dir) / f"torch-{args.layout}.pt")
    encode, decode_raw = _torch_rows(model, args.dataset, args.layout)
    return {
        "epoch_seconds": times,
        "test_loss": test_loss(encode, decode_raw, test_rows(args.dataset, images["test"]), data.likelihood),
        "train_loss": losses[-1],
        "images": len(train),
        "layout": args.layout,
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
    }


def _timed_epochs(epoch, steps: int) -> dict:
    """Run a compiled `epoch` once to compile it, then three times timed: the fastest is the floor."""
    [t.numpy() for t in epoch()]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        [t.numpy() for t in epoch()]
        times.append(time.perf_counter() - started)
    return {"epoch_seconds": min(times), "all_seconds": times, "steps": steps, "batch": BATCH}


def case_floor(args) -> dict:
    import genmodels.core.backend  # noqa: F401
    import tensorflow as tf

    data = DATASETS[args.dataset]
    height, width, channels = data.shape
    steps = math.ceil(args.images / BATCH)
    strides, padding = [1, 2, 2, 1], "SAME"
    encoder = [(3, 3, i, o) for i, o in zip((channels, *CHANNELS[:-1]), CHANNELS)]  # Conv2D kernels (h, w, in, out)
    sizes = [*CHANNELS[::-1], channels * data.params]
    decoder = [(3, 3, o, i) for i, o in zip(sizes, sizes[1:])]  # Conv2DTranspose kernels (h, w, out, in)
    encoder_k = [tf.random.normal(shape) * 0.05 for shape in encoder]
    decoder_k = [tf.random.normal(shape) * 0.05 for shape in decoder]
    small = (height // 2 ** len(CHANNELS), width // 2 ** len(CHANNELS))
    x = tf.random.uniform((BATCH, height, width, channels))
    d0 = tf.random.normal((BATCH, *small, CHANNELS[-1]))

    def step(shift):
        """The step's convolutions: forward, then the kernels' gradients and the inputs' (none for the images)."""
        hs = [x + shift]  # the shift keeps the loop body from being hoisted out as loop-invariant
        for k in encoder_k:
            hs.append(tf.nn.conv2d(hs[-1], k, strides, padding))
        ds = [d0 + shift]
        for k, out in zip(decoder_k, sizes[1:]):
            size = ds[-1].shape
            ds.append(tf.nn.conv2d_transpose(ds[-1], k, [BATCH, size[1] * 2, size[2] * 2, out], strides, padding))
        grads, d = [], hs[-1]  # each stage's output stands for the gradient arriving at it
        for index in reversed(range(len(encoder_k))):
            grads.append(
                tf.raw_ops.Conv2DBackpropFilter(
                    input=hs[index], filter_sizes=encoder[index], out_backprop=d, strides=strides, padding=padding
                )
            )
            if index:
                d = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(hs[index]),
                    filter=encoder_k[index],
                    out_backprop=d,
                    strides=strides,
                    padding=padding,
                )
        d = ds[-1]
        for index in reversed(
            range(len(decoder_k))
        ):  # a transposed convolution's gradients: a filter gradient and a convolution
            grads.append(
                tf.raw_ops.Conv2DBackpropFilter(
                    input=d, filter_sizes=decoder[index], out_backprop=ds[index], strides=strides, padding=padding
                )
            )
            d = tf.nn.conv2d(d, decoder_k[index], strides, padding)  # into the Dense layer before: always needed
        return [*grads, d]

    @tf.function(jit_compile=False)
    def epoch():
        def body(i, carried):
            return i + 1, step(tf.cast(i, tf.float32) * 1e-30)

        initial = [
            tf.zeros(shape) for shape in [*encoder[::-1], *decoder[::-1], d0.shape]
        ]  # the shapes of step's results
        return tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), initial))[1]

    return _timed_epochs(epoch, steps)


def case_floor_lowered(args) -> dict:
    """The same four convolutions, forward and backward, as genmodels computes them under XLA (matrix products of
    patches, genmodels.nn.convolutions), in an XLA-compiled loop over the batches of one epoch."""
    import genmodels.core.backend  # noqa: F401
    import tensorflow as tf

    from genmodels.nn.convolutions import conv2d, conv2d_transpose

    data = DATASETS[args.dataset]
    height, width, channels = data.shape
    steps = math.ceil(args.images / BATCH)
    sizes = [*CHANNELS[::-1], channels * data.params]
    encoder_k = [
        tf.Variable(tf.random.normal((3, 3, i, o)) * 0.05) for i, o in zip((channels, *CHANNELS[:-1]), CHANNELS)
    ]
    decoder_k = [
        tf.Variable(tf.random.normal((3, 3, o, i)) * 0.05) for i, o in zip(sizes, sizes[1:])
    ]  # (h, w, out, in)
    small = (height // 2 ** len(CHANNELS), width // 2 ** len(CHANNELS))
    x = tf.random.uniform((BATCH, height, width, channels))
    d0 = tf.random.normal((BATCH, *small, CHANNELS[-1]))

    def step(shift):
        with tf.GradientTape() as tape:
            h, d = x + shift, d0 + shift  # the shift keeps the loop body from being hoisted out as loop-invariant
            decoder_input = d
            tape.watch(decoder_input)
            for k in encoder_k:
                h = conv2d(h, k, (2, 2), "same")
            for k in decoder_k:
                d = conv2d_transpose(d, k, (2, 2))
            total = tf.reduce_sum(h) + tf.reduce_sum(
                d
            )  # each output's gradient all ones: the backward pass is the same work
        return tape.gradient(
            total, [*encoder_k, *decoder_k, decoder_input]
        )  # the kernels', and the decoder input's (the Dense layer needs it)

    @tf.function(jit_compile=True)
    def epoch():
        def body(i, carried):
            return i + 1, step(tf.cast(i, tf.float32) * 1e-30)

        initial = [tf.zeros_like(k) for k in (*encoder_k, *decoder_k)] + [tf.zeros_like(d0)]
        return tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), initial))[1]

    return _timed_epochs(epoch, steps)


def case_matmul(args) -> dict:
    """The machine's float32 matrix-product rate: a 2048 x 2048 product, by XLA and by TensorFlow's oneDNN kernels;
    and oneDNN's bfloat16 rate, about twice the float32 one where the CPU multiplies bfloat16 itself (avx512_bf16, AMX)."""
    import genmodels.core.backend  # noqa: F401
    import tensorflow as tf

    size, repeats = 2048, 20
    rates = {}
    for name, jit, dtype in (
        ("xla", True, tf.float32),
        ("onednn", False, tf.float32),
        ("bfloat16", False, tf.bfloat16),
    ):
        a, b = tf.cast(tf.random.normal((size, size)), dtype), tf.cast(tf.random.normal((size, size)), dtype)

        @tf.function(jit_compile=jit)
        def products(a, b):
            def body(i, total):
                product = tf.matmul(a, b + tf.cast(tf.cast(i, tf.float32) * 1e-30, b.dtype))
                return i + 1, total + tf.reduce_sum(tf.cast(product, tf.float32))

            return tf.while_loop(lambda i, _: i < repeats, body, (tf.constant(0), tf.constant(0.0)))[1]

        products(a, b).numpy()
        best_seconds = math.inf
        for _ in range(3):
            started = time.perf_counter()
            products(a, b).numpy()
            best_seconds = min(best_seconds, time.perf_counter() - started)
        rates[name] = 2 * size**3 * repeats / best_seconds / 1e9
    return {"gflops": rates, "best": max(rates["xla"], rates["onednn"])}  # the float32 rate every ratio divides by


def case_evaluate(args) -> dict:
    from genmodels.evaluation.likelihood import evaluate
    from genmodels.plugins.loader import get_registry
    from genmodels.runs.loading import load_model

    data = DATASETS[args.dataset]
    model, _config = load_model(Path(args.run_dir), get_registry(), "conv-vae")
    images = test_rows(args.dataset, load_images(args.dataset, 0, args.images)["test"])
    marks = []
    started = time.perf_counter()
    result = evaluate(
        model,
        images,
        model_name="conv-vae",
        split="test",
        k=args.k,
        batch_size=args.eval_batch,
        pixels=data.pixels,
        progress=lambda n: marks.append((time.perf_counter(), n)),
    )
    seconds = time.perf_counter() - started
    times = [t - previous for (t, _), previous in zip(marks, [started, *(t for t, _ in marks)])]
    return {
        "seconds": seconds,
        "batch_seconds": times,
        "batch_images": [n for _, n in marks],
        "nll": result.nll,
        "k": args.k,
    }


def case_evaluate_torch(args) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(SEED)
    data = DATASETS[args.dataset]
    model = torch_vae(args.dataset, args.layout)
    model.load_state_dict(torch.load(Path(args.run_dir) / f"torch-{args.layout}.pt"))
    model.eval()
    images = torch.from_numpy(load_images(args.dataset, 0, args.images)["test"])

    @torch.inference_mode()
    def log_px(x):
        """The k-sample importance-weighted estimate of log p(x) for each image of the batch x."""
        mean, log_var = model.encode(x)
        std = torch.exp(0.5 * log_var)
        per_chunk = max(1, min(args.k, ROWS_PER_CHUNK // len(x)))
        running, done = None, 0
        while done < args.k:
            repeats = min(per_chunk, args.k - done)
            eps = torch.randn(repeats, len(x), LATENT)
            z = mean + std * eps  # (repeats, images, latent)
            raw = model.decode(z.reshape(-1, LATENT)).unflatten(0, (repeats, len(x)))
            log_w = (
                torch_log_likelihood(raw, x, data.likelihood)
                - 0.5 * (LOG_2PI + z.square()).sum(dim=-1)  # log p(z)
                + 0.5 * (LOG_2PI + log_var + eps.square()).sum(dim=-1)
            )  # - log q(z|x)
            chunk = torch.logsumexp(log_w, dim=0)
            running = chunk if running is None else torch.logaddexp(running, chunk)
            done += repeats
        return running - math.log(args.k)

    times, counts, estimates = [], [], []
    started = previous = time.perf_counter()
    for start in range(0, len(images), args.eval_batch):
        x = _torch_images(images[start : start + args.eval_batch], data.scale, args.layout)
        estimates.append(log_px(x))
        now = time.perf_counter()
        times.append(now - previous)
        counts.append(len(x))
        previous = now
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "batch_seconds": times,
        "batch_images": counts,
        "nll": -float(torch.cat(estimates).mean()),
        "k": args.k,
        "layout": args.layout,
    }


CASES = {
    "genmodels": case_genmodels,
    "torch": case_torch,
    "floor": case_floor,
    "floor-lowered": case_floor_lowered,
    "matmul": case_matmul,
    "evaluate": case_evaluate,
    "evaluate-torch": case_evaluate_torch,
}


# ---- the driver -----------------------------------------------------------------------------------


def others_running(samples: int = 10, interval: float = 0.05) -> float | None:
    """Tasks runnable on the machine besides this process, averaged over `samples` reads of Linux's /proc/loadavg:
    about 0 on an idle machine (None where there is no such file). On a busy one the timings mean little, and
    PyTorch's OpenMP threads, which wait for each other at every kernel, suffer far more than TensorFlow's."""
    counts = []
    for index in range(samples):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        counts.append(max(running - 1, 0))  # this process, reading
        if index + 1 < samples:
            time.sleep(interval)
    return sum(counts) / len(counts)


def cpu_flags(path: Path = Path("/proc/cpuinfo")) -> dict[str, bool] | None:
    """Which of CPU_FLAGS the CPU has, from Linux's /proc/cpuinfo (None where it cannot be read). Machines sold as one kind
    differ here (AVX2 alone, AVX-512, AVX-512 with bfloat16 products), and every rate in the tables moves with them."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return {flag: flag in flags for flag in CPU_FLAGS}
    return None


def run_case(name: str, **options) -> dict:
    """Run one case in a fresh interpreter and return its JSON result, with the other tasks runnable before and after."""
    command = [sys.executable, __file__, "--case", name]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])  # True: a flag
    print(f"  running {name} {' '.join(f'{k}={v}' for k, v in options.items())} ...", file=sys.stderr, flush=True)
    before = others_running()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    after = others_running()
    result["others_running"] = None if before is None or after is None else max(before, after)
    return result


def timed(result: dict) -> float:
    """Mean seconds per epoch, leaving out the first (compiling, warming up) epoch."""
    times = result["epoch_seconds"]
    return sum(times[1:]) / len(times[1:])


def best(result: dict) -> float:
    """The fastest timed epoch (the first is left out)."""
    return min(result["epoch_seconds"][1:])


def images_per_second(result: dict) -> float:
    """Images an evaluation scores per second once running: its batches after the first (which traces and warms up),
    or all of it when there was one batch."""
    times, counts = result["batch_seconds"], result["batch_images"]
    if len(times) > 1:
        return sum(counts[1:]) / sum(times[1:])
    return sum(counts) / result["seconds"]


def torch_best(raw: dict, name: str) -> str:
    """The layout ("contiguous" or "channels_last") of the faster PyTorch training on dataset `name` (mean timed epoch)."""
    return min(("contiguous", "channels_last"), key=lambda layout: timed(raw[f"{name}/torch-{layout}"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few images and epochs (about 3-5 minutes)")
    parser.add_argument(
        "--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)} (default: both)"
    )
    parser.add_argument("--json", type=Path, help="also write every raw result to this JSON file")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", choices=DATASETS, default="mnist", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=50_000, help=argparse.SUPPRESS)
    parser.add_argument("--test-images", type=int, default=2000, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--xla", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument(
        "--layout", choices=("contiguous", "channels_last"), default="contiguous", help=argparse.SUPPRESS
    )
    parser.add_argument("--run-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=K, help=argparse.SUPPRESS)
    parser.add_argument("--eval-batch", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(CASES[args.case](args)))
        return

    names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in names if name not in DATASETS]
    if unknown or not names:
        raise SystemExit(f"--datasets takes {' and '.join(DATASETS)}, received {args.datasets!r}.")
    if importlib.util.find_spec("torch") is None:
        print(
            'PyTorch is not installed: pip install -e ".[torch-benchmark]" (torch==2.13.0) to compare with it.',
            file=sys.stderr,
        )
        raise SystemExit(1)
    if "mnist" in names and not data_file().is_file():
        print(
            f"{data_file()} is missing: set GENMODELS_DATA_DIR to the folder holding binarized_mnist.npz.",
            file=sys.stderr,
        )
        raise SystemExit(1)
    os.environ.setdefault("GENMODELS_DATA_DIR", str(data_file().parent))  # the cases read the same file
    sizes = (
        dict(images=3000, epochs=3, test_images=500) if args.quick else dict(images=50_000, epochs=3, test_images=2000)
    )
    evaluation = dict(images=30, eval_batch=10) if args.quick else dict(images=200, eval_batch=100)
    # float32 against bfloat16 on fewer images: without avx512_bf16 bfloat16 runs several times slower
    precision = (
        dict(images=1500, epochs=3, test_images=500) if args.quick else dict(images=10_000, epochs=3, test_images=2000)
    )
    raw: dict = {
        "sizes": {
            **sizes,
            "evaluate_images": evaluation["images"],
            "eval_batch": evaluation["eval_batch"],
            "k": K,
            "precision_images": precision["images"],
            "precision_epochs": precision["epochs"],
        },
        "cpu": cpu_flags(),
    }
    raw["matmul"] = run_case("matmul")
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            run_dir = os.path.join(scratch, name)
            raw[f"{name}/genmodels"] = run_case("genmodels", dataset=name, run_dir=run_dir, **sizes)
            raw[f"{name}/genmodels-xla"] = run_case(
                "genmodels", dataset=name, run_dir=run_dir + "-xla", xla=True, **sizes
            )
            for layout in ("contiguous", "channels_last"):
                raw[f"{name}/torch-{layout}"] = run_case("torch", dataset=name, layout=layout, run_dir=run_dir, **sizes)
            raw[f"{name}/floor"] = run_case("floor", dataset=name, images=sizes["images"])
            raw[f"{name}/floor-lowered"] = run_case("floor-lowered", dataset=name, images=sizes["images"])
            raw[f"{name}/evaluate"] = run_case("evaluate", dataset=name, run_dir=run_dir, **evaluation)
            raw[f"{name}/evaluate-torch"] = run_case(
                "evaluate-torch", dataset=name, run_dir=run_dir, layout=torch_best(raw, name), **evaluation
            )
            for each in ("float32", "bfloat16"):
                raw[f"{name}/precision-{each}"] = run_case(
                    "genmodels", dataset=name, run_dir=f"{run_dir}-{each}", precision=each, **precision
                )
    report(raw)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))


def report(raw: dict) -> None:
    """Print, for each dataset in `raw` (the cases' results under "DATASET/CASE"), the table of the issue."""
    import platform

    names = [name for name in DATASETS if f"{name}/genmodels" in raw]
    sizes = raw.get("sizes", {})
    torch_run = raw.get(f"{names[0]}/torch-contiguous", {}) if names else {}
    print(
        f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}"
        + (f"; PyTorch {torch_run['version']} on {torch_run['threads']} threads" if torch_run else "")
    )
    flags = raw.get("cpu")
    if flags:
        print("CPU: " + ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in flags.items()))
    matmul = raw.get("matmul", {}).get("best")
    if matmul:
        rates = raw["matmul"]["gflops"]
        print(
            f"Matmul 2048x2048 float32: XLA {rates['xla']:.0f}, oneDNN {rates['onednn']:.0f} GFLOP/s (the machine's rate: {matmul:.0f})"
            + (f"; bfloat16 oneDNN {rates['bfloat16']:.0f} GFLOP/s" if "bfloat16" in rates else "")
        )
    busy = [
        result["others_running"]
        for result in raw.values()
        if isinstance(result, dict) and result.get("others_running") is not None
    ]
    if busy and max(busy) > 0.5:
        print(
            f"Warning: up to {max(busy):.1f} other tasks were runnable beside the cases on {os.cpu_count()} cores: the machine was busy "
            "and these figures mean little (PyTorch's threads suffer most). Run it again on an idle machine."
        )
    for name in names:
        ours, layout = raw[f"{name}/genmodels"], torch_best(raw, name)
        theirs = raw[f"{name}/torch-{layout}"]
        floor = raw[f"{name}/floor"]["epoch_seconds"]
        flops = conv_flops(name)
        seconds, fastest = timed(ours), best(theirs)
        print(
            f"\n{name}: {DATASETS[name].title}; {ours['images']} training images, batch {BATCH}, "
            f"{len(ours['epoch_seconds'])} epochs (the first not timed); convolutions {flops['train'] / 1e6:.1f} MFLOP "
            f"per training image"
        )
        print(f"{'':<48}{'s/epoch':>9}{'best':>9}{'test loss':>11}")
        print(f"{'genmodels train (TF graphs, oneDNN)':<48}{seconds:>9.2f}{best(ours):>9.2f}{ours['test_loss']:>11.2f}")
        compiled = raw.get(f"{name}/genmodels-xla")
        if compiled:
            print(
                f"{'genmodels train --xla (convolutions as matmuls)':<48}{timed(compiled):>9.2f}{best(compiled):>9.2f}"
                f"{compiled['test_loss']:>11.2f}"
            )
        for each in ("contiguous", "channels_last"):
            result = raw[f"{name}/torch-{each}"]
            label = f"PyTorch eager, {each.replace('_', '-')}{' (best)' if each == layout else ''}"
            print(f"{label:<48}{timed(result):>9.2f}{best(result):>9.2f}{result['test_loss']:>11.2f}")
        work = flops["train"] * ours["images"] / 1e9  # GFLOP of the convolutions in an epoch
        print(
            f"{'its convolutions alone, oneDNN (floor)':<48}{floor:>9.2f}{'':>9}{'':>11}   {work / floor:.0f} GFLOP/s"
        )
        lowered = raw.get(f"{name}/floor-lowered", {}).get("epoch_seconds")
        if lowered:
            print(
                f"{'its convolutions alone, as matmuls (XLA)':<48}{lowered:>9.2f}{'':>9}{'':>11}   {work / lowered:.0f} GFLOP/s"
            )
        if matmul:
            print(f"{'their FLOPs at the matmul rate':<48}{work / matmul:>9.2f}")
        print(
            f"genmodels / torch best: {seconds / fastest:.2f}x   torch best / genmodels: {fastest / seconds:.2f}x   "
            f"genmodels / floor: {seconds / floor:.2f}x"
            + (
                f"   genmodels --xla / its matmul floor: {timed(compiled) / lowered:.2f}x"
                if lowered and compiled
                else ""
            )
            + f"   (torch best = the {layout.replace('_', '-')} layout's best epoch)"
        )
        print(
            f"test loss after equal epochs: genmodels {ours['test_loss']:.2f}, torch {theirs['test_loss']:.2f} "
            f"({ours['test_loss'] - theirs['test_loss']:+.2f} nats; {sizes.get('test_images', '?')} test images, one coding each)"
        )
        ev, tev = raw.get(f"{name}/evaluate"), raw.get(f"{name}/evaluate-torch")
        if ev and tev:
            ours_rate, their_rate = images_per_second(ev), images_per_second(tev)
            full = FULL_EVALUATION / ours_rate
            print(
                f"evaluate k={ev['k']} on {sum(ev['batch_images'])} test images: genmodels {ours_rate:.2f} images/s, "
                f"torch {their_rate:.2f} images/s ({tev['layout'].replace('_', '-')}), genmodels / torch {ours_rate / their_rate:.2f}x; "
                f"NLL {ev['nll']:.2f} and {tev['nll']:.2f}"
            )
            print(
                f"  a full evaluation of {FULL_EVALUATION} test images: genmodels about {full / 60:.1f} min "
                f"(torch {FULL_EVALUATION / their_rate / 60:.1f} min)"
            )
        single, half = raw.get(f"{name}/precision-float32"), raw.get(f"{name}/precision-bfloat16")
        if single and half:
            print(
                f"{'precision, ' + str(single['images']) + ' images x ' + str(len(single['epoch_seconds'])) + ' epochs':<48}"
                f"{'s/epoch':>9}{'best':>9}{'test loss':>11}"
            )
            for label, result in (
                ("genmodels train (float32)", single),
                ("genmodels train --precision bfloat16", half),
            ):
                print(f"{label:<48}{timed(result):>9.2f}{best(result):>9.2f}{result['test_loss']:>11.2f}")
            hardware = (
                ""
                if not flags
                else " (this CPU multiplies bfloat16 itself)"
                if flags.get("avx512_bf16") or flags.get("amx_bf16")
                else " (this CPU has no avx512_bf16 or AMX: its bfloat16 products are emulated)"
            )
            print(
                f"bfloat16 / float32: {timed(half) / timed(single):.2f}x the time, test loss "
                f"{half['test_loss'] - single['test_loss']:+.2f} nats{hardware}"
            )


if __name__ == "__main__":
    main()
