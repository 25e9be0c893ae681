"""Datasets: offline loading from a local folder, verified atomic downloads, clear errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from genmodels.data.npz import load_npz
from genmodels.data.store import DATA_DIR_VARIABLE, data_dir, fetch
from genmodels.data.sources import load_dataset
from genmodels.core.errors import ChecksumError, DatasetError, UnknownNameError
from genmodels.plugins.loader import build_registry
from genmodels_plugins import datasets as builtin

from conftest import random_binary_images

UNREACHABLE = "http://127.0.0.1:9/nothing-here.bin"  # the discard port: refused at once, offline or not


def test_binarized_mnist_loads_offline_from_the_shared_folder(shared_data):
    data = load_dataset("binarized-mnist", build_registry())
    assert data.train.shape == (50000, 28, 28, 1) and data.valid.shape == data.test.shape == (10000, 28, 28, 1)
    assert data.pixels == "binary" and data.train.dtype == np.uint8 and set(np.unique(data.test)) == {0, 1}
    assert data.train.mean() == pytest.approx(0.1306, abs=1e-4)  # the figure in shared/data/README.md
    assert data.rows("test").dtype == np.float32 and data.rows("test").shape == (10000, 784)


def test_binarized_mnist_ships_inside_the_package_and_needs_no_data_folder(empty_data_dir):
    data = load_dataset("binarized-mnist", build_registry())  # an empty folder, and no download: the packaged copy
    assert data.train.shape == (50000, 28, 28, 1) and data.valid.shape == data.test.shape == (10000, 28, 28, 1)
    assert data.train.mean() == pytest.approx(0.1306, abs=1e-4)
    assert np.array_equal(np.bincount(data.test_labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert np.all(np.diff(data.test_labels.astype(int)) >= 0)  # Larochelle's test images are sorted by digit
    assert list(empty_data_dir.iterdir()) == []  # nothing written


def test_the_packaged_copy_is_the_shared_file_image_for_image(shared_data, tmp_path):
    packaged = builtin.load_binarized_mnist(tmp_path)
    with np.load(shared_data / "binarized_mnist.npz") as npz:
        for split in ("train", "valid", "test"):
            assert np.array_equal(getattr(packaged, split).reshape(-1, 784), npz[split])


def test_a_damaged_packaged_copy_is_refused(tmp_path):
    with np.load(builtin.PACKAGED_BINARIZED) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["valid"][3, 5] ^= 16
    np.savez_compressed(tmp_path / "bits.npz", **arrays)
    (tmp_path / "data").mkdir()
    with pytest.raises(ChecksumError, match="'valid' images differ"):
        builtin.load_binarized_mnist(tmp_path / "data", packaged=tmp_path / "bits.npz")


def test_binarized_test_images_carry_the_sorted_mnist_labels(shared_data):
    import gzip

    data = load_dataset("binarized-mnist", build_registry())
    assert data.test_labels is not None and np.all(np.diff(data.test_labels.astype(int)) >= 0)
    grey = np.frombuffer(gzip.decompress((shared_data / "t10k-images-idx3-ubyte.gz").read_bytes())[16:], np.uint8)
    labels = np.frombuffer(gzip.decompress((shared_data / "t10k-labels-idx1-ubyte.gz").read_bytes())[8:], np.uint8)
    grey = grey.reshape(-1, 784)[np.argsort(labels, kind="stable")] / 255.0
    for index in range(0, 10000, 997):  # each binarized image is its sorted grey original, binarized
        binary = data.rows("test", [index])[0]
        b, g = binary - binary.mean(), grey[index] - grey[index].mean()
        assert b @ g / (np.linalg.norm(b) * np.linalg.norm(g)) > 0.75


def test_the_data_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv(DATA_DIR_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "genmodels"


def test_a_missing_file_offline_names_the_file_the_url_and_the_variable(empty_data_dir):
    with pytest.raises(DatasetError) as error:
        builtin.load_mnist(empty_data_dir, url=UNREACHABLE)
    message = str(error.value)
    assert "mnist.npz" in message and UNREACHABLE in message and DATA_DIR_VARIABLE in message
    assert list(empty_data_dir.iterdir()) == []  # nothing half-written left behind


def test_a_download_lands_whole_and_verified(tmp_path):
    source = tmp_path / "remote.bin"
    source.write_bytes(b"x" * 300_000)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = fetch(source.as_uri(), tmp_path / "cache" / "local.bin", sha256=digest, quiet=True)
    assert dest.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["local.bin"]


def test_a_download_with_the_wrong_checksum_is_refused_and_not_kept(tmp_path):
    source = tmp_path / "remote.bin"
    source.write_bytes(b"not the file you want")
    with pytest.raises(ChecksumError, match="expected SHA-256"):
        fetch(source.as_uri(), tmp_path / "cache" / "local.bin", sha256="0" * 64, quiet=True)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_full_disk_while_downloading_leaves_nothing_behind_and_names_the_file(tmp_path, monkeypatch):
    import errno
    import os

    from genmodels.data import store as data_module

    def fills_the_disk(url, out, label, *, quiet):
        out.write(b"the first bytes")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(data_module, "_download", fills_the_disk)
    dest = tmp_path / "cache" / "local.bin"
    with pytest.raises(OSError) as error:  # not a DatasetError: cli.main reports it as a full disk
        fetch((tmp_path / "remote.bin").as_uri(), dest, quiet=True)
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(dest)
    assert list(dest.parent.iterdir()) == []


def test_a_cached_file_with_the_wrong_checksum_is_reported(empty_data_dir):
    (empty_data_dir / "mnist.npz").write_bytes(b"truncated")
    with pytest.raises(ChecksumError, match="mnist.npz does not have the expected SHA-256"):
        load_dataset("mnist", build_registry())


@pytest.mark.slow
def test_binarized_mnist_with_altered_pixels_fails_its_content_check(shared_data, tmp_path):
    with np.load(shared_data / "binarized_mnist.npz") as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["test"][0, 0] ^= 1
    np.savez_compressed(tmp_path / "binarized_mnist.npz", **arrays)
    with pytest.raises(ChecksumError, match="'test' images differ"):
        builtin.load_binarized_mnist(tmp_path)


def test_binarized_mnist_is_built_from_amat_downloads_into_the_shared_format(tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    splits = {}
    for index, (split, rows) in enumerate({"train": 6, "valid": 2, "test": 3}.items()):
        images = random_binary_images(rows, seed=index)
        np.savetxt(remote / f"binarized_mnist_{split}.amat", images, fmt="%d")
        splits[split] = (rows, hashlib.sha256(images.tobytes()).hexdigest())
    cache = tmp_path / "cache"
    data = builtin.load_binarized_mnist(cache, url=remote.as_uri() + "/binarized_mnist_{split}.amat", splits=splits)
    assert (
        data.train.shape == (6, 28, 28, 1) and data.valid.shape == (2, 28, 28, 1) and data.test.shape == (3, 28, 28, 1)
    )
    assert sorted(p.name for p in cache.iterdir()) == ["binarized_mnist.npz"]  # the .amat texts are removed
    with np.load(cache / "binarized_mnist.npz") as npz:
        assert sorted(npz.files) == ["test", "train", "valid"] and npz["valid"].dtype == np.uint8


def test_a_corrupt_amat_download_is_refused_and_removed(tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "binarized_mnist_train.amat").write_text("0 1 2\n")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="characters other than 0, 1 and spaces"):
        builtin.load_binarized_mnist(
            cache, url=remote.as_uri() + "/binarized_mnist_{split}.amat", splits={"train": (1, "")}
        )
    assert list(cache.iterdir()) == []


def test_a_users_npz_is_loaded_by_path(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, train=np.ones((20, 8, 8), np.uint8), test=np.full((2, 64), 0.25, np.float32))
    data = load_dataset(str(path), build_registry())
    assert data.image_shape == (8, 8, 1) and data.input_dim == 64 and data.name == "mine.npz"
    assert (len(data.train), len(data.valid)) == (18, 2)  # a tenth held out for validation
    assert (
        data.pixels == "continuous"
        and data.train.dtype == np.float32
        and data.train.max() == 1.0
        and data.test.max() == 0.25
    )


def test_grey_levels_0_to_255_are_8_bit_data_and_binarize_at_128(tmp_path):
    path = tmp_path / "greys.npz"
    greys = np.tile(np.array([0, 127, 128, 255], np.uint8), (30, 4))  # thirty 4x4 images
    np.savez(path, train=greys, test=greys[:1])
    data = load_dataset(str(path), build_registry())
    assert data.pixels == "8bit" and data.train.dtype == np.uint8
    np.testing.assert_allclose(data.rows("test")[0, :4], [0.0, 127 / 255, 128 / 255, 1.0])
    data = load_dataset(str(path), build_registry(), binarize=True)
    assert data.pixels == "binary" and data.train.dtype == np.uint8
    np.testing.assert_array_equal(
        data.train.reshape(len(data.train), -1)[0, :4], [0, 0, 1, 1]
    )  # 1 where the grey is >= 128


def test_binarize_thresholds_values_in_0_1_at_one_half(tmp_path):
    path = tmp_path / "probabilities.npz"
    values = np.tile(np.array([0.0, 0.49, 0.5, 1.0], np.float32), (2, 4))
    np.savez(path, train=values, test=values)
    np.testing.assert_array_equal(load_npz(path).binarized().rows("train")[0, :4], [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(load_npz(path).rows("train")[0, :4], values[0, :4])  # unchanged without it


def test_a_registered_dataset_can_be_binarized_too(tmp_path):
    from genmodels.data.dataset import Dataset

    grey = Dataset("grey", train=np.full((2, 784), 0.6, np.float32), test=np.full((1, 784), 0.4, np.float32))
    black_and_white = grey.binarized()
    assert black_and_white.train.max() == 1.0 and black_and_white.test.max() == 0.0


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"train": np.zeros((3, 784))}, "lacks the array\\(s\\) test"),
        ({"train": np.zeros((0, 784)), "test": np.zeros((1, 784))}, "expected a non-empty array"),
        ({"train": np.zeros((3, 780)), "test": np.zeros((1, 780))}, "with square D"),
        ({"train": np.full((3, 784), 2.5), "test": np.zeros((1, 784))}, "values must lie in \\[0, 1\\]"),
        ({"train": np.zeros((3, 784)), "test": np.zeros((1, 100))}, "'test' images are shaped \\(100,\\)"),
        ({"train": np.zeros((3, 28, 28)), "test": np.zeros((2, 27, 27))}, "'test' images are shaped \\(27, 27\\)"),
        ({"train": np.zeros((3, 0, 0)), "test": np.zeros((1, 0))}, "received shape \\(3, 0, 0\\)"),
        (
            {"train": np.zeros((2, 3, 28, 28)), "test": np.zeros((1, 784))},
            "received shape \\(2, 3, 28, 28\\).*Channels-first",
        ),
        ({"train": np.full((3, 784), "0"), "test": np.zeros((1, 784))}, "expected numbers .* received dtype <U1"),
        ({"train": np.zeros((3, 784), complex), "test": np.zeros((1, 784))}, "received dtype complex128"),
        (
            {"train": np.zeros((3, 784), "timedelta64[s]"), "test": np.zeros((1, 784))},
            "received dtype timedelta64\\[s\\]",
        ),
        ({"train": np.full((3, 784), np.nan), "test": np.zeros((1, 784))}, "NaN or infinite"),
        ({"train": np.full((3, 784), 254.5), "test": np.zeros((1, 784))}, "received range \\[254.5, 254.5\\]"),
        ({"train": np.full((3, 784), 300, np.int16), "test": np.zeros((1, 784))}, "16-bit images"),
        ({"train": np.full((3, 784), -0.5), "test": np.zeros((1, 784))}, "received range \\[-0.5, -0.5\\].*Rescale"),
        (
            {"train": np.zeros((3, 784)), "test": np.zeros((1, 784)), "test_labels": np.zeros(2, int)},
            "one integer label per image",
        ),
        ({"train": np.zeros((3, 784)), "test": np.zeros((1, 784)), "train_labels": np.zeros(3)}, "dtype float64"),
    ],
)
def test_a_bad_users_npz_gets_a_clear_error(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=message):
        load_npz(path)


def test_arrays_of_python_objects_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, train=np.array([{"pixels": 1}] * 3, dtype=object), test=np.zeros((1, 784)))
    with pytest.raises(DatasetError, match="'train' is an array of Python objects; genmodels never unpickles"):
        load_npz(path)


def test_a_truncated_npz_and_a_single_npy_array_get_clear_errors(tmp_path):
    whole = tmp_path / "whole.npz"
    np.savez(whole, train=np.zeros((300, 784)), test=np.zeros((10, 784)))
    for cut in (100, len(whole.read_bytes()) // 2, len(whole.read_bytes()) - 30):
        (tmp_path / "cut.npz").write_bytes(whole.read_bytes()[:cut])
        with pytest.raises(DatasetError, match="cut.npz (is not a readable .npz file|: 'train' cannot be read)"):
            load_npz(tmp_path / "cut.npz")
    np.save(tmp_path / "one.npy", np.zeros((3, 784)))
    with pytest.raises(DatasetError, match="holds a single array, not an .npz archive"):
        load_npz(tmp_path / "one.npy")


def test_a_file_that_is_not_npz_and_an_unknown_name_get_clear_errors(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_npz(junk)
    with pytest.raises(DatasetError, match="no dataset file"):
        load_dataset(str(tmp_path / "absent.npz"), build_registry())
    with pytest.raises(UnknownNameError, match="Did you mean 'mnist'"):
        load_dataset("mnsit", build_registry())
