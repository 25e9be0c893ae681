"""The Starlette app of `genmodels serve`: the runs table, run pages and the PNGs they fetch.

    /                          every run below the folder (read without TensorFlow)
    /runs/PATH                 a run's page (its model loaded on first use, in a worker thread)
    /png/sample/PATH           ?seed=&n=&label=&sampler=  samples: codings from the run's fitted sampler
                                                      (the prior when it keeps none, or with sampler=prior)
    /png/reconstruct/PATH      ?indices=0,1,2          test images above their reconstructions
    /png/interpolate/PATH      ?a=&b=&steps=           decoded path between two test images' codings
    /png/decode/PATH           ?z=0.1,-1,...&label=    one coding decoded (the latent sliders)
    /png/manifold/PATH         ?side=&label=           2-D codings only

Nothing is written into the runs folder. A PATH outside it is refused (403) as is one that is no run (404); a run
whose model fails to load answers with its one-line error (409) while the rest keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from genmodels.core.config import MAX_SEED
from genmodels.core.errors import GenmodelsError
from genmodels.samplers.sampler import PRIOR
from genmodels.serve.images import png_bytes
from genmodels.serve.models import LoadFailed, ModelCache, finite, one_line
from genmodels.serve.pages import error_page, run_page, runs_page
from genmodels.serve.runs_index import (
    NotARunError,
    OutsideRunsError,
    find_runs,
    resolve_run,
    run_details,
    summary,
)

PNG_KINDS = ("sample", "reconstruct", "interpolate", "decode", "manifold")


class BadRequest(GenmodelsError):
    """A query parameter that is missing or not a number."""


def create_app(root: Path, *, cache_size: int = 4, load: Callable | None = None) -> Starlette:
    """The app serving the runs below `root`; `cache_size` models are kept loaded (`load`: genmodels.api.load)."""
    root = Path(root).resolve()
    models = ModelCache(cache_size, load, data_folders=(root, root.parent))

    def table() -> list[dict]:
        return [summary(root, run_dir) for run_dir in find_runs(root)]

    async def index(request: Request) -> Response:
        return HTMLResponse(runs_page(await run_in_threadpool(table), str(root)))

    async def runs_json(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(table))

    async def page(request: Request) -> Response:
        try:
            run_dir = resolve_run(root, request.path_params["path"] or ".")
        except GenmodelsError as exc:
            return HTMLResponse(error_page(status_of(exc), one_line(str(exc))), status_code=status_of(exc))

        def gather():
            details = run_details(root, run_dir)
            try:
                loaded = models.get(run_dir)
                return details, loaded.info(), None
            except GenmodelsError as exc:
                return details, None, one_line(str(exc))

        return HTMLResponse(run_page(*await run_in_threadpool(gather)))

    async def picture(request: Request) -> Response:
        kind, query = request.path_params["kind"], request.query_params
        try:
            if kind not in PNG_KINDS:
                raise NotARunError(f"no picture {kind!r}; there are {', '.join(PNG_KINDS)}.")
            run_dir = resolve_run(root, request.path_params["path"] or ".")
            label = integer(query, "label", None)

            def draw() -> bytes:
                loaded = models.get(run_dir)
                if kind == "sample":
                    prior = drawn_from_prior(query, loaded.drawing_sampler()[1]["name"])
                    return png_bytes(loaded.sample(integer(query, "n", 60), integer(query, "seed", 0), label, prior))
                if kind == "reconstruct":
                    images = loaded.reconstruct(integers(query, "indices"))
                    return png_bytes(images, columns=len(images) // 2)
                if kind == "interpolate":
                    steps = integer(query, "steps", 10)
                    return png_bytes(loaded.interpolate(integer(query, "a"), integer(query, "b"), steps), steps)
                if kind == "decode":
                    return png_bytes(loaded.decode(numbers(query, "z"), label))
                side = integer(query, "side", 10)
                return png_bytes(loaded.manifold(side, label), columns=side)

            body = await run_in_threadpool(draw)
        except GenmodelsError as exc:
            return PlainTextResponse(one_line(str(exc)), status_code=status_of(exc))
        return Response(body, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def not_found(request: Request, exc) -> Response:
        return HTMLResponse(error_page(404, f"nothing at {request.url.path}; the runs are listed at /."), 404)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/runs", runs_json),
            Route("/runs/{path:path}", page),
            Route("/png/{kind}/{path:path}", picture),
        ],
        exception_handlers={404: not_found},
    )
    app.state.models = models
    app.state.root = root
    return app


def status_of(exc: Exception) -> int:
    if isinstance(exc, OutsideRunsError):
        return 403
    if isinstance(exc, NotARunError):
        return 404
    if isinstance(exc, LoadFailed):
        return 409
    return 400


def integer(query, name: str, default=...) -> int | None:
    """The whole number `name` of the query; `default` when absent (required when there is none)."""
    text = query.get(name, "")
    if text == "":
        if default is ...:
            raise BadRequest(f"give {name}=N, a whole number.")
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number; received {text[:40]!r}.") from None
    if name == "seed" and not 0 <= value <= MAX_SEED:
        raise BadRequest(f"seed must be from 0 to {MAX_SEED}; received {value}.")
    return value


def drawn_from_prior(query, own: str) -> bool:
    """Whether `sampler=` asks for the prior rather than the run's own sampler `own` (the default)."""
    asked = query.get("sampler", "")
    if asked not in ("", PRIOR, own):
        raise BadRequest(f"sampler must be {own} (the run's own) or {PRIOR}; received {asked[:40]!r}.")
    return asked == PRIOR


def integers(query, name: str) -> list[int]:
    text = query.get(name, "")
    try:
        return [int(part) for part in text.split(",") if part.strip()][:1000]
    except ValueError:
        raise BadRequest(f"{name} must be whole numbers separated by commas; received {text[:40]!r}.") from None


def numbers(query, name: str) -> list[float]:
    text = query.get(name, "")
    try:
        return finite([float(part) for part in text.split(",") if part.strip()][:100_000])
    except ValueError:
        raise BadRequest(f"{name} must be numbers separated by commas; received {text[:40]!r}.") from None
