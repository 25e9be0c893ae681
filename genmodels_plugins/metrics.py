"""Built-in metrics, registered through `register_metrics` as a third party's would be.

- `fid`: the Fréchet distance between features of generated and real images (Heusel et al. 2017), on a
  feature network genmodels trains itself, with a bootstrap standard error and its floor: the same
  statistic with as many real images of another split in place of the samples.
- `prd`: precision and recall of the k-nearest-neighbour manifolds of the same features (Kynkäänniemi et
  al. 2019, k = 3), with the same floor.
- `active-units`: the latent units whose posterior mean varies over the images (Burda et al. 2015,
  variance above 0.01), and the KL of each latent dimension from its prior marginal.

The samples' codings come from the sampler evaluate names (`--sampler`, genmodels.samplers), recorded beside
the figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmodels import hookimpl
from genmodels.errors import NotApplicableError
from genmodels.specs import MetricSpec

BOOTSTRAP_ROUNDS = 50
NEIGHBOURS = 3
ACTIVE_THRESHOLD = 0.01
ENCODE_BATCH = 500


def _network(context) -> dict[str, Any]:
    info = context.feature_network().info
    keys = (
        "name",
        "kind",
        "description",
        "weights_sha256",
        "data_sha256",
        "test_accuracy",
        "test_reconstruction_error",
    )
    return {key: info[key] for key in keys if key in info}


def _sample_sets(context):
    """Features of the reference images (the scored split), of the samples, and of the floor's real images."""
    reference = context.real_features(context.images)
    samples = context.generated_features()
    floor_split = context.floor_split()
    floor = context.real_features(context.real_rows(floor_split, context.samples))
    return reference, samples, floor, floor_split


def fid(context) -> dict[str, Any]:
    """FID of the samples against the scored split, and the floor: real images of another split in their place."""
    from genmodels.sample_quality import fid_with_error

    _need_rows(context, 2)
    reference, samples, floor, floor_split = _sample_sets(context)
    model = fid_with_error(reference, samples, rounds=BOOTSTRAP_ROUNDS, seed=context.seed)
    real = fid_with_error(reference, floor, rounds=BOOTSTRAP_ROUNDS, seed=context.seed)
    return {
        "fid": model.value,
        "fid_standard_error": model.standard_error,
        "floor": real.value,
        "floor_standard_error": real.standard_error,
        "floor_split": floor_split,
        "floor_images": len(floor),
        "samples": len(samples),
        "sampler": context.sampler_name,
        "reference_images": len(reference),
        "bootstrap_rounds": BOOTSTRAP_ROUNDS,
        "feature_network": _network(context),
    }


def _drawn_by(figures: dict[str, Any]) -> str:
    return f" ({figures['sampler']} sampler)" if figures.get("sampler") else ""  # evaluations before samplers have none


def fid_summary(figures: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"FID, {figures['samples']} samples{_drawn_by(figures)} vs {figures['reference_images']} real",
            f"{figures['fid']:.2f} ± {figures['fid_standard_error']:.2f}",
        ),
        (
            f"FID floor, {figures['floor_images']} real {figures['floor_split']} images in their place",
            f"{figures['floor']:.2f} ± {figures['floor_standard_error']:.2f}",
        ),
    ]


def prd(context) -> dict[str, Any]:
    """k-NN precision and recall of the samples against the scored split, and of real floor images."""
    from genmodels.sample_quality import precision_recall

    _need_rows(context, NEIGHBOURS + 1)
    reference, samples, floor, floor_split = _sample_sets(context)
    model = precision_recall(reference, samples, k=NEIGHBOURS)
    real = precision_recall(reference, floor, k=NEIGHBOURS)
    return {
        "precision": model.precision,
        "recall": model.recall,
        "floor_precision": real.precision,
        "floor_recall": real.recall,
        "floor_split": floor_split,
        "floor_images": len(floor),
        "k": NEIGHBOURS,
        "samples": len(samples),
        "sampler": context.sampler_name,
        "reference_images": len(reference),
        "feature_network": _network(context),
    }


def prd_summary(figures: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"precision / recall (k={figures['k']}), {figures['samples']} samples{_drawn_by(figures)}",
            f"{figures['precision']:.3f} / {figures['recall']:.3f}",
        ),
        (
            f"precision / recall of {figures['floor_images']} real {figures['floor_split']} images",
            f"{figures['floor_precision']:.3f} / {figures['floor_recall']:.3f}",
        ),
    ]


