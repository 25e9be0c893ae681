"""Folders of images as datasets (genmodels.data.folders.load_folder): layouts, labels, splits, decoding,
refusals and the decoded-array cache. Every image is a tiny file the test writes itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmodels.data import decoding, folder_cache, folders
from genmodels.core.errors import DatasetError
from genmodels.data.folders import load_folder
from genmodels.data.folder_cache import CACHE_PREFIX

SIZE = (4, 5)  # height, width of the test images


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """The genmodels data folder (the fallback cache) is a fresh folder for every test."""
    path = tmp_path / "data-dir"
    monkeypatch.setenv("GENMODELS_DATA_DIR", str(path))
    return path


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """The files decoded from now on, in order."""
    calls = []
    decode = decoding._decode

    def counting(path, size):
        calls.append(path)
        return decode(path, size)

    monkeypatch.setattr(decoding, "_decode", counting)
    return calls


def save(path: Path, array, **options) -> Path:
    """Save an array (H, W) uint8 as L, (H, W, 3) as RGB, (H, W, 4) as RGBA, bool as bilevel, uint16 as 16-bit grey."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path, **options)
    return path


def grey(path: Path, value: int, size=SIZE) -> Path:
    return save(path, np.full(size, value, dtype=np.uint8))


def caches(folder: Path, data_dir: Path) -> list[Path]:
    return sorted(folder.glob(f"{CACHE_PREFIX}*")) + sorted((data_dir / "folders").glob("*"))


def labelled_folder(root: Path, per_class: int = 10) -> Path:
    """Classes 'dog', 'ant', 'cat' (written in that order); each image is filled with 100*class_rank + 10 + index,
    where class_rank is the alphanumeric rank, so its pixels tell its class and its file. (No image is all 0/1:
    a split holding only those would read as 0/1 pixels beside 8-bit levels.)"""
    for name in ("dog", "ant", "cat"):
        rank = sorted(("dog", "ant", "cat")).index(name)
        for index in range(per_class):
            sub = "nested/" if index == 0 else ""  # images are found at any depth inside a class folder
            grey(root / name / f"{sub}{index:02d}.png", 100 * rank + 10 + index)
    return root


def test_labelled_grey_folder_gives_classes_in_alphanumeric_order(tmp_path):
    data = load_folder(labelled_folder(tmp_path / "animals"))
    assert data.name == "animals"
    assert data.label_names == ("ant", "cat", "dog")
    relatives = [
        f"{name}/{'nested/' if i == 0 else ''}{i:02d}.png" for name in ("ant", "cat", "dog") for i in range(10)
    ]
    held = sum(folders.hold_out_position(relative) < folders.DEFAULT_TEST_FRACTION for relative in relatives) or 1
    assert data.train.shape == (30 - held, *SIZE, 1) and data.test.shape == (held, *SIZE, 1)
    assert data.valid is None and data.pixels == "8bit"
    for images, labels in ((data.train, data.train_labels), (data.test, data.test_labels)):
        assert labels.dtype.kind in "iu"
        np.testing.assert_array_equal(labels, images[:, 0, 0, 0] // 100)
        assert (images == images[:, :1, :1, :]).all()  # each image is its own constant, untouched
    every = np.sort(np.concatenate([data.train[:, 0, 0, 0], data.test[:, 0, 0, 0]]))
    np.testing.assert_array_equal(every, np.sort([100 * rank + 10 + i for rank in range(3) for i in range(10)]))


def test_flat_folder_is_unlabelled(tmp_path):
    for index in range(10):
        grey(tmp_path / "flat" / f"{index}.png", 10 + index)
    (tmp_path / "flat" / "notes").mkdir()  # a sub-folder without images is not a class
    data = load_folder(tmp_path / "flat")
    assert data.train_labels is None and data.test_labels is None and data.label_names == ()
    assert len(data.train) + len(data.test) == 10 and len(data.test) >= 1


def test_colour_pngs_round_trip_exactly_in_sorted_order(tmp_path):
    rng = np.random.default_rng(1)
    written = {
        split: [rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8) for _ in range(3)] for split in ("train", "test")
    }
    for split, arrays in written.items():
        for index, array in reversed(list(enumerate(arrays))):  # written out of order; read in sorted order
            save(tmp_path / "colour" / split / f"img{index}.PNG", array)
    data = load_folder(tmp_path / "colour")
    assert data.train.shape == (3, *SIZE, 3) and data.train.dtype == np.uint8
    np.testing.assert_array_equal(data.train, np.stack(written["train"]))
    np.testing.assert_array_equal(data.test, np.stack(written["test"]))
    assert data.train_labels is None


