"""Folders of images as datasets, laid out as for Keras' `image_dataset_from_directory`.

A folder is read in one of these layouts (names starting with "." are skipped everywhere, and so
are files that are not images):

    photos/cat/*.png, photos/dog/*.jpg      labelled: each sub-folder is a class (images found at any depth in it)
    photos/*.png                            unlabelled
    photos/train/..., photos/test/...       explicit splits (and optionally photos/valid/...),
                                            each labelled or unlabelled as above

Images are .png, .jpg, .jpeg, .bmp and .gif files (any case; a GIF's first frame). Files are taken
in sorted order of their paths; classes are numbered in sorted order of their folder names, and
`label_names` are those names. Without explicit splits, a fixed `test_fraction` of the images,
chosen by a hash of each image's path (`hold_out_position`), is the test split: the same files on
every run, and an image stays in its split when others are added, removed or edited. Sub-folders without
images are not classes. Images lying directly in a folder beside class folders are refused
rather than dropped silently (Keras ignores them). With explicit splits, the test and validation
splits may lack some classes of the training split, but must not have one that it lacks.

Pixels are kept as Pillow decodes them: greyscale ('L') as one channel of 8-bit levels, colour
('RGB', and CMYK or YCbCr JPEGs converted) as three, bilevel ('1') images as one channel of 0/1
(or of 0/255 where the folder also holds grey images); palette ('P') images become one grey
channel if every palette entry is a grey, else RGB. Refused, each with one line naming the file:
alpha channels or transparency, 16- and 32-bit images, corrupt or truncated files, images too
large for Pillow's decompression-bomb limit, a folder mixing greyscale and colour images, and
images of different sizes unless `image_size` resizes them all (bilinear, as Keras does).

Decoding happens once: the arrays are cached in a hidden .npz in the folder (or, if it cannot be
written, under `data_dir() / "folders"`), keyed by the image files' paths, sizes and modification
times and by `image_size`. Any change of those decodes the folder again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from genmodels.core.errors import DatasetError
from genmodels.core.pixels import EIGHT_BIT
from genmodels.data.dataset import Dataset
from genmodels.data.decoding import FolderImage, _decode_all
from genmodels.data.decoding import SIZE_OPTION
from genmodels.data.folder_cache import _cache_key, _cache_places, _header_size, _read_cache, _write_cache

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
SPLIT_FOLDERS = ("train", "valid", "test")
DEFAULT_TEST_FRACTION = 0.1


def load_folder(
    path: Path,
    image_size: tuple[int, int] | None = None,
    *,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    cache_in_folder: bool = True,
) -> Dataset:
    """The images of the folder at `path` as a Dataset (see the module's description of the layouts).

    With `cache_in_folder` False the decoded arrays are cached only under `data_dir()`, never in the folder:
    for a folder named by a run's config.json rather than by you (a run someone sent may name any folder).

    `image_size` = (height, width) resizes every image to it; without it, all images must have one size.
    `test_fraction` is the part of the images held out as the test split of a folder without
    train/test sub-folders. No validation split is made here unless the folder has a `valid` one.
    """
    folder = Path(path)
    if not folder.is_dir():
        what = "a file, not a folder" if folder.exists() else "not there"
        raise DatasetError(
            f"{folder} is {what}; give a folder of images (sub-folders as classes, or train/test sub-folders)."
        )
    size = _target_size(image_size)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise DatasetError(
            f"test_fraction must be a number between 0 and 1 (the part of a folder's images held out for testing), received {test_fraction!r}."
        )
    images, label_names, labelled = _layout(folder, test_fraction)
    key = _cache_key(images, size)
    places = _cache_places(folder, key)
    pixels = _read_cache(places, key, len(images), size or _header_size(images[0].path))
    if pixels is not None:
        return _dataset(folder, images, pixels, label_names, labelled)
    pixels = _decode_all(images, size, folder.resolve().name or str(folder))
    dataset = _dataset(folder, images, pixels, label_names, labelled)  # checked before anything is cached
    _write_cache(places if cache_in_folder else places[1:], key, pixels)
    return dataset


def _target_size(image_size) -> tuple[int, int] | None:
    if image_size is None or (isinstance(image_size, (tuple, list)) and len(image_size) == 0):
        return None
    try:
        height, width = (int(n) for n in image_size)
        if (height, width) != tuple(image_size) or min(height, width) <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise DatasetError(
            f"image_size must be (height, width) of positive whole numbers ({SIZE_OPTION}), received {image_size!r}."
        ) from None
    return height, width


# ---------------------------------------------------------------------------------------------- layout


def _layout(folder: Path, test_fraction: float) -> tuple[list[FolderImage], tuple[str, ...], bool]:
    """Every image of the folder in the order of the arrays (train, valid, test), the class names, and
    whether the images are labelled."""
    top_images, subfolders = _listing(folder)
    names = {sub.name for sub in subfolders}
    if not names & set(SPLIT_FOLDERS):
        classes, files = _split_contents(folder, top_images, subfolders)
        images = [_image(folder, file, "train", label) for label, file in files]
        images = _hold_out(folder, images, test_fraction)
        return images, classes, bool(classes)
    missing = [split for split in ("train", "test") if split not in names]
    if missing:
        present = ", ".join(repr(split) for split in SPLIT_FOLDERS if split in names)
        raise DatasetError(
            f"{folder} has a {present} sub-folder but no {' or '.join(repr(m) for m in missing)} one; a folder with "
            f"explicit splits has 'train' and 'test' sub-folders (and optionally 'valid'), each holding images or class folders."
        )
    others = [sub.name for sub in subfolders if sub.name not in SPLIT_FOLDERS and _has_images(sub)]
    if top_images or others:
        stray = top_images[0].name if top_images else f"{others[0]}/"
        raise DatasetError(
            f"{folder} has train/test sub-folders and also images outside them (e.g. {stray}); "
            f"move those into 'train', 'test' or 'valid', or out of the folder."
        )
    splits = {}
    for split in SPLIT_FOLDERS:
        if split in names:
            split_folder = folder / split
            splits[split] = _split_contents(split_folder, *_listing(split_folder))
    train_classes = splits["train"][0]
    for split, (classes, _files) in splits.items():
        if bool(classes) != bool(train_classes):
            labelled, unlabelled = ("train", split) if train_classes else (split, "train")
            raise DatasetError(
                f"{folder}: the {labelled!r} split has class sub-folders but the {unlabelled!r} split holds its images "
                f"directly; give every split the same class folders, or none."
            )
        unknown = sorted(set(classes) - set(train_classes))
        if unknown:
            raise DatasetError(
                f"{folder}: the {split!r} split has the class folder(s) {', '.join(unknown)} that the 'train' split lacks "
                f"(its classes: {', '.join(train_classes)}); every class must have training images."
            )
    images = []
    for split in SPLIT_FOLDERS:
        if split in splits:
            classes, files = splits[split]
            images += [
                _image(folder, file, split, None if label is None else train_classes.index(classes[label]))
                for label, file in files
            ]
    return images, train_classes, bool(train_classes)


def _listing(directory: Path) -> tuple[list[Path], list[Path]]:
    """The image files directly in `directory`, and its sub-folders, both sorted; hidden names skipped."""
    try:
        entries = sorted(entry for entry in directory.iterdir() if not entry.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"cannot list the folder {directory} ({exc.strerror or exc}).") from None
    return [entry for entry in entries if _is_image(entry)], [entry for entry in entries if entry.is_dir()]


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _images_under(directory: Path) -> list[Path]:
    """The image files at any depth under `directory`, sorted by path; hidden files and folders skipped."""

    def refuse(exc: OSError):
        raise DatasetError(f"cannot list the folder {exc.filename or directory} ({exc.strerror or exc}).")

    found = []
    for root, dirs, files in os.walk(directory, onerror=refuse):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        found += [Path(root) / name for name in files if _is_image(Path(root) / name)]
    return sorted(found, key=lambda file: file.relative_to(directory).parts)


def _has_images(directory: Path) -> bool:
    return bool(_images_under(directory))


def _split_contents(
    directory: Path, top_images: list[Path], subfolders: list[Path]
) -> tuple[tuple[str, ...], list[tuple[int | None, Path]]]:
    """The class names of one split's folder (empty if unlabelled) and its images with their class index."""
    per_class = {sub.name: _images_under(sub) for sub in subfolders}
    per_class = {name: files for name, files in sorted(per_class.items()) if files}
    if per_class:
        if top_images:
            raise DatasetError(
                f"{directory} holds images directly (e.g. {top_images[0].name}) beside class folders "
                f"({', '.join(per_class)}); move them into a class folder, or out of the folder."
            )
        return tuple(per_class), [(label, file) for label, files in enumerate(per_class.values()) for file in files]
    if not top_images:
        raise DatasetError(
            f"no images in {directory}: looked for {', '.join(IMAGE_EXTENSIONS)} files (in any case), directly in it "
            f"or in class sub-folders."
        )
    return (), [(None, file) for file in top_images]


def _image(folder: Path, file: Path, split: str, label: int | None) -> FolderImage:
    return FolderImage(file, file.relative_to(folder).as_posix(), split, label)


def hold_out_position(relative: str) -> float:
    """Where the image at `relative` (its POSIX path inside the folder) falls in [0, 1): the first 8 bytes of the
    SHA-256 of that path. An image is held out for testing when this is below the test fraction, so each image's
    split depends on its own path alone: adding, removing or editing other images never moves it."""
    digest = hashlib.sha256(relative.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _hold_out(folder: Path, images: list[FolderImage], fraction: float) -> list[FolderImage]:
    """`images` with those whose `hold_out_position` is below `fraction` marked as the test split, train first
    then test, each in order. About `fraction` of a folder is held out; a folder so small that none of its
    images falls below gets its single lowest one (which an added image below the fraction would take over)."""
    count = len(images)
    positions = np.array([hold_out_position(image.relative) for image in images])
    chosen = positions < fraction
    if count > 1 and not chosen.any():
        chosen[np.argmin(positions)] = True
    if not chosen.any() or chosen.all():
        raise DatasetError(
            f"{folder} has {count} image(s), and holding out {fraction:g} of them for testing leaves "
            f"{'no test' if not chosen.any() else 'no training'} images; add images, give another test fraction, "
            f"or make 'train' and 'test' sub-folders."
        )
    train = [image for image, test in zip(images, chosen) if not test]
    test = [FolderImage(image.path, image.relative, "test", image.label) for image, test in zip(images, chosen) if test]
    return train + test


# ---------------------------------------------------------------------------------------------- decoding


# ---------------------------------------------------------------------------------------------- dataset


def _dataset(
    folder: Path, images: list[FolderImage], pixels: np.ndarray, label_names: tuple[str, ...], labelled: bool
) -> Dataset:
    splits = np.array([image.split for image in images])
    labels = np.array([-1 if image.label is None else image.label for image in images], dtype=np.int64)
    arrays = {}
    for split in ("train", "valid", "test"):
        chosen = splits == split
        if chosen.any():
            arrays[split] = pixels[chosen]
            arrays[f"{split}_labels"] = labels[chosen] if labelled else None
    # decided on all images at once: a split of dark greys holding only 0s and 1s is still 8-bit
    kind = EIGHT_BIT if len(pixels) and pixels.max() > 1 else None
    return Dataset(name=folder.resolve().name or str(folder), label_names=label_names, pixels=kind, **arrays)


# ---------------------------------------------------------------------------------------------- cache
