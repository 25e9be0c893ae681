"""genmodels export: a run as a TensorFlow SavedModel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genmodels.cli.common import ModelArgument, RunDirOption, app
from genmodels.cli.loading import open_run


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
    _registry, spec, run_dir, loaded, config = open_run(model, run_dir)
    typer.echo(
        str(
            export_model(loaded, out, name=spec.name, image_shape=config.image_shape, pixels=config.pixels, force=force)
        )
    )
