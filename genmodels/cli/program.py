"""The `genmodels` command line. TensorFlow is imported only by the commands that need it."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import inspect
import math
import os
import sys
import typing
import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from genmodels.core.config import MAX_SEED
from genmodels.core.errors import ConfigError, GenmodelsError, GenmodelsWarning, RunError
from genmodels.core.train_config import TrainConfig
from genmodels.evaluation.metrics import DEFAULT_METRICS, DEFAULT_SAMPLES, check_metric_names
from genmodels.plugins.loader import STRICT_VARIABLE, get_registry
from genmodels.plugins.registry import PluginWarning
from genmodels.samplers.fitting import DEFAULT_SAMPLER, PRIOR, check_sampler_name, drawn_codings

app = typer.Typer(
    help="Train, sample and compare autoencoder-family generative models. Models come from plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelArgument = Annotated[
    str, typer.Argument(metavar="MODEL", help="A registered model name (see `genmodels list`).", show_default=False)
]
RunDirOption = Annotated[
    Optional[Path], typer.Option("--run-dir", help="Run directory. \\[default: runs/MODEL]", show_default=False)
]
OutOption = Annotated[
    Optional[Path],
    typer.Option("--out", help="PNG to write. \\[default: a file in the run directory]", show_default=False),
]
SeedOption = Annotated[
    int, typer.Option("--seed", min=0, max=MAX_SEED, help="Random seed; the same seed gives the same result.")
]
SamplerOption = Annotated[
    str,
    typer.Option(
        "--sampler",
        metavar="NAME",
        help=(
            f"Where the codings of samples come from: a sampler fitted after training to the training images' codings "
            f"(gmm, or a plugin's: genmodels list; fitted on first use and kept in the run directory), or {PRIOR}, the "
            f"model's own prior."
        ),
    ),
]
LabelOption = Annotated[
    Optional[int],
    typer.Option(
        "--label",
        min=0,
        help="Conditional models (cvae): draw images of this class only, such as 7. \\[default: every class in turn]",
        show_default=False,
    ),
]


@app.callback()
def options(
    strict_plugins: Annotated[
        bool,
        typer.Option(
            "--strict-plugins",
            help=f"Make every plugin warning an error (as {STRICT_VARIABLE}=1 does); for plugin authors' CI.",
        ),
    ] = False,
) -> None:
    """Train, sample and compare autoencoder-family generative models. Models come from plugins."""
    if strict_plugins:
        os.environ[STRICT_VARIABLE] = "1"


@app.command("list")
def list_command() -> None:
    """List the models, datasets, trackers, metrics and samplers that the installed plugins provide."""
    registry = get_registry()
    typer.echo("Models:")
    _table([(spec.name, spec.description, _provider(spec)) for spec in registry.models])
    typer.echo("\nDatasets (or give --dataset a folder of images or a path to an .npz file):")
    _table([(spec.name, spec.description, _provider(spec)) for spec in registry.datasets])
    typer.echo("\nTrackers (train --track NAME):")
    _table([(spec.name, spec.description, _provider(spec)) for spec in registry.trackers])
    typer.echo("\nMetrics (evaluate --metrics NAME,...; nll is the core evaluation's likelihood):")
    _table([(spec.name, spec.description, _provider(spec)) for spec in registry.metrics])
    typer.echo(f"\nSamplers (sample/evaluate --sampler NAME; {PRIOR} draws from the model's own prior):")
    _table([(spec.name, spec.description, _provider(spec)) for spec in registry.samplers])
    for catalog in (registry.models, registry.datasets, registry.trackers, registry.metrics, registry.samplers):
        for name, claims in catalog.conflicts.items():
            typer.echo(
                f"\nNote: more than one plugin registers the {catalog.kind} {name!r}; each is listed under the name that "
                f"reaches it ({', '.join(claims)})."
            )


@app.command()
def info(model: ModelArgument) -> None:
    """Show a model's options (for `train -o KEY=VALUE`) and its training defaults."""
    spec = get_registry().model(model)
    typer.echo(f"{spec.name}: {spec.description}\nplugin: {_provider(spec)}\n\nModel options (-o KEY=VALUE):")
    _table([(name, _show(default), text) for name, _kind, default, text in spec.config.describe()])
    typer.echo("\nTraining defaults:")
    _table([(name, _show(getattr(spec.train, name)), text) for name, _kind, _default, text in spec.train.describe()])


