"""genmodels serve: the runs index read without TensorFlow, the app's pages and PNGs through Starlette's TestClient,
samples from the run's fitted sampler (or the prior), sliders ranked by KL, conditional models' labels, test images
found beside the runs folder, the refusal of every path outside the runs folder, and a broken run that leaves the
others working."""

from __future__ import annotations

import io
import json
import re
import shutil
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


def model_data(page) -> dict:
    """What the run page knows of the loaded model (the JSON in its model-data script)."""
    assert page.status_code == 200, page.text
    found = re.search(r'<script type="application/json" id=model-data>(.*?)</script>', page.text, re.S)
    return json.loads(found.group(1))


def png_pixels(images: np.ndarray) -> np.ndarray:
    from PIL import Image

    from genmodels.serve.images import png_bytes

    return np.asarray(Image.open(io.BytesIO(png_bytes(images))))


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


def test_sliders_of_a_model_without_a_closed_form_kl_are_ranked_by_the_variance_of_its_mean_codings():
    from types import SimpleNamespace

    from genmodels.serve.models import ACTIVITY_IMAGES, SLIDERS, LoadedRun, evenly_spread
    from genmodels.serve.pages import run_page

    spread = np.array([0.1, 3.0, 0.5, 2.0, 1.0] + [0.01] * 7)  # 12 dimensions, each with its own spread
    codings = np.random.default_rng(0).standard_normal((600, 12)) * spread
    model = SimpleNamespace(prior=object(), conditional=False, classes=0, coding_dim=12)  # not N(0, I)
    run = SimpleNamespace(
        latent_dim=12,
        image_shape=(2, 2, 1),
        pixels="binary",
        model=model,
        dataset=lambda: SimpleNamespace(test=np.arange(600)[:, None].repeat(4, axis=1), test_labels=None),
        encode=lambda images, labels=None: codings[images[:, 0]],  # each test image holds its own index
    )
    ranking = LoadedRun(run).slider_ranking()
    assert ranking["by"] == "variance" and ranking["images"] == ACTIVITY_IMAGES
    spread_out = codings[evenly_spread(ACTIVITY_IMAGES, 600)]  # 500 of the 600 test images, spread evenly over them
    assert ranking["order"] == [int(i) for i in np.argsort(-spread_out.var(axis=0), kind="stable")]
    assert ranking["order"][:5] == [1, 3, 4, 2, 0]
    info = {"latent_dim": 12, "sliders": ranking["order"][:SLIDERS], "ranking": ranking, "test_images": None}
    assert "variance" in run_page({"path": "fake", "curves": {}}, info, None)


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
    assert set(rows) == {"a/vae", "b-vae", "cvae", "broken"}
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
def test_samples_draw_from_the_sampler_the_run_keeps_and_the_page_names_it(client, served_runs):
    from genmodels.samplers.sampler import PRIOR

    page = client.get("/runs/a/vae")
    sampler = model_data(page)["sampler"]
    assert (sampler["name"], sampler["drawn_from"]) == ("gmm", "gmm")
    assert "gmm sampler" in page.text and "id=source" in page.text  # the prior can be chosen instead
    served = pixels(client.get("/png/sample/a/vae?seed=5&n=12"))
    from_prior = pixels(client.get("/png/sample/a/vae?seed=5&n=12&sampler=prior"))
    assert not np.array_equal(served, from_prior)
    run = client.app.state.models.get(served_runs / "a" / "vae").run
    assert np.array_equal(served, png_pixels(run.sample(12, seed=5, sampler="gmm")))
    assert np.array_equal(from_prior, png_pixels(run.sample(12, seed=5, sampler=PRIOR)))
    assert client.get("/png/sample/a/vae?seed=5&sampler=maf").status_code == 400


@pytest.mark.slow
def test_a_run_that_keeps_no_fitted_sampler_draws_from_the_prior_and_says_so(client, served_runs):
    from genmodels.samplers.sampler import PRIOR

    page = client.get("/runs/b-vae")
    sampler = model_data(page)["sampler"]
    assert (sampler["name"], sampler["drawn_from"]) == ("gmm", PRIOR)
    assert "prior" in sampler["note"] and "id=source" not in page.text
    served = pixels(client.get("/png/sample/b-vae?seed=5&n=12"))
    run = client.app.state.models.get(served_runs / "b-vae").run
    assert np.array_equal(served, png_pixels(run.sample(12, seed=5, sampler=PRIOR)))
    assert not list((served_runs / "b-vae").glob("sampler-*"))  # nothing was fitted or saved


