"""genmodels train, whose training options are generated from TrainConfig's fields, and genmodels fit-sampler."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from genmodels.cli.common import ModelArgument, RunDirOption, SamplerOption, app, flag_of, key_value
from genmodels.cli.loading import fitted_sampler_of, open_run, run_dir_or_default
from genmodels.core.config import MAX_SEED
from genmodels.core.train_config import TrainConfig
from genmodels.plugins.loader import get_registry
from genmodels.samplers.sampler import PRIOR


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
        Optional[list[str]],
        typer.Option(
            "--option", "-o", help="A model-specific option KEY=VALUE, repeatable; `genmodels info MODEL` lists them."
        ),
    ] = None,
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
    model_options = dict(key_value(item) for item in option or ())
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
        named=flag_of,
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
            + (f" --run-dir {run_dir}" if run_dir != run_dir_or_default(spec.name) else ""),
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


app.command()(_recipe_options(train))  # registered once its recipe options are generated


@app.command("fit-sampler")
def fit_sampler(
    model: ModelArgument,
    run_dir: RunDirOption = None,
    sampler: SamplerOption = None,
    refit: Annotated[
        bool, typer.Option("--refit", help="Fit again, replacing the fit the run keeps for its weights.")
    ] = False,
) -> None:
    """Fit a latent sampler to the run's training codings (its settings chosen on the validation codings) and keep
    it in the run directory, where `sample` and `evaluate` find it. A fit the run already keeps for its current
    weights is shown, not redone (`genmodels train` fits the default one at its end)."""
    from genmodels.core.errors import ConfigError
    from genmodels.samplers.fitting import check_sampler_name, sampler_path

    registry = get_registry()
    sampler = sampler or registry.model(model).sampler
    check_sampler_name(sampler, registry)
    if sampler == PRIOR:
        raise ConfigError(f"the {PRIOR} is the model's own and is not fitted; name a sampler (genmodels list).")
    registry, spec, run_dir, loaded, config = open_run(model, run_dir)
    path = sampler_path(run_dir, registry.sampler(sampler).name)
    if refit:
        path.unlink(missing_ok=True)  # the fit genmodels saved for this run, and nothing else
    before = path.stat().st_mtime_ns if path.is_file() else None
    fitted = fitted_sampler_of(sampler, registry, loaded, config, run_dir)
    facts = ", ".join(f"{key} {value}" for key, value in fitted.info().items())
    state = "kept" if before is not None and path.is_file() and path.stat().st_mtime_ns == before else "saved"
    typer.echo(f"The {sampler} sampler of this {spec.name} run{f' ({facts})' if facts else ''}, {state} in {path}")
