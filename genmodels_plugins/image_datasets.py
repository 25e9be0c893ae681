"""Standard image datasets beyond MNIST: Fashion-MNIST, CIFAR-10, the IWAE paper's 28x28 Omniglot and dSprites.

Each file is downloaded once into the data folder (`data_dir`, normally $GENMODELS_DATA_DIR), checked, and
read from there offline ever after. Nothing is ever unpickled: the CIFAR-10 *binary* archive is read record by
record (never the python/pickle version), dSprites' .npz is opened with allow_pickle=False and only its plain
arrays are read (its pickled `metadata` is never touched), and Omniglot's MATLAB file is parsed by scipy.

How each file is checked, and where each digest comes from, is written beside its constant:

* fashion-mnist, cifar10: the SHA-256 that TensorFlow Datasets publishes for the very same URL.
* dsprites: no SHA-256 of the .npz is published anywhere we could find (TensorFlow Datasets lists one for the
  HDF5 variant only, a different file). The file is checked against the MD5 that several independent projects
  publish for it, on every load, and its arrays are checked strictly.
* omniglot: no SHA-256 (nor MD5 in a repository we could name) of chardata.mat is published anywhere we could
  find. The loader checks the file's structure strictly, and the first time it reads a copy whole it records
  that copy's SHA-256 beside it (chardata.mat.sha256): every later load, and any re-download, must match it.
  This detects a changed file; it cannot prove the first download genuine. Pass `sha256=` to pin a digest you
  trust, which replaces the recorded one.

Every loader takes `url=` and the digest(s) by keyword, so that tests (and mirrors) can point it elsewhere.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import re
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from genmodels import hookimpl
from genmodels.atomic import atomic_path
from genmodels.data import Dataset, fetch, read_npz, sha256_of
from genmodels.errors import ChecksumError, DatasetError
from genmodels.pixels import EIGHT_BIT
from genmodels.specs import DatasetSpec

# --------------------------------------------------------------------------------------------- Fashion-MNIST

# Zalando's canonical download location (github zalandoresearch/fashion-mnist, README.md "Get the Data").
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{file}"
# The files keep their upstream names, which are MNIST's too: they live in their own folder so that they never
# take the place of MNIST's t10k-labels-idx1-ubyte.gz (read by binarized-mnist) in the data folder.
FASHION_MNIST_DIR = "fashion-mnist"
# SHA-256 of each file at FASHION_MNIST_URL, from TensorFlow Datasets:
# repository tensorflow/datasets, file tensorflow_datasets/url_checksums/fashion_mnist.txt (URL, size, SHA-256).
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
# Label k is FASHION_MNIST_CLASSES[k] (zalandoresearch/fashion-mnist, README.md "Labels"): the Dataset's label_names.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_SPLITS = {"train": "train", "test": "t10k"}  # our split name: upstream file prefix
IDX_UNSIGNED_BYTE = 0x08  # IDX type code of uint8 data: magic = 0x0000 08 <ndim>

# --------------------------------------------------------------------------------------------- CIFAR-10

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_FILE = "cifar-10-binary.tar.gz"
# From TensorFlow Datasets: repository tensorflow/datasets, file tensorflow_datasets/url_checksums/cifar10.txt
# (lists https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, 170052171 bytes, this SHA-256).
CIFAR10_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
CIFAR10_FOLDER = "cifar-10-batches-bin"  # every member of the archive lies in this folder
CIFAR10_TRAIN = tuple(f"data_batch_{index}.bin" for index in range(1, 6))
CIFAR10_TEST = ("test_batch.bin",)
CIFAR10_META = "batches.meta.txt"  # the class names, one a line, label 0 first: the Dataset's label_names
CIFAR10_UNUSED = ("readme.html",)  # in the archive, never read
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_SIDE = 32
CIFAR10_RECORD = 1 + 3 * CIFAR10_SIDE * CIFAR10_SIDE  # 1 label byte, then the red, green and blue 32x32 planes

# --------------------------------------------------------------------------------------------- Omniglot

# The 28x28 Omniglot split of Burda, Grosse & Salakhutdinov (2015), "Importance Weighted Autoencoders".
OMNIGLOT_URL = "https://github.com/yburda/iwae/raw/master/datasets/OMNIGLOT/chardata.mat"
OMNIGLOT_FILE = "chardata.mat"
OMNIGLOT_PIN = "chardata.mat.sha256"  # the SHA-256 of the first copy read whole here (see the module docstring)
# No published SHA-256 of chardata.mat was found (TensorFlow Datasets' omniglot is Lake's original PNGs, another
# file), so none is checked by default: OMNIGLOT_PIN records the first copy's instead.
OMNIGLOT_SHA256 = None
OMNIGLOT_COUNTS = (24345, 8070)  # train and test images (the IWAE paper, section 5.1)
OMNIGLOT_SIDE = 28
# The MATLAB variables, for the train and the test split: images as 784 x N (one image a column), the alphabet
# of each image one-hot as A x N, and its character within the alphabet, counted from 1, as 1 x N.
OMNIGLOT_KEYS = {"train": ("data", "target", "targetchar"), "test": ("testdata", "testtarget", "testtargetchar")}
OMNIGLOT_LABELS = ("alphabet", "character")

# --------------------------------------------------------------------------------------------- dSprites

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
# DeepMind's repository deepmind/dsprites-dataset, now google-deepmind/dsprites-dataset (GitHub redirects the old name).
DSPRITES_URL = f"https://raw.githubusercontent.com/google-deepmind/dsprites-dataset/master/{DSPRITES_FILE}"
# No SHA-256 of this .npz is published that we could find (tensorflow/datasets' url_checksums/dsprites.txt gives
# one for dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5 only, a different file).
DSPRITES_SHA256 = None
# The MD5 of the .npz as published in repository BoevaLab/latte, file latte/dataset/dsprites.py (MD5_CHECKSUM),
# the same value being published by several other independent dSprites loaders.
DSPRITES_MD5 = "7da33b31b13a06f4b04a70402ce90c2e"
DSPRITES_COUNT = 737280
DSPRITES_SIDE = 64
DSPRITES_LATENTS = ("color", "shape", "scale", "orientation", "position_x", "position_y")
DSPRITES_LATENT_SIZES = (1, 3, 6, 40, 32, 32)  # classes of each latent factor; their product is DSPRITES_COUNT
# dSprites has no test split upstream. A fixed 10% of the images is held out as one: those at the first
# round(0.1 * N) positions of np.random.RandomState(DSPRITES_TEST_SEED).permutation(N). The legacy RandomState
# stream is frozen by NumPy's compatibility policy, so the split is the same on every run and machine.
DSPRITES_TEST_FRACTION = 0.1
DSPRITES_TEST_SEED = 0

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
CORRUPT = "it is truncated or corrupt; delete it to download it again."


# ============================================================================================= Fashion-MNIST


def load_fashion_mnist(
    data_dir: Path, *, url: str = FASHION_MNIST_URL, sha256: Mapping[str, str] | None = FASHION_MNIST_SHA256
) -> Dataset:
    """Zalando's Fashion-MNIST: 60000 train and 10000 test 28x28 greys (8-bit levels 0..255) with their labels
    0..9, whose names (`label_names`) are FASHION_MNIST_CLASSES.

    The four IDX files are fetched once into `data_dir`/fashion-mnist from `url` (a template with {file}) and
    checked against `sha256` (file name: digest; None checks nothing).
    """
    folder = Path(data_dir) / FASHION_MNIST_DIR
    arrays = {}
    for split, prefix in FASHION_MNIST_SPLITS.items():
        paths = {}
        for kind, ndim in (("images", 3), ("labels", 1)):
            name = f"{prefix}-{kind}-idx{ndim}-ubyte.gz"
            paths[kind] = fetch(url.format(file=name), folder / name, sha256=None if sha256 is None else sha256[name])
        images = read_idx(paths["images"], ndim=3)
        labels = read_idx(paths["labels"], ndim=1)
        if images.shape[1:] != (28, 28):
            raise DatasetError(
                f"{paths['images']} holds {images.shape[1]}x{images.shape[2]} images; Fashion-MNIST's are 28x28."
            )
        if len(labels) != len(images):
            raise DatasetError(
                f"{paths['labels']} holds {len(labels)} labels for the {len(images)} images of {paths['images'].name}."
            )
        if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
            raise DatasetError(
                f"{paths['labels']} holds the label {labels.max()}; Fashion-MNIST's are 0..{len(FASHION_MNIST_CLASSES) - 1}."
            )
        arrays[split], arrays[f"{split}_labels"] = images, labels.astype(np.int64)
    return Dataset("fashion-mnist", label_names=FASHION_MNIST_CLASSES, pixels=EIGHT_BIT, **arrays)


def read_idx(path: Path, *, ndim: int) -> np.ndarray:
    """The uint8 array of a gzipped IDX file (LeCun's MNIST format), checked: its magic number says unsigned
    bytes in `ndim` dimensions, and the file holds exactly the bytes its dimensions promise."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path} is not a readable gzip file ({exc}): {CORRUPT}") from None
    header = 4 * (1 + ndim)
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    expected = (IDX_UNSIGNED_BYTE << 8) | ndim
    if magic is not None and magic != expected:
        raise DatasetError(
            f"{path} starts with the magic number 0x{magic:08x}, not 0x{expected:08x} (IDX unsigned bytes in {ndim} "
            f"dimension(s)): it is not the {'images' if ndim == 3 else 'labels'} file it should be."
        )
    if len(raw) < header:
        raise DatasetError(
            f"{path} holds {len(raw)} bytes, fewer than an IDX header of {ndim} dimension(s): it is truncated or corrupt."
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * axis : 8 + 4 * axis], "big") for axis in range(ndim))
    size = math.prod(dims)
    if len(raw) - header != size:
        raise DatasetError(
            f"{path}: its header promises {' x '.join(map(str, dims))} = {size} bytes of data, but it holds "
            f"{len(raw) - header}: it is truncated or corrupt; delete it to download it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


# ============================================================================================= CIFAR-10


def load_cifar10(data_dir: Path, *, url: str = CIFAR10_URL, sha256: str | None = CIFAR10_SHA256) -> Dataset:
    """CIFAR-10 from its binary version: 50000 train (data_batch_1..5) and 10000 test (test_batch) 32x32 RGB
    images, (N, 32, 32, 3) uint8, with labels 0..9 whose names (`label_names`) are read from batches.meta.txt.

    The batches are read straight from the cached tar.gz, never extracted; a member with an unexpected name
    (the python/pickle version's, say) makes the archive refused.
    """
    path = fetch(url, Path(data_dir) / CIFAR10_FILE, sha256=sha256)
    members = _read_cifar_archive(path)
    names = _cifar_class_names(members[CIFAR10_META], f"{path}: {CIFAR10_META}")
    arrays = {}
    for split, batches in (("train", CIFAR10_TRAIN), ("test", CIFAR10_TEST)):
        parts = [_cifar_records(members[batch], f"{path}: {batch}", len(names)) for batch in batches]
        arrays[split] = np.concatenate([images for images, _ in parts])
        arrays[f"{split}_labels"] = np.concatenate([labels for _, labels in parts])
    return Dataset("cifar10", label_names=names, pixels=EIGHT_BIT, **arrays)


def _read_cifar_archive(path: Path) -> dict[str, bytes]:
    """The bytes of the batches and the class names in the CIFAR-10 binary archive, by file name."""
    wanted = {f"{CIFAR10_FOLDER}/{name}": name for name in CIFAR10_TRAIN + CIFAR10_TEST + (CIFAR10_META,)}
    allowed = set(wanted) | {CIFAR10_FOLDER} | {f"{CIFAR10_FOLDER}/{name}" for name in CIFAR10_UNUSED}
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:  # in archive order: the compressed stream is read once, front to back
                if member.name not in allowed:
                    raise DatasetError(
                        f"{path} holds the unexpected member {member.name!r}: it is not the CIFAR-10 binary archive "
                        f"(only {CIFAR10_FOLDER}/ with {', '.join(sorted(wanted.values()))} and readme.html); delete it to download it again."
                    )
                if member.name not in wanted:
                    continue
                if not member.isfile() or wanted[member.name] in contents:
                    problem = "repeated" if member.isfile() else "not a regular file"
                    raise DatasetError(
                        f"{path}: the member {member.name!r} is {problem}; the archive is not CIFAR-10's."
                    )
                contents[wanted[member.name]] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path} is not a readable tar.gz archive ({exc}): {CORRUPT}") from None
    missing = sorted(set(wanted.values()) - set(contents))
    if missing:
        raise DatasetError(
            f"{path} lacks {', '.join(f'{CIFAR10_FOLDER}/{name}' for name in missing)}: it is not the CIFAR-10 binary archive."
        )
    return contents


