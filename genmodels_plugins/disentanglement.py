"""Disentanglement metrics, scored against ground-truth factors, registered through `register_metrics`.

Both need labels that are rows of factor classes, one row per image (dSprites' (N, F)), and score the posterior
means (`model.encode`) of at most 10 000 images of the scored split, drawn with the seed. Factors that take one
value only (dSprites' colour) are left out.

- `mig`: the mutual information gap (Chen et al. 2018): each latent dimension discretized into 20 equal-width
  bins over its range; for each factor v_k, the gap between the two largest I(z_j; v_k), divided by H(v_k);
  the mean over the factors.
- `factorvae-score`: the FactorVAE score (Kim & Mnih 2018): codings divided by their standard deviation over the
  images; a vote fixes one factor to the value of a random image and draws 64 images sharing it (the others as
  they come), and the dimension of least variance over them votes for that factor; the accuracy on held-out votes
  of the majority-vote classifier of 10 000 training votes. Dimensions whose standard deviation over the images
  is below 0.05 are left out, as disentanglement_lib's `prune_dims` does.

As in Locatello et al. 2019's disentanglement_lib; the maths is NumPy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmodels import hookimpl
from genmodels.errors import NotApplicableError
from genmodels.specs import MetricSpec

IMAGES = 10_000  # scored images at most, drawn from the split with the seed
ENCODE_BATCH = 500
BINS = 20
BATCH = 64
TRAIN_VOTES = 10_000
EVAL_VOTES = 5000
STD_THRESHOLD = 0.05
VOTE_CHUNK = 500


def _entropy(values: np.ndarray) -> float:
    p = np.bincount(np.unique(values, return_inverse=True)[1]) / len(values)
    return float(-(p * np.log(p)).sum())


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two integer arrays, from their joint frequencies."""
    a = np.unique(a, return_inverse=True)[1].ravel()
    b = np.unique(b, return_inverse=True)[1].ravel()
    rows, columns = a.max() + 1, b.max() + 1
    joint = np.bincount(a * columns + b, minlength=rows * columns).reshape(rows, columns) / len(a)
    independent = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    seen = joint > 0
    return max(0.0, float((joint[seen] * np.log(joint[seen] / independent[seen])).sum()))


