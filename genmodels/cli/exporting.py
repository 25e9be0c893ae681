"""genmodels export: a run as a TensorFlow SavedModel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genmodels.cli.common import ModelArgument, RunDirOption, SamplerOption, app
from genmodels.cli.loading import fitted_sampler_of, open_run


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
    sampler: SamplerOption = None,
) -> None:
    """Export MODEL as a TensorFlow SavedModel with sample, sample_prior, sample_codings, encode and decode
    signatures (see docs/export.md).

    A program with only TensorFlow loads it (tf.saved_model.load(OUT)). sample(n, seed) decodes codings drawn from
    the run's fitted sampler (--sampler; fitted now if the run keeps none), as `genmodels sample` does, with
    other random numbers; sample_prior(n, seed) gives the images `genmodels sample --sampler prior` gives for the
    same seed. Conditional models (cvae) take labels too.
    """
    from genmodels.runs.export import check_out_dir, export_model
    from genmodels.workflows import export_sampler

    check_out_dir(out, force)  # before TensorFlow is imported
    registry, spec, run_dir, loaded, config = open_run(model, run_dir)
    name, fitted = export_sampler(
        registry, sampler, spec, lambda chosen: fitted_sampler_of(chosen, registry, loaded, config, run_dir)
    )
    written = export_model(
        loaded,
        out,
        name=spec.name,
        image_shape=config.image_shape,
        pixels=config.pixels,
        sampler=fitted,
        sampler_name=name,
        force=force,
    )
    typer.echo(str(written))
