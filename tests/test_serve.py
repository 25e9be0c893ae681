"""genmodels serve: the runs index read without TensorFlow, the app's pages and PNGs through Starlette's TestClient,
the refusal of every path outside the runs folder, and a broken run that leaves the others working."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_main, snapshot

pytest.importorskip("starlette", reason='genmodels serve needs its extra: pip install "genmodels[serve,test]"')


def pixels(response) -> np.ndarray:
    from PIL import Image

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


@pytest.fixture(scope="module")
def client(served_runs):
    from starlette.testclient import TestClient

    from genmodels.serve.app import create_app

    with TestClient(create_app(served_runs)) as client:
        yield client


# ---- fast: no trained run --------------------------------------------------------------------------------------


def fake_runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for name in ("one", "deeper/two", ".hidden/three"):
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text("{}")
    (root / "not-a-run").mkdir()
    return root


def test_runs_are_found_by_their_config_below_the_folder_but_not_in_hidden_folders(tmp_path):
    from genmodels.serve.runs_index import find_runs

    root = fake_runs(tmp_path)
    assert find_runs(root) == [root / "deeper" / "two", root / "one"]


@pytest.mark.parametrize(
    "path", ["..", "../outside", "one/../../outside", "/etc", "//etc/passwd", "a\\..\\..", "x\x00"]
)
def test_a_path_that_leads_out_of_the_runs_folder_is_refused(tmp_path, path):
    from genmodels.serve.runs_index import OutsideRunsError, resolve_run

    root = fake_runs(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.json").write_text("{}")
    with pytest.raises(OutsideRunsError):
        resolve_run(root, path)


def test_a_symbolic_link_out_of_the_folder_is_refused_and_one_inside_is_followed(tmp_path):
    from genmodels.serve.runs_index import NotARunError, OutsideRunsError, resolve_run

    root = fake_runs(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.json").write_text("{}")
    (root / "link").symlink_to(tmp_path / "outside")
    (root / "inner").symlink_to(root / "one")
    with pytest.raises(OutsideRunsError):
        resolve_run(root, "link")
    assert resolve_run(root, "inner") == (root / "one").resolve()
    assert resolve_run(root, "deeper/../one") == (root / "one").resolve()
    with pytest.raises(NotARunError):
        resolve_run(root, "not-a-run")


def test_the_model_cache_loads_a_run_once_for_concurrent_requests_and_keeps_a_bounded_number(tmp_path):
    from genmodels.serve.models import LoadFailed, ModelCache

    root = fake_runs(tmp_path)

    class FakeRun:
        def __init__(self, path):
            time.sleep(0.2)
            if path.name == "two":
                raise ValueError("weights of garbage\nsecond line")
            self.path = path

    cache = ModelCache(capacity=1, load=FakeRun)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(root / "one"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.loads == 1 and len({id(entry) for entry in got}) == 1
    with pytest.raises(LoadFailed, match="^ValueError: weights of garbage second line$"):
        cache.get(root / "deeper" / "two")
    with pytest.raises(LoadFailed):
        cache.get(root / "deeper" / "two")  # the failure is kept, not loaded again
    assert cache.loads == 2
    cache.get(root / "one")  # pushed out by the failed run (capacity 1): loaded again
    assert cache.loads == 3


def test_png_grids_hold_every_image():
    from PIL import Image

    from genmodels.serve.images import GAP, png_bytes

    images = np.random.default_rng(0).random((7, 5, 4, 1)).astype(np.float32)
    picture = np.asarray(Image.open(io.BytesIO(png_bytes(images, columns=3))))
    assert picture.shape == (3 * 5 + 2 * GAP, 3 * 4 + 2 * GAP)
    assert abs(int(picture[0, 0]) - round(float(images[0, 0, 0, 0]) * 255)) <= 1


def test_without_the_extra_serve_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` raises ImportError
    run_main(capsys, "serve", tmp_path).assert_one_error_line('pip install "genmodels[serve]"')


@pytest.mark.parametrize(
    "host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False)]
)
def test_only_loopback_addresses_count_as_local(host, loopback):
    from genmodels.cli.serving import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.slow
def test_serve_help_and_the_runs_table_import_no_tensorflow(tmp_path):
    probe = (
        "import sys\nfrom genmodels.cli.program import main\nsys.argv = ['genmodels', 'serve', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "from starlette.testclient import TestClient\nfrom genmodels.serve.app import create_app\n"
        f"assert TestClient(create_app({str(fake_runs(tmp_path))!r})).get('/').status_code == 200\n"
        "print('TENSORFLOW IMPORTED' if 'tensorflow' in sys.modules else 'no tensorflow')"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().endswith("no tensorflow"), result.stdout + result.stderr


# ---- slow: small trained runs -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_runs_table_lists_every_run_with_its_figures(client):
    rows = {row["path"]: row for row in client.get("/api/runs").json()}
    assert set(rows) == {"a/vae", "b-vae", "broken"}
    first, second = rows["a/vae"], rows["b-vae"]
    assert (first["model"], first["epochs"], first["kept_epoch"]) == ("vae", 1, 1)
    assert (first["nll"], first["bits_per_dim"], first["fid"], first["fid_floor"]) == (543.21, 0.9995, 87.5, 1.25)
    assert (second["epochs"], second["nll"], len(second["valid_loss"])) == (2, None, 2)
    assert first["train_seconds"] > 0 and first["dataset"].endswith("tiny.npz")
    page = client.get("/")
    assert page.status_code == 200 and '"a/vae"' in page.text and "543.21" in page.text
    assert "<script src" not in page.text and "<link" not in page.text  # everything inline: nothing from a CDN


@pytest.mark.slow
def test_a_run_page_shows_its_config_curves_and_model_controls(client):
    page = client.get("/runs/a/vae")
    assert page.status_code == 200
    for fragment in ("id=curves", "id=seed", "id=again", "id=sliders", "id=manifold", "id=indices", "tiny.npz"):
        assert fragment in page.text, fragment
    assert "run-error" not in page.text
    assert '"latent_dim": 2' in page.text and '"test_images": 100' in page.text


@pytest.mark.slow
def test_samples_are_the_same_for_a_seed_and_differ_for_another(client):
    first = pixels(client.get("/png/sample/b-vae?seed=3&n=12"))
    assert np.array_equal(first, pixels(client.get("/png/sample/b-vae?seed=3&n=12")))
    assert not np.array_equal(first, pixels(client.get("/png/sample/b-vae?seed=4&n=12")))


@pytest.mark.slow
def test_moving_a_latent_slider_changes_the_decoded_image(client):
    middle = pixels(client.get("/png/decode/a/vae?z=0,0"))
    assert middle.shape == (28, 28)
    assert not np.array_equal(middle, pixels(client.get("/png/decode/a/vae?z=2.5,0")))
    assert client.get("/png/decode/a/vae?z=1,2,3").status_code == 400  # three values for 2-D codings
    assert client.get("/png/decode/a/vae?z=nan,0").status_code == 400


@pytest.mark.slow
def test_reconstructions_interpolations_and_the_manifold_are_pngs(client):
    assert pixels(client.get("/png/reconstruct/a/vae?indices=0,5,9")).shape[0] == 2 * 28 + 2
    assert pixels(client.get("/png/interpolate/a/vae?a=0&b=1&steps=5")).shape[1] == 5 * 28 + 4 * 2
    assert pixels(client.get("/png/manifold/b-vae?side=4")).shape == (4 * 28 + 3 * 2,) * 2
    refused = client.get("/png/reconstruct/a/vae?indices=100")
    assert refused.status_code == 400 and "from 0 to 99" in refused.text


@pytest.mark.slow
@pytest.mark.parametrize(
    "url",
    ["/runs/%2e%2e/%2e%2e", "/runs/a/%2e%2e/%2e%2e/%2e%2e", "/png/sample/%2e%2e%2f%2e%2e", "/runs//etc", "/runs/link"],
)
def test_paths_outside_the_runs_folder_are_refused(client, served_runs, url):
    link = served_runs / "link"
    if not link.is_symlink():
        link.symlink_to(served_runs.parent)  # the folder above the runs
    response = client.get(url)
    assert response.status_code == 403, (url, response.status_code, response.text)
    assert "outside the runs folder" in response.text or "not a path inside" in response.text


@pytest.mark.slow
def test_a_broken_run_shows_its_one_line_error_and_the_others_still_work(client):
    page = client.get("/runs/broken")
    assert page.status_code == 200
    assert "id=run-error" in page.text and "model.weights.h5" in page.text
    picture = client.get("/png/sample/broken?seed=0")
    assert picture.status_code == 409 and "\n" not in picture.text.strip() and "model.weights.h5" in picture.text
    assert client.get("/png/sample/a/vae?seed=0&n=4").status_code == 200
    assert client.get("/runs/nowhere").status_code == 404


@pytest.mark.slow
def test_serving_writes_nothing_into_the_runs_folder(served_runs, client):
    before = snapshot(served_runs)
    for url in (
        "/",
        "/runs/b-vae",
        "/png/sample/b-vae?seed=9",
        "/png/decode/b-vae?z=1,1",
        "/png/manifold/b-vae?side=3",
    ):
        assert client.get(url).status_code == 200, url
    assert snapshot(served_runs) == before
