"""Shared fixtures: where the real data lies, small datasets, and fresh registries."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # the independent checks there are reused by tests
SHARED_DATA = Path(os.environ.get("GENMODELS_DATA_DIR") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def features_cache(tmp_path_factory) -> Path:
    """Feature networks and real-image features (genmodels.evaluation.metrics) are cached in a folder of the test session,
    never in the shared data folder: each session trains the digit network once, for all its tests."""
    folder = tmp_path_factory.mktemp("features")
    saved = os.environ.get("GENMODELS_FEATURES_DIR")
    os.environ["GENMODELS_FEATURES_DIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("GENMODELS_FEATURES_DIR", None)
    else:
        os.environ["GENMODELS_FEATURES_DIR"] = saved


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    """The folder with binarized_mnist.npz (../shared/data); genmodels is pointed at it."""
    if not (SHARED_DATA / "binarized_mnist.npz").is_file():
        pytest.skip(f"the real data is not at {SHARED_DATA}; set GENMODELS_DATA_DIR")
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA


@pytest.fixture(scope="session")
def slice_file(tmp_path_factory) -> Path:
    """A user-format .npz of real binarized MNIST: 1500 train and 500 random test images with their labels."""
    if not (SHARED_DATA / "binarized_mnist.npz").is_file():
        pytest.skip(f"the real data is not at {SHARED_DATA}; set GENMODELS_DATA_DIR")
    from genmodels_plugins.datasets import load_binarized_mnist

    data = load_binarized_mnist(SHARED_DATA)
    pick = np.random.default_rng(0).choice(len(data.test), size=500, replace=False)
    path = tmp_path_factory.mktemp("slice") / "slice.npz"
    arrays = {"train": data.train[:1500].astype(np.uint8), "test": data.test[pick].astype(np.uint8)}
    if data.test_labels is not None:
        arrays["test_labels"] = data.test_labels[pick]
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="session")
def labelled_mnist(tmp_path_factory) -> Path:
    """A user-format .npz of the labelled grey MNIST test set (t10k, in ../shared/data): its first 8000
    images as `train` and the last 2000 as `test`, greys in [0, 1], with their labels."""
    import labelled_mnist

    if not labelled_mnist.available(SHARED_DATA):
        pytest.skip(f"the labelled MNIST test set is not at {SHARED_DATA}; set GENMODELS_DATA_DIR")
    return labelled_mnist.write_split(SHARED_DATA, tmp_path_factory.mktemp("labelled") / "t10k.npz")


@pytest.fixture
def mnist_slice(shared_data, slice_file) -> Path:
    """The slice above, with GENMODELS_DATA_DIR pointing at the real data."""
    return slice_file


@pytest.fixture
def empty_data_dir(tmp_path, monkeypatch) -> Path:
    """An empty GENMODELS_DATA_DIR, as on a fresh machine."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(folder))
    return folder