def _cifar_class_names(raw: bytes, where: str) -> tuple[str, ...]:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DatasetError(f"{where} is not ASCII text of class names.") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) != len(CIFAR10_CLASSES):
        raise DatasetError(f"{where} names {len(names)} classes, one a line; CIFAR-10 has {len(CIFAR10_CLASSES)}.")
    return names


def _cifar_records(raw: bytes, where: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) and labels (N,) of one batch: records of 1 label byte, then 1024 red, 1024 green
    and 1024 blue bytes, each plane 32x32 row-major."""
    if not raw or len(raw) % CIFAR10_RECORD:
        raise DatasetError(
            f"{where} holds {len(raw)} bytes, not a whole number of {CIFAR10_RECORD}-byte records (1 label byte, "
            f"3072 pixel bytes): it is truncated or corrupt; delete the archive to download it again."
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR10_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= classes:
        raise DatasetError(f"{where} holds the label {labels.max()}; CIFAR-10's are 0..{classes - 1}.")
    planes = records[:, 1:].reshape(-1, 3, CIFAR10_SIDE, CIFAR10_SIDE)  # (N, channel, row, column)
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), labels


# ============================================================================================= Omniglot


def load_omniglot(
    data_dir: Path,
    *,
    url: str = OMNIGLOT_URL,
    sha256: str | None = OMNIGLOT_SHA256,
    counts: tuple[int, int] = OMNIGLOT_COUNTS,
) -> Dataset:
    """The 28x28 Omniglot of the IWAE paper: 24345 train and 8070 test images, greys in [0, 1] (IWAE binarizes
    them dynamically), labelled by (alphabet, character) factors, both counted from 0.

    Read as the IWAE code reads it (repository yburda/iwae, datasets.py, function binarized_shuffled_omniglot,
    lines 90-97 at commit 8e601aa): `scipy.io.loadmat(chardata.mat)`; `data` (train) and `testdata` (test) hold
    one image a column, 784 x N, as float in [0, 1]; IWAE transposes them to N x 784 and reorders each row with
    `.reshape((-1, 28, 28)).reshape((-1, 784), order='fortran')`, i.e. each column is a 28x28 image stored
    column-major (MATLAB order: pixel (row r, column c) at 28 * c + r), and its row-major reshape is upright.
    That is what this returns. (Upright is inferred from IWAE's reorder, which repository AKuzina/dvp_vae,
    datasets/omniglot.py, makes the same way with reshape((28, 28, -1)).transpose((2, 1, 0)); it cannot be
    checked on the real file offline.) The labels are not used by IWAE; they follow the other published readers of this
    file (repository HIPS/hypergrad, hypergrad/omniglot.py, mat_to_pickle): alphabet = argmax over `target`
    (one-hot, A x N), character = `targetchar` - 1 (1 x N, counted from 1); `testtarget`/`testtargetchar` for
    the test split. IWAE's own validation split (the last 1345 of a shuffled train set) is not reproduced:
    genmodels holds out its own.

    No SHA-256 of chardata.mat is published, so unless `sha256` is given the file's structure is checked
    strictly and the first copy read whole has its SHA-256 recorded beside it (chardata.mat.sha256), which
    every later load must match. Needs scipy: pip install "genmodels[omniglot]".
    """
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DatasetError(
            'omniglot is a MATLAB file, read with scipy, which is not installed: pip install "genmodels[omniglot]".'
        ) from None
    folder = Path(data_dir)
    path, pin = folder / OMNIGLOT_FILE, folder / OMNIGLOT_PIN
    with _discarded_if_refused(path):
        fetch(url, path, sha256=sha256)
        if sha256 is None and pin.exists():
            _check_pin(path, pin)
        arrays = _read_chardata(path, loadmat, counts)
    if sha256 is None and not pin.exists():
        with atomic_path(pin) as partial:
            partial.write_text(f"{sha256_of(path)}  {OMNIGLOT_FILE}\n")
    return Dataset("omniglot", label_names=OMNIGLOT_LABELS, **arrays)


def _read_chardata(path: Path, loadmat, counts: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """The train and test images and labels of chardata.mat, its structure checked strictly."""
    try:
        mat = loadmat(path, variable_names=[key for keys in OMNIGLOT_KEYS.values() for key in keys])
    except Exception as exc:  # scipy raises many kinds for a file that is not a whole MATLAB file
        raise DatasetError(
            f"{path} is not a readable MATLAB file ({type(exc).__name__}: {exc}): it is truncated or corrupt; "
            "delete it to download it again."
        ) from None
    arrays = {}
    alphabets = set()
    for (split, keys), count in zip(OMNIGLOT_KEYS.items(), counts or (None, None)):
        arrays[split], arrays[f"{split}_labels"], alphabet_rows = _omniglot_split(mat, keys, count, path)
        alphabets.add(alphabet_rows)
    if len(alphabets) != 1:
        raise DatasetError(
            f"{path}: '{OMNIGLOT_KEYS['train'][1]}' and '{OMNIGLOT_KEYS['test'][1]}' one-hot encode different numbers of alphabets."
        )
    return arrays


def _omniglot_split(
    mat: dict, keys: tuple[str, str, str], count: int | None, path: Path
) -> tuple[np.ndarray, np.ndarray, int]:
    """Upright images (N, 28, 28) float32, labels (N, 2) and the number of alphabets of one split."""
    images_key, target_key, char_key = keys
    missing = [key for key in keys if key not in mat]
    if missing:
        raise DatasetError(
            f"{path} lacks the variable(s) {', '.join(missing)}: it is not the IWAE paper's chardata.mat."
        )
    images, target, chars = (np.asarray(mat[key]) for key in keys)
    pixels = OMNIGLOT_SIDE * OMNIGLOT_SIDE
    if images.ndim != 2 or images.shape[0] != pixels or images.dtype.kind not in "biuf" or images.shape[1] == 0:
        raise DatasetError(
            f"{path}: '{images_key}' should be {pixels} x N numbers (one image a column), found {images.shape} {images.dtype}."
        )
    total = images.shape[1]
    if count is not None and total != count:
        raise DatasetError(f"{path}: '{images_key}' holds {total} images; the IWAE paper's Omniglot has {count}.")
    images = images.astype(np.float32)
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise DatasetError(
            f"{path}: '{images_key}' should hold greys in [0, 1], found values in [{images.min():g}, {images.max():g}]."
        )
    if target.ndim != 2 or target.shape[1] != total or target.shape[0] < 1 or target.dtype.kind not in "biuf":
        raise DatasetError(
            f"{path}: '{target_key}' should be one-hot alphabets, A x {total}, found {target.shape} {target.dtype}."
        )
    if (
        chars.shape != (1, total)
        or chars.dtype.kind not in "biuf"
        or not np.all(chars == np.round(chars))
        or chars.min() < 1
    ):
        raise DatasetError(
            f"{path}: '{char_key}' should be 1 x {total} character numbers counted from 1, found {chars.shape} {chars.dtype}."
        )
    # Column n is image n stored column-major: its row-major reshape is the transpose, undone here (IWAE's order='fortran').
    upright = np.ascontiguousarray(images.T.reshape(total, OMNIGLOT_SIDE, OMNIGLOT_SIDE).transpose(0, 2, 1))
    labels = np.stack([np.argmax(target, axis=0), chars[0].astype(np.int64) - 1], axis=1).astype(np.int64)
    return upright, labels, target.shape[0]


def _check_pin(path: Path, pin: Path) -> None:
    """ChecksumError unless the file at `path` has the SHA-256 recorded in `pin` when it was first read."""
    recorded = pin.read_text().split()[:1]
    if not recorded or not _HEX64.match(recorded[0]):
        raise ChecksumError(
            f"{pin} does not hold a SHA-256 of {path.name}; delete it and {path.name} to download and record them again."
        )
    actual = sha256_of(path)
    if actual != recorded[0]:
        raise ChecksumError(
            f"{path} has SHA-256 {actual}, but the copy first read here had {recorded[0]} (recorded in {pin}): the "
            f"file has changed since. No SHA-256 of it is published; if the change is expected, delete both files to "
            "download and record it again."
        )


# ============================================================================================= dSprites


def load_dsprites(
    data_dir: Path, *, url: str = DSPRITES_URL, sha256: str | None = DSPRITES_SHA256, md5: str | None = DSPRITES_MD5
) -> Dataset:
    """DeepMind's dSprites: 737280 binary 64x64 images (0/1 uint8), labelled by their 6 latent factor classes
    (N, 6), named DSPRITES_LATENTS. A fixed seeded 10% is held out as the test split (see DSPRITES_TEST_SEED).

    Only the arrays `imgs` and `latents_classes` are read, with allow_pickle=False (an .npz is read lazily, key
    by key); the pickled `metadata` is never loaded. The file is checked against `md5` on every load (no SHA-256
    of it is published; pass `sha256=` to check one as well). The images take about 3 GB of memory.
    """
    path = Path(data_dir) / DSPRITES_FILE
    with _discarded_if_refused(path):
        fetch(url, path, sha256=sha256)
        if md5:
            _check_md5(path, md5, url)
        images, classes = _read_dsprites(path)
    held_out = dsprites_test_mask(len(images))
    train, test = images[~held_out], images[held_out]
    del images
    return Dataset(
        "dsprites",
        train=train,
        test=test,
        train_labels=classes[~held_out],
        test_labels=classes[held_out],
        label_names=DSPRITES_LATENTS,
    )


def dsprites_test_mask(count: int) -> np.ndarray:
    """Which of `count` images form dSprites' test split: a fixed 10%, drawn by a frozen, seeded permutation."""
    held = max(1, int(round(count * DSPRITES_TEST_FRACTION)))
    if count < 2:
        raise DatasetError(f"dsprites: {count} image(s) cannot be split into train and test images.")
    mask = np.zeros(count, dtype=bool)
    mask[np.random.RandomState(DSPRITES_TEST_SEED).permutation(count)[:held]] = True
    return mask


