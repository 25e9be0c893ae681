"""A run directory's files are checked when they are read: a damaged, missing or foreign file is named in one
line and changes nothing; a full disk while saving a checkpoint leaves the previous one intact and loadable."""

from __future__ import annotations

import errno
import json
import os
import pathlib

import pytest

from genmodels.nn.model import GenerativeModel
from genmodels.plugins.loader import build_registry
from genmodels.runs.format import CHECKPOINT_FILE, CONFIG_FILE, LOCK_FILE, METRICS_FILE, WEIGHTS_FILE
from genmodels.runs.loading import load_model

from conftest import run_main, snapshot


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def save_weights_of(run_dir, model_name, **config):
    """Replace the run's weights by those of a freshly built model of another kind or architecture."""
    spec = build_registry().model(model_name)
    model = spec.build(spec.config().replace(**config))
    model.build_for(784)
    model.save_weights(run_dir / WEIGHTS_FILE)


def garbage(path):
    path.write_bytes(b"\x00\x01 not what it should be \xff" * 10)


def cut_short(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


# Damage done to a copy of a trained run, and the words the one-line error must hold ({run} is the run directory).
LOADING = {
    "weights-garbage": (
        lambda run: garbage(run / WEIGHTS_FILE),
        f"{{run}}/{WEIGHTS_FILE} is not a readable Keras weights file",
    ),
    "weights-truncated": (lambda run: cut_short(run / WEIGHTS_FILE), "truncated or corrupt"),
    "weights-missing": (
        lambda run: (run / WEIGHTS_FILE).unlink(),
        f"{{run}} has no {WEIGHTS_FILE}: the file is missing, though 1 epoch finished",
    ),
    "weights-of-another-model": (
        lambda run: save_weights_of(run, "ae", latent_dim=2, hidden="16"),
        "was made by another model or architecture than config.json describes "
        "(latent_dim=2, input_dim=784, image_shape=28,28,1, likelihood=bernoulli, hidden=16",
    ),
    "weights-of-another-architecture": (
        lambda run: save_weights_of(run, "vae", latent_dim=5, hidden="16"),
        "decoder/body/layers/dense/vars/0 is 5x16 in the file but 2x16 in the model",
    ),
    "config-edited-to-another-architecture": (
        lambda run: edit_json(run / CONFIG_FILE, lambda c: c["model_config"].update(hidden=[32])),
        "describes (latent_dim=2, input_dim=784, image_shape=28,28,1, likelihood=bernoulli, "
        "hidden=32, activation=elu, initializer=he_normal, dropout=0.0): ",
    ),
    "config-of-another-model": (
        lambda run: edit_json(run / CONFIG_FILE, lambda c: c.update(model="ae")),
        "holds a 'ae' model, not 'vae'",
    ),
    "config-missing": (lambda run: (run / CONFIG_FILE).unlink(), "No trained model in {run} (no config.json)"),
    "config-garbage": (lambda run: garbage(run / CONFIG_FILE), f"{{run}}/{CONFIG_FILE} is not a text file"),
    "config-truncated": (lambda run: cut_short(run / CONFIG_FILE), f"{{run}}/{CONFIG_FILE} is not valid JSON"),
    "config-extra-field": (
        lambda run: edit_json(run / CONFIG_FILE, lambda c: c.update(origin="x")),
        "unknown field 'origin'",
    ),
    "config-extra-model-field": (
        lambda run: edit_json(run / CONFIG_FILE, lambda c: c["model_config"].update(depth=3)),
        "model_config does not fit the 'vae' model: MLPConfig has no option 'depth'",
    ),
    "config-wrong-type": (
        lambda run: edit_json(run / CONFIG_FILE, lambda c: c["model_config"].update(latent_dim="2")),
        "latent_dim must be an integer, received '2'",
    ),
    "config-wrong-shape": (
        lambda run: edit_json(run / CONFIG_FILE, lambda c: c["dataset"].update(image_shape=[28, 28, 1, 1])),
        "dataset.image_shape must be [height, width, channels]",
    ),
}


@pytest.mark.parametrize("damage", LOADING, ids=str)
def test_a_damaged_or_foreign_run_file_is_named_and_nothing_changes(run_copy, capsys, damage):
    hurt, words = LOADING[damage]
    hurt(run_copy)
    before = snapshot(run_copy)
    run_main(capsys, "sample", "vae", "-n", "4", "--run-dir", run_copy).assert_one_error_line(
        words.format(run=run_copy)
    )
    assert snapshot(run_copy) == before


RESUMING = {
    "checkpoint-missing": (
        lambda run: (run / CHECKPOINT_FILE).unlink(),
        f"{{run}} has no {CHECKPOINT_FILE}, although {METRICS_FILE} records 1 finished epoch",
    ),
    "checkpoint-missing-before-any-epoch": (
        lambda run: ((run / CHECKPOINT_FILE).unlink(), (run / METRICS_FILE).write_text("")),
        f"{{run}} has no {CHECKPOINT_FILE}: no epoch finished",
    ),
    "checkpoint-garbage": (lambda run: garbage(run / CHECKPOINT_FILE), f"{{run}}/{CHECKPOINT_FILE} is not a text file"),
    "checkpoint-truncated": (
        lambda run: cut_short(run / CHECKPOINT_FILE),
        f"{{run}}/{CHECKPOINT_FILE} is not valid JSON",
    ),
    "checkpoint-wrong-fields": (
        lambda run: (run / CHECKPOINT_FILE).write_text('{"epoch": "one", "seed_state": [1, 2]}'),
        f"{{run}}/{CHECKPOINT_FILE} is not a genmodels checkpoint",
    ),
    "weights-replaced": (
        lambda run: save_weights_of(run, "vae", latent_dim=2, hidden="16"),
        f"{{run}}/{WEIGHTS_FILE} is not the file that {{run}}/{CHECKPOINT_FILE} describes (its SHA-256 differs)",
    ),
    "weights-missing": (lambda run: (run / WEIGHTS_FILE).unlink(), f"has a {CHECKPOINT_FILE} but no {WEIGHTS_FILE}"),
    "metrics-garbage-line": (
        lambda run: (run / METRICS_FILE).write_text("{not json\n"),
        f"{{run}}/{METRICS_FILE}, line 1, is not valid JSON",
    ),
    "metrics-missing": (
        lambda run: (run / METRICS_FILE).unlink(),
        f"{METRICS_FILE} has 0 epochs, but {{run}}/{CHECKPOINT_FILE} says 1 finished",
    ),
    "metrics-of-another-epoch": (
        lambda run: (run / METRICS_FILE).write_text('{"epoch": 7, "train": {}, "test": {}}\n'),
        "line 1, is not the record of epoch 1",
    ),
}


@pytest.mark.parametrize("damage", RESUMING, ids=str)
def test_resuming_from_a_damaged_checkpoint_is_refused_naming_the_file(run_copy, capsys, damage):
    hurt, words = RESUMING[damage]
    hurt(run_copy)
    before = snapshot(run_copy)
    outcome = run_main(capsys, "train", "vae", "--resume", "--epochs", "2", "--run-dir", run_copy)
    outcome.assert_one_error_line(words.format(run=run_copy))
    assert snapshot(run_copy) == before


def test_curves_and_compare_name_a_damaged_file(run_copy, capsys):
    (run_copy / METRICS_FILE).write_text((run_copy / METRICS_FILE).read_text()[:-10])
    run_main(capsys, "curves", "vae", "--run-dir", run_copy).assert_one_error_line(
        f"{run_copy}/{METRICS_FILE}, line 1, is not valid JSON"
    )
    (run_copy / "evaluation-test.json").write_text("[1, 2")
    run_main(capsys, "compare", run_copy).assert_one_error_line(f"{run_copy}/evaluation-test.json is not valid JSON")


def test_an_operating_system_error_is_one_line_naming_the_file(run_copy, capsys):
    (run_copy / "grid.png").mkdir()  # a folder where the picture should go
    outcome = run_main(capsys, "sample", "vae", "-n", "2", "--run-dir", run_copy, "--out", run_copy / "grid.png")
    outcome.assert_one_error_line(str(run_copy / "grid.png"))
    assert "Traceback" not in outcome.err


def fill_the_disk_when_writing(monkeypatch, name: str) -> None:
    """Writing the file `name` (its temporary copy) puts a few bytes on disk, then fails as a full disk does."""

    def disk_full(path):
        pathlib.Path(path).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if name == WEIGHTS_FILE:
        monkeypatch.setattr(GenerativeModel, "save_weights", lambda self, path, *args, **kwargs: disk_full(path))
        return
    write_text = pathlib.Path.write_text

    def write_text_or_fail(self, text, *args, **kwargs):
        if self.name.endswith(name):
            with open(self, "w") as handle:
                handle.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", write_text_or_fail)


@pytest.mark.parametrize("failing", [WEIGHTS_FILE, CHECKPOINT_FILE, METRICS_FILE])
@pytest.mark.slow
def test_a_full_disk_while_saving_keeps_the_previous_checkpoint_intact_and_resumable(
    run_copy, capsys, monkeypatch, failing
):
    before = snapshot(run_copy)
    fill_the_disk_when_writing(monkeypatch, failing)
    outcome = run_main(capsys, "train", "vae", "--resume", "--epochs", "2", "--run-dir", run_copy)
    outcome.assert_one_error_line(
        f"the disk is full: could not write {run_copy / failing}. Files saved before are unchanged"
    )
    monkeypatch.undo()
    assert snapshot(run_copy) == before  # no temporary file left, the epoch-1 checkpoint byte for byte
    assert not (run_copy / LOCK_FILE).exists()
    load_model(run_copy, build_registry(), "vae")  # loadable
    if failing == WEIGHTS_FILE:  # and, with space again, the run goes on from it
        resumed = run_main(capsys, "train", "vae", "--resume", "--epochs", "2", "--run-dir", run_copy)
        assert resumed.code == 0, resumed.err
        assert [json.loads(line)["epoch"] for line in (run_copy / METRICS_FILE).read_text().splitlines()] == [1, 2]
