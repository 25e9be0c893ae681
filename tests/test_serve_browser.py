"""genmodels serve in a real browser: Debian's chromium driven by Playwright against `genmodels serve` started as a
process on 127.0.0.1. The runs table, a run's grid, a latent slider, the seed box, an out-of-folder path and a broken
run, each screenshotted (into docs/images/serve-*.png when GENMODELS_SCREENSHOTS=docs/images, else a temporary folder).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")  # Debian's (.ci/run installs it); Playwright's own download is not reachable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(served_runs):
    """`genmodels serve` on the small runs, on a free loopback port; stopped after the module's tests."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "genmodels", "serve", str(served_runs), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/api/runs", timeout=5).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"genmodels serve did not start: {process.communicate()[0][-2000:]}")
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it before the tests)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1150, "height": 900})
    yield page
    page.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    chosen = os.environ.get("GENMODELS_SCREENSHOTS")
    folder = (
        (REPO / chosen)
        if chosen and not Path(chosen).is_absolute()
        else Path(chosen or tmp_path_factory.mktemp("shots"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def loaded(page, image: str, after: int = 0) -> int:
    """Wait until the <img id=image> shows a PNG fetched after the `after`-th, and return its count."""
    page.wait_for_function(
        f"() => Number(document.getElementById('{image}').dataset.loaded || 0) > {after}"
        f" && document.getElementById('{image}').complete",
        timeout=30_000,
    )
    return int(page.get_attribute(f"#{image}", "data-loaded"))


def test_the_runs_table_lists_both_runs_with_their_figures_and_sorts(page, server, shots):
    page.goto(server + "/")
    page.wait_for_selector("#runs-body tr[data-path='b-vae']")
    rows = page.locator("#runs-body tr")
    assert rows.count() == 3
    first = page.locator("#runs-body tr[data-path='a/vae']").inner_text()
    assert "543.21" in first and "0.9995" in first and "87.50 (1.25)" in first
    assert "broken" in page.locator("#runs-body").inner_text()
    assert page.locator("#chart polyline, #chart circle").count() == 2  # the two readable runs, ticked
    page.click("th[data-key='nll']")
    page.click("th[data-key='nll']")  # descending: the evaluated run first
    assert page.locator("#runs-body tr").first.get_attribute("data-path") == "a/vae"
    page.screenshot(path=shots / "serve-runs.png", full_page=True)


def test_a_run_page_shows_its_grid_and_a_slider_and_the_seed_redraw(page, server, shots):
    page.goto(server + "/runs/b-vae")
    loaded(page, "samples")
    decoded = loaded(page, "decoded")
    loaded(page, "manifold")
    assert page.locator("#curves svg").count() >= 3  # loss, reconstruction, kl
    before = page.locator("#decoded").screenshot()
    page.locator("#slider-0").fill("2.5")
    loaded(page, "decoded", decoded)
    assert page.locator("#decoded").screenshot() != before, "moving a slider did not change the decoded image"
    grid = page.locator("#samples").screenshot()
    drawn = int(page.get_attribute("#samples", "data-loaded"))
    page.click("#again")
    loaded(page, "samples", drawn)
    assert page.input_value("#seed") == "1"
    assert page.locator("#samples").screenshot() != grid, "drawing again with another seed gave the same grid"
    page.screenshot(path=shots / "serve-run.png", full_page=True)


def test_an_out_of_folder_path_and_a_broken_run_give_their_errors(page, server, shots):
    response = page.goto(server + "/runs/..%2f..%2f..")
    assert response.status == 403
    assert "outside the runs folder" in page.inner_text("#error")
    page.screenshot(path=shots / "serve-refused.png")
    assert page.goto(server + "/runs/broken").status == 200
    assert "model.weights.h5" in page.inner_text("#run-error")
    page.screenshot(path=shots / "serve-broken.png", full_page=True)