def discretized(codes: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each column of `codes` as the index of its value's bin among `bins` equal-width bins over the column's range."""
    columns = [np.digitize(column, np.histogram_bin_edges(column, bins)[:-1]) for column in np.asarray(codes).T]
    return np.stack(columns, axis=1)


def mutual_information_gap(codes: np.ndarray, factors: np.ndarray, names=None, bins: int = BINS) -> dict[str, Any]:
    """MIG of codings (N, D) against factor classes (N, F), every factor taking at least two values."""
    names = list(names or (f"factor {k}" for k in range(factors.shape[1])))
    binned = discretized(codes, bins)
    normalized, gaps, dimensions, raw = [], {}, {}, []
    for k, name in enumerate(names):
        information = np.array([_mutual_information(column, factors[:, k]) for column in binned.T])
        information = information / _entropy(factors[:, k])
        order = np.argsort(information)[::-1]
        second = information[order[1]] if len(order) > 1 else 0.0
        raw.append(float(information[order[0]] - second))
        gaps[name] = round(raw[-1], 6)
        dimensions[name] = int(order[0])
        normalized.append([round(float(value), 6) for value in information])
    return {
        "mig": float(np.mean(raw)),
        "per_factor": gaps,
        "dimension_of_factor": dimensions,
        "normalized_mutual_information": normalized,  # [factor][dimension]: I(z_j; v_k) / H(v_k)
        "bins": bins,
        "images": len(codes),
        "latent_dim": codes.shape[1],
    }


def factorvae_score(
    codes: np.ndarray,
    factors: np.ndarray,
    names=None,
    *,
    seed: int = 0,
    batch: int = BATCH,
    train_votes: int = TRAIN_VOTES,
    eval_votes: int = EVAL_VOTES,
    threshold: float = STD_THRESHOLD,
) -> dict[str, Any]:
    """The FactorVAE score of codings (N, D) against factor classes (N, F), the votes drawn from these images."""
    names = list(names or (f"factor {k}" for k in range(factors.shape[1])))
    count, factor_count = factors.shape
    std = codes.std(axis=0, ddof=1)
    active = np.flatnonzero(std >= threshold)
    figures: dict[str, Any] = {
        "chance": 1.0 / factor_count,
        "active_dimensions": len(active),
        "latent_dim": codes.shape[1],
        "std_threshold": threshold,
        "batch": batch,
        "train_votes": train_votes,
        "eval_votes": eval_votes,
        "images": count,
    }
    if not len(active):  # every dimension collapsed: no vote can be cast (disentanglement_lib scores 0)
        return {"factorvae_score": 0.0, "train_accuracy": 0.0, **figures}
    scaled = codes[:, active] / std[active]
    rng = np.random.default_rng([seed, 1])
    votes = train_votes + eval_votes
    fixed = rng.integers(factor_count, size=votes)
    anchors = rng.integers(count, size=votes)  # the fixed value is an image's: drawn as often as it occurs
    members = np.empty((votes, batch), dtype=np.int64)
    for k in range(factor_count):
        order = np.argsort(factors[:, k], kind="stable")
        sorted_values = factors[order, k]
        chosen = np.flatnonzero(fixed == k)
        value = factors[anchors[chosen], k]
        start = np.searchsorted(sorted_values, value, "left")
        size = np.searchsorted(sorted_values, value, "right") - start
        offsets = (rng.random((len(chosen), batch)) * size[:, None]).astype(np.int64)
        members[chosen] = order[start[:, None] + offsets]
    dimension = np.concatenate(
        [
            scaled[members[start : start + VOTE_CHUNK]].var(axis=1, ddof=1).argmin(axis=1)
            for start in range(0, votes, VOTE_CHUNK)
        ]
    )
    counts = np.zeros((len(active), factor_count), dtype=np.int64)
    np.add.at(counts, (dimension[:train_votes], fixed[:train_votes]), 1)
    classifier = counts.argmax(axis=1)
    held_out = classifier[dimension[train_votes:]] == fixed[train_votes:]
    return {
        "factorvae_score": float(held_out.mean()),
        "train_accuracy": float(counts.max(axis=1).sum() / train_votes),
        "factor_of_dimension": {int(active[d]): names[classifier[d]] for d in range(len(active)) if counts[d].any()},
        **figures,
    }


def factor_codes(context) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Posterior means of at most IMAGES of the scored split's images, drawn with the seed, with their factor rows
    (only the factors that vary) and the factors' names; NotApplicableError for data without factor rows."""
    data, split = context.dataset, context.split
    factors = getattr(data, f"{split}_labels", None)
    need = "it needs ground-truth factors: labels with one row of factor classes per image, as dSprites has"
    if factors is None:
        raise NotApplicableError(f"{need}; the {split} images of {data.name} have no labels")
    if factors.ndim != 2:
        raise NotApplicableError(f"{need}; the {split} labels of {data.name} are one class per image")
    varied = [k for k in range(factors.shape[1]) if len(np.unique(factors[:, k])) > 1]
    if not varied:
        raise NotApplicableError(f"{need}; no factor of the {split} labels of {data.name} takes more than one value")
    names = list(data.label_names) if len(data.label_names) == factors.shape[1] else []
    names = [names[k] if names else f"factor {k}" for k in varied]
    pick = np.arange(len(factors))
    if len(pick) > IMAGES:
        pick = np.sort(np.random.default_rng(context.seed).choice(len(pick), IMAGES, replace=False))
    codes = [
        np.asarray(context.model.encode(data.rows(split, pick[start : start + ENCODE_BATCH])), dtype=np.float64)
        for start in range(0, len(pick), ENCODE_BATCH)
    ]
    codes = np.concatenate([batch.reshape(len(batch), -1) for batch in codes])
    return codes, np.asarray(factors[pick][:, varied], dtype=np.int64), names


def mig(context) -> dict[str, Any]:
    """MIG of the model's codings of the scored split against its factors."""
    codes, factors, names = factor_codes(context)
    return mutual_information_gap(codes, factors, names)


def mig_summary(figures: dict[str, Any]) -> list[tuple[str, str]]:
    gaps = ", ".join(f"{name} {gap:.2f}" for name, gap in figures["per_factor"].items())
    return [
        (f"MIG ({figures['bins']} bins, {figures['images']} images)", f"{figures['mig']:.3f}"),
        ("MIG per factor", gaps),
    ]


def factorvae(context) -> dict[str, Any]:
    """FactorVAE score of the model's codings of the scored split against its factors."""
    codes, factors, names = factor_codes(context)
    return factorvae_score(codes, factors, names, seed=context.seed)


def factorvae_summary(figures: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"FactorVAE score ({figures['eval_votes']} held-out votes, chance {figures['chance']:.2f})",
            f"{figures['factorvae_score']:.3f}",
        ),
        (
            f"dimensions voting (std over the images >= {figures['std_threshold']})",
            f"{figures['active_dimensions']} of {figures['latent_dim']}",
        ),
    ]


@hookimpl
def register_metrics(register):
    register(
        MetricSpec(
            name="mig",
            description="Mutual information gap of the codings against ground-truth factors (dSprites-style labels).",
            compute=mig,
            summary=mig_summary,
        )
    )
    register(
        MetricSpec(
            name="factorvae-score",
            description="FactorVAE score: majority-vote accuracy of the least-varying dimension for a fixed factor.",
            compute=factorvae,
            summary=factorvae_summary,
        )
    )
