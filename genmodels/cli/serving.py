"""genmodels serve: a local web explorer of the runs below a folder (the optional extra genmodels[serve])."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from genmodels.cli.common import app
from genmodels.core.errors import ConfigError

INSTALL = 'pip install "genmodels[serve]"'


@app.command()
def serve(
    runs_folder: Annotated[
        Path,
        typer.Argument(
            metavar="RUNS_FOLDER", help="The folder whose runs (every folder with a config.json) are shown."
        ),
    ] = Path("runs"),
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; anything but loopback lets other machines in.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    cache: Annotated[int, typer.Option("--cache", min=1, help="How many runs' models are kept loaded at once.")] = 4,
) -> None:
    """Explore the runs below RUNS_FOLDER in a web browser: a sortable table of their figures, validation-loss curves
    side by side, and each run's samples (from the latent sampler it keeps, else the prior), reconstructions,
    interpolations and latent sliders (ranked by KL), decoded live.

    Read-only: nothing is written into the runs folder (no sampler is fitted), and no path outside it is served.
    Needs the serve extra.
    """
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise ConfigError(f"genmodels serve needs Starlette and uvicorn, which are not installed: {INSTALL}") from None
    if not runs_folder.is_dir():
        raise ConfigError(
            f"{runs_folder} is not a folder of runs; train one first (genmodels train vae) or give another."
        )
    from genmodels.serve.app import create_app
    from genmodels.serve.runs_index import find_runs

    if not is_loopback(host):
        typer.echo(
            f"Warning: listening on {host}, not loopback: anyone who can reach this machine can browse these runs.",
            err=True,
        )
    count = len(find_runs(runs_folder))
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"Serving {count} run{'' if count == 1 else 's'} of {runs_folder} at http://{shown}:{port}/ (Ctrl-C stops)"
    )
    uvicorn.run(create_app(runs_folder, cache_size=cache), host=host, port=port, log_level="warning")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
