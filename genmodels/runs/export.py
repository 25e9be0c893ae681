"""Export a trained run as a TensorFlow SavedModel that programs with only TensorFlow installed can use.

    import tensorflow as tf
    exported = tf.saved_model.load("exported/vae")
    images = exported.sample(n=60, seed=0)               # codings from the run's fitted sampler (gmm), decoded
    images = exported.sample_prior(n=60, seed=0)         # = genmodels.load(run).sample(60, seed=0, sampler="prior")
    codings = exported.sample_codings(n=60, seed=0)      # what sample decodes: sample = decode(sample_codings)
    codings = exported.encode(images)                    # = run.encode(images)
    images = exported.decode(codings)                    # = run.decode(codings)
    images = exported.signatures["sample"](n=60, seed=0)["images"]   # the same, as TF Serving calls it

The SavedModel holds five `tf.function`s, also saved as serving signatures of the same names;
a conditional model's (cvae) take one label per image as well (sample_codings does not):

    sample(n: int32 [], seed: int64 [] [, labels: int32 [None]])  -> images  float32 (n, H, W, C) in [0, 1]
    sample_prior(n, seed [, labels])                              -> images  float32 (n, H, W, C) in [0, 1]
    sample_codings(n, seed)                                       -> codings float32 (n, latent)
    encode(images: float32 (None, H, W, C) [, labels])            -> codings float32 (None, latent)
    decode(codings: float32 (None, latent) [, labels])            -> images  float32 (None, H, W, C)

Images are the decoder's means, as `genmodels sample` gives them; codings the mean of q(z|x).
`sample` draws its codings from the sampler fitted after training that the export was given (its
`graph_sample`, TensorFlow operations with the fitted arrays as constants): the same distribution as
`genmodels sample --sampler NAME`, other random numbers. Without one, `sample` is `sample_prior`.
`genmodels-export.json` beside `saved_model.pb` describes them for people, and names the sampler.

Seeded draws are the same as genmodels': `GenerativeModel.generate(n, seed)` draws the prior's
noise from `keras.random.SeedGenerator(seed)`, whose state starts at [seed, 0] and whose k-th draw
(counted from 0) uses the stateless seed [seed, k]. Inside the exported function a `TensorSeed`
(a SeedGenerator whose state is built from the seed tensor and a count kept while tracing) hands
the prior's `sample` the same seeds, so every prior (N(0, I), the VampPrior's categorical and normal
draws, hvae's two layers, the ae's fitted Gaussian) draws the same numbers from the same seed.

TensorFlow is imported only when a model is exported, so the CLI that imports this module stays quick.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from genmodels.core.atomic import TEMPORARY_PREFIX, owner_alive, owner_record
from genmodels.core.errors import ConfigError

INFO_FILE = "genmodels-export.json"
PARTIAL_OWNER = ".genmodels-partial"  # in a half-written export: the process writing it (atomic.owner_record)
SAVED_MODEL_FILE = "saved_model.pb"
FORMAT_VERSION = 1


def export_saved_model(run, out_dir, *, sampler=None, sampler_name: str = "prior", force: bool = False) -> Path:
    """Write `run` (a `genmodels.Run`, as `genmodels.load` returns) as a SavedModel in `out_dir`; returns `out_dir`.
    Its `sample` draws codings from `sampler` (a fitted sampler that can draw in a graph, named `sampler_name`), or
    from the model's prior when it is None (`Run.export` chooses the sampler).

    `out_dir` must not exist or be empty; with `force`, an earlier export there is replaced: the files
    it wrote (which its genmodels-export.json lists) and nothing else, so a file of yours beside them
    stays. The SavedModel is written to a temporary folder beside `out_dir` and moved into place only
    when complete: a failure leaves `out_dir` as it was.
    """
    return export_model(
        run.model,
        out_dir,
        name=run.name,
        image_shape=run.image_shape,
        pixels=run.pixels,
        sampler=sampler,
        sampler_name=sampler_name,
        force=force,
    )


def export_model(
    model,
    out_dir,
    *,
    name: str,
    image_shape,
    pixels: str,
    sampler=None,
    sampler_name: str = "prior",
    force: bool = False,
) -> Path:
    """Write the Keras `model` (a GenerativeModel) of images shaped `image_shape` (height, width, channels)
    as a SavedModel in `out_dir`, with `genmodels-export.json` naming it `name` with `pixels` and its
    sampler `sampler_name`; see `export_saved_model`."""
    given, out_dir = Path(out_dir), Path(out_dir).resolve()
    check_out_dir(out_dir, force)
    image_shape = tuple(int(size) for size in image_shape)
    if len(image_shape) != 3:
        raise ConfigError(f"image_shape must be (height, width, channels), received {image_shape}.")
    module, serving = exportable(model, image_shape, sampler)
    info = describe(serving, name, image_shape, pixels, module.latent_dim, module.classes)
    info["sampler"] = sampler_name if sampler is not None else "prior"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_partials(out_dir)
    partial = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f"{TEMPORARY_PREFIX}{out_dir.name}-"))
    try:
        (partial / PARTIAL_OWNER).write_text(owner_record())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o777 & ~umask)  # mkdtemp makes folders private; give it the usual mode
        _save(module, serving, partial)
        (partial / PARTIAL_OWNER).unlink()
        info["files"] = written_files(partial)
        (partial / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        _move_into_place(partial, out_dir)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return given


def remove_abandoned_partials(out_dir: Path) -> list[Path]:
    """Delete the half-written exports to `out_dir` that an export killed before it finished left beside it: the
    folders `.tmp-NAME-*` that hold genmodels' owner record of a process of this machine that is no longer running.
    Nothing else is touched (another export still writing, or a folder genmodels did not make). Returns the deleted."""
    removed = []
    for folder in Path(out_dir).parent.glob(f"{TEMPORARY_PREFIX}{Path(out_dir).name}-*"):
        try:
            owner = json.loads((folder / PARTIAL_OWNER).read_text())
            abandoned = folder.is_dir() and not folder.is_symlink() and not owner_alive(owner)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if abandoned:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def check_out_dir(out_dir: Path, force: bool = False) -> None:
    """A ConfigError unless `out_dir` can receive an export: it does not exist, is an empty folder, or
    (with `force`) holds an earlier export. Nothing else is ever replaced, --force or not."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is a file; --out takes a folder to write the SavedModel in.")
    if not any(out_dir.iterdir()):
        return
    if not is_export(out_dir):
        raise ConfigError(
            f"{out_dir} is not empty and holds no genmodels export; give --out a new or empty folder (--force replaces only an earlier export)."
        )
    if not force:
        raise ConfigError(f"{out_dir} already holds an export; replace it with --force or give another --out.")