def active_units(context) -> dict[str, Any]:
    """Active units of the posterior means over the scored images, and the KL per latent dimension."""
    from genmodels.sample_quality import active_units as count_active

    model, images, labels = context.model, context.images, context.labels
    means, kl_sums, note = [], None, ""
    for start in range(0, len(images), ENCODE_BATCH):
        batch = images[start : start + ENCODE_BATCH]
        batch_labels = None if labels is None else labels[start : start + ENCODE_BATCH]
        posterior = _posterior(model, batch, batch_labels)
        means.append(np.asarray(posterior.mean()))
        if not note:
            try:
                kl = np.asarray(_kl_per_dimension(model, posterior)).sum(axis=0)
                kl_sums = kl if kl_sums is None else kl_sums + kl
            except NotImplementedError as exc:
                note = str(exc)
    units = count_active(np.concatenate(means), threshold=ACTIVE_THRESHOLD)
    figures: dict[str, Any] = {
        "active_units": units.count,
        "latent_dim": len(units.variances),
        "threshold": units.threshold,
        "posterior_mean_variances": [round(float(value), 6) for value in units.variances],
        "images": len(images),
    }
    if kl_sums is not None and not note:
        figures["kl_per_dimension"] = [round(float(value) / len(images), 6) for value in kl_sums]
    else:
        figures["kl_note"] = note
    return figures


def active_units_summary(figures: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        (
            f"active units (posterior-mean variance > {figures['threshold']})",
            f"{figures['active_units']} of {figures['latent_dim']}",
        )
    ]
    if "kl_per_dimension" in figures:
        kl = sorted(figures["kl_per_dimension"], reverse=True)
        shown = ", ".join(f"{value:.2f}" for value in kl[:8]) + (", ..." if len(kl) > 8 else "")
        rows.append(("KL per latent dimension, largest first (nats)", shown))
    else:
        rows.append(("KL per latent dimension", f"not computed: {figures['kl_note']}"))
    return rows


def _need_rows(context, count: int) -> None:
    if min(context.samples, len(context.images)) < count:
        raise NotApplicableError(
            f"it needs at least {count} samples and {count} real images; "
            f"received {context.samples} and {len(context.images)}"
        )


def _posterior(model, rows, labels):
    from genmodels.model import call_part

    return call_part(model.encoder, rows, model.condition_of(labels))


def _kl_per_dimension(model, posterior):
    """KL(q(z_u|x) || p(z_u)) per image and dimension: in closed form against N(0, 1) marginals, else the
    one-draw estimate log q(z_u|x) - log p(z_u) from the prior's marginals (`LatentPrior.marginal_log_prob`)."""
    from keras import ops

    from genmodels.components import StandardNormalPrior
    from genmodels.distributions import LOG_2PI, DiagonalGaussian

    if not isinstance(posterior, DiagonalGaussian):
        raise NotImplementedError(
            f"the posterior is a {type(posterior).__name__}, not a diagonal Gaussian with one marginal per dimension"
        )
    if isinstance(model.prior, StandardNormalPrior):
        return 0.5 * (ops.exp(posterior.log_var) + ops.square(posterior.loc) - 1.0 - posterior.log_var)
    z = posterior.sample(model.seed_generator)
    log_q = -0.5 * (LOG_2PI + posterior.log_var + ops.square(z - posterior.loc) * ops.exp(-posterior.log_var))
    try:
        return log_q - model.prior.marginal_log_prob(z)
    except NotImplementedError:
        raise NotImplementedError(
            f"the prior ({type(model.prior).__name__}) gives no per-dimension marginals (LatentPrior.marginal_log_prob)"
        ) from None


@hookimpl
def register_metrics(register):
    register(
        MetricSpec(
            name="fid",
            description="Fréchet distance of generated to real images' features, with its real-data floor.",
            compute=fid,
            summary=fid_summary,
        )
    )
    register(
        MetricSpec(
            name="prd",
            description="Precision and recall (k-NN manifolds, k = 3) of generated against real images' features.",
            compute=prd,
            summary=prd_summary,
        )
    )
    register(
        MetricSpec(
            name="active-units",
            description="Latent units in use (posterior-mean variance > 0.01) and the KL per latent dimension.",
            compute=active_units,
            summary=active_units_summary,
        )
    )