def _check_md5(path: Path, md5: str, url: str) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != md5:
        raise ChecksumError(
            f"{path} does not have the expected MD5 (expected {md5}, found {digest.hexdigest()}). "
            f"It is corrupt or not the file from {url}; delete it to download it again."
        )


def _read_dsprites(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """`imgs` (N, 64, 64) uint8 and `latents_classes` (N, 6) of the dSprites .npz, never unpickling anything."""
    arrays = read_npz(path, ("imgs", "latents_classes"), "dSprites' .npz archive")
    missing = [key for key in ("imgs", "latents_classes") if key not in arrays]
    if missing:
        raise DatasetError(f"{path} lacks the array(s) {', '.join(missing)}: it is not dSprites' .npz archive.")
    images, classes = arrays["imgs"], arrays["latents_classes"]
    side = DSPRITES_SIDE
    if images.ndim != 3 or images.shape[1:] != (side, side) or images.dtype != np.uint8 or not len(images):
        raise DatasetError(f"{path}: 'imgs' should be N x {side} x {side} uint8, found {images.shape} {images.dtype}.")
    factors = len(DSPRITES_LATENTS)
    if classes.shape != (len(images), factors) or classes.dtype.kind not in "iu":
        raise DatasetError(
            f"{path}: 'latents_classes' should be {len(images)} x {factors} integers, found {classes.shape} {classes.dtype}."
        )
    sizes = np.asarray(DSPRITES_LATENT_SIZES)
    if classes.min() < 0 or np.any(classes.max(axis=0) >= sizes):
        ranges = ", ".join(f"{name} 0..{size - 1}" for name, size in zip(DSPRITES_LATENTS, DSPRITES_LATENT_SIZES))
        raise DatasetError(f"{path}: 'latents_classes' holds classes outside the latent factors' ranges ({ranges}).")
    return images, classes.astype(np.int64)


# ============================================================================================= registration


@contextlib.contextmanager
def _discarded_if_refused(path: Path):
    """Remove `path` if it is downloaded in this block and then refused by a check (a DatasetError), as `fetch`
    never keeps a download that fails its SHA-256: the next try downloads it again. A copy that was already
    there is left alone; the error says what to do with it."""
    fresh = not path.exists()
    try:
        yield
    except DatasetError:
        if fresh:
            path.unlink(missing_ok=True)
        raise


@hookimpl
def register_datasets(register):
    register(
        DatasetSpec(
            name="fashion-mnist",
            description="Zalando's Fashion-MNIST: 60000 train, 10000 test 28x28 greys (8-bit), 10 labelled classes.",
            load=load_fashion_mnist,
        )
    )
    register(
        DatasetSpec(
            name="cifar10",
            description="CIFAR-10 (binary version): 50000 train, 10000 test 32x32 RGB images (8-bit), 10 labelled classes.",
            load=load_cifar10,
        )
    )
    register(
        DatasetSpec(
            name="omniglot",
            description="The IWAE paper's 28x28 Omniglot: 24345 train, 8070 test greys in [0, 1], alphabet and "
            'character labels (needs pip install "genmodels[omniglot]").',
            load=load_omniglot,
        )
    )
    register(
        DatasetSpec(
            name="dsprites",
            description="DeepMind's dSprites: 737280 64x64 binary images labelled by 6 latent factors; a fixed 10% held out as test.",
            load=load_dsprites,
        )
    )
