"""Built-in datasets: statically binarized MNIST, which ships inside this package, and grayscale MNIST, downloaded
once and cached."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from genmodels import hookimpl
from genmodels.atomic import atomic_path
from genmodels.data import Dataset, TrainingImages, fetch, verify
from genmodels.errors import ChecksumError, DatasetError
from genmodels.pixels import BINARY, EIGHT_BIT
from genmodels.specs import DatasetSpec

BINARIZED_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{split}.amat"
BINARIZED_FILE = "binarized_mnist.npz"
# The same images inside this package, each row's 784 pixels packed into 98 bytes (numpy.packbits), with the
# sorted MNIST test labels: `genmodels train vae` needs neither a data folder nor a network. tools/pack_binarized_mnist.py
# writes it from binarized_mnist.npz; every split is checked against BINARIZED_SPLITS as it is read.
PACKAGED_BINARIZED = Path(__file__).parent / "data" / "binarized_mnist_bits.npz"
SORTED_TEST_LABELS_SHA256 = (
    "f7cd9d3a7438833ddaff2865a3ef3497a9479b8a1fc1e2dc2db0faf6648419c2"  # MNIST's t10k labels, sorted
)
# SHA-256 of each split's uint8 pixels in row-major order (what the .amat text holds, as bytes).
BINARIZED_SPLITS = {
    "train": (50000, "43490d4d6ac9002727af4426d8748609fdb7e4094fa65ad8d681ea60082a7a5a"),
    "valid": (10000, "069b4f0beb389b776478c3e872b4df71c95ac4be64d7cbe6d32e24ebac8e6d5e"),
    "test": (10000, "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86"),
}

# Labels of the binarized test images: Larochelle's test split is the MNIST test set sorted by digit
# (checked image by image against t10k-images), so its labels are MNIST's test labels, sorted.
TEST_LABELS_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz"
TEST_LABELS_FILE = "t10k-labels-idx1-ubyte.gz"
TEST_LABELS_SHA256 = "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"

# The grey MNIST test images: SHA-256 of the file whose MD5 is the one published with MNIST and checked by
# torchvision's loader (9fb629c4189551a2d022fa330f9573f3).
TEST_IMAGES_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz"
TEST_IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
TEST_IMAGES_SHA256 = "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
OFFLINE_DIGITS_TRAIN = 8000  # of the t10k images, when only they are at hand: the first 8000 train, the last 2000 test

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_FILE = "mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_binarized_mnist(
    data_dir: Path, *, url: str = BINARIZED_URL, splits=BINARIZED_SPLITS, packaged: Path | None = PACKAGED_BINARIZED
) -> Dataset:
    """Larochelle & Murray's statically binarized MNIST: the data folder's binarized_mnist.npz if it holds one, else
    the copy inside this package (`packaged`), else the .amat texts fetched from `url` once into one .npz."""
    path = Path(data_dir) / BINARIZED_FILE
    if not path.exists() and url == BINARIZED_URL and packaged is not None and Path(packaged).is_file():
        return _read_packaged(Path(packaged), path.parent, splits)
    if not path.exists():
        _convert_amat(path, url, splits)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {split: npz[split] for split in splits}
    except Exception as exc:
        raise DatasetError(
            f"{path} is not a readable binarized MNIST file ({exc}); delete it to download it again."
        ) from None
    return _checked_dataset(arrays, splits, str(path), _sorted_test_labels(path.parent))


def _read_packaged(packaged: Path, data_dir: Path, splits) -> Dataset:
    """The packaged copy, unpacked and checked split by split against the published digests."""
    try:
        with np.load(packaged, allow_pickle=False) as npz:
            arrays = {split: np.unpackbits(npz[split], axis=1, count=784) for split in splits}
            labels = npz["test_labels"]
    except Exception as exc:
        raise DatasetError(
            f"{packaged} (the binarized MNIST inside genmodels) is not readable ({exc}); reinstall "
            f"genmodels, or put {BINARIZED_FILE} in the data folder."
        ) from None
    if (
        labels.dtype != np.uint8
        or hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest() != SORTED_TEST_LABELS_SHA256
    ):
        raise ChecksumError(f"{packaged}: the test labels differ from MNIST's; reinstall genmodels.")
    from_folder = _sorted_test_labels(data_dir)
    return _checked_dataset(arrays, splits, str(packaged), from_folder if from_folder is not None else labels)


def _checked_dataset(arrays: dict, splits, source: str, test_labels) -> Dataset:
    """Binarized MNIST from its three splits' 0/1 rows, each checked against its published digest first."""
    for split, (rows, digest) in splits.items():
        _check_split(arrays[split], split, rows, digest, source=source)
    return Dataset(
        "binarized-mnist",
        train=arrays["train"],
        valid=arrays["valid"],
        test=arrays["test"],
        image_shape=(28, 28),
        test_labels=test_labels,
        pixels=BINARY,
    )


def _sorted_test_labels(data_dir: Path) -> np.ndarray | None:
    """Labels of the binarized test images when t10k-labels-idx1-ubyte.gz is in the data folder (never downloaded
    just for training); pictures that colour codings by digit say where to get it when it is not."""
    path = data_dir / TEST_LABELS_FILE
    if not path.is_file():
        return None
    verify(path, TEST_LABELS_SHA256, TEST_LABELS_URL)
    raw = gzip.decompress(path.read_bytes())
    return np.sort(np.frombuffer(raw[8:], dtype=np.uint8))


