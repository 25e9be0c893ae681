"""Fashion-MNIST, CIFAR-10, Omniglot and dSprites, tested offline on tiny files written in the exact upstream formats."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from genmodels.data.dataset import Dataset
from genmodels.data.store import DATA_DIR_VARIABLE
from genmodels.core.errors import ChecksumError, DatasetError
from genmodels.plugins.loader import build_registry
from genmodels_plugins import image_datasets as plugin

UNREACHABLE = "http://127.0.0.1:9/nothing-here"  # the discard port: refused at once, offline or not
NAMES = ("fashion-mnist", "cifar10", "omniglot", "dsprites")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------- Fashion-MNIST


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of uint8 data: magic 0x0000 08 <ndim>, the dimensions as big-endian uint32, the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(remote: Path, counts=(5, 3), seed=0) -> dict:
    """The four gzipped IDX files of a tiny Fashion-MNIST in `remote`; returns their arrays and SHA-256s."""
    rng = np.random.default_rng(seed)
    remote.mkdir(parents=True, exist_ok=True)
    arrays, digests = {}, {}
    for (split, prefix), count in zip((("train", "train"), ("test", "t10k")), counts):
        arrays[split] = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 10, size=count, dtype=np.uint8)
        for kind, ndim, array in (("images", 3, arrays[split]), ("labels", 1, arrays[f"{split}_labels"])):
            name = f"{prefix}-{kind}-idx{ndim}-ubyte.gz"
            (remote / name).write_bytes(gzip.compress(idx_bytes(array)))
            digests[name] = sha256(remote / name)
    return {"arrays": arrays, "sha256": digests, "url": remote.as_uri() + "/{file}"}


def test_fashion_mnist_is_downloaded_verified_and_read_exactly(tmp_path):
    fashion = write_fashion(tmp_path / "remote")
    cache = tmp_path / "data"
    data = plugin.load_fashion_mnist(cache, url=fashion["url"], sha256=fashion["sha256"])
    arrays = fashion["arrays"]
    assert data.train.shape == (5, 28, 28, 1) and data.test.shape == (3, 28, 28, 1)
    assert data.train.dtype == np.uint8 and data.pixels == "8bit"
    np.testing.assert_array_equal(data.train[..., 0], arrays["train"])
    np.testing.assert_array_equal(data.test[..., 0], arrays["test"])
    np.testing.assert_array_equal(data.train_labels, arrays["train_labels"])
    np.testing.assert_array_equal(data.test_labels, arrays["test_labels"])
    assert data.label_names == plugin.FASHION_MNIST_CLASSES and len(data.label_names) == 10
    assert data.label_names[0] == "T-shirt/top" and data.label_names[9] == "Ankle boot"
    # cached in their own folder (never in place of MNIST's t10k-labels-idx1-ubyte.gz), then read offline
    assert [p.name for p in cache.iterdir()] == ["fashion-mnist"]
    assert sorted(p.name for p in (cache / "fashion-mnist").iterdir()) == sorted(fashion["sha256"])
    again = plugin.load_fashion_mnist(cache, url=UNREACHABLE + "/{file}", sha256=fashion["sha256"])
    np.testing.assert_array_equal(again.train, data.train)


def test_fashion_mnist_stays_8_bit_even_where_a_split_holds_only_0s_and_1s(tmp_path):
    if "pixels" not in {field.name for field in dataclasses.fields(Dataset) if field.init}:
        pytest.skip("the core's Dataset takes no pixels declaration")
    fashion = write_fashion(tmp_path / "remote")
    digests = dict(fashion["sha256"])
    for name, count in (("train-images-idx3-ubyte.gz", 5), ("t10k-images-idx3-ubyte.gz", 3)):  # very dark images
        (tmp_path / "remote" / name).write_bytes(
            gzip.compress(idx_bytes(np.eye(28, dtype=np.uint8)[None].repeat(count, axis=0)))
        )
        digests[name] = sha256(tmp_path / "remote" / name)
    data = plugin.load_fashion_mnist(tmp_path / "data", url=fashion["url"], sha256=digests)
    assert data.pixels == "8bit" and data.train.max() == 1  # levels 0 and 1 of 255, not black and white


def test_fashion_mnist_with_a_wrong_checksum_is_refused_naming_the_file(tmp_path):
    fashion = write_fashion(tmp_path / "remote")
    wrong = {**fashion["sha256"], "t10k-labels-idx1-ubyte.gz": "0" * 64}
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz"):
        plugin.load_fashion_mnist(tmp_path / "data", url=fashion["url"], sha256=wrong)
    assert not (tmp_path / "data" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").exists()  # not kept
    # a cached copy that differs from the published file is reported too
    cached = tmp_path / "data" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    cached.write_bytes(b"not the file")
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz does not have the expected SHA-256"):
        plugin.load_fashion_mnist(tmp_path / "data", url=UNREACHABLE + "/{file}", sha256=fashion["sha256"])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[: len(raw) // 2], "not a readable gzip file"),  # a truncated download
        (lambda raw: gzip.compress(gzip.decompress(raw)[:-7]), "header promises 5 x 28 x 28 = 3920 bytes"),
        (lambda raw: gzip.compress(gzip.decompress(raw) + b"\0"), "header promises"),
        (lambda raw: gzip.compress(idx_bytes(np.zeros(5, np.uint8))), "magic number 0x00000801, not 0x00000803"),
        (lambda raw: gzip.compress(b"\0\0\x08"), "fewer than an IDX header"),
    ],
)
def test_a_damaged_idx_file_is_one_dataset_error_naming_it(tmp_path, damage, message):
    fashion = write_fashion(tmp_path / "remote")
    images = tmp_path / "remote" / "train-images-idx3-ubyte.gz"
    images.write_bytes(damage(images.read_bytes()))
    digests = {**fashion["sha256"], images.name: sha256(images)}  # the checksum passes: the content is checked
    with pytest.raises(DatasetError, match=message) as error:
        plugin.load_fashion_mnist(tmp_path / "data", url=fashion["url"], sha256=digests)
    assert "train-images-idx3-ubyte.gz" in str(error.value)


def test_fashion_labels_must_match_the_images(tmp_path):
    fashion = write_fashion(tmp_path / "remote")
    labels = tmp_path / "remote" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(np.array([1, 2, 10, 3], np.uint8))))
    digests = {**fashion["sha256"], labels.name: sha256(labels)}
    with pytest.raises(DatasetError, match="4 labels for the 3 images"):
        plugin.load_fashion_mnist(tmp_path / "data", url=fashion["url"], sha256=digests)


def test_offline_without_the_files_the_error_names_the_url_and_the_variable(tmp_path):
    loaders = [
        lambda folder: plugin.load_fashion_mnist(folder, url=UNREACHABLE + "/{file}"),
        lambda folder: plugin.load_cifar10(folder, url=UNREACHABLE + "/cifar.tar.gz"),
        lambda folder: plugin.load_omniglot(folder, url=UNREACHABLE + "/chardata.mat"),
        lambda folder: plugin.load_dsprites(folder, url=UNREACHABLE + "/dsprites.npz"),
    ]
    for index, load in enumerate(loaders):
        folder = tmp_path / str(index)
        with pytest.raises(DatasetError) as error:
            load(folder)
        message = str(error.value)
        assert UNREACHABLE in message and DATA_DIR_VARIABLE in message
        assert [p for p in folder.rglob("*") if p.is_file()] == []  # nothing half-written left behind


# ----------------------------------------------------------------------------------------- CIFAR-10


def cifar_record(label: int, red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> bytes:
    return (
        bytes([label])
        + red.astype(np.uint8).tobytes()
        + green.astype(np.uint8).tobytes()
        + blue.astype(np.uint8).tobytes()
    )


def write_cifar(
    path: Path,
    batches: dict[str, list[bytes]] | None = None,
    extra: dict[str, bytes] | None = None,
    omit=(),
    meta: bytes | None = None,
) -> dict:
    """A cifar-10-binary.tar.gz: the folder, data_batch_1..5.bin, test_batch.bin, batches.meta.txt, readme.html."""
    rng = np.random.default_rng(1)
    if batches is None:
        batches = {}
        for name, count in zip([*plugin.CIFAR10_TRAIN, *plugin.CIFAR10_TEST], (2, 1, 3, 1, 2, 3)):
            batches[name] = [
                cifar_record(int(rng.integers(0, 10)), *(rng.integers(0, 256, size=(32, 32)) for _ in range(3)))
                for _ in range(count)
            ]
    meta = meta if meta is not None else ("\n".join(plugin.CIFAR10_CLASSES) + "\n\n").encode()
    files = {
        **{name: b"".join(records) for name, records in batches.items()},
        "batches.meta.txt": meta,
        "readme.html": b"<html></html>",
        **(extra or {}),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        folder = tarfile.TarInfo("cifar-10-batches-bin")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        for name, content in files.items():
            if name in omit:
                continue
            info = tarfile.TarInfo(name if "/" in name else f"cifar-10-batches-bin/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return {"url": path.as_uri(), "sha256": sha256(path), "batches": batches}


def test_cifar10_is_read_from_the_binary_tar_with_each_colour_plane_in_its_channel(tmp_path):
    red, green, blue = (np.full((32, 32), value, np.uint8) for value in (10, 20, 30))
    red[5, 7], green[0, 31], blue[31, 0] = 200, 201, 202  # one pixel of each plane, row-major
    first = cifar_record(7, red, green, blue)
    batches = {
        name: [cifar_record(index, red // 2, green // 2, blue // 2)] for index, name in enumerate(plugin.CIFAR10_TRAIN)
    }
    batches["data_batch_1.bin"].insert(0, first)
    batches["test_batch.bin"] = [cifar_record(9, blue, green, red)]
    cifar = write_cifar(tmp_path / "remote" / "cifar-10-binary.tar.gz", batches)
    data = plugin.load_cifar10(tmp_path / "data", url=cifar["url"], sha256=cifar["sha256"])
    assert data.train.shape == (6, 32, 32, 3) and data.test.shape == (1, 32, 32, 3)
    assert data.train.dtype == np.uint8 and data.pixels == "8bit" and data.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(data.train[0, :, :, 0], red)
    np.testing.assert_array_equal(data.train[0, :, :, 1], green)
    np.testing.assert_array_equal(data.train[0, :, :, 2], blue)
    assert data.train[0, 5, 7, 0] == 200 and data.train[0, 0, 31, 1] == 201 and data.train[0, 31, 0, 2] == 202
    assert data.train[0, 5, 7, 1] == 20 and data.train[0, 7, 5, 0] == 10  # rows are rows, not columns
    np.testing.assert_array_equal(data.train_labels, [7, 0, 1, 2, 3, 4])  # batches 1..5 in order
    np.testing.assert_array_equal(data.test_labels, [9])
    assert data.label_names == plugin.CIFAR10_CLASSES  # read from batches.meta.txt
    np.testing.assert_array_equal(data.test[0, :, :, 0], blue)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["cifar-10-binary.tar.gz"]  # kept whole, not extracted
    again = plugin.load_cifar10(tmp_path / "data", url=UNREACHABLE, sha256=cifar["sha256"])  # offline from the cache
    np.testing.assert_array_equal(again.train, data.train)


def test_cifar10_batches_are_concatenated_with_their_labels(tmp_path):
    cifar = write_cifar(tmp_path / "remote" / "cifar-10-binary.tar.gz")
    data = plugin.load_cifar10(tmp_path / "data", url=cifar["url"], sha256=cifar["sha256"])
    records = [record for name in plugin.CIFAR10_TRAIN for record in cifar["batches"][name]]
    assert len(data.train) == len(records) == 9 and len(data.test) == 3
    for image, label, record in zip(data.train, data.train_labels, records):
        assert label == record[0]
        np.testing.assert_array_equal(image.transpose(2, 0, 1).ravel(), np.frombuffer(record[1:], np.uint8))


def test_cifar10_with_a_wrong_checksum_is_refused_naming_the_file(tmp_path):
    cifar = write_cifar(tmp_path / "remote" / "cifar-10-binary.tar.gz")
    cached = tmp_path / "data" / "cifar-10-binary.tar.gz"
    with pytest.raises(ChecksumError, match="cifar-10-binary.tar.gz"):
        plugin.load_cifar10(tmp_path / "data", url=cifar["url"], sha256="f" * 64)
    assert not cached.exists()
    cached.write_bytes((tmp_path / "remote" / "cifar-10-binary.tar.gz").read_bytes()[:-1])
    with pytest.raises(ChecksumError, match="cifar-10-binary.tar.gz does not have the expected SHA-256"):
        plugin.load_cifar10(tmp_path / "data", url=UNREACHABLE, sha256=cifar["sha256"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"extra": {"cifar-10-batches-py/data_batch_1": b"pickled"}},
            "unexpected member 'cifar-10-batches-py/data_batch_1'",
        ),
        ({"extra": {"cifar-10-batches-bin/data_batch_6.bin": b""}}, "unexpected member"),
        ({"extra": {"../escape.bin": b""}}, "unexpected member '../escape.bin'"),
        ({"omit": ("data_batch_3.bin",)}, "lacks cifar-10-batches-bin/data_batch_3.bin"),
        (
            {"batches": {name: [b"\x01" * 3072] for name in (*plugin.CIFAR10_TRAIN, *plugin.CIFAR10_TEST)}},
            "not a whole number of 3073-byte records",
        ),
        (
            {"batches": {name: [bytes([10]) + b"\0" * 3072] for name in (*plugin.CIFAR10_TRAIN, *plugin.CIFAR10_TEST)}},
            "holds the label 10",
        ),
        ({"meta": b"cat\ndog\n"}, "names 2 classes"),
    ],
)
def test_an_unexpected_cifar_archive_is_one_dataset_error(tmp_path, kwargs, message):
    cifar = write_cifar(tmp_path / "remote" / "cifar-10-binary.tar.gz", **kwargs)
    with pytest.raises(DatasetError, match=message):
        plugin.load_cifar10(tmp_path / "data", url=cifar["url"], sha256=cifar["sha256"])


def test_a_truncated_cifar_archive_is_one_dataset_error(tmp_path):
    remote = tmp_path / "remote" / "cifar-10-binary.tar.gz"
    write_cifar(remote)
    remote.write_bytes(remote.read_bytes()[: remote.stat().st_size // 2])
    with pytest.raises(DatasetError, match="cifar-10-binary.tar.gz is not a readable tar.gz archive") as error:
        plugin.load_cifar10(tmp_path / "data", url=remote.as_uri(), sha256=sha256(remote))
    assert type(error.value) is DatasetError


# ----------------------------------------------------------------------------------------- Omniglot


def iwae_reshape(data: np.ndarray) -> np.ndarray:
    """IWAE's own reading (yburda/iwae datasets.py, binarized_shuffled_omniglot): data.T then this reshape."""
    return data.reshape((-1, 28, 28)).reshape((-1, 28 * 28), order="F")


