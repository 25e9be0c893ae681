"""The commands that draw pictures or arrays from a trained model: genmodels sample, reconstruct, interpolate, latent
and curves.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from genmodels.cli.common import LabelOption, ModelArgument, OutOption, RunDirOption, SamplerOption, SeedOption, app
from genmodels.cli.loading import (
    class_label,
    run_dir_or_default,
    fitted_sampler_of,
    split_images,
    labels_for_run,
    open_run,
    one_factor,
    run_dataset,
)
from genmodels.core.errors import ConfigError, RunError
from genmodels.plugins.loader import get_registry
from genmodels.samplers.fitting import drawn_codings


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
    sampler: SamplerOption = None,
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
    _registry, spec, run_dir, loaded, config = open_run(model, run_dir)
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
    labels = None if label is None else np.full(n, class_label(spec.name, loaded, label), dtype=np.int32)
    fitted = fitted_sampler_of(sampler or spec.sampler, _registry, loaded, config, run_dir)
    images = generate_in_chunks(loaded, n, seed=seed, labels=labels, draw=draw, codings=drawn_codings(fitted, n, seed))
    drawn = ("-drawn" if draw else "") + ("" if sampler in (None, spec.sampler) else f"-{sampler.replace(':', '--')}")
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


@app.command()
def reconstruct(
    model: ModelArgument,
    n: Annotated[int, typer.Option("-n", min=1, help="How many test images.")] = 20,
    run_dir: RunDirOption = None,
    out: OutOption = None,
    seed: SeedOption = 0,
) -> None:
    """Show N random test images above their reconstructions (decoded mean codings), as a PNG."""
    registry, spec, run_dir, loaded, config = open_run(model, run_dir)
    from genmodels.nn.latent import decode, encode
    from genmodels.core.plots import GRID_COLUMNS, paired_rows, save_image_grid

    images, labels = split_images(config, registry, loaded, "test", n, seed)
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
    registry, spec, run_dir, loaded, config = open_run(model, run_dir)
    import numpy as np

    from genmodels.nn.latent import decode, encode, interpolate as path_between
    from genmodels.core.plots import save_image_grid

    images, labels = split_images(config, registry, loaded, "test", 2 * n, seed, sort=False)
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
    registry, spec, run_dir, loaded, config = open_run(model, run_dir)
    import numpy as np

    from genmodels.nn.latent import decode, encode, manifold_codings, project_2d
    from genmodels.core.plots import save_image_grid, save_scatter

    data = run_dataset(config, registry)
    given = labels_for_run(loaded, data.test_labels, f"{data.name} test")
    codings = encode(loaded, data.test, given, scale=data.scale)
    points, axis = project_2d(codings)
    labels = one_factor(data.test_labels)
    if labels is None:
        typer.echo(f"Note: {data.name} has no test labels here, so the points are not coloured by digit.", err=True)
    title = f"{spec.name}: {len(codings)} test codings" + (
        "" if codings.shape[1] == 2 else f" ({codings.shape[1]}-D, projected)"
    )
    typer.echo(str(save_scatter(points, run_dir / "latent-scatter.png", labels, axis, title)))
    if codings.shape[1] == 2:
        grid = manifold_codings(side)
        manifold = decode(
            loaded, grid, np.full(len(grid), class_label(spec.name, loaded, label)) if loaded.conditional else None
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
    run_dir = run_dir or run_dir_or_default(spec.name)
    from genmodels.core.plots import save_training_curves
    from genmodels.runs.format import read_config, read_metrics

    read_config(run_dir, spec.name)
    records = read_metrics(run_dir)
    if not records:
        raise RunError(f"{run_dir} has no metrics yet: no epoch has finished.")
    typer.echo(str(save_training_curves(records, out or run_dir / "curves.png")))
