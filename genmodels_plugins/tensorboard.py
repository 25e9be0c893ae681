"""The `tensorboard` tracker: every loss term per epoch and sample grids as TensorBoard event files.

An optional extra (`pip install "genmodels[tensorboard]"`). With `--track tensorboard` the run
directory gets `tensorboard/train` and `tensorboard/validation`, the layout of Keras' TensorBoard
callback: after each epoch, one scalar per loss term in each, tagged `epoch_TERM` (`epoch_loss`,
`epoch_reconstruction`, `epoch_kl`, ...), at step = the epoch; in `train`, the epoch's step size
`epoch_learning_rate` and an image `samples`:
the grid of samples.png drawn with the run's seed (the same codings every time, so grids compare
across epochs) after epoch 1, every SAMPLE_EVERY epochs and the last. View with
`tensorboard --logdir runs/vae/tensorboard`.
"""

from __future__ import annotations

from pathlib import Path

from genmodels import hookimpl
from genmodels.errors import ConfigError
from genmodels.specs import TrackerSpec
from genmodels.tracking import Tracker

FOLDER = "tensorboard"
WRITERS = {"train": "train", "valid": "validation"}  # a record's split -> its writer's folder, as Keras names them
SAMPLE_EVERY = 5  # epochs between sample grids (the first and last epochs always get one)
SAMPLE_COUNT = 60  # images in a grid, as in samples.png
EVENT_FILES = "events.out.tfevents.*"
INSTALL = 'pip install "genmodels[tensorboard]"'


class TensorBoardTracker(Tracker):
    """Writes each epoch's loss terms and, every few epochs, a sample grid with `tf.summary`."""

    def __init__(self):
        self.writers = {}

    def start(self, run_dir, run_config, history):
        import genmodels.backend  # noqa: F401  (TensorFlow, imported quietly)
        import tensorflow as tf

        folder = Path(run_dir) / FOLDER
        if not history:  # a new run: no curves of a run it replaces (--force) may mix with its own
            for old in folder.glob(f"*/{EVENT_FILES}"):
                old.unlink()
        self.writers = {split: tf.summary.create_file_writer(str(folder / name)) for split, name in WRITERS.items()}
        self.image_shape, self.pixels = run_config.image_shape, run_config.pixels
        self.seed, self.epochs = run_config.train.get("seed", 0), run_config.train.get("epochs")

    def epoch_end(self, epoch, record, model):
        import numpy as np
        import tensorflow as tf

        from genmodels.plots import grid_picture

        for split, writer in self.writers.items():
            with writer.as_default(step=epoch):
                for term, value in record.get(split, {}).items():
                    tf.summary.scalar(f"epoch_{term}", value)
                if split == "train" and "learning_rate" in record:  # as Keras' callback logs it
                    tf.summary.scalar("epoch_learning_rate", record["learning_rate"])
        if epoch == 1 or epoch % SAMPLE_EVERY == 0 or epoch == self.epochs:
            images = np.asarray(model.generate(SAMPLE_COUNT, seed=self.seed), dtype=np.float32)
            picture = grid_picture(images, self.image_shape, pixels=self.pixels)[..., :3]  # RGB, as in samples.png
            with self.writers["train"].as_default(step=epoch):
                tf.summary.image("samples", picture[np.newaxis])
        for writer in self.writers.values():
            writer.flush()  # the events of every checkpointed epoch are on disk, for a TensorBoard watching the run

    def close(self):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


def create() -> TensorBoardTracker:
    """A TensorBoard tracker, or a ConfigError saying how to install TensorBoard when it is missing."""
    try:
        import tensorboard  # noqa: F401  (TensorFlow's tf.summary needs it; TensorFlow no longer installs it)
    except ImportError:
        raise ConfigError(f"the tensorboard tracker needs TensorBoard, which is not installed: {INSTALL}") from None
    return TensorBoardTracker()


@hookimpl
def register_trackers(register):
    register(
        TrackerSpec(
            name="tensorboard",
            description="Every loss term (train and validation) per epoch and sample grids, as TensorBoard event files in RUN_DIR/tensorboard.",
            create=create,
        )
    )
