"""The epochs of a training: the images' order, the step-size schedule, the compiled passes, per-epoch metrics,
checkpoints and pictures.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from genmodels.core.errors import TrainingError
from genmodels.core.train_config import TrainConfig
from genmodels.data.dataset import Dataset
from genmodels.nn.latent import EVAL_BATCH_SIZE
from genmodels.nn.model import GenerativeModel
from genmodels.nn.random import uniform_like_batch
from genmodels.runs.checkpoints import best_epoch, save_checkpoint
from genmodels.runs.format import RunConfig
from genmodels.training.distributed import DistributedLoop, ProcessGroup
from genmodels.training.loops import StepLoop, first_non_finite
from genmodels.training.tracker_list import Trackers


class EpochRunner:
    """Runs the epochs of a training: compiled steps over resident images, a validation pass, and after
    each epoch its record and a checkpoint saved together (see `save_checkpoint`), with the weights of
    the best epoch so far when the run keeps the best.

    The first NaN or infinite loss stops training with a TrainingError naming the epoch, the step
    and the loss terms, before anything of that epoch is saved: the last complete epoch stays as it was.
    With `early_stopping` N, training ends once N epochs have passed without a better validation loss.
    Each epoch's record goes to the `trackers` once its checkpoint is saved.
    """

    def __init__(
        self,
        model: GenerativeModel,
        config: TrainConfig,
        dataset: Dataset,
        *,
        labels,
        run_dir: Path,
        history,
        run_config: RunConfig,
        verbose,
        trackers: Trackers | None = None,
        group: ProcessGroup | None = None,
    ):
        self.model = model
        self.writes = group is None or group.chief  # only the chief of a distributed training writes the run
        self.trackers = trackers or Trackers()
        self.config = config
        self.run_dir = run_dir
        self.history = history
        self.run_config = run_config
        self.verbose = verbose
        self.names = [metric.name for metric in model.metrics]
        # bfloat16 reaches the CPU's bf16 units through oneDNN, not XLA; so do convolutions (docs/performance.md)
        jit = config.xla and config.precision == "float32"
        self.train_size = len(dataset.train)
        self.passes = config.passes(self.train_size)  # passes over the training images in one epoch (epoch_images)
        self.steps = config.steps_per_epoch(self.train_size)
        model.warm_up_over(config.kl_warmup * self.steps)
        draw = _pixel_draws(model.seed_generator) if config.dynamic_binarize else None
        train_labels, valid_labels = labels  # from labels_for: (None, None) for an unconditional model
        loops = dict(jit_compile=jit, scale=dataset.scale)
        if group is None:
            self.train_loop = StepLoop(
                model.train_step, self.names, dataset.train, transform=draw, labels=train_labels, **loops
            )
            self.valid_loop = StepLoop(model.test_step, self.names, dataset.valid, labels=valid_labels, **loops)
        else:
            loops.update(strategy=group.strategy, model=model, metric_names=self.names, cluster=group.cluster)
            self.train_loop = DistributedLoop(
                images=dataset.train, training=True, transform=draw, labels=train_labels, **loops
            )
            self.valid_loop = DistributedLoop(images=dataset.valid, training=False, labels=valid_labels, **loops)
        # a fixed shuffle: held-out sets may be sorted by class, which would skew any batch-level term
        self.valid_order = np.random.default_rng(0).permutation(len(dataset.valid))

    def run(self) -> None:
        for epoch in range(len(self.history) + 1, self.config.epochs + 1):
            if self.patience_spent():
                break
            self._epoch(epoch)

    def patience_spent(self) -> bool:
        """Whether early stopping ends the training: `early_stopping` epochs have passed since the best one."""
        best = best_epoch(self.history)
        return bool(
            self.config.early_stopping and best is not None and len(self.history) - best >= self.config.early_stopping
        )

    def _epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        rate = learning_rate_at(self.config, epoch)
        self.model.optimizer.learning_rate.assign(rate)
        steps = self.steps
        if self.verbose:
            passes = f" ({self.passes} passes over the {self.train_size} training images)" if self.passes > 1 else ""
            print(f"Epoch {epoch}/{self.config.epochs}{passes}", flush=True)
        bar = keras.utils.Progbar(steps, verbose=self.verbose, stateful_metrics=self.names) if self.verbose else None
        order = epoch_order(self.train_size, self.config.seed, epoch, self.passes)
        train = self._pass(self.train_loop, order, self.config.batch_size, epoch, bar)
        train_seconds = time.perf_counter() - started
        valid = self._pass(self.valid_loop, self.valid_order, EVAL_BATCH_SIZE, epoch, None)
        if bar is not None:
            bar.update(
                steps, [*train.items(), *((f"val_{name}", value) for name, value in valid.items())], finalize=True
            )
        record = {
            "epoch": epoch,
            "seconds": round(time.perf_counter() - started, 3),  # the whole epoch, validation pass included
            "train_seconds": round(train_seconds, 3),  # the training steps alone
            "learning_rate": rate,
            "steps": steps,
            "train": train,
            "valid": valid,
        }
        self.history.append(record)
        if self.writes:
            save_checkpoint(
                self.model, self.run_dir, self.history, self.run_config, keep_best=self.config.keep == "best"
            )
        self.trackers.epoch_end(epoch, record, self.model)

    def _pass(self, loop: StepLoop, order, batch_size: int, epoch: int, bar) -> dict[str, float]:
        """One pass of `loop` over `order`; the metrics' means over the pass (checked finite)."""
        if isinstance(loop, StepLoop):  # a DistributedLoop keeps its own sums
            for metric in self.model.metrics:
                metric.reset_state()
        done = 0
        for logs in loop.run(order, batch_size):
            bad = first_non_finite(logs)
            if bad is not None:
                where = (
                    f"step {done + bad + 1} of epoch {epoch}"
                    if loop is self.train_loop
                    else f"the validation pass after epoch {epoch}"
                )
                self._stop(where, logs[bad])
            done += len(logs)
            if bar is not None and done < bar.target:
                bar.update(done, list(zip(self.names, logs[-1].tolist())))
        return dict(zip(self.names, logs[-1].tolist()))

    def _stop(self, where: str, values) -> None:
        terms = ", ".join(
            f"{name} = {value}" for name, value in zip(self.names, values.tolist()) if not math.isfinite(value)
        )
        kept = f"the weights of epoch {len(self.history)} are kept" if self.history else "no weights were saved"
        raise TrainingError(
            f"training stopped at {where}: {terms}. Nothing of this epoch was saved; {kept} in {self.run_dir}. "
            "A lower --learning-rate often helps."
        )


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """The step size of epoch `epoch` (from 1) under the recipe's `lr_schedule`."""
    if config.lr_schedule == "cosine":
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / config.epochs))
    return config.learning_rate


def _pixel_draws(seed_generator):
    """Dynamic binarization: each pixel of a batch drawn as Bernoulli(grey), from the model's seed
    generator, whose state is checkpointed, so a resumed run draws what the uninterrupted one would."""

    def draw(batch):
        uniform = uniform_like_batch(tf.shape(batch), seed_generator)
        return tf.cast(uniform < batch, batch.dtype)

    return draw


def epoch_order(count: int, seed: int, epoch: int, passes: int = 1) -> tf.Tensor:
    """The training images' order in `epoch` (counted from 1) of `passes` passes: pass p of the whole
    training is shuffled by `shuffled_order(count, seed, p)`, so an epoch of one pass is as it always was."""
    first = (epoch - 1) * passes
    if passes == 1:
        return shuffled_order(count, seed, first)
    return tf.concat([shuffled_order(count, seed, first + p) for p in range(passes)], axis=0)


def shuffled_order(count: int, seed: int, epoch: int) -> tf.Tensor:
    """The order of the training images in `epoch` (counted from 0): a function of (seed, epoch) only,
    so a resumed run sees exactly the batches the uninterrupted one would have."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(count, dtype=tf.int64), seed=tf.constant([seed, epoch], dtype=tf.int64)
    )
