"""The registry over pluggy: built-ins through entry points, fake plugins, duplicates, broken plugins."""

from __future__ import annotations

import re
import sys
import textwrap
import types
from pathlib import Path

import pytest

import genmodels
from genmodels import DatasetSpec, ModelSpec, Tracker, TrackerSpec, hookimpl
from genmodels.core.errors import ConfigError, DuplicateNameError, PluginError, UnknownNameError
from genmodels.plugins.loader import build_registry, strict_mode
from genmodels.plugins.registry import Catalog, PluginWarning


def fake_plugin(name: str, models=(), datasets=(), fail_in=None):
    """A plugin module whose hooks register the given names, or raise in the named hook."""
    module = types.ModuleType(name)

    @hookimpl
    def register_models(register):
        if fail_in == "register_models":
            raise RuntimeError("boom")
        for model in models:
            register(model if not isinstance(model, str) else ModelSpec(model, f"{model} model", build=lambda c: None))

    @hookimpl
    def register_datasets(register):
        if fail_in == "register_datasets":
            raise RuntimeError("kaput")
        for dataset in datasets:
            register(DatasetSpec(dataset, f"{dataset} data", load=lambda folder: None))

    module.register_models = register_models
    module.register_datasets = register_datasets
    return module


def test_builtin_plugins_arrive_through_the_entry_points_of_the_genmodels_package():
    registry = build_registry()
    assert {"vae", "ae"} <= {spec.name for spec in registry.models}
    assert {"binarized-mnist", "mnist"} <= {spec.name for spec in registry.datasets}
    assert registry.model("vae").plugin == "vae" and registry.model("vae").package == "genmodels"
    assert registry.dataset("binarized-mnist").plugin == "datasets"


def test_core_never_imports_a_builtin_plugin_by_name():
    core = Path(genmodels.__file__).parent
    assert all("genmodels_plugins" not in source.read_text() for source in core.glob("*.py"))


def test_a_plugin_registers_models_and_datasets():
    registry = build_registry([fake_plugin("extra", models=["toy"], datasets=["toy-data"])], entry_points=False)
    assert registry.model("toy").plugin == "extra"
    assert registry.dataset("toy-data").description == "toy-data data"
    assert registry.problems == []


def test_a_plugin_registers_trackers_beside_the_builtin_tensorboard_tracker():
    module = types.ModuleType("csv-tracker")

    @hookimpl
    def register_trackers(register):
        register(TrackerSpec("csv", "loss terms as CSV lines", create=Tracker))
        register(ModelSpec("misfiled", "a model given to the tracker hook", build=lambda c: None))

    module.register_trackers = register_trackers
    with pytest.warns(
        PluginWarning, match="plugin 'csv-tracker' registered .*'misfiled'.* as a tracker; expected a TrackerSpec"
    ):
        registry = build_registry([module])
    assert registry.tracker("csv").plugin == "csv-tracker" and isinstance(registry.tracker("csv").create(), Tracker)
    assert registry.tracker("tensorboard").package == "genmodels"
    assert "misfiled" not in registry.models
    with pytest.raises(UnknownNameError, match="Unknown tracker 'tensorbord'. Did you mean 'tensorboard'\\?"):
        registry.tracker("tensorbord")


def test_a_name_two_third_parties_claim_is_ambiguous_but_each_stays_reachable_by_its_qualified_name():
    with pytest.warns(PluginWarning, match="'alpha'.*'beta'"):
        registry = build_registry(
            [fake_plugin("alpha", models=["twin", "solo"]), fake_plugin("beta", models=["twin"])], entry_points=False
        )
    with pytest.raises(
        DuplicateNameError,
        match="model 'twin' is registered by more than one plugin: 'alpha' and 'beta'.*alpha:twin, beta:twin",
    ):
        registry.model("twin")
    assert registry.model("alpha:twin").plugin == "alpha" and registry.model("beta:twin").plugin == "beta"
    assert registry.model("beta:twin").name == "beta:twin"  # what a run of it records, so that it loads again
    assert registry.model("solo").plugin == "alpha"  # the rest still works
    assert {"alpha:twin", "beta:twin", "solo"} == {spec.name for spec in registry.models}  # `genmodels list` shows both
    assert registry.models.conflicts == {"twin": ["alpha:twin", "beta:twin"]}
    with pytest.raises(UnknownNameError):
        registry.model("gamma:twin")