def upright_images(count: int, seed: int) -> np.ndarray:
    """Greys in [0, 1] with an unmistakable orientation: a bar along the top row, a dot at row 20, column 3."""
    images = np.random.default_rng(seed).random((count, 28, 28)) * 0.5
    images[:, 0, :] = 1.0
    images[:, 20, 3] = 0.0
    return images


def write_chardata(path: Path, counts=(6, 4), alphabets=5, drop=(), images=None) -> dict:
    """A chardata.mat as the IWAE repository has it: one image a column, each stored column-major (MATLAB order)."""
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    content, expected = {}, {}
    for (split, (images_key, target_key, char_key)), count, seed in zip(plugin.OMNIGLOT_KEYS.items(), counts, (3, 4)):
        upright = upright_images(count, seed) if images is None else images[split]
        alphabet = rng.integers(0, alphabets, size=count)
        character = rng.integers(1, 56, size=count)
        content[images_key] = np.stack([image.ravel(order="F") for image in upright], axis=1)  # 784 x N
        content[target_key] = np.eye(alphabets)[:, alphabet]  # one-hot, A x N
        content[char_key] = character[None, :].astype(np.float64)  # 1 x N, counted from 1
        expected[split] = upright
        expected[f"{split}_labels"] = np.stack([alphabet, character - 1], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {key: value for key, value in content.items() if key not in drop})
    return {"url": path.as_uri(), "expected": expected, "content": content, "counts": counts}


