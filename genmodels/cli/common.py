"""What every command shares: the Typer app, the options several commands take, and how tables, numbers and progress
are shown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from genmodels.core.config import MAX_SEED
from genmodels.core.errors import ConfigError
from genmodels.core.train_config import TrainConfig
from genmodels.plugins.loader import STRICT_VARIABLE
from genmodels.samplers.sampler import PRIOR


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
    Optional[str],
    typer.Option(
        "--sampler",
        metavar="NAME",
        show_default=False,
        help=(
            f"Where the codings of samples come from: a sampler fitted after training to the training images' codings "
            f"(gmm, or a plugin's: genmodels list; fitted on first use and kept in the run directory), or {PRIOR}, the "
            f"model's own prior. Default: the model's sampler (gmm; pixelcnn for vq-vae), which train fits at its end."
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


@contextlib.contextmanager
def progress_bar(label: str, total: int):
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


def key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"options are given as KEY=VALUE (for example -o hidden=500,500); received {item!r}.")
    return key.strip().replace("-", "_"), value.strip()


def number_text(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def baseline_cell(baseline: dict | None) -> str:
    """The independent-pixel baseline in `compare`: bits/dim where defined, else nats."""
    if not baseline:
        return "-"
    return (
        number_text(baseline.get("bits_per_dim"), 4)
        if baseline.get("bits_per_dim") is not None
        else number_text(baseline.get("nll"))
    )


def provider_of(spec) -> str:
    return f"{spec.plugin} ({spec.package})" if spec.package else spec.plugin


def value_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def print_table(rows: list[tuple[str, ...]]) -> None:
    if not rows:
        typer.echo("  (none)")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        typer.echo("  " + "  ".join(cells).rstrip())


def flags_of(names) -> str:
    return " and ".join(flag_of(name) for name in names)


def flag_of(key: str) -> str:
    """How the command line names an option in a message: its flag, `-o KEY` for a model's own option (all but
    latent_dim), RUN_DIR for the run directory."""
    if key == "run_dir":
        return "RUN_DIR"
    flags = {field.name for field in dataclasses.fields(TrainConfig)} | {"latent_dim", "resume", "force"}
    return f"--{key.replace('_', '-')}" if key in flags else f"-o {key}"


def command_name(command) -> str:
    return command.name or command.callback.__name__.replace("_", "-")