def test_explicit_train_valid_test_folders_are_the_splits(tmp_path):
    root = tmp_path / "split"
    for split, classes in (
        ("train", ("b", "a")),
        ("valid", ("a",)),
        ("test", ("b",)),
    ):  # held-out splits may lack a class
        for name in classes:
            for index in range(2):
                grey(
                    root / split / name / f"{index}.png",
                    {"a": 10, "b": 20}[name] + {"train": 0, "valid": 1, "test": 2}[split],
                )
    data = load_folder(root, test_fraction=0.5)  # no hold-out: the fraction is not used
    assert data.label_names == ("a", "b")
    np.testing.assert_array_equal(data.train_labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(data.train[:, 0, 0, 0], [10, 10, 20, 20])
    np.testing.assert_array_equal(data.valid_labels, [0, 0])
    np.testing.assert_array_equal(data.valid[:, 0, 0, 0], [11, 11])
    np.testing.assert_array_equal(data.test_labels, [1, 1])
    np.testing.assert_array_equal(data.test[:, 0, 0, 0], [22, 22])


def test_a_class_missing_from_the_train_split_is_refused(tmp_path):
    grey(tmp_path / "f" / "train" / "cat" / "0.png", 1)
    grey(tmp_path / "f" / "test" / "dog" / "0.png", 2)
    with pytest.raises(DatasetError, match="'test' split has the class folder.*dog.*train"):
        load_folder(tmp_path / "f")


def test_adding_removing_or_editing_images_never_moves_an_image_between_splits(tmp_path):
    root = tmp_path / "f"
    for index in range(200):
        grey(root / f"{index:03d}.png", index)
    before = load_folder(root)
    assert 5 <= len(before.test) <= 40  # about a tenth
    for index in range(200, 205):
        grey(root / f"{index:03d}.png", index)  # five more
    (root / "007.png").unlink()
    grey(root / "010.png", 250)  # an image edited: the same file, new pixels
    after = load_folder(root)

    def values(split):
        return set(split[:, 0, 0, 0].tolist())

    kept = set(range(200)) - {7, 10}
    assert values(before.test) & kept == values(after.test) & kept
    assert values(before.train) & kept == values(after.train) & kept
    assert (250 in values(after.test)) == (10 in values(before.test))  # the edited image stays in its split
    assert not values(after.test) & values(before.train)  # no training image became a test image


def test_the_hold_out_is_the_same_files_on_every_run(tmp_path):
    first = load_folder(labelled_folder(tmp_path / "one", per_class=20), test_fraction=0.25)
    again = load_folder(labelled_folder(tmp_path / "two", per_class=20), test_fraction=0.25)  # a copy, decoded afresh
    assert 0 < len(first.test) < 60
    np.testing.assert_array_equal(first.test, again.test)
    np.testing.assert_array_equal(first.train, again.train)
    np.testing.assert_array_equal(first.test_labels, again.test_labels)


def test_the_cache_is_written_once_reused_and_rebuilt_on_change(tmp_path, data_dir, decodes):
    root = labelled_folder(tmp_path / "animals", per_class=3)
    first = load_folder(root)
    assert len(decodes) == 9
    (cache,) = caches(root, data_dir)
    assert cache.parent == root and cache.name.startswith(".")
    written = cache.stat().st_mtime_ns

    again = load_folder(root)
    assert len(decodes) == 9  # nothing decoded: read from the cache
    assert cache.stat().st_mtime_ns == written
    np.testing.assert_array_equal(again.train, first.train)
    np.testing.assert_array_equal(again.test_labels, first.test_labels)
    assert again.label_names == first.label_names

    grey(root / "ant" / "new.png", 7)  # a new file: decoded again, the old cache replaced
    assert len(load_folder(root).train) + 1 == 10
    assert len(decodes) == 9 + 10
    (rebuilt,) = caches(root, data_dir)
    assert rebuilt != cache

    resized = load_folder(root, image_size=(2, 3))  # another target size: decoded again
    assert len(decodes) == 9 + 10 + 10 and resized.train.shape[1:] == (2, 3, 1)
    load_folder(root, image_size=(2, 3))
    assert len(decodes) == 29


def test_a_corrupt_cache_is_ignored_and_rewritten(tmp_path, data_dir, decodes):
    root = labelled_folder(tmp_path / "animals", per_class=2)
    expected = load_folder(root, test_fraction=0.5)
    (cache,) = caches(root, data_dir)
    for bad in (cache.read_bytes()[:200], b"not a zip", None):
        if bad is None:  # a readable .npz with the right key but images of another shape
            key = str(np.load(cache)["key"])
            np.savez(cache, images=np.zeros((6, 2, 2, 1), np.uint8), key=np.array(key))
        else:
            cache.write_bytes(bad)
        decodes.clear()
        data = load_folder(root, test_fraction=0.5)
        assert len(decodes) == 6
        np.testing.assert_array_equal(data.train, expected.train)
        decodes.clear()
        load_folder(root, test_fraction=0.5)
        assert decodes == []  # the rewritten cache is good


def test_a_folder_that_cannot_be_written_is_cached_in_the_data_folder(tmp_path, data_dir, decodes, monkeypatch):
    root = labelled_folder(tmp_path / "animals", per_class=2)
    write = folder_cache.atomic_path

    def read_only(dest):
        if Path(dest).parent == root:
            raise PermissionError(13, "Permission denied", str(dest))
        return write(dest)

    monkeypatch.setattr(folder_cache, "atomic_path", read_only)
    load_folder(root, test_fraction=0.5)
    (cache,) = caches(root, data_dir)
    assert cache.parent == data_dir / "folders"
    decodes.clear()
    load_folder(root, test_fraction=0.5)
    assert decodes == []

    monkeypatch.setattr(
        folder_cache, "atomic_path", lambda dest: (_ for _ in ()).throw(PermissionError(13, "denied", str(dest)))
    )
    grey(root / "ant" / "more.png", 3)
    data = load_folder(root, test_fraction=0.5)  # nowhere to cache: still loads
    assert len(data.train) + len(data.test) == 7 and caches(root, data_dir) == [cache]


def test_image_size_resizes_every_image(tmp_path):
    grey(tmp_path / "f" / "a.png", 50, size=(6, 8))
    grey(tmp_path / "f" / "b.png", 90, size=(3, 3))
    save(tmp_path / "f" / "c.png", np.full((5, 5), True))  # bilevel, beside greys: white is 255
    data = load_folder(tmp_path / "f", image_size=(4, 2), test_fraction=0.34)
    every = np.concatenate([data.train, data.test])
    assert every.shape == (3, 4, 2, 1)
    assert sorted(np.unique(image).tolist() for image in every) == [
        [50],
        [90],
        [255],
    ]  # bilinear keeps a constant image constant


def test_other_modes_and_formats(tmp_path):
    root = tmp_path / "modes"
    checker = np.indices((4, 4)).sum(axis=0) % 2 == 1
    save(root / "bilevel" / "train" / "a.png", checker)
    save(root / "bilevel" / "test" / "b.bmp", ~checker)
    bilevel = load_folder(root / "bilevel")
    assert bilevel.pixels == "binary" and bilevel.train.shape == (1, 4, 4, 1)
    np.testing.assert_array_equal(bilevel.train[0, ..., 0], checker)

    greys = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) * 10).convert("P")  # a palette of greys
    save(root / "palette" / "train" / "grey.gif", np.asarray(greys.convert("L")))
    (root / "palette" / "test").mkdir()
    greys.save(root / "palette" / "test" / "grey.png")
    palette_grey = load_folder(root / "palette")
    assert palette_grey.train.shape[-1] == palette_grey.test.shape[-1] == 1
    np.testing.assert_array_equal(palette_grey.test[0, ..., 0], np.asarray(greys.convert("L")))

    colours = Image.fromarray(np.random.default_rng(2).integers(0, 256, (4, 4, 3), dtype=np.uint8)).convert("P")
    (root / "colour" / "train").mkdir(parents=True)
    (root / "colour" / "test").mkdir()
    colours.save(root / "colour" / "train" / "a.png")
    save(root / "colour" / "test" / "b.JPEG", np.full((4, 4, 3), 128, np.uint8), quality=95)
    colour = load_folder(root / "colour")
    np.testing.assert_array_equal(colour.train[0], np.asarray(colours.convert("RGB")))
    assert colour.test.shape == (1, 4, 4, 3) and np.abs(colour.test.astype(int) - 128).max() <= 2