def _convert_amat(path: Path, url: str, splits) -> None:
    arrays = {}
    for split, (rows, digest) in splits.items():
        text_path = fetch(url.format(split=split), path.parent / f"binarized_mnist_{split}.amat")
        try:
            array = _parse_amat(text_path)
            _check_split(array, split, rows, digest, source=str(text_path))
        except DatasetError:
            text_path.unlink()  # a bad download is not kept: the next try fetches it again
            raise
        arrays[split] = array
    with atomic_path(path) as partial:
        with open(partial, "wb") as out:
            np.savez_compressed(out, **arrays)
    for split in splits:
        (path.parent / f"binarized_mnist_{split}.amat").unlink(missing_ok=True)


def _parse_amat(path: Path) -> np.ndarray:
    """An .amat text (one image a line, 784 space-separated 0/1) as uint8 rows, parsed in one pass."""
    chars = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    is_digit = (chars == ord("0")) | (chars == ord("1"))
    if not np.isin(chars[~is_digit], np.frombuffer(b" \t\r\n", dtype=np.uint8)).all():
        raise DatasetError(f"{path} holds characters other than 0, 1 and spaces: not a binarized MNIST .amat file.")
    digits = chars[is_digit] - ord("0")
    if digits.size % 784:
        raise DatasetError(f"{path} holds {digits.size} pixels, not a whole number of 784-pixel images.")
    return digits.reshape(-1, 784)


def _check_split(array: np.ndarray, split: str, rows: int, digest: str, *, source: str) -> None:
    if array.shape != (rows, 784) or array.dtype != np.uint8:
        raise DatasetError(f"{source}: '{split}' should be {rows}x784 uint8, found {array.shape} {array.dtype}.")
    actual = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
    if actual != digest:
        raise ChecksumError(
            f"{source}: the '{split}' images differ from Larochelle's binarized MNIST "
            f"(SHA-256 {actual}, expected {digest}); delete the file to download it again."
        )


def load_mnist(data_dir: Path, *, url: str = MNIST_URL, sha256: str = MNIST_SHA256) -> Dataset:
    """Grayscale MNIST (60000 train, 10000 test) from the Keras mirror: 8-bit greys with labels."""
    path = fetch(url, Path(data_dir) / MNIST_FILE, sha256=sha256)
    with np.load(path, allow_pickle=False) as npz:
        return Dataset(
            "mnist",
            train=npz["x_train"],
            test=npz["x_test"],
            train_labels=npz["y_train"],
            test_labels=npz["y_test"],
            pixels=EIGHT_BIT,
        )


def labelled_digits(data_dir: Path) -> TrainingImages:
    """Labelled grey MNIST, for the digit feature network of binarized-mnist and mnist: the 60000 training images
    (tested on the 10000 test images) when mnist.npz is in the data folder; else, offline, the t10k images and
    labels there (the first 8000 train, the last 2000 test); else mnist.npz is downloaded. Trained half on greys,
    half on their binarized draws, so that 0/1 digits and greys both look natural to it."""
    data_dir = Path(data_dir)
    images, labels = data_dir / TEST_IMAGES_FILE, data_dir / TEST_LABELS_FILE
    if not (data_dir / MNIST_FILE).is_file() and images.is_file() and labels.is_file():
        verify(images, TEST_IMAGES_SHA256, TEST_IMAGES_URL)
        verify(labels, TEST_LABELS_SHA256, TEST_LABELS_URL)
        grey = np.frombuffer(gzip.decompress(images.read_bytes())[16:], np.uint8).reshape(-1, 28, 28, 1)
        digit = np.frombuffer(gzip.decompress(labels.read_bytes())[8:], np.uint8)
        cut = OFFLINE_DIGITS_TRAIN
        return TrainingImages(
            "mnist-digits-t10k",
            f"labelled MNIST t10k: images 0-{cut - 1} train, {cut}-{len(grey) - 1} test",
            grey[:cut],
            digit[:cut],
            grey[cut:],
            digit[cut:],
            EIGHT_BIT,
            binarize=True,
        )
    mnist = load_mnist(data_dir)
    return TrainingImages(
        "mnist-digits",
        "labelled MNIST: the 60000 training images, tested on the 10000 test images",
        mnist.train,
        mnist.train_labels,
        mnist.test,
        mnist.test_labels,
        EIGHT_BIT,
        binarize=True,
    )


@hookimpl
def register_datasets(register):
    register(
        DatasetSpec(
            name="binarized-mnist",
            description="Statically binarized MNIST (Larochelle & Murray 2011): 50000 train, 10000 validation, 10000 test.",
            load=load_binarized_mnist,
            features=labelled_digits,
        )
    )
    register(
        DatasetSpec(
            name="mnist",
            description="Grayscale MNIST, 8-bit: 60000 train (10% held out for validation), 10000 test, with labels.",
            load=load_mnist,
            features=labelled_digits,
        )
    )