def random_binary_images(count: int, seed: int = 0, side: int = 28) -> np.ndarray:
    """Random 0/1 images, flattened: small synthetic data for unit tests."""
    return (np.random.default_rng(seed).random((count, side * side)) < 0.2).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    """A user-format .npz of random 0/1 images: 300 train, 100 test (for fast runs that need no real data)."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    np.savez(path, train=random_binary_images(300), test=random_binary_images(100, seed=1))
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_npz, tmp_path_factory) -> Path:
    """A 'vae' run (2-D codings, one hidden layer of 16) trained for one epoch on tiny_npz. Copy it before changing it."""
    from genmodels.data.npz import load_npz
    from genmodels.plugins.loader import build_registry
    from genmodels.training.trainer import train

    registry = build_registry()
    spec = registry.model("vae")
    run_dir = tmp_path_factory.mktemp("tiny-run") / "vae"
    recipe = spec.train.replace(
        epochs=1, batch_size=100, dataset=str(tiny_npz), keep="last"
    )  # the weights file the damage tests break is the kept one
    train(
        spec,
        spec.config().replace(latent_dim=2, hidden="16"),
        recipe,
        load_npz(tiny_npz),
        run_dir,
        verbose=0,
        registry=registry,
    )
    return run_dir


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    """A copy of tiny_run that a test may damage."""
    import shutil

    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


@dataclass
class Outcome:
    """What `genmodels ARGS` did, run in this process through cli.main."""

    code: int
    out: str
    err: str

    def assert_one_error_line(self, *fragments: str) -> str:
        """Exit status 1, one line on standard error that starts with 'Error:' and holds every fragment; no traceback."""
        lines = self.err.strip().splitlines()
        assert self.code == 1, f"exit status {self.code}: {self.err}"
        assert len(lines) == 1 and lines[0].startswith("Error: "), self.err
        for fragment in fragments:
            assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
        return lines[0]


def run_main(capsys, *args: str) -> Outcome:
    """`genmodels ARGS` through cli.main (its one error mapping) in this process."""
    from genmodels.cli.program import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit:
        main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return Outcome(exit.value.code or 0, captured.out, captured.err)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path, with its bytes: to show that nothing saved was touched."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="session")
def served_runs(tiny_run, tiny_npz, tmp_path_factory) -> Path:
    """A folder of runs for `genmodels serve`: `a/vae` (tiny_run, with a made-up test evaluation, keeping its fitted
    gmm sampler), `b-vae` (trained for two epochs through the Python API; it keeps no fitted sampler), `cvae` (a
    conditional model with 12-D codings, on small labelled images of 3 classes, keeping its gmm sampler) and
    `broken` (config.json beside a weights file of garbage); a test adds a symbolic link `link` out of it."""
    import json
    import shutil
    import warnings

    import genmodels
    from genmodels.core.errors import TrainingWarning

    root = tmp_path_factory.mktemp("served") / "runs"
    first = Path(shutil.copytree(tiny_run, root / "a" / "vae"))
    figures = {"nll": 543.21, "bits_per_dim": 0.9995, "terms": {}, "metrics": {"fid": {"fid": 87.5, "floor": 1.25}}}
    (first / "evaluation-test.json").write_text(json.dumps(figures))
    genmodels.load(first).fitted_sampler("gmm")  # loaded when training kept it, else fitted and saved now
    genmodels.train(
        "vae",
        dataset=str(tiny_npz),
        run_dir=root / "b-vae",
        epochs=2,
        hidden=(16,),
        latent_dim=2,
        verbose=0,
        epoch_images=0,
        batch_size=100,
        keep="last",
    )
    for kept in (root / "b-vae").glob("sampler-*.npz"):
        kept.unlink()

    def labelled_blocks(count: int, seed: int, classes: int = 3, side: int = 12):
        """0/1 images where each class lights its own band of rows, over sparse noise, with their labels."""
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, classes, size=count)
        images = rng.random((count, side, side)) < 0.1
        band = side // classes
        for index, label in enumerate(labels):
            images[index, label * band : (label + 1) * band] |= rng.random((band, side)) < 0.8
        return images.astype(np.uint8), labels

    train, train_labels = labelled_blocks(600, seed=0)
    test, test_labels = labelled_blocks(60, seed=1)
    labelled = tmp_path_factory.mktemp("labelled-blocks") / "blocks.npz"
    np.savez(labelled, train=train, train_labels=train_labels, test=test, test_labels=test_labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)  # three epochs are short of convergence, on purpose
        conditional = genmodels.train(
            "cvae",
            dataset=str(labelled),
            run_dir=root / "cvae",
            epochs=3,
            classes=3,
            hidden=(32,),
            latent_dim=12,
            verbose=0,
            epoch_images=0,
            batch_size=50,
            keep="last",
        )
    conditional.fitted_sampler("gmm")
    broken = Path(shutil.copytree(tiny_run, root / "broken"))
    (broken / "model.weights.h5").write_bytes(b"garbage, not an HDF5 file")
    return root