@pytest.mark.slow
def test_sliders_follow_the_dimensions_average_kl_over_the_test_images(client, served_runs):
    from genmodels.serve.models import SLIDERS, evenly_spread

    info = model_data(client.get("/runs/cvae"))
    run = client.app.state.models.get(served_runs / "cvae").run
    data = run.dataset()
    picks = evenly_spread(500, len(data.test))  # the whole test set when it holds no more than 500 images
    images, labels = data.test[picks], data.test_labels[picks]
    rows = images.reshape(len(images), -1).astype(np.float32)
    posterior = run.model.encoder(rows, condition=run.model.condition_of(labels))
    mean, log_var = np.asarray(posterior.loc, np.float64), np.asarray(posterior.log_var, np.float64)
    kl = (0.5 * (np.exp(log_var) + mean**2 - 1 - log_var)).mean(axis=0)
    expected = [int(i) for i in np.argsort(-kl)]
    assert info["ranking"]["by"] == "kl" and info["ranking"]["images"] == len(images)
    assert info["latent_dim"] == 12 and info["sliders"] == expected[:SLIDERS]
    assert np.allclose(info["ranking"]["scores"], kl[expected], rtol=1e-4, atol=1e-6)
    assert kl.max() > 2 * kl.min()  # the dimensions differ in KL, so the order means something
    assert info["sliders"] != list(range(SLIDERS))


@pytest.mark.slow
def test_a_conditional_run_page_has_a_label_select_and_each_label_decodes_differently(client):
    page = client.get("/runs/cvae")
    info = model_data(page)
    assert info["conditional"] and info["classes"] == 3
    assert "id=label" in page.text and page.text.count("<option value=") >= 3
    samples = [pixels(client.get(f"/png/sample/cvae?seed=2&n=6&label={label}")) for label in range(3)]
    assert not np.array_equal(samples[0], samples[1]) and not np.array_equal(samples[1], samples[2])
    assert np.array_equal(samples[2], pixels(client.get("/png/sample/cvae?seed=2&n=6&label=2")))
    coding = ",".join(["0"] * 12)
    assert not np.array_equal(
        pixels(client.get(f"/png/decode/cvae?z={coding}&label=0")),
        pixels(client.get(f"/png/decode/cvae?z={coding}&label=1")),
    )
    assert pixels(client.get("/png/reconstruct/cvae?indices=0,1,2")).shape == (2 * 12 + 2, 3 * 12 + 2 * 2)
    assert client.get("/png/sample/cvae?seed=0&label=3").status_code == 400  # classes 0, 1 and 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "copy_to, named, found",
    [
        ("project/runs", "tiny.npz", True),  # beside the runs
        ("project/data", "data/tiny.npz", True),  # relative to the folder above the runs
        ("outside", "../outside/tiny.npz", False),  # the folder above the runs is as far as it looks
        (None, "data/missing.npz", False),
    ],
)
def test_a_relative_dataset_path_is_also_looked_for_from_the_runs_folder_and_its_parent(
    tiny_run, tiny_npz, tmp_path, copy_to, named, found
):
    from starlette.testclient import TestClient

    from genmodels.serve.app import create_app

    project = tmp_path / "project"
    run_dir = Path(shutil.copytree(tiny_run, project / "runs" / "moved"))
    config = json.loads((run_dir / "config.json").read_text())
    config["train"]["dataset"] = named
    (run_dir / "config.json").write_text(json.dumps(config))
    if copy_to:
        (tmp_path / copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_npz, tmp_path / copy_to / "tiny.npz")
    before = snapshot(tmp_path)
    with TestClient(create_app(project / "runs")) as client:
        info = model_data(client.get("/runs/moved"))
        picture = client.get("/png/reconstruct/moved?indices=0,1")
    if found:
        assert info["test_images"] == 100 and info["data_note"] and picture.status_code == 200
    else:
        assert info["test_images"] is None and named in info["data_error"] and picture.status_code == 400
    assert snapshot(tmp_path) == before


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
        "/runs/a/vae",
        "/png/sample/a/vae?seed=4",
        "/png/sample/a/vae?seed=4&sampler=prior",
        "/runs/cvae",
        "/png/sample/cvae?seed=1&label=2",
    ):
        assert client.get(url).status_code == 200, url
    assert snapshot(served_runs) == before
