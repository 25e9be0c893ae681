"""genmodels serve in a real browser: Debian's chromium driven by Playwright against `genmodels serve` started as a
process on 127.0.0.1, through the functions of tools/serve_screenshots.py (which takes the docs' screenshots of real
runs). The runs table, a run's grid, a latent slider, the seed box, a conditional run's label, an out-of-folder path
and a broken run. The last two are screenshotted for the docs (docs/images/serve-refused.png and serve-broken.png when
GENMODELS_SCREENSHOTS=docs/images, else into a temporary folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
from serve_screenshots import (  # noqa: E402  (tools/serve_screenshots.py)
    VIEWPORT,
    ScreenshotError,
    chromium,
    loaded,
    serving,
    show_run,
    show_runs,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(served_runs):
    """`genmodels serve` on the small runs, on a free loopback port; stopped after the module's tests."""
    try:
        with serving(served_runs) as base:
            yield base
    except ScreenshotError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api")
    try:
        with chromium() as launched:
            yield launched
    except ScreenshotError as exc:
        pytest.fail(f"{exc} (.ci/run installs it before the tests)")


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport=VIEWPORT)
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


def test_the_runs_table_lists_every_run_with_its_figures_and_sorts(page, server, tmp_path):
    show_runs(page, server)
    rows = page.locator("#runs-body tr")
    assert rows.count() == 4
    first = page.locator("#runs-body tr[data-path='a/vae']").inner_text()
    assert "543.21" in first and "0.9995" in first and "87.50 (1.25)" in first
    assert "broken" in page.locator("#runs-body").inner_text()
    assert page.locator("#chart polyline, #chart circle").count() == 2  # the first two readable runs, ticked
    show_runs(page, server, ["b-vae", "cvae"])
    assert page.locator("#chart polyline").count() == 2 and "cvae" in page.text_content("#chart")
    page.click("th[data-key='nll']")
    page.click("th[data-key='nll']")  # descending: the evaluated run first
    assert page.locator("#runs-body tr").first.get_attribute("data-path") == "a/vae"
    page.screenshot(path=tmp_path / "serve-runs.png", full_page=True)


def test_a_run_page_shows_its_grid_and_a_slider_and_the_seed_redraw(page, server, tmp_path):
    show_run(page, server, "b-vae")
    decoded = int(page.get_attribute("#decoded", "data-loaded"))
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
    page.screenshot(path=tmp_path / "serve-run.png", full_page=True)


def test_a_conditional_run_redraws_its_samples_for_the_label_chosen(page, server):
    show_run(page, server, "cvae")
    assert page.locator("#label option").count() == 3
    assert "gmm" in page.inner_text("#sampler-note")
    grid = page.locator("#samples").screenshot()
    drawn = int(page.get_attribute("#samples", "data-loaded"))
    page.select_option("#label", "2")
    loaded(page, "samples", drawn)
    assert page.locator("#samples").screenshot() != grid, "another label gave the same samples"
    drawn = int(page.get_attribute("#samples", "data-loaded"))
    page.select_option("#source", "prior")
    loaded(page, "samples", drawn)
    assert "prior" in page.inner_text("#sampler-note")


def test_an_out_of_folder_path_and_a_broken_run_give_their_errors(page, server, shots):
    response = page.goto(server + "/runs/..%2f..%2f..")
    assert response.status == 403
    assert "outside the runs folder" in page.inner_text("#error")
    page.screenshot(path=shots / "serve-refused.png")
    assert page.goto(server + "/runs/broken").status == 200
    assert "model.weights.h5" in page.inner_text("#run-error")
    page.screenshot(path=shots / "serve-broken.png", full_page=True)