def test_hidden_and_non_image_files_are_skipped(tmp_path):
    root = tmp_path / "f"
    for index in range(4):
        grey(root / "cls" / f"{index}.jpg", 10 + 10 * index)
    (root / "cls" / "README.txt").write_text("not an image")
    (root / "cls" / "._0.jpg").write_bytes(b"macOS resource fork")
    grey(root / ".hidden" / "x.png", 1)
    data = load_folder(root, test_fraction=0.25)
    assert data.label_names == ("cls",) and len(data.train) + len(data.test) == 4


# ---------------------------------------------------------------------------------------------- refusals


def png_bytes(array) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bad_rgba(root):
    return save(root / "bad.png", np.zeros((4, 4, 4), np.uint8))


def bad_la(root):
    return save(root / "bad.png", np.zeros((4, 4, 2), np.uint8))


def bad_transparent_palette(root):
    image = Image.fromarray(np.zeros((4, 4, 3), np.uint8)).convert("P")
    image.save(root / "bad.png", transparency=0)
    return root / "bad.png"


def bad_sixteen_bit(root):
    return save(root / "bad.png", np.full((4, 4), 1000, np.uint16))


def bad_sixteen_bit_rgb(root):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 4, 4, 16, 2, 0, 0, 0)  # 4x4, 16 bits per channel, RGB
    pixels = zlib.compress(b"".join(b"\x00" + bytes(4 * 6) for _ in range(4)))
    (root / "bad.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return root / "bad.png"


def bad_truncated(root):
    whole = png_bytes(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8))
    (root / "bad.png").write_bytes(whole[: len(whole) // 2])
    return root / "bad.png"


def bad_random_bytes(root):
    (root / "bad.png").write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    return root / "bad.png"


def bad_not_an_allowed_format(root):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(
        root / "bad.png", format="TIFF"
    )  # Pillow may decode only PNG, JPEG, BMP, GIF
    return root / "bad.png"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (bad_rgba, "alpha channel"),
        (bad_la, "alpha channel"),
        (bad_transparent_palette, "transparency"),
        (bad_sixteen_bit, "16-bit images are not supported.*convert it to 8 bits"),
        (bad_sixteen_bit_rgb, "16-bit images are not supported"),
        (bad_truncated, "cannot be decoded.*truncated"),
        (bad_random_bytes, "cannot be decoded"),
        (bad_not_an_allowed_format, "cannot be decoded"),
    ],
)
def test_a_bad_image_is_refused_naming_it_and_nothing_is_cached(tmp_path, data_dir, make, expected):
    root = tmp_path / "f"
    for index in range(5):
        grey(root / f"good{index}.png", 10 + index)
    bad = make(root)
    with pytest.raises(DatasetError, match=expected) as caught:
        load_folder(root)
    message = str(caught.value)
    assert str(bad) in message and "\n" not in message
    assert caches(root, data_dir) == []