def test_omniglot_images_come_out_upright_as_iwae_reads_them(tmp_path):
    omniglot = write_chardata(tmp_path / "remote" / "chardata.mat")
    data = plugin.load_omniglot(tmp_path / "data", url=omniglot["url"], counts=omniglot["counts"])
    expected = omniglot["expected"]
    assert data.train.shape == (6, 28, 28, 1) and data.test.shape == (4, 28, 28, 1)
    assert data.train.dtype == np.float32 and data.pixels == "continuous"
    np.testing.assert_allclose(data.train[..., 0], expected["train"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(data.test[..., 0], expected["test"], rtol=0, atol=1e-7)
    assert np.all(data.train[:, 0, :, 0] == 1) and np.all(data.train[:, 20, 3, 0] == 0)  # the bar is on top
    # ... and exactly what IWAE's own reshape makes of the same file, read row-major
    np.testing.assert_allclose(
        data.test.reshape(4, 784), iwae_reshape(omniglot["content"]["testdata"].T.astype(np.float32)), rtol=0, atol=0
    )
    np.testing.assert_array_equal(data.train_labels, expected["train_labels"])
    np.testing.assert_array_equal(data.test_labels, expected["test_labels"])
    assert data.label_names == ("alphabet", "character")


def test_omniglot_records_the_first_copys_sha256_and_detects_a_changed_file(tmp_path):
    omniglot = write_chardata(tmp_path / "remote" / "chardata.mat")
    cache = tmp_path / "data"
    plugin.load_omniglot(cache, url=omniglot["url"], counts=omniglot["counts"])
    pin = cache / "chardata.mat.sha256"
    assert pin.read_text().split() == [sha256(cache / "chardata.mat"), "chardata.mat"]
    plugin.load_omniglot(cache, url=UNREACHABLE, counts=omniglot["counts"])  # offline from the cache, pin matches
    write_chardata(cache / "chardata.mat", images={"train": upright_images(6, 9), "test": upright_images(4, 9)})
    with pytest.raises(ChecksumError, match=r"chardata.mat has SHA-256 .*\(recorded in .*chardata.mat.sha256\)"):
        plugin.load_omniglot(cache, url=UNREACHABLE, counts=omniglot["counts"])
    # a SHA-256 given by the caller is checked instead
    with pytest.raises(ChecksumError, match="chardata.mat does not have the expected SHA-256"):
        plugin.load_omniglot(cache, url=UNREACHABLE, sha256="0" * 64, counts=omniglot["counts"])
    plugin.load_omniglot(cache, url=UNREACHABLE, sha256=sha256(cache / "chardata.mat"), counts=omniglot["counts"])


def test_a_damaged_chardata_is_neither_read_nor_recorded(tmp_path):
    remote = tmp_path / "remote" / "chardata.mat"
    write_chardata(remote)
    remote.write_bytes(remote.read_bytes()[:3000])
    with pytest.raises(DatasetError, match="chardata.mat is not a readable MATLAB file") as error:
        plugin.load_omniglot(tmp_path / "data", url=remote.as_uri(), counts=(6, 4))
    assert type(error.value) is DatasetError
    assert not (tmp_path / "data" / "chardata.mat.sha256").exists()


@pytest.mark.parametrize(
    "kwargs, counts, message",
    [
        ({}, (24345, 8070), "'data' holds 6 images; the IWAE paper's Omniglot has 24345"),
        ({"drop": ("testtarget",)}, (6, 4), "lacks the variable.s. testtarget"),
        ({"images": {"train": upright_images(6, 0) * 2, "test": upright_images(4, 0)}}, (6, 4), r"greys in \[0, 1\]"),
    ],
)
def test_a_chardata_of_the_wrong_structure_is_refused(tmp_path, kwargs, counts, message):
    omniglot = write_chardata(tmp_path / "remote" / "chardata.mat", **kwargs)
    with pytest.raises(DatasetError, match=message):
        plugin.load_omniglot(tmp_path / "data", url=omniglot["url"], counts=counts)
    assert not (tmp_path / "data" / "chardata.mat.sha256").exists()


def test_omniglot_without_scipy_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # `from scipy.io import loadmat` now raises ImportError
    with pytest.raises(DatasetError, match=r'pip install "genmodels\[omniglot\]"'):
        plugin.load_omniglot(tmp_path / "data", url=UNREACHABLE)
    assert not (tmp_path / "data").exists()  # nothing was downloaded that could not be read


# ----------------------------------------------------------------------------------------- dSprites

UNPICKLED = []


def _unpickled():
    UNPICKLED.append(True)
    return "metadata"


class Metadata:
    """Stands for dSprites' pickled metadata dict: unpickling it would call _unpickled."""

    def __reduce__(self):
        return (_unpickled, ())


def write_dsprites(path: Path, count=20) -> dict:
    """A dSprites .npz: `imgs` (N, 64, 64) uint8 0/1, `latents_classes` and `latents_values` (N, 6), and a pickled
    `metadata` object array that must never be loaded. Image i carries its own index in its first row's bits."""
    sizes = np.asarray(plugin.DSPRITES_LATENT_SIZES)
    classes = np.stack(np.unravel_index(np.arange(count) * 7919 % int(np.prod(sizes)), sizes), axis=1).astype(np.int64)
    images = np.zeros((count, 64, 64), np.uint8)
    for index in range(count):
        images[index, 0, :16] = [(index >> bit) & 1 for bit in range(16)]
        images[index, 10:20, 30:40] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        imgs=images,
        latents_classes=classes,
        latents_values=classes.astype(np.float64) / 10,
        metadata=np.array(Metadata(), dtype=object),
    )
    return {"url": path.as_uri(), "sha256": sha256(path), "md5": md5(path), "images": images, "classes": classes}


def index_of(image: np.ndarray) -> int:
    return int(sum(int(bit) << position for position, bit in enumerate(image[0, :16, 0])))


def test_dsprites_reads_only_plain_arrays_and_holds_out_a_fixed_tenth(tmp_path):
    UNPICKLED.clear()
    sprites = write_dsprites(tmp_path / "remote" / plugin.DSPRITES_FILE)
    data = plugin.load_dsprites(tmp_path / "data", url=sprites["url"], sha256=sprites["sha256"], md5=sprites["md5"])
    assert UNPICKLED == []  # the pickled metadata was never loaded
    assert data.train.shape == (18, 64, 64, 1) and data.test.shape == (2, 64, 64, 1)
    assert data.train.dtype == np.uint8 and data.pixels == "binary"
    assert data.label_names == ("color", "shape", "scale", "orientation", "position_x", "position_y")
    # the test split: the first round(0.1 N) of RandomState(0).permutation(N), here images 18 and 1, kept in order
    assert [index_of(image) for image in data.test] == [1, 18]
    assert [index_of(image) for image in data.train] == [i for i in range(20) if i not in (1, 18)]
    for split in ("train", "test"):  # each image keeps its own labels
        images, labels = getattr(data, split), getattr(data, f"{split}_labels")
        for image, label in zip(images, labels):
            np.testing.assert_array_equal(label, sprites["classes"][index_of(image)])
            np.testing.assert_array_equal(image[..., 0], sprites["images"][index_of(image)])
    again = plugin.load_dsprites(tmp_path / "data", url=UNREACHABLE, sha256=sprites["sha256"], md5=sprites["md5"])
    np.testing.assert_array_equal(again.test, data.test)  # the same split on every run


def test_the_dsprites_test_split_is_a_frozen_tenth():
    mask = plugin.dsprites_test_mask(737280)
    assert mask.sum() == 73728
    assert mask[[125674, 436028, 227828, 625170, 224410]].all()  # RandomState(0).permutation(737280)[:5]
    np.testing.assert_array_equal(plugin.dsprites_test_mask(737280), mask)


def test_dsprites_with_a_wrong_md5_is_refused_naming_the_file(tmp_path):
    sprites = write_dsprites(tmp_path / "remote" / plugin.DSPRITES_FILE)
    with pytest.raises(ChecksumError, match=f"{plugin.DSPRITES_FILE} does not have the expected MD5"):
        plugin.load_dsprites(tmp_path / "data", url=sprites["url"], md5="0" * 32)
    assert list((tmp_path / "data").iterdir()) == []  # a refused download is not kept
    cached = tmp_path / "data" / plugin.DSPRITES_FILE
    cached.write_bytes(b"PK\x05\x06" + bytes(18))  # a copy already there is checked, and left for the user
    with pytest.raises(ChecksumError, match=f"{plugin.DSPRITES_FILE} does not have the expected MD5"):
        plugin.load_dsprites(tmp_path / "data", url=UNREACHABLE)
    assert cached.exists()
    with pytest.raises(ChecksumError, match=f"{plugin.DSPRITES_FILE} does not have the expected SHA-256"):
        plugin.load_dsprites(tmp_path / "data", url=sprites["url"], sha256="0" * 64, md5=None)


def test_a_truncated_dsprites_file_is_one_dataset_error(tmp_path):
    remote = tmp_path / "remote" / plugin.DSPRITES_FILE
    write_dsprites(remote)
    remote.write_bytes(remote.read_bytes()[:-200])
    with pytest.raises(DatasetError, match=plugin.DSPRITES_FILE) as error:
        plugin.load_dsprites(tmp_path / "data", url=remote.as_uri(), sha256=sha256(remote), md5=md5(remote))
    assert type(error.value) is DatasetError


def test_dsprites_arrays_of_the_wrong_shape_or_kind_are_refused(tmp_path):
    path = tmp_path / "remote" / plugin.DSPRITES_FILE
    path.parent.mkdir()
    np.savez(path, imgs=np.zeros((4, 32, 32), np.uint8), latents_classes=np.zeros((4, 6), np.int64))
    with pytest.raises(DatasetError, match="'imgs' should be N x 64 x 64 uint8"):
        plugin.load_dsprites(tmp_path / "a", url=path.as_uri(), md5=None)
    np.savez(path, imgs=np.zeros((4, 64, 64), np.uint8), latents_classes=np.full((4, 6), 40, np.int64))
    with pytest.raises(DatasetError, match="outside the latent factors' ranges"):
        plugin.load_dsprites(tmp_path / "b", url=path.as_uri(), md5=None)
    np.savez(path, imgs=np.zeros((4, 64, 64), np.uint8))
    with pytest.raises(DatasetError, match="lacks the array.s. latents_classes"):
        plugin.load_dsprites(tmp_path / "c", url=path.as_uri(), md5=None)
    np.savez(path, imgs=np.array([Metadata()] * 4, dtype=object), latents_classes=np.zeros((4, 6), np.int64))
    UNPICKLED.clear()
    with pytest.raises(DatasetError, match="never unpickles"):
        plugin.load_dsprites(tmp_path / "d", url=path.as_uri(), md5=None)
    assert UNPICKLED == []


# ----------------------------------------------------------------------------------------- registration


def test_the_plugin_registers_the_four_datasets():
    registry = build_registry([plugin], entry_points=False)
    assert set(NAMES) <= {spec.name for spec in registry.datasets}
    assert registry.dataset("cifar10").load is plugin.load_cifar10


def test_the_datasets_arrive_through_the_image_datasets_entry_point():
    try:
        registry = build_registry()
    except Exception as exc:  # the core is being changed concurrently: say so rather than fail here
        pytest.skip(f"build_registry() fails while the core changes: {type(exc).__name__}: {exc}")
    assert set(NAMES) <= {spec.name for spec in registry.datasets}
    assert {registry.dataset(name).plugin for name in NAMES} == {"image-datasets"}
