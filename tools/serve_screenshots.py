"""Screenshots of `genmodels serve` in a real browser: the pictures of docs/serve.md, taken from a folder of runs.

    GENMODELS_DATA_DIR=../shared/data python tools/serve_screenshots.py RUNS_FOLDER docs/images --run vae

starts `genmodels serve RUNS_FOLDER` as a process on 127.0.0.1 (a free port), opens Debian's chromium through
Playwright, and saves into the output folder serve-runs.png (the runs table, two runs ticked so that the chart
compares their validation loss) and serve-run.png (one run's page with its samples, reconstructions,
interpolation and latent sliders drawn). The runs' test images are read as they were trained, so their data must
be on this machine (GENMODELS_DATA_DIR for a registered dataset).

The browser test of `genmodels serve` (tests/test_serve_browser.py) drives the server and the browser with the
functions here.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # Debian's: Playwright's own download is not needed
VIEWPORT = {"width": 1150, "height": 900}
RUN_IMAGES = ("samples", "decoded", "reconstructions", "interpolation", "manifold")  # what a run page draws


class ScreenshotError(RuntimeError):
    """The server or the browser could not be started; the message says why in one line."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(runs_folder: Path, startup_seconds: float = 60.0) -> Iterator[str]:
    """`genmodels serve RUNS_FOLDER` on a free loopback port, as a process, until the block ends: yields its base
    URL once it answers. ScreenshotError, with the end of what the server printed, when it does not start."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "genmodels", "serve", str(runs_folder), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_seconds
            while True:
                try:
                    urllib.request.urlopen(base + "/api/runs", timeout=5).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        process.kill()
                        process.wait()
                        log.seek(0)
                        printed = " ".join(log.read()[-2000:].split())
                        raise ScreenshotError(f"genmodels serve did not start: {printed}") from None
                    time.sleep(0.3)
            yield base
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def chromium(executable: Path = CHROMIUM):
    """Chromium launched headless through Playwright, until the block ends."""
    if not Path(executable).is_file():
        raise ScreenshotError(f"{executable} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ScreenshotError('Playwright is not installed: pip install "genmodels[test]"') from None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def loaded(page, image: str, after: int = 0, timeout_ms: int = 60_000) -> int:
    """Wait until the page's <img id=image> shows a PNG fetched after its `after`-th, and return that count."""
    page.wait_for_function(
        f"() => Number(document.getElementById('{image}').dataset.loaded || 0) > {after}"
        f" && document.getElementById('{image}').complete",
        timeout=timeout_ms,
    )
    return int(page.get_attribute(f"#{image}", "data-loaded"))


def show_runs(page, base: str, compare: list[str] | None = None) -> None:
    """Open the runs page; with `compare`, tick exactly those runs so that the chart draws their curves."""
    page.goto(base + "/")
    page.wait_for_selector("#runs-body tr")
    if compare is None:
        return
    paths = [row.get_attribute("data-path") for row in page.locator("#runs-body tr").all()]
    missing = [path for path in compare if path not in paths]
    if missing:
        raise ScreenshotError(f"no run {missing[0]!r} in the table; there are {', '.join(paths)}.")
    for path in paths:
        box = page.locator(f"#runs-body tr[data-path='{path}'] input[type=checkbox]")
        if box.is_enabled() and box.is_checked() != (path in compare):
            box.click()


def show_run(page, base: str, path: str) -> None:
    """Open a run's page and wait until every picture it draws (samples, reconstructions, ...) is shown."""
    page.goto(base + "/runs/" + "/".join(urllib.request.quote(part) for part in path.split("/")))
    page.wait_for_selector("#curves")
    for image in RUN_IMAGES:
        if page.locator(f"#{image}").count():
            loaded(page, image)


def screenshot(page, path: Path) -> None:
    """The whole page as a PNG at `path`, as tall as its content (not padded to the window's height)."""
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 100})
    try:
        page.screenshot(path=path, full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_folder", type=Path, help="the folder of runs to serve")
    parser.add_argument("out_folder", type=Path, help="where serve-runs.png and serve-run.png are written")
    parser.add_argument("--run", help="the run whose page is shot, by its path below the folder [default: the first]")
    parser.add_argument(
        "--compare", nargs="+", metavar="RUN", help="the runs ticked on the runs page [default: the first two]"
    )
    args = parser.parse_args(argv)
    if not args.runs_folder.is_dir():
        print(f"Error: {args.runs_folder} is not a folder of runs.", file=sys.stderr)
        return 1
    args.out_folder.mkdir(parents=True, exist_ok=True)
    try:
        with serving(args.runs_folder) as base, chromium() as browser:
            page = browser.new_page(viewport=VIEWPORT)
            show_runs(page, base, args.compare)
            shots = [args.out_folder / "serve-runs.png"]
            screenshot(page, shots[-1])
            run = args.run or page.locator("#runs-body tr").first.get_attribute("data-path")
            show_run(page, base, run)
            if page.locator("#run-error").count():
                raise ScreenshotError(f"the run {run} cannot be shown: {page.inner_text('#run-error')}")
            shots.append(args.out_folder / "serve-run.png")
            screenshot(page, shots[-1])
    except ScreenshotError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for shot in shots:
        print(f"Wrote {shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