def test_a_decompression_bomb_is_refused(tmp_path, data_dir, monkeypatch):
    grey(tmp_path / "f" / "train" / "a.png", 1, size=(8, 8))
    grey(tmp_path / "f" / "test" / "b.png", 1, size=(8, 8))
    for limit in (40, 20):  # 64 pixels: over the limit is Pillow's warning, over twice the limit its error
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(DatasetError, match="decompression bomb") as caught:
            load_folder(tmp_path / "f")
        assert "a.png" in str(caught.value)
    assert caches(tmp_path / "f", data_dir) == []


def test_mixed_channels_are_refused_naming_one_file_of_each(tmp_path, data_dir):
    grey(tmp_path / "f" / "train" / "grey.png", 1)
    save(tmp_path / "f" / "test" / "colour.png", np.zeros((*SIZE, 3), np.uint8))
    with pytest.raises(DatasetError, match="greyscale and colour.*grey.png.*colour.png"):
        load_folder(tmp_path / "f")
    assert caches(tmp_path / "f", data_dir) == []


def test_different_sizes_are_refused_suggesting_a_target_size(tmp_path, data_dir):
    grey(tmp_path / "f" / "train" / "a.png", 50, size=(4, 5))
    grey(tmp_path / "f" / "test" / "b.png", 60, size=(6, 7))
    with pytest.raises(DatasetError, match=r"different sizes.*a.png is 4x5.*b.png is 6x7.*--image-size HEIGHT,WIDTH"):
        load_folder(tmp_path / "f")
    assert caches(tmp_path / "f", data_dir) == []
    assert load_folder(tmp_path / "f", image_size=(4, 5)).test.shape == (1, 4, 5, 1)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({}, r"no images in .*\.png"),
        ({"notes.txt": None, "sub/readme.md": None}, r"no images in .*\.jpg"),
        ({"cats/a.png": 1, "loose.png": 2}, r"loose.png\) beside class folders"),
        ({"train/a.png": 1, "valid/b.png": 2}, "no 'test' one"),
        ({"train/a.png": 1, "test/b.png": 2, "extra/c.png": 3}, "outside them.*extra"),
        ({"train/a.png": 1, "test/b.png": 2, "c.png": 3}, "outside them.*c.png"),
        ({"train/cat/a.png": 1, "test/b.png": 2}, "class sub-folders.*'test' split holds its images directly"),
        ({"train/a.png": 1, "test/x.txt": None}, "no images in .*test"),
        ({"a.png": 1}, "1 image.*no test images"),
    ],
)
def test_bad_layouts_are_refused(tmp_path, data_dir, layout, expected):
    root = tmp_path / "f"
    root.mkdir()
    for name, value in layout.items():
        if value is None:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("text")
        else:
            grey(root / name, value)
    with pytest.raises(DatasetError, match=expected) as caught:
        load_folder(root)
    assert "\n" not in str(caught.value)
    assert caches(root, data_dir) == []