def train(
    model: ModelArgument,
    latent_dim: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Dimension of the codings (the model option latent_dim). \\[default: the model's, 20 for vae]",
            show_default=False,
        ),
    ] = None,
    option: Annotated[
        list[str],
        typer.Option(
            "--option", "-o", help="A model-specific option KEY=VALUE, repeatable; `genmodels info MODEL` lists them."
        ),
    ] = [],
    run_dir: RunDirOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in RUN_DIR from its last complete epoch, with its own settings (only --epochs and --track may change).",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace the run that RUN_DIR already holds (its weights, checkpoint, metrics and evaluations are deleted).",
        ),
    ] = False,
    allow_data_change: Annotated[
        bool,
        typer.Option(
            "--allow-data-change",
            help="With --resume: go on although the dataset's images differ from those the run was trained with.",
        ),
    ] = False,
    **recipe: Any,
) -> None:
    """Train MODEL and write its run directory (config, weights, metrics, sample grid).

    A checkpoint is written after every epoch; after a crash or Ctrl-C, `--resume` continues from it.
    A directory that already holds a run is never overwritten without `--force`.
    """
    from genmodels.workflows import plan_training, run_training, training_data

    registry = get_registry()
    model_options = dict(_key_value(item) for item in option)
    if latent_dim is not None:
        model_options["latent_dim"] = latent_dim
    plan = plan_training(
        registry,
        model,
        run_dir=run_dir,
        resume=resume,
        force=force,
        model_options=model_options,
        train_options={key: value for key, value in recipe.items() if value is not None},
        named=_flag,
    )
    spec, train_config, run_dir = plan.spec, plan.train_config, plan.run_dir
    data = training_data(registry, plan)
    shape = "x".join(map(str, data.image_shape))
    typer.echo(
        f"Training {spec.name} on {data.name} ({len(data.train)} train, {len(data.valid)} validation images, {shape}, {data.pixels}) into {run_dir}"
    )
    passes = train_config.passes(len(data.train))
    if passes > 1:
        typer.echo(
            f"A small training split: each epoch passes over its images {passes} times ({train_config.steps_per_epoch(len(data.train))} steps "
            f"of {train_config.batch_size}), as --epoch-images {train_config.epoch_images} asks."
        )
    try:
        result = run_training(registry, plan, data, allow_data_change=allow_data_change)
    except KeyboardInterrupt:
        typer.echo(
            f"\nInterrupted. The checkpoint of the last complete epoch is in {run_dir}; continue with "
            f"genmodels train {spec.name} --resume"
            + (f" --run-dir {run_dir}" if run_dir != _default_run_dir(spec.name) else ""),
            err=True,
        )
        raise typer.Exit(130) from None
    if not result.wrote:
        typer.echo(
            f"Done: {result.final['epoch']} epochs as one worker of a distributed training; its chief writes {run_dir}."
        )
        return
    terms = ", ".join(f"{name} {value:.2f}" for name, value in result.kept["valid"].items())
    which = "the best on validation" if train_config.keep == "best" else "the last"
    stopped = " (stopped early)" if result.final["epoch"] < train_config.epochs else ""
    typer.echo(
        f"Validation at epoch {result.kept_epoch}, {which} of {result.final['epoch']}{stopped}, which the run keeps: {terms}"
    )
    typer.echo(f"Samples: {run_dir / 'samples.png'}\nCurves: {run_dir / 'curves.png'}")


RECIPE_PANEL = "Training recipe (the defaults shown are TrainConfig's; a model may set its own: genmodels info MODEL)"


