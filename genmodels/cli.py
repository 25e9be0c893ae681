"""The `genmodels` command line. TensorFlow is imported only by the commands that need it."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from genmodels.errors import GenmodelsError
from genmodels.plugins import get_registry
from genmodels.registry import PluginWarning

app = typer.Typer(
    help="Train, sample and compare autoencoder-family generative models. Models come from plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ModelArgument = Annotated[str, typer.Argument(help="A registered model name (see `genmodels list`).", show_default=False)]
RunDirOption = Annotated[
    Optional[Path], typer.Option("--run-dir", help="Run directory. [default: runs/MODEL]", show_default=False)
]
SeedOption = Annotated[int, typer.Option("--seed", min=0, help="Random seed; the same seed gives the same result.")]


@app.command("list")
def list_command() -> None:
    """List the models and datasets that the installed plugins provide."""
    registry = get_registry()
    typer.echo("Models:")
    _table([(spec.name, spec.description, _provider(spec)) for spec in registry.models])
    typer.echo("\nDatasets (or give --dataset a path to an .npz file):")
    _table([(spec.name, spec.description, _provider(spec)) for spec in registry.datasets])


@app.command()
def info(model: ModelArgument) -> None:
    """Show a model's options (for `train -o KEY=VALUE`) and its training defaults."""
    spec = get_registry().model(model)
    typer.echo(f"{spec.name}: {spec.description}\nplugin: {_provider(spec)}\n\nModel options (-o KEY=VALUE):")
    _table([(name, _show(default), text) for name, _kind, default, text in spec.config.describe()])
    typer.echo("\nTraining defaults:")
    _table([(name, _show(getattr(spec.train, name)), text) for name, _kind, _default, text in spec.train.describe()])


@app.command()
def train(
    model: ModelArgument,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Passes over the training set. [default: the model's, 50 for vae]", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Images per gradient step. [default: the model's, 150 for vae]", show_default=False)] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="Adam's learning rate. [default: the model's, 0.001 for vae]", show_default=False)] = None,
    latent_dim: Annotated[Optional[int], typer.Option(min=1, help="Dimension of the codings. [default: the model's, 20 for vae]", show_default=False)] = None,
    dataset: Annotated[Optional[str], typer.Option(help="A dataset name (see `genmodels list`) or a path to an .npz file. [default: binarized-mnist]", show_default=False)] = None,
    run_dir: RunDirOption = None,
    seed: Annotated[Optional[int], typer.Option(min=0, help="Random seed; the same seed gives the same run. [default: 0]", show_default=False)] = None,
    option: Annotated[list[str], typer.Option("--option", "-o", help="A model-specific option KEY=VALUE, repeatable; `genmodels info MODEL` lists them.")] = [],
) -> None:
    """Train MODEL and write its run directory (config, weights, metrics, sample grid)."""
    registry = get_registry()
    spec = registry.model(model)
    overrides = dict(_key_value(item) for item in option)
    if latent_dim is not None:
        overrides["latent_dim"] = latent_dim
    model_config = spec.config().replace(**overrides)
    recipe = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "dataset": dataset, "seed": seed}
    train_config = spec.train.replace(**{key: value for key, value in recipe.items() if value is not None})
    run_dir = run_dir or _default_run_dir(spec.name)

    from genmodels.data import load_dataset

    data = load_dataset(train_config.dataset, registry)
    typer.echo(f"Training {spec.name} on {data.name} ({len(data.train)} train, {len(data.test)} test images) into {run_dir}")
    from genmodels.trainer import train as run_training

    try:
        result = run_training(spec, model_config, train_config, data, run_dir)
    except KeyboardInterrupt:
        typer.echo(f"\nInterrupted. The weights of the last complete epoch are in {run_dir}.", err=True)
        raise typer.Exit(130) from None
    test = result.final["test"]
    terms = ", ".join(f"{name} {value:.2f}" for name, value in test.items())
    typer.echo(f"Test after {result.final['epoch']} epochs: {terms}")
    typer.echo(f"Samples: {run_dir / 'samples.png'}")


@app.command()
def sample(
    model: ModelArgument,
    n: Annotated[int, typer.Option("-n", min=1, help="How many images to generate.")] = 60,
    run_dir: RunDirOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="PNG to write. [default: RUN_DIR/samples-N-seedS.png]", show_default=False)] = None,
    seed: SeedOption = 0,
    npy: Annotated[bool, typer.Option("--npy", help="Also save the images' pixel probabilities as an .npy beside the PNG.")] = False,
) -> None:
    """Draw N codings from MODEL's prior and decode them into a PNG grid of new images."""
    registry = get_registry()
    spec = registry.model(model)
    run_dir = run_dir or _default_run_dir(spec.name)
    from genmodels.runs import read_config

    read_config(run_dir, spec.name)  # a friendly error before TensorFlow is imported
    import numpy as np

    from genmodels.plots import save_image_grid
    from genmodels.runs import load_model

    loaded, config = load_model(run_dir, registry, spec.name)
    images = np.asarray(loaded.generate(n, seed=seed))
    out = out or run_dir / f"samples-{n}-seed{seed}.png"
    if out.suffix.lower() != ".png":
        out = out.with_suffix(out.suffix + ".png")
    save_image_grid(images, out, config.image_shape)
    typer.echo(str(out))
    if npy:
        np.save(out.with_suffix(".npy"), images, allow_pickle=False)
        typer.echo(str(out.with_suffix(".npy")))


def _default_run_dir(model: str) -> Path:
    from genmodels.runs import default_run_dir

    return default_run_dir(model)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise GenmodelsError(f"options are given as KEY=VALUE (for example -o hidden=500,500); received {item!r}.")
    return key.strip().replace("-", "_"), value.strip()


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
    if issubclass(category, PluginWarning):
        typer.echo(f"Warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main() -> None:
    """Entry point of the `genmodels` script: every GenmodelsError becomes one line and exit status 1."""
    warnings.showwarning = _show_warning
    try:
        app()
    except GenmodelsError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