def test_a_path_that_is_not_a_folder_is_refused(tmp_path):
    grey(tmp_path / "a.png", 1)
    with pytest.raises(DatasetError, match="a.png is a file, not a folder"):
        load_folder(tmp_path / "a.png")
    with pytest.raises(DatasetError, match="missing is not there"):
        load_folder(tmp_path / "missing")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"image_size": (0, 4)}, "image_size"),
        ({"image_size": (4,)}, "image_size"),
        ({"image_size": (4.5, 4)}, "image_size"),
        ({"test_fraction": 0}, "test_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
    ],
)
def test_bad_options_are_refused(tmp_path, options, expected):
    for index in range(10):
        grey(tmp_path / "f" / f"{index}.png", 10 + index)
    with pytest.raises(DatasetError, match=expected):
        load_folder(tmp_path / "f", **options)


def test_a_folder_of_many_images_decodes_without_a_terminal(tmp_path, capsys):
    """Past the progress-bar threshold, nothing is written when stderr is not a terminal."""
    for index in range(decoding.PROGRESS_MIN_IMAGES):
        grey(tmp_path / "many" / f"{index:03d}.png", 2 + index, size=(2, 2))
    data = load_folder(tmp_path / "many")
    assert len(data.train) + len(data.test) == decoding.PROGRESS_MIN_IMAGES
    assert capsys.readouterr().err == ""