def _recipe_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command`, which takes the training recipe as **recipe, one option per TrainConfig field: its
    name, type, help, bounds and choices come from the field, so an option added to TrainConfig is on the
    command line with nothing retyped. Each defaults to None, "the model's own" (the spec's TrainConfig)."""
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    generated = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=_option_annotation(field, hints[field.name], getattr(defaults, field.name)),
        )
        for field in dataclasses.fields(TrainConfig)
    ]
    own = list(inspect.signature(command, eval_str=True).parameters.values())
    model, rest = (
        own[0],
        [
            parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for parameter in own[1:]
            if parameter.kind != inspect.Parameter.VAR_KEYWORD
        ],
    )
    command.__signature__ = inspect.Signature([model, *generated, *rest])
    return command


def _option_annotation(field: dataclasses.Field, kind: Any, default: Any) -> Any:
    """The typer annotation of a config field's option: --field-name, typed, with the field's help and default."""
    flag = "--" + field.name.replace("_", "-")
    shown = (
        (",".join(map(str, default)) or "none")
        if isinstance(default, tuple)
        else str(default).lower()
        if isinstance(default, bool)
        else default
    )
    help_text = f"{field.metadata.get('help', '')} \\[default: {shown}]"
    panel = {"rich_help_panel": RECIPE_PANEL}
    if kind is bool:
        return Annotated[
            Optional[bool], typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text, show_default=False, **panel)
        ]
    choices, minimum = field.metadata.get("choices"), field.metadata.get("minimum")
    metavar = field.metadata.get("metavar") or ("|".join(choices) if choices else None)
    bounds = {"min": minimum} if minimum is not None and kind in (int, float) else {}
    if kind is int and field.name == "seed":
        bounds["max"] = MAX_SEED
    python_type = kind if kind in (int, float, str) else str  # tuples are given as A,B and parsed by the config
    if typing.get_origin(kind) is tuple and metavar is None:
        metavar = "A,B,..."
    return Annotated[
        Optional[python_type],
        typer.Option(flag, help=help_text, show_default=False, metavar=metavar, **bounds, **panel),
    ]


app.command()(_recipe_options(train))


@app.command()
def sample(
    model: ModelArgument,
    n: Annotated[int, typer.Option("-n", min=1, help="How many images to generate.")] = 60,
    run_dir: RunDirOption = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="PNG to write. \\[default: RUN_DIR/samples-N-seedS.png]", show_default=False),
    ] = None,
    seed: SeedOption = 0,
    npy: Annotated[
        bool,
        typer.Option(
            "--npy",
            help="Also save the images as an .npy beside the PNG: (N, H, W, C) floats in [0, 1], as Run.sample gives them.",
        ),
    ] = False,
    label: LabelOption = None,
    draw: Annotated[
        bool,
        typer.Option(
            "--draw",
            help="Draw each pixel from the decoder's likelihood instead of showing its mean (0/1 pixels, 8-bit levels).",
        ),
    ] = False,
    sampler: SamplerOption = DEFAULT_SAMPLER,
) -> None:
    """Draw N codings and decode them into a PNG grid of new images.

    The codings come from a sampler fitted to the training images' codings (--sampler gmm, fitted on first use and
    kept in the run directory) or from the model's prior (--sampler prior).
    A conditional model (cvae) draws every class in turn, one per column, or only --label's.
    """
    if out is not None and not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the folder {out.parent} does not exist; create it or give another path.")
    if out is not None and out.suffix.lower() == ".npy":
        raise ConfigError(
            f"--out {out}: --out names the PNG grid; give {out.with_suffix('.png')} and --npy for the .npy beside it."
        )
    _registry, spec, run_dir, loaded, config = _load_run(model, run_dir)
    import numpy as np

    from genmodels.nn.model import generate_in_chunks
    from genmodels.core.plots import MAX_GRID_VALUES, save_image_grid

    values = math.prod(config.image_shape)
    if n * values > MAX_GRID_VALUES:
        raise ConfigError(
            f"-n {n} would make a grid of {n * values:,} pixel values; one PNG holds at most {MAX_GRID_VALUES:,} "
            f"({MAX_GRID_VALUES // values:,} of these {'x'.join(map(str, config.image_shape))} images). "
            f"Ask for fewer, or for several grids with different --seed values."
        )
    labels = None if label is None else np.full(n, _class_label(spec.name, loaded, label), dtype=np.int32)
    fitted = _fitted_sampler(sampler, _registry, loaded, config, run_dir)
    images = generate_in_chunks(loaded, n, seed=seed, labels=labels, draw=draw, codings=drawn_codings(fitted, n, seed))
    drawn = ("-drawn" if draw else "") + ("" if sampler == DEFAULT_SAMPLER else f"-{sampler.replace(':', '--')}")
    out = out or run_dir / (
        f"samples-{n}-seed{seed}{drawn}.png" if label is None else f"samples-{n}-label{label}-seed{seed}{drawn}.png"
    )
    if out.suffix.lower() != ".png":
        out = out.with_suffix(out.suffix + ".png")
    save_image_grid(images, out, config.image_shape, pixels=config.pixels)
    typer.echo(str(out))
    if npy:
        from genmodels.core.atomic import atomic_path

        shaped = np.asarray(images, dtype=np.float32).reshape(
            (len(images), *config.image_shape)
        )  # as Run.sample gives them
        with atomic_path(out.with_suffix(".npy")) as partial, open(partial, "wb") as handle:
            np.save(handle, shaped, allow_pickle=False)
        typer.echo(str(out.with_suffix(".npy")))


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
    sampler: SamplerOption = DEFAULT_SAMPLER,
) -> None:
    """Score MODEL: its loss terms, the negative ELBO and the importance-weighted NLL in nats per image, and the
    quality of its samples (FID and precision/recall against the split's images, each beside its real-data floor).

    Writes the figures to RUN_DIR/evaluation-SPLIT.json (with k, the sample count, seed and the number of images).
    Sample metrics use a feature network that genmodels trains on the dataset's domain on first use and caches
    (see genmodels features).
    """
    chosen = check_metric_names(metrics.split(","), get_registry())
    check_sampler_name(sampler, get_registry())  # before the likelihood is computed
    if distribute:  # before TensorFlow starts: collectives are configured at program startup
        get_registry().model(model)
        from genmodels.training.distributed import ProcessGroup

        group = ProcessGroup.start()
    registry, spec, run_dir, loaded, config = _load_run(model, run_dir)
    import math

    from genmodels.evaluation import baselines
    from genmodels.evaluation.likelihood import evaluate as run_evaluation
    from genmodels.evaluation.metrics import NLL, run_metrics, summary_rows
    from genmodels.workflows import metric_context
    from genmodels.runs.format import check_same_data
    from genmodels.runs.checkpoints import kept_epoch

    data = _run_dataset(config, registry)
    check_same_data(config, data, (split.value,), allow=allow_data_change)
    images, labels = _images(config, registry, loaded, split.value, n, seed, data=data)
    share, mine = None, len(images)
    if distribute:
        from dataclasses import asdict

        group.check_same(asdict(config), split.value, k, seed, batch_size, n, len(images), chosen, samples)
        share = group.share()
        batches = range(share.index, math.ceil(len(images) / batch_size), share.count)
        mine = sum(min(batch_size, len(images) - batch * batch_size) for batch in batches)
    likelihood = NLL in chosen
    baseline = baselines.for_dataset(data, config.pixels) if likelihood else None
    with _progress(
        f"Evaluating {spec.name} (k={k})" if likelihood else f"Evaluating {spec.name}", mine if likelihood else 0
    ) as advance:
        result = run_evaluation(
            loaded,
            images,
            model_name=spec.name,
            split=split.value,
            k=k,
            seed=seed,
            batch_size=batch_size,
            progress=advance,
            labels=labels,
            pixels=config.pixels,
            epoch=kept_epoch(run_dir, stored_train(config)),
            share=share,
            likelihood=likelihood,
            baseline=baseline,
        )
    if distribute and not group.chief:
        typer.echo(
            f"Done: scored {mine} of the {len(images)} images as one worker; its chief writes the figures in {run_dir}."
        )
        return
    context = metric_context(
        registry,
        model=loaded,
        model_name=spec.name,
        train_config=stored_train(config),
        run_dir=run_dir,
        dataset=data,
        split=split.value,
        images=images,
        labels=labels,
        seed=seed,
        samples=samples,
        sampler=sampler,
        log=lambda line: typer.echo(line, err=True),
    )
    name = f"evaluation-{split.value}.json" if n is None else f"evaluation-{split.value}-n{len(images)}.json"

    earlier = _earlier_evaluation(run_dir, split.value, name)

    def save(metrics: dict) -> None:  # what is computed is saved before the next metric can fail
        result.metrics = metrics
        _write_json(run_dir / name, result.added_to(earlier))

    save({})
    try:
        run_metrics(chosen, context, registry, announce=lambda line: typer.echo(line, err=True), done=save)
    except GenmodelsError as exc:
        exc.args = (f"{exc} (the figures computed before it are saved in {run_dir / name})",)
        raise
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
    _table(rows)
    if result.note:
        typer.echo(result.note)
    if result.beaten() is False:
        typer.echo(f"Warning: {baseline_warning(spec.name, result.to_dict())}", err=True)
    typer.echo(str(run_dir / name))


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
    data = _dataset_of(train_config, registry)
    from genmodels.data.store import features_dir
    from genmodels.evaluation.metrics import feature_network_for, feature_source_of

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
def reconstruct(
    model: ModelArgument,
    n: Annotated[int, typer.Option("-n", min=1, help="How many test images.")] = 20,
    run_dir: RunDirOption = None,
    out: OutOption = None,
    seed: SeedOption = 0,
) -> None:
    """Show N random test images above their reconstructions (decoded mean codings), as a PNG."""
    registry, spec, run_dir, loaded, config = _load_run(model, run_dir)
    from genmodels.nn.latent import decode, encode
    from genmodels.core.plots import GRID_COLUMNS, paired_rows, save_image_grid

    images, labels = _images(config, registry, loaded, "test", n, seed)
    rebuilt = decode(loaded, encode(loaded, images, labels), labels)
    columns = min(GRID_COLUMNS, n)
    pairs = paired_rows(images, rebuilt, columns)
    typer.echo(
        str(
            save_image_grid(
                pairs, out or run_dir / "reconstructions.png", config.image_shape, columns=columns, pixels=config.pixels
            )
        )
    )


@app.command()
def interpolate(
    model: ModelArgument,
    n: Annotated[int, typer.Option("-n", min=1, help="How many paths (one per row).")] = 6,
    steps: Annotated[int, typer.Option(min=2, help="Images per path, both ends included.")] = 10,
    spherical: Annotated[
        bool, typer.Option("--spherical", help="Follow great circles (slerp) instead of straight lines.")
    ] = False,
    run_dir: RunDirOption = None,
    out: OutOption = None,
    seed: SeedOption = 0,
) -> None:
    """Decode paths between the codings of random pairs of test images, one path per row, as a PNG.

    For a conditional model (cvae) both images of a pair have the same label, which every image of the path is given.
    """
    registry, spec, run_dir, loaded, config = _load_run(model, run_dir)
    import numpy as np

    from genmodels.nn.latent import decode, encode, interpolate as path_between
    from genmodels.core.plots import save_image_grid

    images, labels = _images(config, registry, loaded, "test", 2 * n, seed, sort=False)
    codings = encode(loaded, images, labels)
    paths = np.concatenate([path_between(codings[2 * i], codings[2 * i + 1], steps, spherical) for i in range(n)])
    path_labels = None if labels is None else np.repeat(labels[::2], steps)
    grid = save_image_grid(
        decode(loaded, paths, path_labels),
        out or run_dir / "interpolations.png",
        config.image_shape,
        columns=steps,
        pixels=config.pixels,
    )
    typer.echo(str(grid))


@app.command()
def latent(
    model: ModelArgument,
    run_dir: RunDirOption = None,
    side: Annotated[
        int, typer.Option(min=2, help="Images per side of the decoded manifold grid (2-D codings only).")
    ] = 20,
    label: Annotated[
        int,
        typer.Option("--label", min=0, help="Conditional models (cvae): the class the manifold grid is decoded as."),
    ] = 0,
) -> None:
    """Picture the latent space: test codings coloured by digit; for 2-D codings also the decoded manifold."""
    registry, spec, run_dir, loaded, config = _load_run(model, run_dir)
    import numpy as np

    from genmodels.nn.latent import decode, encode, manifold_codings, project_2d
    from genmodels.core.plots import save_image_grid, save_scatter

    data = _run_dataset(config, registry)
    given = _labels_for(loaded, data.test_labels, f"{data.name} test")
    codings = encode(loaded, data.test, given, scale=data.scale)
    points, axis = project_2d(codings)
    labels = _one_factor(data.test_labels)
    if labels is None:
        typer.echo(f"Note: {data.name} has no test labels here, so the points are not coloured by digit.", err=True)
    title = f"{spec.name}: {len(codings)} test codings" + (
        "" if codings.shape[1] == 2 else f" ({codings.shape[1]}-D, projected)"
    )
    typer.echo(str(save_scatter(points, run_dir / "latent-scatter.png", labels, axis, title)))
    if codings.shape[1] == 2:
        grid = manifold_codings(side)
        manifold = decode(
            loaded, grid, np.full(len(grid), _class_label(spec.name, loaded, label)) if loaded.conditional else None
        )
        typer.echo(
            str(
                save_image_grid(
                    manifold, run_dir / "latent-manifold.png", config.image_shape, columns=side, pixels=config.pixels
                )
            )
        )


@app.command()
def curves(model: ModelArgument, run_dir: RunDirOption = None, out: OutOption = None) -> None:
    """Plot every loss term per epoch (train and test) from the run's metrics, as a PNG."""
    spec = get_registry().model(model)
    run_dir = run_dir or _default_run_dir(spec.name)
    from genmodels.core.plots import save_training_curves
    from genmodels.runs.format import read_config, read_metrics

    read_config(run_dir, spec.name)
    records = read_metrics(run_dir)
    if not records:
        raise RunError(f"{run_dir} has no metrics yet: no epoch has finished.")
    typer.echo(str(save_training_curves(records, out or run_dir / "curves.png")))


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
                _number(figures.get("terms", {}).get("loss")),
                _number(figures.get("negative_elbo")),
                _number(figures.get("nll")) + ("" if figures.get("likelihood_fits", True) else " *"),
                _number(figures.get("bits_per_dim"), 4),
                _baseline_cell(figures.get("baseline")),
                f"{_number(fid.get('fid'))} ({_number(fid.get('floor'))})" if "fid" in fid else "-",
                _number(prd.get("precision"), 3),
                _number(prd.get("recall"), 3),
                f"{units['active_units']}/{units['latent_dim']}" if "active_units" in units else "-",
                f"{seconds:.0f}" if figures else "-",
            )
        )
    _table(rows)
    if any(row[7].endswith("*") for row in rows[1:]):
        typer.echo(
            "* not a likelihood of the run's data (the likelihood does not fit it; its evaluation JSON says why)."
        )
    if missing:
        typer.echo(
            f"Not evaluated on {split.value} yet: {', '.join(missing)} (run genmodels evaluate MODEL --run-dir ...).",
            err=True,
        )


@app.command()
def export(
    model: ModelArgument,
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write the SavedModel in (new or empty).", show_default=False)
    ],
    run_dir: RunDirOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier export in OUT (nothing else is ever replaced).")
    ] = False,
) -> None:
    """Export MODEL as a TensorFlow SavedModel with sample, encode and decode signatures (see docs/export.md).

    A program with only TensorFlow loads it (tf.saved_model.load(OUT)); sample(n, seed) gives the images
    that `genmodels sample` gives for the same seed. Conditional models (cvae) take labels too.
    """
    from genmodels.runs.export import check_out_dir, export_model

    check_out_dir(out, force)  # before TensorFlow is imported
    _registry, spec, run_dir, loaded, config = _load_run(model, run_dir)
    typer.echo(
        str(
            export_model(loaded, out, name=spec.name, image_shape=config.image_shape, pixels=config.pixels, force=force)
        )
    )


def _fitted_sampler(name: str, registry, loaded, config, run_dir: Path, data=None):
    """The run's fitted sampler `name` (None for the prior), fitted now and saved in the run directory if it has none."""
    from genmodels.workflows import run_sampler

    return run_sampler(
        registry,
        name,
        loaded,
        stored_train(config),
        run_dir,
        data or (lambda: _run_dataset(config, registry)),
        log=lambda line: typer.echo(line, err=True),
    )


def _load_run(model: str, run_dir: Optional[Path]):
    """The registry, the model's spec, the run directory, the rebuilt model and its run config."""
    registry = get_registry()
    spec = registry.model(model)
    run_dir = run_dir or _default_run_dir(spec.name)
    from genmodels.runs.loading import load_run

    load_run(run_dir, registry, spec.name)  # a friendly error before TensorFlow is imported
    from genmodels.runs.loading import load_model

    loaded, config = load_model(run_dir, registry, spec.name)
    return registry, spec, run_dir, loaded, config


def _images(config, registry, loaded, split: str, n: int | None, seed: int, sort: bool = True, data=None):
    """The run's dataset split as (images, labels), or `n` of its images drawn with `seed` (test sets can be
    sorted by class). Labels are given for a conditional model only, else None; for one, with `sort`
    off, images 2i and 2i+1 share a label (the pairs that `interpolate` joins)."""
    import numpy as np

    data = data or _run_dataset(config, registry)
    count = len(getattr(data, split))
    labels = _labels_for(loaded, getattr(data, f"{split}_labels"), f"{data.name} {split}")
    if n is None:
        return data.rows(split), labels
    if n > count:
        raise ConfigError(f"asked for {n} images, but the split has only {count}.")
    rng = np.random.default_rng(seed)
    if not sort and labels is not None:
        first = rng.choice(count, size=n // 2, replace=False)
        second = np.array([rng.choice(np.flatnonzero(labels == labels[i])) for i in first], dtype=int)
        chosen = np.stack([first, second], axis=1).ravel()
        return data.rows(split, chosen), labels[chosen]
    chosen = rng.choice(count, size=n, replace=False)
    chosen = np.sort(chosen) if sort else chosen
    return data.rows(split, chosen), (None if labels is None else labels[chosen])


def _labels_for(loaded, labels, what: str):
    """`labels`, checked, for a conditional model; None for an unconditional one (which ignores labels)."""
    if not loaded.conditional:
        return None
    from genmodels.nn.model import check_labels

    return check_labels(loaded, labels, what)


def _class_label(name: str, loaded, label: int) -> int:
    """`label` if the model is conditional and has that class, else a ConfigError."""
    if not loaded.conditional:
        raise ConfigError(
            f"--label picks the class a conditional model (such as cvae) draws; {name} is not conditional."
        )
    if label >= loaded.classes:
        raise ConfigError(
            f"--label must be a class from 0 to {loaded.classes - 1} for this {name} model, received {label}."
        )
    return label


def _run_dataset(config, registry):
    """The dataset a run was trained on, prepared as it was for training (binarized or not, the same validation split);
    a folder it names gets no cache written inside it."""
    return _dataset_of(stored_train(config), registry, from_run=True)


def stored_train(config):
    """The training recipe of a run's config.json (checked as the run was loaded)."""
    from genmodels.core.train_config import TrainConfig

    return TrainConfig.from_dict(config.train)


def _dataset_of(train_config, registry, from_run: bool = False):
    """The dataset a training recipe names, prepared as training prepares it."""
    from genmodels.data.sources import dataset_for

    return dataset_for(train_config, registry, from_run=from_run)


def _one_factor(labels):
    """Labels to colour points by: the labels, or of several factors per image the first that varies."""
    if labels is None or labels.ndim == 1:
        return labels
    varying = [column for column in labels.T if len(set(column.tolist())) > 1]
    return varying[0] if varying else labels[:, 0]


@contextlib.contextmanager
def _progress(label: str, total: int):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda count: progress.advance(task, count)


def _earlier_evaluation(run_dir: Path, split: str, name: str) -> dict | None:
    """The evaluation file `name` already in the run (its figures are kept beside the new ones), or None when
    there is none or it cannot be read (then it is replaced)."""
    from genmodels.runs.format import read_evaluation

    try:
        return read_evaluation(run_dir, split, name)
    except GenmodelsError:
        return None


def _write_json(path: Path, data: dict) -> None:
    import json

    from genmodels.core.atomic import atomic_path

    with atomic_path(path) as partial:
        partial.write_text(json.dumps(data, indent=2) + "\n")


def _default_run_dir(model: str) -> Path:
    from genmodels.runs.format import default_run_dir

    return default_run_dir(model)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"options are given as KEY=VALUE (for example -o hidden=500,500); received {item!r}.")
    return key.strip().replace("-", "_"), value.strip()


def _number(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _baseline_cell(baseline: dict | None) -> str:
    """The independent-pixel baseline in `compare`: bits/dim where defined, else nats."""
    if not baseline:
        return "-"
    return (
        _number(baseline.get("bits_per_dim"), 4)
        if baseline.get("bits_per_dim") is not None
        else _number(baseline.get("nll"))
    )


def _provider(spec) -> str:
    return f"{spec.plugin} ({spec.package})" if spec.package else spec.plugin


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _table(rows: list[tuple[str, ...]]) -> None:
    if not rows:
        typer.echo("  (none)")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        typer.echo("  " + "  ".join(cells).rstrip())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, GenmodelsWarning):
        typer.echo(f"Warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


# the base class of click's usage errors (a bad option value, a missing argument), whichever click typer uses
_ClickError = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `genmodels` script, and the one place where errors become messages.

    Every error a user can act on (a GenmodelsError, a usage error, a strict-mode plugin warning,
    an OSError such as a full disk) is printed as one line `Error: ...` on standard error, with
    exit status 1; Ctrl-C exits with 130. Set GENMODELS_DEBUG=1 to see the traceback instead.
    """
    warnings.showwarning = _show_warning
    arguments = sys.argv[1:] if argv is None else argv
    try:
        if "--strict-plugins" in arguments:  # before the registry is built for the plugins' commands
            os.environ[STRICT_VARIABLE] = "1"
        add_plugin_commands(app)
        status = app(args=argv, prog_name="genmodels", standalone_mode=False)
    except _ClickError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `genmodels` alone: show the help (rich has printed it)
            if exc.format_message().strip():
                typer.echo(exc.format_message().rstrip())
            sys.exit(exc.exit_code)
        _fail(f"{exc.format_message()}{_help_hint(exc)}", exc)
    except (GenmodelsError, PluginWarning) as exc:
        _fail(str(exc), exc)
    except OSError as exc:
        _fail(_os_error_message(exc), exc)
    except typer.Abort:
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)


def add_plugin_commands(cli: typer.Typer) -> None:
    """Let every plugin's `register_commands(cli)` add its commands, once per app. A plugin that raises,
    or a command whose name is already taken, is reported (a PluginWarning; an error in strict mode) and left out."""
    if getattr(cli, "_plugin_commands_added", False):
        return
    cli._plugin_commands_added = True
    registry = get_registry()
    for plugin, package, hook in registry.command_hooks:
        before = list(cli.registered_commands)
        source = f"plugin {plugin!r}" + (f" (package {package})" if package else "")
        try:
            hook(cli=cli)
        except Exception as exc:
            cli.registered_commands[:] = before
            registry.problems(f"{source} failed in register_commands: {type(exc).__name__}: {exc}")
            continue
        taken = {_command_name(command) for command in before} | {group.name for group in cli.registered_groups}
        for command in cli.registered_commands[len(before) :]:
            if _command_name(command) in taken:
                cli.registered_commands.remove(command)
                registry.problems(
                    f"{source} adds the command {_command_name(command)!r}, whose name is taken; it was left out"
                )
            taken.add(_command_name(command))


def _flags(names) -> str:
    return " and ".join(_flag(name) for name in names)


def _flag(key: str) -> str:
    """How the command line names an option in a message: its flag, `-o KEY` for a model's own option (all but
    latent_dim), RUN_DIR for the run directory."""
    if key == "run_dir":
        return "RUN_DIR"
    flags = {field.name for field in dataclasses.fields(TrainConfig)} | {"latent_dim", "resume", "force"}
    return f"--{key.replace('_', '-')}" if key in flags else f"-o {key}"


def _command_name(command) -> str:
    return command.name or command.callback.__name__.replace("_", "-")


def _fail(message: str, exc: BaseException) -> None:
    if os.environ.get("GENMODELS_DEBUG"):
        raise exc
    typer.echo("Error: " + " ".join(line.strip() for line in message.splitlines() if line.strip()), err=True)
    sys.exit(1)


def _help_hint(exc) -> str:
    ctx = getattr(exc, "ctx", None)
    return f" (see {ctx.command_path} --help)" if ctx is not None else ""


def _os_error_message(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the disk is full: could not write {exc.filename or 'a file'}. Files saved before are unchanged; "
            "free some space and run the command again (a training continues with --resume)."
        )
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


if __name__ == "__main__":
    main()
