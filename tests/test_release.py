"""The package as it is released: a wheel built from the tracked files carries its built-in plugins, their entry
points and the default dataset, and trains and samples from a fresh environment with no data folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built, without network, from a copy of the repository's tracked files (a clean checkout)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    source = tmp_path_factory.mktemp("checkout")
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    )
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("genmodels-*.whl")
    return built


def test_the_wheel_holds_the_plugins_their_entry_points_and_the_default_dataset(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "genmodels_plugins/data/binarized_mnist_bits.npz" in names
    assert {"genmodels_plugins/vae.py", "genmodels_plugins/samplers.py", "genmodels/cli/program.py"} <= set(names)
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "vae = genmodels_plugins.vae" in text and "genmodels = genmodels.cli.program:main" in text
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/", "tools/"))]


@pytest.mark.slow
def test_the_wheel_trains_and_samples_the_vae_in_a_fresh_environment_without_data(wheel, tmp_path):
    """A fresh venv sees the wheel's genmodels and, for its dependencies only, this environment's packages."""
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # the dependencies (TensorFlow, ...) from this environment; a folder named in a .pth has its own .pth files
    # ignored, so this environment's editable genmodels stays out
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work, data = tmp_path / "work", tmp_path / "no-data"
    work.mkdir(), data.mkdir()
    env = {**os.environ, "GENMODELS_DATA_DIR": str(data), "PYTHONPATH": ""}
    where = subprocess.run(
        [python, "-c", "import genmodels, genmodels_plugins; print(genmodels.__file__, genmodels_plugins.__file__)"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert where.count(str(site)) == 2, where
    for command in (["train", "vae", "--epochs", "1"], ["sample", "vae", "-n", "60"]):
        done = subprocess.run(
            [python, "-m", "genmodels", *command], cwd=work, capture_output=True, text=True, env=env, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert (work / "runs" / "vae" / "samples-60-seed0.png").is_file()
    assert list(data.iterdir()) == []  # nothing downloaded: the dataset came with the package
