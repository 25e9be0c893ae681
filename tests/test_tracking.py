"""Trackers: training events reach a tracker plugin in order, and the tensorboard tracker's event files hold every term and a grid."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest

import genmodels
import genmodels.plugins.loader
from genmodels import Tracker, TrackerSpec, hookimpl
from genmodels.core.errors import ConfigError, PluginError, UnknownNameError
from genmodels.plugins.loader import build_registry
from genmodels.runs.format import CHECKPOINT_FILE, LOCK_FILE, SAMPLES_FILE, read_metrics

from conftest import REPO, run_main

TINY = dict(epochs=2, batch_size=100, epoch_images=0, keep="last", hidden=(16,), latent_dim=2, xla=False, verbose=0)


class Recorder(Tracker):
    """Writes down every event it receives; raises in `epoch_end` of epoch `fail_at`."""

    def __init__(self, events: list, fail_at: int | None = None):
        self.events, self.fail_at = events, fail_at

    def start(self, run_dir, run_config, history):
        self.events.append(("start", run_dir, run_config.model, [record["epoch"] for record in history]))

    def epoch_end(self, epoch, record, model):
        self.events.append(("epoch_end", epoch, record, model.generate(3, seed=0).shape))
        if epoch == self.fail_at:
            raise RuntimeError("the tracker's server went away")

    def finish(self, history, kept_epoch):
        self.events.append(("finish", [record["epoch"] for record in history], kept_epoch))

    def close(self):
        self.events.append(("close",))


def recording_plugin(events: list, fail_at: int | None = None, create=None):
    module = types.ModuleType("recorder-plugin")

    @hookimpl
    def register_trackers(register):
        register(
            TrackerSpec("recorder", "writes down every event", create=create or (lambda: Recorder(events, fail_at)))
        )

    module.register_trackers = register_trackers
    return module


@pytest.fixture
def use_plugins(monkeypatch):
    """Make the registry that training uses the installed plugins plus the given ones."""

    def use(*plugins):
        registry = build_registry(list(plugins))
        monkeypatch.setattr(genmodels.plugins.loader, "_registry", lambda strict: registry)

    return use


def names(events):
    return [(event[0], event[1]) if event[0] == "epoch_end" else event[0] for event in events]


@pytest.mark.slow
def test_a_tracker_plugin_receives_start_each_epoch_finish_and_close_in_order_also_on_resume(
    tiny_npz, tmp_path, use_plugins
):
    events = []
    use_plugins(recording_plugin(events))
    run_dir = tmp_path / "run"
    genmodels.train("vae", dataset=str(tiny_npz), track=("recorder",), run_dir=run_dir, **TINY)
    assert names(events) == ["start", ("epoch_end", 1), ("epoch_end", 2), "finish", "close"]
    assert events[0] == ("start", run_dir, "vae", [])
    assert [event[2] for event in events[1:3]] == read_metrics(run_dir)  # each record as metrics.jsonl holds it
    assert events[1][3] == (3, 784)
    assert events[3] == ("finish", [1, 2], 2)

    events.clear()
    genmodels.train(
        "vae", run_dir=run_dir, resume=True, epochs=3, verbose=0
    )  # the run's own trackers, from config.json
    assert names(events) == ["start", ("epoch_end", 3), "finish", "close"]
    assert events[0][3] == [1, 2] and events[2] == ("finish", [1, 2, 3], 3)


@pytest.mark.slow
def test_a_tracker_that_raises_stops_training_is_closed_and_leaves_the_checkpointed_epochs(
    tiny_npz, tmp_path, use_plugins
):
    events = []
    use_plugins(recording_plugin(events, fail_at=1))
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="the tracker's server went away"):
        genmodels.train("vae", dataset=str(tiny_npz), track=("recorder",), run_dir=run_dir, **TINY)
    assert names(events) == ["start", ("epoch_end", 1), "close"]
    assert [record["epoch"] for record in read_metrics(run_dir)] == [1]
    assert (run_dir / CHECKPOINT_FILE).is_file() and not (run_dir / LOCK_FILE).exists()
    assert genmodels.load(run_dir).history[0]["epoch"] == 1  # epoch 1's checkpoint is intact and loads


@pytest.mark.slow
def test_the_csv_tracker_of_the_plugin_guide_works_as_a_plugin(tiny_npz, tmp_path, use_plugins):
    import re

    (source,) = [
        body
        for body in re.findall(r"```python\n(.*?)```", (REPO / "docs" / "plugins.md").read_text(), re.S)
        if "class CSVTracker" in body
    ]
    module = types.ModuleType("genmodels_csv")
    exec(compile(source, "docs/plugins.md", "exec"), module.__dict__)
    use_plugins(module)
    run_dir = tmp_path / "run"
    genmodels.train("vae", dataset=str(tiny_npz), track=("csv",), run_dir=run_dir, **TINY)
    lines = (run_dir / "losses.csv").read_text().splitlines()
    expected = [
        f"{r['epoch']},{split},{term},{value}"
        for r in read_metrics(run_dir)
        for split in ("train", "valid")
        for term, value in r[split].items()
    ]
    assert lines == ["epoch,split,term,value", *expected]


def test_unknown_tracker_names_and_trackers_that_are_not_trackers_are_refused_before_anything_is_written(
    tiny_npz, tmp_path, use_plugins
):
    use_plugins(recording_plugin([], create=lambda: "not a tracker"))
    with pytest.raises(UnknownNameError, match="Unknown tracker 'tensorbord'. Did you mean 'tensorboard'\\?"):
        genmodels.train("vae", dataset=str(tiny_npz), track=("tensorbord",), run_dir=tmp_path / "a", **TINY)
    with pytest.raises(PluginError, match="the tracker 'recorder' of plugin 'recorder-plugin' created 'not a tracker'"):
        genmodels.train("vae", dataset=str(tiny_npz), track=("recorder",), run_dir=tmp_path / "b", **TINY)
    with pytest.raises(ConfigError, match="track names the tracker 'recorder' more than once"):
        genmodels.train("vae", dataset=str(tiny_npz), track="recorder,recorder", run_dir=tmp_path / "c", **TINY)
    assert list(tmp_path.iterdir()) == []


def test_without_tensorboard_the_tracker_is_a_one_line_error_and_no_run_is_started(
    tiny_npz, tmp_path, monkeypatch, use_plugins
):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails, as when it is not installed
    events = []
    use_plugins(recording_plugin(events))
    with pytest.raises(ConfigError) as error:
        genmodels.train(
            "vae", dataset=str(tiny_npz), track=("recorder", "tensorboard"), run_dir=tmp_path / "run", **TINY
        )
    assert (
        str(error.value)
        == 'the tensorboard tracker needs TensorBoard, which is not installed: pip install "genmodels[tensorboard]"'
    )
    assert not (tmp_path / "run").exists()
    assert events == [("close",)]  # the tracker created before it is closed, never started


def test_without_tensorboard_the_command_line_prints_one_error_line(tiny_npz, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    outcome = run_main(
        capsys,
        "train",
        "vae",
        "--dataset",
        tiny_npz,
        "--epochs",
        "1",
        "--track",
        "tensorboard",
        "--run-dir",
        tmp_path / "run",
    )
    outcome.assert_one_error_line(
        'the tensorboard tracker needs TensorBoard, which is not installed: pip install "genmodels[tensorboard]"'
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_tensorboard_tracker_writes_every_term_of_both_splits_each_epoch_and_sample_grids(tiny_npz, tmp_path):
    pytest.importorskip("tensorboard")
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    run_dir = tmp_path / "run"
    genmodels.train("vae", dataset=str(tiny_npz), track=("tensorboard",), run_dir=run_dir, **TINY)
    records = read_metrics(run_dir)
    events = {}
    for split, folder in (("train", "train"), ("valid", "validation")):
        accumulator = EventAccumulator(str(run_dir / "tensorboard" / folder), size_guidance={"tensors": 0})
        accumulator.Reload()
        events[split] = accumulator
        terms = list(records[0][split])
        assert {"loss", "reconstruction", "kl"} <= set(terms)
        assert {f"epoch_{term}" for term in terms} <= set(accumulator.Tags()["tensors"])
        for term in terms:
            written = {
                event.step: float(make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(f"epoch_{term}")
            }
            assert written == pytest.approx({record["epoch"]: record[split][term] for record in records}), (split, term)
    rates = {
        event.step: float(make_ndarray(event.tensor_proto)) for event in events["train"].Tensors("epoch_learning_rate")
    }
    assert rates == pytest.approx({record["epoch"]: record["learning_rate"] for record in records})
    assert "epoch_learning_rate" not in events["valid"].Tags()["tensors"]
    grids = events["train"].Tensors("samples")
    assert [grid.step for grid in grids] == [1, 2]  # the first epoch and the last
    width, height, png = make_ndarray(grids[-1].tensor_proto)
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert picture.shape == (int(height), int(width), 3)
    # the last epoch's grid is the prior's samples for the run's seed through the same weights (samples.png, drawn
    # after training, comes from the sampler fitted then)
    from genmodels.core.plots import save_image_grid

    run = genmodels.load(run_dir)
    prior = run.sample(60, seed=run.train_config.seed, sampler="prior").reshape(60, -1)
    save_image_grid(prior, tmp_path / "prior.png", run.image_shape, pixels=run.pixels)
    assert np.array_equal(picture, np.asarray(Image.open(tmp_path / "prior.png").convert("RGB")))
    assert (run_dir / SAMPLES_FILE).is_file()
    assert "samples" not in events["valid"].Tags()["tensors"]

    genmodels.train(
        "vae", dataset=str(tiny_npz), track=("tensorboard",), run_dir=run_dir, force=True, **{**TINY, "epochs": 1}
    )
    replaced = EventAccumulator(str(run_dir / "tensorboard" / "validation"), size_guidance={"tensors": 0})
    replaced.Reload()
    assert [event.step for event in replaced.Tensors("epoch_loss")] == [1]  # no curve of the run it replaced


def test_the_tensorboard_tracker_is_registered_without_importing_tensorflow_or_tensorboard():
    import subprocess

    code = (
        "import sys; from genmodels.plugins.loader import build_registry; "
        "spec = build_registry(strict=True).tracker('tensorboard'); "
        "assert spec.package == 'genmodels', spec; "
        "assert not {'tensorflow', 'tensorboard'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