def test_a_package_cannot_knock_out_a_built_in_model(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        "genmodels-rival",
        {"rival": "genmodels_rival"},
        "from genmodels import ModelSpec, hookimpl\n\n@hookimpl\ndef register_models(register):\n"
        "    register(ModelSpec('vae', 'a rival vae', build=lambda config: None))\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(
        PluginWarning,
        match="model 'vae' is registered by more than one plugin.*'vae' is the built-in one; the other is genmodels-rival:vae",
    ):
        registry = build_registry()
    assert registry.model("vae").package == "genmodels"
    assert registry.model("genmodels-rival:vae").description == "a rival vae"
    assert registry.model("genmodels:vae").package == "genmodels"
    listed = {spec.name: spec.package for spec in registry.models}
    assert listed["vae"] == "genmodels" and listed["genmodels-rival:vae"] == "genmodels-rival"
    sys.modules.pop("genmodels_rival", None)


def test_a_plugin_registering_one_name_twice_keeps_the_first():
    with pytest.warns(PluginWarning, match="registered the model 'echo' twice"):
        registry = build_registry(
            [fake_plugin("stutter", models=["echo", ModelSpec("echo", "again", build=lambda c: None)])],
            entry_points=False,
        )
    assert registry.model("echo").description == "echo model"


def test_a_plugin_raising_in_its_hook_is_reported_and_the_others_still_work():
    with pytest.warns(PluginWarning, match="plugin 'broken' failed in register_models: RuntimeError: boom"):
        registry = build_registry(
            [fake_plugin("broken", models=["lost"], fail_in="register_models"), fake_plugin("fine", models=["kept"])],
            entry_points=False,
        )
    assert registry.model("kept").plugin == "fine"
    with pytest.raises(UnknownNameError):
        registry.model("lost")
    assert len(registry.problems) == 1


def test_a_dataset_hook_failure_is_reported_too():
    with pytest.warns(PluginWarning, match="failed in register_datasets: RuntimeError: kaput"):
        registry = build_registry(
            [fake_plugin("bad-data", datasets=["x"], fail_in="register_datasets")], entry_points=False
        )
    assert list(registry.datasets) == []


def test_registering_something_that_is_not_a_spec_is_reported():
    with pytest.warns(PluginWarning, match="registered 'vae' as a model; expected a ModelSpec"):
        registry = build_registry([_registers("vae")], entry_points=False)
    assert list(registry.models) == []


def _registers(obj):
    module = types.ModuleType("sloppy")

    @hookimpl
    def register_models(register):
        register(obj)

    module.register_models = register_models
    return module


def test_a_badly_spelled_name_is_refused():
    with pytest.warns(PluginWarning, match="names are lower-case"):
        registry = build_registry([fake_plugin("shouty", models=["My Model"])], entry_points=False)
    assert list(registry.models) == []


def test_an_unknown_name_suggests_the_closest():
    registry = build_registry([fake_plugin("p", models=["vae", "ae"])], entry_points=False)
    with pytest.raises(UnknownNameError, match="Unknown model 'vea'. Did you mean 'vae'\\? Known models: ae, vae."):
        registry.model("vea")