def is_export(folder: Path) -> bool:
    """Whether `folder` holds a SavedModel that genmodels exported (saved_model.pb and genmodels-export.json)."""
    return (Path(folder) / SAVED_MODEL_FILE).is_file() and (Path(folder) / INFO_FILE).is_file()


# What a SavedModel folder holds: an earlier export whose genmodels-export.json lists no files
# (written before it did) is replaced in these entries alone.
SAVED_MODEL_ENTRIES = (SAVED_MODEL_FILE, "fingerprint.pb", "variables", "assets", "assets.extra", INFO_FILE)


def written_files(folder: Path) -> list[str]:
    """Every file under `folder`, as sorted relative POSIX paths: what an export wrote."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def export_files(out_dir: Path) -> list[str]:
    """The files of the export in `out_dir` that genmodels wrote, its genmodels-export.json included."""
    try:
        listed = json.loads((out_dir / INFO_FILE).read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        listed = None
    if isinstance(listed, list) and all(isinstance(name, str) for name in listed):
        names = listed
    else:  # an export from before the list: the SavedModel's own entries
        names = [rel for entry in SAVED_MODEL_ENTRIES for rel in _files_at(out_dir, entry)]
    inside = []
    for name in [*names, INFO_FILE]:
        path = out_dir / name
        # only plain files inside out_dir: a listed name never reaches outside it
        if ".." not in Path(name).parts and not Path(name).is_absolute() and path.is_file() and not path.is_symlink():
            inside.append(name)
    return sorted(set(inside))


def _files_at(folder: Path, entry: str) -> list[str]:
    path = folder / entry
    if path.is_file():
        return [entry]
    if path.is_dir():
        return [f"{entry}/{rel}" for rel in written_files(path)]
    return []


def _move_into_place(partial: Path, out_dir: Path) -> None:
    """Move the complete export `partial` to `out_dir`. Into a folder holding an earlier export, the earlier
    export's files are moved aside, the new ones moved in, and the old ones deleted only then (put back if a
    move fails); everything else in the folder stays where it is."""
    if not out_dir.exists() or not any(out_dir.iterdir()):
        os.rename(partial, out_dir)  # a missing or empty folder: replaced whole
        return
    aside = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f"{TEMPORARY_PREFIX}old-{out_dir.name}-"))
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in export_files(out_dir):
            _move(out_dir / name, aside / name)
            moved_old.append(name)
        for name in written_files(partial):
            _move(partial / name, out_dir / name)
            moved_new.append(name)
    except BaseException:
        for name in reversed(moved_new):
            _move(out_dir / name, partial / name)
        for name in reversed(moved_old):
            _move(aside / name, out_dir / name)
        _remove_empty_folders(out_dir, moved_new)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    _remove_empty_folders(out_dir, moved_old)
    shutil.rmtree(aside, ignore_errors=True)


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


def _remove_empty_folders(root: Path, names: list[str]) -> None:
    """Remove the folders under `root` that held `names` and are now empty (deepest first)."""
    folders = {parent for name in names for parent in Path(name).parents if parent != Path(".")}
    for folder in sorted(folders, key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):
            (root / folder).rmdir()  # only when empty


def _save(module, serving, folder: Path) -> None:
    import tensorflow as tf

    tf.saved_model.save(module, str(folder), signatures=serving)


def describe(serving, name: str, image_shape, pixels: str, latent_dim: int, classes: int) -> dict[str, Any]:
    """What genmodels-export.json says: the model, its images, and each signature's inputs and outputs
    (read from the traced signatures themselves)."""

    def spec(tensor_spec) -> dict[str, Any]:
        return {"dtype": tensor_spec.dtype.name, "shape": tensor_spec.shape.as_list()}

    signatures = {}
    for key, function in serving.items():
        concrete = function.get_concrete_function()
        args, _kwargs = concrete.structured_input_signature
        signatures[key] = {
            "inputs": {value.name: spec(value) for value in args},
            "outputs": {out: spec(value) for out, value in concrete.structured_outputs.items()},
        }
    return {
        "format": FORMAT_VERSION,
        "model": name,
        "image_shape": list(image_shape),
        "pixels": pixels,
        "latent_dim": latent_dim,
        "classes": classes,
        "signatures": signatures,
        "notes": {
            "images": "float32 in [0, 1], (N, height, width, channels); out of the model, the decoder's means (as genmodels sample)",
            "codings": "the mean of q(z|x)",
            "seed": "the seed of genmodels sample --seed and Run.sample: the same seed gives the same images",
            **(
                {
                    "labels": "one class label (0 to classes - 1) per image; sample also takes one label for all images, "
                    "or none (an empty list) for every class in turn"
                }
                if classes
                else {}
            ),
        },
    }


def coding_size(model) -> int:
    """The width of the codings the encoder gives and the decoder takes (hvae's: both layers, [z1, z2])."""
    return model.coding_dim


def exportable(model, image_shape, sampler=None):
    """(module, serving): a `tf.Module` with the weights of `model` (a GenerativeModel of images shaped (height,
    width, channels)) and its `sample`, `sample_prior`, `sample_codings`, `encode` and `decode` as tf.functions of
    fixed input signatures; and a dictionary of the serving signatures by name, tf.functions returning
    {"images": ...} or {"codings": ...}. `sample` draws its codings from `sampler`'s `graph_sample` (None: the prior).

    The Keras model itself is not saved, only its variables (as `keras.export.ExportArchive` does): a program
    that loads the export needs TensorFlow alone, and Keras' own serving function, which calls the model on
    images alone, is not traced (it cannot be for a conditional model)."""
    import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

    import tensorflow as tf

    height, width, channels = image_shape
    latent_dim, classes = coding_size(model), int(model.classes)
    seed_class = tensor_seed_class()  # made here, not while tracing

    def images_of(rows):
        return tf.reshape(tf.cast(rows, tf.float32), [-1, height, width, channels])

    def rows_of(images):
        return tf.reshape(images, [-1, height * width * channels])

    def checked(labels):
        message = f"labels must be classes from 0 to {classes - 1}"
        tf.debugging.assert_non_negative(labels, message=message)
        tf.debugging.assert_less(labels, classes, message=message)
        return labels

    def labels_to_draw(n, labels):
        """As Run.sample and genmodels sample: none, every class in turn (0, 1, ..., 0, ...); one, that class for all."""
        count = tf.size(labels)
        tf.debugging.assert_equal(
            tf.logical_or(count <= 1, tf.equal(count, n)),
            True,
            message="sample takes one label per image, one label for all, or none (every class in turn)",
        )
        every_class = lambda: tf.range(n) % classes  # noqa: E731  (GenerativeModel.generate's labels=None)
        return checked(tf.cond(tf.equal(count, 0), every_class, lambda: tf.broadcast_to(labels, tf.reshape(n, [1]))))

    def generate(n, seed, labels=None):
        """The model's own `generate(n, seed, labels)`, given a SeedGenerator(seed) made from the seed tensor."""
        return images_of(model.generate(n, seed=seed_class(seed), labels=labels))

    def sample_codings(n, seed):
        """Codings from the fitted sampler, flat rows (a sampler may draw them in the codings' shape)."""
        if sampler is None:
            return tf.cast(model.prior.sample(n, seed=seed_class(seed)), tf.float32)
        return tf.reshape(tf.cast(sampler.graph_sample(n, seed), tf.float32), [-1, latent_dim])

    def drawn(n, seed, labels=None):
        """sample: the prior's draws (sample_prior's), or the fitted sampler's codings decoded."""
        if sampler is None:
            return generate(n, seed, labels)
        return images_of(model.decode(sample_codings(n, seed), labels))

    if classes:

        def sample(n, seed, labels):
            return drawn(n, seed, labels_to_draw(n, labels))

        def sample_prior(n, seed, labels):
            return generate(n, seed, labels_to_draw(n, labels))

        def encode(images, labels):
            return tf.cast(model.encode(rows_of(images), checked(labels)), tf.float32)

        def decode(codings, labels):
            return images_of(model.decode(codings, checked(labels)))
    else:

        def sample(n, seed):
            return drawn(n, seed)

        def sample_prior(n, seed):
            return generate(n, seed)

        def encode(images):
            return tf.cast(model.encode(rows_of(images)), tf.float32)

        def decode(codings):
            return images_of(model.decode(codings))

    labels = [tf.TensorSpec([None], tf.int32, name="labels")] if classes else []
    draw = [tf.TensorSpec([], tf.int32, name="n"), tf.TensorSpec([], tf.int64, name="seed")]
    endpoints = {
        "sample": (sample, draw, "images", labels),
        "sample_prior": (sample_prior, draw, "images", labels),
        "sample_codings": (sample_codings, draw, "codings", []),
        "encode": (
            encode,
            [tf.TensorSpec([None, height, width, channels], tf.float32, name="images")],
            "codings",
            labels,
        ),
        "decode": (decode, [tf.TensorSpec([None, latent_dim], tf.float32, name="codings")], "images", labels),
    }
    module = tf.Module(name="genmodels_export")
    module.model_variables = list(model.variables)
    serving = {}
    for name, (function, specs, output, labels) in endpoints.items():
        traced = tf.function(function, input_signature=specs + labels, autograph=False)
        setattr(module, name, traced)
        serving[name] = tf.function(_returning(traced, output), input_signature=specs + labels, autograph=False)
    module.latent_dim, module.classes = latent_dim, classes  # plain numbers: not saved, read by describe
    return module, serving


def _returning(function, key: str):
    """`function` with its result in a dictionary under `key`: a serving signature's named output."""

    def serve(*args):
        return {key: function(*args)}

    return serve


def tensor_seed_class():
    """TensorSeed: a `keras.random.SeedGenerator(seed)` for a seed tensor (made on first use: it needs Keras)."""
    global _TensorSeed
    if _TensorSeed is not None:
        return _TensorSeed
    import keras
    import tensorflow as tf

    class TensorSeed(keras.random.SeedGenerator):
        """A `keras.random.SeedGenerator(seed)` for a seed tensor: its k-th `next()` is [seed, k], as the
        Keras generator's is (its state starts at [seed, 0] and each ordered draw adds [0, 1]).

        It holds no variable (one cannot be created inside a traced function); the count advances as
        the function is traced, which is the order in which the prior draws when it runs eagerly."""

        def __init__(self, seed):  # no SeedGenerator.__init__: it would create a variable
            self.name = "tensor_seed"
            self._initial_seed = None
            self.seed = tf.cast(seed, tf.int64)
            self.count = 0

        @property
        def state(self):
            return tf.stack([self.seed, tf.constant(self.count, tf.int64)])

        def next(self, ordered=True):
            if not ordered:
                raise ValueError("TensorSeed gives ordered seeds only, as a seeded SeedGenerator does.")
            value = self.state
            self.count += 1
            return value

    _TensorSeed = TensorSeed
    return TensorSeed


_TensorSeed = None
