"""The commands that score models: genmodels evaluate (likelihoods and sample metrics), features (the feature networks)
and compare (runs side by side).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from genmodels.cli.common import (
    ModelArgument,
    RunDirOption,
    SamplerOption,
    SeedOption,
    baseline_cell,
    number_text,
    progress_bar,
    print_table,
    app,
)
from genmodels.cli.loading import open_run
from genmodels.core.train_config import TrainConfig
from genmodels.evaluation.metric_context import DEFAULT_SAMPLES
from genmodels.evaluation.metrics import DEFAULT_METRICS, check_metric_names
from genmodels.plugins.loader import get_registry
from genmodels.samplers.fitting import check_sampler_name


class Split(str, Enum):
    test = "test"
    valid = "valid"
    train = "train"


@app.command()
def evaluate(
    model: ModelArgument,
    run_dir: RunDirOption = None,
    split: Annotated[
        Split, typer.Option(help="Which images to score (and, for sample metrics, to compare the samples with).")
    ] = Split.test,
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            metavar="NAME,...",
            help=(
                "What to compute, comma-separated: nll (the importance-weighted likelihood), fid, prd (precision and recall), "
                "active-units, or a plugin's metric (genmodels list). A metric that does not apply to the model says why."
            ),
        ),
    ] = ",".join(DEFAULT_METRICS),
    k: Annotated[int, typer.Option("--k", min=1, help="Importance samples per image for the NLL estimate.")] = 5000,
    samples: Annotated[
        int, typer.Option("--samples", min=1, help="Images the sample metrics (fid, prd) generate.")
    ] = DEFAULT_SAMPLES,
    seed: SeedOption = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch (each batch is decoded k times).")] = 100,
    n: Annotated[
        Optional[int],
        typer.Option(
            "-n", min=1, help="Score a random (seeded) subset of N images. \\[default: all]", show_default=False
        ),
    ] = None,
    distribute: Annotated[
        bool,
        typer.Option(
            "--distribute",
            help="Split the NLL's batches across the workers TF_CONFIG names (start the same command on each): "
            "the same figures as one process; the chief computes the other metrics and writes them.",
        ),
    ] = False,
    allow_data_change: Annotated[
        bool,
        typer.Option(
            "--allow-data-change",
            help="Score the split although its images differ from those the run recorded when it was trained.",
        ),
    ] = False,
    sampler: SamplerOption = None,
) -> None:
    """Score MODEL: its loss terms, the negative ELBO and the importance-weighted NLL in nats per image, and the
    quality of its samples (FID and precision/recall against the split's images, each beside its real-data floor).

    Writes the figures to RUN_DIR/evaluation-SPLIT.json (with k, the sample count, seed and the number of images).
    Sample metrics use a feature network that genmodels trains on the dataset's domain on first use and caches
    (see genmodels features).
    """
    chosen = check_metric_names(metrics.split(","), get_registry())
    sampler = sampler or get_registry().model(model).sampler
    check_sampler_name(sampler, get_registry())  # before the likelihood is computed
    if distribute:  # before TensorFlow starts: collectives are configured at program startup
        get_registry().model(model)
        from genmodels.training.distributed import ProcessGroup

        group = ProcessGroup.start()
    registry, spec, run_dir, loaded, config = open_run(model, run_dir)
    import math

    from genmodels.evaluation.metrics import NLL, summary_rows
    from genmodels.workflows import evaluation_subject, score_split, subject_metrics

    subject = evaluation_subject(
        registry,
        model=loaded,
        model_name=spec.name,
        run_config=config,
        run_dir=run_dir,
        split=split.value,
        n=n,
        seed=seed,
        allow_data_change=allow_data_change,
    )
    images = subject.images
    share, mine = None, len(images)
    if distribute:
        from dataclasses import asdict

        group.check_same(asdict(config), split.value, k, seed, batch_size, n, len(images), chosen, samples)
        share = group.share()
        batches = range(share.index, math.ceil(len(images) / batch_size), share.count)
        mine = sum(min(batch_size, len(images) - batch * batch_size) for batch in batches)
    likelihood = NLL in chosen
    with progress_bar(
        f"Evaluating {spec.name} (k={k})" if likelihood else f"Evaluating {spec.name}", mine if likelihood else 0
    ) as advance:
        result = score_split(subject, likelihood=likelihood, k=k, batch_size=batch_size, share=share, progress=advance)
    if distribute and not group.chief:
        typer.echo(
            f"Done: scored {mine} of the {len(images)} images as one worker; its chief writes the figures in {run_dir}."
        )
        return
    log = lambda line: typer.echo(line, err=True)  # noqa: E731
    subject_metrics(registry, result, chosen, subject, samples=samples, sampler=sampler, log=log)
    rows = [(f"{term} (one forward pass per image)", f"{value:.2f}") for term, value in result.terms.items()]
    if result.nll is not None:
        rows.append((f"negative ELBO (mean over {k} codings)", f"{result.negative_elbo:.2f}"))
        rows.append((f"NLL, importance-weighted, k={k}", f"{result.nll:.2f} ± {result.nll_standard_error:.2f}"))
    if result.bits_per_dim is not None:
        rows.append((f"NLL in bits per dimension ({images.shape[1]} values per image)", f"{result.bits_per_dim:.4f}"))
    if result.nll is not None and result.baseline is not None:
        rows += baseline_rows(result.baseline)
    for metric, figures in result.metrics.items():
        rows += summary_rows(metric, figures, registry)
    given = ", each given its label: -log p(x|y)" if result.conditional else ""
    epoch = f" with the weights of epoch {result.epoch}" if result.epoch else ""
    seconds = result.seconds + sum(figures.get("seconds", 0) for figures in result.metrics.values())
    typer.echo(f"{spec.name}{epoch} on {len(images)} {split.value} images{given}, nats per image ({seconds:.0f} s):")
    print_table(rows)
    if result.note:
        typer.echo(result.note)
    if result.beaten() is False:
        typer.echo(f"Warning: {baseline_warning(spec.name, result.to_dict())}", err=True)
    typer.echo(str(subject.path))


def baseline_rows(baseline: dict) -> list[tuple[str, str]]:
    """The table rows of an evaluation's independent-pixel baseline."""
    rows = [
        (
            "baseline: independent pixels (each value's own histogram of the training split)",
            f"{baseline['nll']:.2f} ± {baseline['nll_standard_error']:.2f}",
        )
    ]
    if baseline.get("bits_per_dim") is not None:
        rows.append(("baseline in bits per dimension", f"{baseline['bits_per_dim']:.4f}"))
    return rows


def baseline_warning(model: str, figures: dict) -> str:
    """One line for an evaluation whose NLL does not beat the independent-pixel baseline."""
    unit, mine, theirs = ("bits/dim", figures.get("bits_per_dim"), figures["baseline"].get("bits_per_dim"))
    if mine is None or theirs is None:
        unit, mine, theirs = "nats", figures["nll"], figures["baseline"]["nll"]
    return (
        f"{model}'s NLL ({mine:.4g} {unit}) does not beat the independent-pixel baseline ({theirs:.4g} {unit}), a model "
        "that ignores how pixels go together: train longer or with another likelihood (docs/data.md, Recipes)."
    )


@app.command()
def features(
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="DATASET",
            help="A registered dataset, a folder of images or an .npz (as train --dataset takes).",
            show_default=False,
        ),
    ] = "binarized-mnist",
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Train the network again and replace the cached one.")
    ] = False,
) -> None:
    """Train (or load from the cache) the feature network that FID and precision/recall use for DATASET, and show it.

    Digit datasets share a small convolutional classifier of labelled MNIST; other labelled datasets get a
    classifier of their own labels, unlabelled ones the encoder of a reference autoencoder. Each is cached in
    the data folder with the SHA-256 of the images it learned and of its weights, and refused if either changes.
    """
    registry = get_registry()
    train_config = TrainConfig(dataset=dataset)
    from genmodels.data.sources import dataset_for

    data = dataset_for(train_config, registry)
    from genmodels.data.store import features_dir
    from genmodels.evaluation.metrics import feature_source_of
    from genmodels.evaluation.metric_context import feature_network_for

    network = feature_network_for(
        data,
        feature_source_of(train_config, registry),
        retrain=retrain,
        log=lambda line: typer.echo(line, err=True),
        dataset_argument=dataset,
    )
    info = network.info
    quality = (
        f"test accuracy {info['test_accuracy']:.4f}"
        if "test_accuracy" in info
        else f"test reconstruction error {info['test_reconstruction_error']:.5f} (mean squared, per value)"
    )
    article = "an" if info["kind"][0] in "aeiou" else "a"
    typer.echo(
        f"{info['name']}: {article} {info['kind']} of {info['description']}; {quality} on {info['test_images']} images"
    )
    typer.echo(
        f"trained in {info['seconds']:.0f} s; images SHA-256 {info['data_sha256']}; weights SHA-256 {info['weights_sha256']}"
    )
    typer.echo(str(features_dir() / info["name"]))


