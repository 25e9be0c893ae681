"""The HTML of the pages: the runs table, a run's page and an error page. Everything inline (CSS, JavaScript, data as
JSON in a script element); every text from a run folder is escaped."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from genmodels.serve.scripts import COMMON, RUN, RUNS, STYLE


def _json(value: Any) -> str:
    """JSON safe inside a <script> element (no `</script>` can close it early)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(title: str, body: str, script: str = "") -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n"
        + (f"<script>{COMMON}\n{script}</script>\n" if script else "")
        + "</body></html>\n"
    )


def runs_page(rows: list[dict[str, Any]], folder: str) -> str:
    """The table of every run below the folder and the chart comparing the chosen runs' validation loss."""
    broken = sum(1 for row in rows if row.get("error"))
    body = f"""<h1>genmodels runs <span class=muted>in {escape(folder)}</span></h1>
<p class=muted>{len(rows)} run{"" if len(rows) == 1 else "s"}{f", {broken} unreadable" if broken else ""}.
Click a column to sort; tick runs to compare their validation loss. Test figures come from
<code>genmodels evaluate</code> (evaluation-test.json); "-" where a run was not evaluated.</p>
<table id=runs><thead><tr id=runs-head></tr></thead><tbody id=runs-body></tbody></table>
<h2>Validation loss</h2><p id=chart-note class=muted></p><svg id=chart class=chart></svg>
<script type="application/json" id=runs-data>{_json(rows)}</script>"""
    return _page(f"genmodels runs: {folder}", body, RUNS)


def run_page(details: dict[str, Any], info: dict[str, Any] | None, error: str | None) -> str:
    """A run: its figures and config, its training curves and, when its model loads, samples, reconstructions,
    interpolations, latent sliders and (2-D codings) the manifold; otherwise the load's one-line error."""
    path = details["path"]
    figures = (
        f"{escape(str(details.get('model', '?')))} on {escape(str(details.get('dataset', '?')))}, "
        f"kept epoch {details.get('kept_epoch', '-')} of {details.get('epochs', '-')}, "
        f"trained for {details.get('train_seconds', '-')} s"
    )
    parts = [
        f"<p><a href='/'>&larr; all runs</a></p><h1>{escape(path)}</h1><p>{figures}</p>",
    ]
    if error or details.get("error"):
        parts.append(f"<p id=run-error class=error>{escape(error or details['error'])}</p>")
    parts.append("<h2>Training curves</h2><div id=curves class=row></div>")
    if info is not None:
        parts.append(_model_sections(info))
    config = details.get("config")
    parts.append(f"<h2>Config</h2><pre id=config>{escape(json.dumps(config, indent=2))}</pre>")
    parts.append(f'<script type="application/json" id=run-data>{_json(details)}</script>')
    parts.append(f'<script type="application/json" id=model-data>{_json(info)}</script>')
    return _page(f"genmodels run: {path}", "\n".join(parts), RUN)


def _model_sections(info: dict[str, Any]) -> str:
    label = ""
    if info.get("conditional"):
        options = "".join(f"<option value={c}>{c}</option>" for c in range(info["classes"]))
        label = f"<p class=controls>Label (conditional model): <select id=label>{options}</select></p>"
    sampler = info.get("sampler") or {"name": "prior", "drawn_from": "prior", "note": "drawn from the model's prior"}
    source = ""
    if sampler["drawn_from"] != "prior":
        source = (
            f"Codings from <select id=source><option value=''>the {escape(sampler['name'])} sampler</option>"
            "<option value=prior>the prior</option></select> "
        )
    sections = [
        label,
        f"<h2>Samples</h2><p class=muted>Decoded codings, <span id=sampler-note>{escape(sampler['note'])}</span>; the"
        f" same seed gives the same images.</p><p class=controls>{source}Seed <input id=seed type=number min=0 value=0>"
        " Images <input id=count type=number min=1 max=100 value=60> <button id=draw>Draw</button>"
        " <button id=again>Draw again</button></p><p id=samples-error class=error-text></p>"
        "<img id=samples class=pixels alt='sample grid'>",
    ]
    if info.get("test_images"):
        last = info["test_images"] - 1
        examples = info.get("examples") or [0]
        first, second = examples[0], examples[min(3, len(examples) - 1)]
        found = f"<p class=muted id=data-note>{escape(info['data_note'])}.</p>" if info.get("data_note") else ""
        sections.append(
            f"<h2>Reconstructions</h2>{found}<p class=muted>Test images (top) above their reconstructions (bottom);"
            f" indices from 0 to {last}.</p><p class=controls>Test images"
            f" <input id=indices size=40 value='{','.join(map(str, examples))}'>"
            " <button id=rebuild>Reconstruct</button></p><p id=reconstructions-error class=error-text></p>"
            "<img id=reconstructions class=pixels alt=reconstructions>"
            "<h2>Interpolation</h2><p class=controls>From test image"
            f" <input id=first type=number min=0 max={last} value={first}> to <input id=second type=number min=0"
            f" max={last} value={second}> in <input id=steps type=number min=2 max=20 value=10> steps"
            " <button id=between>Interpolate</button></p><p id=interpolation-error class=error-text></p>"
            "<img id=interpolation class=pixels alt=interpolation>"
        )
    elif info.get("data_error"):
        sections.append(f"<h2>Reconstructions</h2><p class=error>{escape(info['data_error'])}</p>")
    dims, shown = info["latent_dim"], len(info["sliders"])
    others = " the others stay at 0;" if dims > shown else ""
    sections.append(
        f"<h2>Latent sliders</h2><p class=muted id=ranking>{shown} of {dims} latent dimensions, {_ranked(info)};"
        f"{others} each move is decoded on the server.</p><div class=row><div id=sliders class=sliders></div>"
        "<div><img id=decoded class=pixels alt='decoded coding'><p id=decoded-error class=error-text></p>"
        "<button id=reset>Reset to 0</button></div></div>"
    )
    if dims == 2:
        sections.append(
            "<h2>Manifold</h2><p class=muted>Codings at evenly spaced quantiles of N(0, 1), decoded.</p>"
            "<p class=controls>Side <input id=side type=number min=2 max=30 value=10>"
            " <button id=redraw-manifold>Draw</button></p><p id=manifold-error class=error-text></p>"
            "<img id=manifold class=pixels alt='manifold grid'>"
        )
    return "\n".join(sections)


def _ranked(info: dict[str, Any]) -> str:
    """How the sliders' dimensions were ranked, as the page says it."""
    ranking = info.get("ranking") or {}
    images = ranking.get("images", 0)
    if ranking.get("by") == "kl":
        return (
            f"ranked by KL(q(z_d|x) || N(0, 1)) averaged over {images} test images, the most informative first"
            " (KL beside each)"
        )
    if ranking.get("by") == "variance":
        return (
            f"ranked by the variance of the posterior means over {images} test images, the most active first: this"
            " model's KL per dimension has no closed form (its posterior is not a diagonal Gaussian, or its prior"
            " not N(0, I))"
        )
    return "in index order (the test images that rank them cannot be read)"


def error_page(status: int, message: str) -> str:
    body = f"<p><a href='/'>&larr; all runs</a></p><h1>{status}</h1><p id=error class=error>{escape(message)}</p>"
    return _page(f"genmodels: {status}", body)
