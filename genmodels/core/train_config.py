"""TrainConfig: a training recipe (dataset, epochs, batch size, learning rate and schedule, precision, what to keep),
the one source of every training default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from genmodels.core.config import Config, MAX_SEED, _positive, option
from genmodels.core.errors import ConfigError


# the training options a resumed run may change: how long it trains and which trackers listen
RESUME_CHANGES = ("epochs", "track")

PRECISIONS = ("float32", "bfloat16")

KEEP = ("last", "best")

SCHEDULES = ("constant", "cosine")

# What an epoch of the built-in recipes shows the model at least (TrainConfig.epoch_images): binarized MNIST's 50 000
# training images, MNIST's 54 000 and CIFAR-10's 45 000 are one pass; 2000 images are passed over 20 times an epoch.
EPOCH_IMAGES = 40_000


@dataclass
class TrainConfig(Config):
    """The training recipe: data, optimisation and randomness."""

    dataset: str = option(
        "binarized-mnist",
        "A registered dataset name, a folder of PNG/JPEG images (sub-folders as classes) or a path to an .npz file.",
    )
    epochs: int = option(50, "Passes over the training set.", minimum=1)
    batch_size: int = option(150, "Images per gradient step.", minimum=1)
    epoch_images: int = option(
        0,
        "Training images an epoch shows the model at least: a smaller training split is passed over several times "
        "in each epoch (whole passes), so that a small dataset gets as many gradient steps as a large one. 0: one pass an epoch "
        f"(the built-in models' recipes set {EPOCH_IMAGES}).",
        minimum=0,
    )
    learning_rate: float = option(1e-3, "Adam's step size (the first epoch's, under a schedule).")
    lr_schedule: str = option(
        "constant",
        "How the step size changes over the epochs: constant, or cosine (epoch e of E trains at "
        "learning_rate x (1 + cos(pi (e - 1) / E)) / 2, falling from learning_rate towards 0).",
        choices=SCHEDULES,
    )
    seed: int = option(0, "Seed for initialisation, shuffling and sampling; same seed, same run.", minimum=0)
    xla: bool = option(
        True,
        "Compile the training steps with XLA (fastest for MLPs); false runs TensorFlow graphs, much faster for convolutions on a CPU.",
    )
    precision: str = option(
        "float32",
        "Arithmetic of the layers: float32, or bfloat16 (mixed: bf16 matrix products, float32 weights and losses; "
        "faster on CPUs with bf16 units, see docs/performance.md).",
        choices=PRECISIONS,
    )
    kl_warmup: int = option(
        0,
        "Epochs over which the KL term's weight grows linearly from 0 to its full value (0: none).",
        minimum=0,
        metavar="EPOCHS",
    )
    dynamic_binarize: bool = option(
        False,
        "Draw every training pixel anew each time it is seen, as Bernoulli(grey); the validation and test sets are drawn once, from the seed.",
    )
    binarize: bool = option(
        False, "Threshold the images to 0/1 before training (1 where a value is >= 0.5, a uint8 grey >= 128)."
    )
    validation_fraction: float = option(
        0.1,
        "Share of the training images held out for validation when the dataset has no validation split (the same images for every run).",
    )
    keep: str = option(
        "best",
        "Which epoch's weights the run keeps for sampling and evaluation: best (the lowest validation loss), or last.",
        choices=KEEP,
    )
    early_stopping: int = option(
        0, "Stop after this many epochs without a better validation loss (0: never).", minimum=0, metavar="EPOCHS"
    )
    image_size: tuple[int, ...] = option(
        (),
        "Folders of images: resize every image to HEIGHT,WIDTH (default: their own size, which must then be one).",
        metavar="HEIGHT,WIDTH",
    )
    distribute: bool = option(
        False,
        "Train data-parallel on tf.distribute: across the workers TF_CONFIG names (start the same command on each), "
        "or this machine's GPUs (docs/distributed.md).",
    )
    track: tuple[str, ...] = option(
        (), "Trackers that receive training events, such as tensorboard (see genmodels list).", metavar="NAME,..."
    )

    def passes(self, train_size: int) -> int:
        """Passes over a training split of `train_size` images in one epoch (see `epoch_images`)."""
        return max(1, math.ceil(self.epoch_images / max(1, train_size)))

    def steps_per_epoch(self, train_size: int) -> int:
        """Gradient steps in one epoch over a training split of `train_size` images."""
        return math.ceil(self.passes(train_size) * train_size / self.batch_size)

    def validate(self) -> None:
        super().validate()
        _positive(self, "epochs", "batch_size", "learning_rate")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}, received {self.seed}.")
        if not self.dataset.strip():
            raise ConfigError("dataset must be a dataset name or a path to an .npz file, received an empty string.")
        if self.binarize and self.dynamic_binarize:
            raise ConfigError("binarize thresholds the images once and dynamic_binarize draws them anew: choose one.")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction must lie between 0 and 1, received {self.validation_fraction!r}.")
        if self.image_size and (len(self.image_size) != 2 or min(self.image_size) <= 0):
            raise ConfigError(f"image_size must be HEIGHT,WIDTH of positive sizes, received {self.image_size!r}.")
        repeated = sorted({name for name in self.track if self.track.count(name) > 1})
        if repeated:
            raise ConfigError(f"track names the tracker {repeated[0]!r} more than once.")