@app.command()
def compare(
    run_dirs: Annotated[
        list[Path], typer.Argument(metavar="RUN_DIR", help="Run directories to compare.", show_default=False)
    ],
    split: Annotated[Split, typer.Option(help="Which evaluation to show.")] = Split.test,
) -> None:
    """One table of the evaluated figures of several runs (run `genmodels evaluate` on each first): likelihoods,
    FID beside its real-data floor, precision, recall and active units, as each evaluation computed them."""
    from genmodels.runs.format import read_config, read_evaluation, read_metrics

    rows = [
        (
            "run",
            "model",
            "epochs",
            "images",
            "k",
            "loss",
            "-ELBO",
            "NLL",
            "bits/dim",
            "baseline",
            "FID (floor)",
            "precision",
            "recall",
            "active units",
            "seconds",
        )
    ]
    missing = []
    for run_dir in run_dirs:
        config = read_config(run_dir)
        figures = read_evaluation(run_dir, split.value)
        if figures is None:
            missing.append(str(run_dir))
            figures = {}
        metrics = figures.get("metrics", {})
        fid, prd, units = metrics.get("fid", {}), metrics.get("prd", {}), metrics.get("active-units", {})
        seconds = figures.get("seconds", 0) + sum(value.get("seconds", 0) for value in metrics.values())
        rows.append(
            (
                str(run_dir),
                config.model,
                str(len(read_metrics(run_dir))),
                str(figures.get("images", "-")),
                str(figures.get("k") or "-"),
                number_text(figures.get("terms", {}).get("loss")),
                number_text(figures.get("negative_elbo")),
                number_text(figures.get("nll")) + ("" if figures.get("likelihood_fits", True) else " *"),
                number_text(figures.get("bits_per_dim"), 4),
                baseline_cell(figures.get("baseline")),
                f"{number_text(fid.get('fid'))} ({number_text(fid.get('floor'))})" if "fid" in fid else "-",
                number_text(prd.get("precision"), 3),
                number_text(prd.get("recall"), 3),
                f"{units['active_units']}/{units['latent_dim']}" if "active_units" in units else "-",
                f"{seconds:.0f}" if figures else "-",
            )
        )
    print_table(rows)
    if any(row[7].endswith("*") for row in rows[1:]):
        typer.echo(
            "* not a likelihood of the run's data (the likelihood does not fit it; its evaluation JSON says why)."
        )
    if missing:
        typer.echo(
            f"Not evaluated on {split.value} yet: {', '.join(missing)} (run genmodels evaluate MODEL --run-dir ...).",
            err=True,
        )
