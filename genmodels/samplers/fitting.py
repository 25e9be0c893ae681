"""Latent samplers fitted after training: where `sample` and the sample metrics draw the codings they decode.

A VAE's prior N(0, I) is what its KL term pulls the codings towards, not where they end up: the posterior
means of real images fill only part of it, and prior draws that land between them decode to blurred,
off-colour or blank images. A density fitted after training to the posterior means of the training images
(the "ex-post density estimation" of Ghosh et al. 2020; pythae's samplers) draws where the data's codings are.

`prior` is the model's own prior: nothing is fitted. Every other name is a registered `SamplerSpec`
(`register_samplers`; the built-in `gmm` is a Gaussian mixture). A fitted sampler is saved in the run
directory as `sampler-NAME.npz`, with the SHA-256 of the weights it was fitted to, and fitted again when
they change. This module imports no TensorFlow; encoding the images does, through the model.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from genmodels.core.atomic import atomic_path
from genmodels.core.errors import CacheWarning
from genmodels.data.store import sha256_of
from genmodels.samplers.sampler import FittedSampler, PRIOR, SamplerSpec

if TYPE_CHECKING:
    from genmodels.data.dataset import Dataset
    from genmodels.nn.model import GenerativeModel


class SamplerCatalog(Protocol):
    """What the sampler functions need of a registry (`genmodels.registry.Registry` is one): the registered sampler
    specs (`name in catalog.samplers`, iteration) and each by name."""

    samplers: Any

    def sampler(self, name: str) -> SamplerSpec: ...


SAMPLER_FILE = "sampler-{name}.npz"


def check_sampler_name(name: str, registry: SamplerCatalog) -> None:
    """Refuse a sampler name that is neither `prior` nor registered (UnknownNameError, listing both kinds)."""
    from genmodels.core.errors import UnknownNameError

    if name != PRIOR and name not in registry.samplers and ":" not in name:
        raise UnknownNameError("sampler", name, [PRIOR, *(spec.name for spec in registry.samplers)])
    if name != PRIOR:
        registry.sampler(name)


def drawn_codings(sampler: FittedSampler | None, n: int, seed: int | None) -> np.ndarray | None:
    """`n` codings from `sampler` for `seed` (None: the prior's, left to the model to draw), as the flat rows that
    the model decodes: a sampler may draw them in the codings' shape, (n, *coding_shape), or flat, (n, D)."""
    if sampler is None:
        return None
    codings = np.asarray(sampler.sample(n, seed))
    return codings.reshape(len(codings), int(np.prod(codings.shape[1:])))


def sampler_path(run_dir: Path, name: str) -> Path:
    """Where a run keeps its fitted sampler `name` (a qualified `provider:name` keeps its provider in the file name)."""
    return Path(run_dir) / SAMPLER_FILE.format(name=name.replace(":", "--"))


def split_codings(model: GenerativeModel, dataset: Dataset, split: str) -> np.ndarray:
    """The posterior means of one split's images (given their labels, for a conditional model), float64, shaped
    (N, *coding_shape): flat rows for most models, maps for a model whose codings are maps."""
    from genmodels.nn.latent import encode

    images = getattr(dataset, split)
    if images is None or len(images) == 0:
        return np.zeros((0, *model.coding_shape))
    labels = getattr(dataset, f"{split}_labels") if model.conditional else None
    codings = encode(model, images, labels, scale=dataset.scale).astype(np.float64)
    return codings.reshape(len(codings), *model.coding_shape)


def fitted_sampler(
    name: str,
    registry: SamplerCatalog,
    model: GenerativeModel,
    dataset: Dataset | Callable[[], Dataset],
    *,
    run_dir: Path | None = None,
    weights: Path | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> FittedSampler | None:
    """The sampler `name` fitted to `model`'s codings of `dataset`'s training images (None for `prior`).

    With `run_dir`, a sampler saved there for the same `weights` file (by its digest) is loaded instead of fitted,
    and a new fit is saved there; a run directory that cannot be written gets a CacheWarning, not an error.
    `dataset` may be a function that returns it, called only when the sampler has to be fitted."""
    if name == PRIOR:
        return None
    spec = registry.sampler(name)
    path = sampler_path(run_dir, spec.name) if run_dir is not None else None
    digest = sha256_of(weights) if weights is not None and Path(weights).is_file() else ""
    if path is not None and digest and path.is_file():
        stored = _load(path, spec, digest)
        if stored is not None:
            return stored
    if callable(dataset):
        dataset = dataset()
    train, valid = split_codings(model, dataset, "train"), split_codings(model, dataset, "valid")
    reports = log is not None and "log" in inspect.signature(spec.fit).parameters
    sampler = spec.fit(train, valid, seed, log=log) if reports else spec.fit(train, valid, seed)
    if log is not None:
        facts = ", ".join(f"{key} {value}" for key, value in sampler.info().items())
        log(
            f"Fitted the {spec.name} sampler to the codings of {len(train)} training images"
            f"{f' ({facts})' if facts else ''}."
        )
    if path is not None and digest:
        try:
            with atomic_path(path) as partial, open(partial, "wb") as handle:
                np.savez(
                    handle,
                    **sampler.arrays(),
                    weights_sha256=digest,
                    sampler=spec.name,
                    info=json.dumps(sampler.info()),
                )
        except OSError as exc:
            import warnings

            warnings.warn(
                f"the fitted sampler could not be saved in {path.parent} ({exc.strerror or exc}); it is fitted "
                "again next time.",
                CacheWarning,
                stacklevel=2,
            )
    return sampler


def stored_sampler(name: str, registry: SamplerCatalog, run_dir: Path, weights: Path) -> FittedSampler | None:
    """The sampler `name` that `run_dir` keeps for the `weights` file, or None when it keeps none for them (or for
    the prior). Read only: nothing is fitted or written (`genmodels serve` draws from it this way)."""
    if name == PRIOR or not Path(weights).is_file():
        return None
    spec = registry.sampler(name)
    path = sampler_path(run_dir, spec.name)
    return _load(path, spec, sha256_of(weights)) if path.is_file() else None


def _load(path: Path, spec, digest: str) -> FittedSampler | None:
    """The sampler saved at `path`, or None when it belongs to other weights or cannot be read (it is fitted again)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["weights_sha256"]) != digest or str(stored["sampler"]) != spec.name:
                return None
            arrays = {key: stored[key] for key in stored.files if key not in ("weights_sha256", "sampler", "info")}
        return spec.load(arrays)
    except Exception:  # an unreadable or foreign file is replaced by a new fit
        return None