def _names_falling(split: str, count: int, start: int) -> list[str]:
    """`count` new file names from `start` on whose hold-out puts them in `split`."""
    names, index = [], start
    while len(names) < count:
        name = f"{index:03d}.png"
        if (folders.hold_out_position(name) < folders.DEFAULT_TEST_FRACTION) == (split == "test"):
            names.append(name)
        index += 1
    return names


@pytest.mark.slow
def test_evaluate_and_resume_refuse_images_added_since_training_unless_told(tmp_path, capsys):
    from conftest import run_main

    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for index in range(200):
        save(root / f"{index:03d}.png", rng.integers(0, 256, SIZE, dtype=np.uint8))
    run = tmp_path / "run"
    common = ["-o", "hidden=8", "--latent-dim", "2", "--batch-size", "50", "--epoch-images", "0"]
    assert run_main(capsys, "train", "vae", "--dataset", root, "--run-dir", run, "--epochs", "1", *common).code == 0
    quick = ["--metrics", "nll", "--k", "2"]

    for name in _names_falling("train", 3, 200):  # training images only: the test split is as it was
        save(root / name, rng.integers(0, 256, SIZE, dtype=np.uint8))
    assert run_main(capsys, "evaluate", "vae", "--run-dir", run, *quick).code == 0
    run_main(capsys, "train", "vae", "--run-dir", run, "--resume", "--epochs", "2").assert_one_error_line(
        "changed since it was trained", "train:", "--allow-data-change"
    )
    (extra,) = _names_falling("test", 1, 300)
    save(root / extra, rng.integers(0, 256, SIZE, dtype=np.uint8))
    run_main(capsys, "evaluate", "vae", "--run-dir", run, *quick).assert_one_error_line("test:", "--allow-data-change")
    assert run_main(capsys, "evaluate", "vae", "--run-dir", run, *quick, "--allow-data-change").code == 0
    assert (
        run_main(capsys, "train", "vae", "--run-dir", run, "--resume", "--epochs", "2", "--allow-data-change").code == 0
    )


@pytest.mark.slow
def test_a_folder_named_by_a_run_gets_no_cache_written_inside_it(tmp_path, capsys, data_dir):
    from conftest import run_main

    rng = np.random.default_rng(2)
    root = tmp_path / "photos"
    for index in range(40):
        save(root / f"{index:03d}.png", rng.integers(0, 256, SIZE, dtype=np.uint8))
    run = tmp_path / "run"
    assert (
        run_main(
            capsys,
            "train",
            "vae",
            "--dataset",
            root,
            "--run-dir",
            run,
            "--epochs",
            "1",
            "-o",
            "hidden=8",
            "--latent-dim",
            "2",
            "--epoch-images",
            "0",
        ).code
        == 0
    )
    assert caches(root, data_dir)[0].parent == root  # you named the folder: its cache sits beside its images
    for cache in root.glob(f"{CACHE_PREFIX}*"):
        cache.unlink()
    assert run_main(capsys, "evaluate", "vae", "--run-dir", run, "--metrics", "nll", "--k", "2").code == 0
    assert not list(root.glob(f"{CACHE_PREFIX}*"))  # the run named it: nothing written there
    assert [path.parent for path in caches(root, data_dir)] == [data_dir / folder_cache.CACHE_SUBDIR]