def test_a_plugin_whose_import_fails_is_reported_and_skipped(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path, "genmodels-broken", {"broken": "genmodels_broken"}, "raise ImportError('no such thing')"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(
        PluginWarning, match="plugin 'broken' \\(package genmodels-broken\\) could not be loaded: ImportError"
    ):
        registry = build_registry()
    assert "vae" in registry.models


def test_the_allowlist_keeps_third_party_plugins_out_but_never_the_builtins(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path,
        "genmodels-extra",
        {"extra": "genmodels_extra"},
        textwrap.dedent(
            """
            from genmodels import ModelSpec, hookimpl

            @hookimpl
            def register_models(register):
                register(ModelSpec("extra-model", "from a third party", build=lambda config: None))
            """
        ),
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "extra-model" in build_registry().models
    monkeypatch.setenv("GENMODELS_PLUGINS", "")
    assert "extra-model" not in build_registry().models
    assert "vae" in build_registry().models
    monkeypatch.setenv("GENMODELS_PLUGINS", "genmodels_extra")
    assert build_registry().model("extra-model").package == "genmodels-extra"
    sys.modules.pop("genmodels_extra", None)


@pytest.mark.parametrize(
    ("plugins", "words"),
    [
        (
            lambda: [fake_plugin("broken", models=["lost"], fail_in="register_models")],
            "plugin 'broken' failed in register_models: RuntimeError: boom",
        ),
        (
            lambda: [fake_plugin("bad-data", datasets=["x"], fail_in="register_datasets")],
            "plugin 'bad-data' failed in register_datasets",
        ),
        (lambda: [_registers("vae")], "plugin 'sloppy' registered 'vae' as a model; expected a ModelSpec"),
        (lambda: [fake_plugin("shouty", models=["My Model"])], "plugin 'shouty' registered the model name 'My Model'"),
        (
            lambda: [fake_plugin("alpha", models=["twin"]), fake_plugin("beta", models=["twin"])],
            "'twin' is registered by more than one plugin: 'alpha' and 'beta'",
        ),
        (
            lambda: [misspelled_hook()],
            "plugin 'typo' implements 'register_model', which is not a genmodels hook (did you mean 'register_models'?)",
        ),
        (lambda: [unmarked_hook()], "plugin 'forgetful' defines register_models without @hookimpl"),
    ],
    ids=[
        "hook-raises",
        "dataset-hook-raises",
        "not-a-spec",
        "bad-name",
        "duplicate",
        "misspelled-hook",
        "unmarked-hook",
    ],
)
def test_strict_mode_makes_every_plugin_warning_an_error_naming_the_plugin(plugins, words):
    with pytest.raises(PluginError, match=re.escape(words) + ".*\\(strict plugin mode\\)"):
        build_registry(plugins(), entry_points=False, strict=True)


def misspelled_hook():
    module = types.ModuleType("typo")

    @hookimpl
    def register_model(register):
        register(ModelSpec("never", "never registered", build=lambda c: None))

    module.register_model = register_model
    return module


def unmarked_hook():
    module = types.ModuleType("forgetful")
    module.register_models = lambda register: register(ModelSpec("never", "never registered", build=lambda c: None))
    return module


def test_a_misspelled_or_unmarked_hook_is_reported_not_ignored():
    with pytest.warns(PluginWarning) as caught:
        registry = build_registry([misspelled_hook(), unmarked_hook()], entry_points=False)
    messages = [str(warning.message) for warning in caught]
    assert any(
        "'register_model', which is not a genmodels hook (did you mean 'register_models'?)" in m for m in messages
    )
    assert any("'forgetful' defines register_models without @hookimpl" in m for m in messages)
    assert "never" not in registry.models and len(registry.problems) == 2


def test_strict_mode_reports_every_problem_at_once():
    plugins = [fake_plugin("broken", models=["lost"], fail_in="register_models"), _registers("vae"), misspelled_hook()]
    with pytest.raises(PluginError) as error:
        build_registry(plugins, entry_points=False, strict=True)
    message = str(error.value)
    assert message.startswith("3 plugin problems (strict plugin mode)")
    for words in (
        "plugin 'broken' failed in register_models",
        "plugin 'sloppy' registered 'vae'",
        "implements 'register_model'",
    ):
        assert words in message
    assert "\n" not in message  # one line on the command line


def test_strict_mode_refuses_a_plugin_whose_import_fails_and_comes_from_the_environment(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path, "genmodels-broken", {"broken": "genmodels_broken"}, "raise ImportError('no such thing')"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GENMODELS_STRICT_PLUGINS", "1")
    assert strict_mode()
    with pytest.raises(
        PluginError, match="plugin 'broken' \\(package genmodels-broken\\) could not be loaded: ImportError"
    ):
        build_registry()
    monkeypatch.setenv(
        "GENMODELS_PLUGINS", ""
    )  # the allowlist leaves the broken plugin out: strict mode has nothing to object to
    assert "vae" in build_registry().models


def test_the_builtins_pass_strict_mode_and_a_bad_switch_value_is_refused(monkeypatch):
    assert {"vae", "ae"} <= {spec.name for spec in build_registry(strict=True).models}
    for value, strict in (("0", False), ("off", False), ("", False), ("true", True), ("YES", True)):
        monkeypatch.setenv("GENMODELS_STRICT_PLUGINS", value)
        assert strict_mode() is strict
    monkeypatch.setenv("GENMODELS_STRICT_PLUGINS", "maybe")
    with pytest.raises(ConfigError, match="GENMODELS_STRICT_PLUGINS must be 1 or 0"):
        strict_mode()


def install_fake_distribution(folder, name: str, entry_points: dict[str, str], source: str) -> None:
    """What `pip install` leaves behind: a module and a .dist-info folder with its entry points."""
    module = next(iter(entry_points.values()))
    (folder / f"{module}.py").write_text(source)
    info = folder / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[genmodels]\n{lines}\n")
    sys.modules.pop(module, None)


RIVAL_VAE = textwrap.dedent(
    """
    from genmodels import MLPConfig, ModelSpec, hookimpl


    def build(config):
        from genmodels.nn.components import mlp_vae

        return mlp_vae(config)


    @hookimpl
    def register_models(register):
        register(ModelSpec("vae", "a third party's vae", build=build, config=MLPConfig))
    """
)


@pytest.mark.slow
def test_a_model_reached_by_its_qualified_name_trains_and_loads_under_that_name(tmp_path, tiny_npz):
    import json
    import os
    import subprocess

    install_fake_distribution(tmp_path, "genmodels-rival", {"rival": "genmodels_rival"}, RIVAL_VAE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}

    def genmodels_cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "genmodels.cli.program", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )

    run_dir = tmp_path / "rival-run"
    trained = genmodels_cli(
        "train", "genmodels-rival:vae", "--dataset", tiny_npz, "--epochs", 1, "-o", "hidden=16", "--run-dir", run_dir
    )
    assert trained.returncode == 0, trained.stderr
    assert "model 'vae' is registered by more than one plugin" in trained.stderr  # the conflict is said, not hidden
    assert json.loads((run_dir / "config.json").read_text())["model"] == "genmodels-rival:vae"
    sampled = genmodels_cli("sample", "genmodels-rival:vae", "--run-dir", run_dir, "-n", 4)
    assert sampled.returncode == 0, sampled.stderr
    wrong = genmodels_cli("sample", "vae", "--run-dir", run_dir)
    assert wrong.returncode == 1 and "holds a 'genmodels-rival:vae' model, not 'vae'" in wrong.stderr


def test_a_spec_reached_by_its_plugin_or_its_package_has_one_name_the_one_list_shows():
    catalog = Catalog("model", ModelSpec)
    problems = []
    for plugin, package in (("alpha-models", "alpha-pkg"), ("beta-models", "beta-pkg")):
        catalog.add(
            ModelSpec("twin", "a twin", build=lambda c: None), plugin=plugin, package=package, report=problems.append
        )
    assert len(problems) == 1  # the conflict, reported once
    by_plugin, by_package = catalog.get("beta-models:twin"), catalog.get("beta-pkg:twin")
    assert by_plugin == by_package and by_plugin.name == "beta-pkg:twin"
    assert sorted(spec.name for spec in catalog) == ["alpha-pkg:twin", "beta-pkg:twin"]
