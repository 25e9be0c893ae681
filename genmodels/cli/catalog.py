"""genmodels list and genmodels info: what the plugins registered, and a model's options and recipe."""

from __future__ import annotations

import typer

from genmodels.cli.common import ModelArgument, provider_of, value_text, print_table, app
from genmodels.plugins.loader import get_registry
from genmodels.samplers.sampler import PRIOR


@app.command("list")
def list_command() -> None:
    """List the models, datasets, trackers, metrics and samplers that the installed plugins provide."""
    registry = get_registry()
    typer.echo("Models:")
    print_table([(spec.name, spec.description, provider_of(spec)) for spec in registry.models])
    typer.echo("\nDatasets (or give --dataset a folder of images or a path to an .npz file):")
    print_table([(spec.name, spec.description, provider_of(spec)) for spec in registry.datasets])
    typer.echo("\nTrackers (train --track NAME):")
    print_table([(spec.name, spec.description, provider_of(spec)) for spec in registry.trackers])
    typer.echo("\nMetrics (evaluate --metrics NAME,...; nll is the core evaluation's likelihood):")
    print_table([(spec.name, spec.description, provider_of(spec)) for spec in registry.metrics])
    typer.echo(f"\nSamplers (sample/evaluate --sampler NAME; {PRIOR} draws from the model's own prior):")
    print_table([(spec.name, spec.description, provider_of(spec)) for spec in registry.samplers])
    for catalog in (registry.models, registry.datasets, registry.trackers, registry.metrics, registry.samplers):
        for name, claims in catalog.conflicts.items():
            typer.echo(
                f"\nNote: more than one plugin registers the {catalog.kind} {name!r}; each is listed under the name that "
                f"reaches it ({', '.join(claims)})."
            )


@app.command()
def info(model: ModelArgument) -> None:
    """Show a model's options (for `train -o KEY=VALUE`), its sampler and its training defaults."""
    spec = get_registry().model(model)
    typer.echo(
        f"{spec.name}: {spec.description}\nplugin: {provider_of(spec)}\nsampler: {spec.sampler} (where samples' codings "
        f"come from unless --sampler names another; train fits it at its end)\n\nModel options (-o KEY=VALUE):"
    )
    print_table([(name, value_text(default), text) for name, _kind, default, text in spec.config.describe()])
    typer.echo("\nTraining defaults:")
    print_table(
        [(name, value_text(getattr(spec.train, name)), text) for name, _kind, _default, text in spec.train.describe()]
    )
