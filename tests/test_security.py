"""Loading never executes code: no pickle anywhere, and nothing in a run directory can name a Python object.

The threat model is docs/security.md; these tests hold the code to it.
"""

from __future__ import annotations

import ast
import json

import h5py
import pytest

from genmodels.core.errors import RunError
from genmodels.plugins.loader import build_registry
from genmodels.runs.format import CONFIG_FILE, WEIGHTS_FILE
from genmodels.runs.loading import load_model, load_run

from conftest import REPO, run_main, snapshot

SOURCES = sorted(
    path for folder in ("genmodels", "plugins", "benchmarks", "examples") for path in (REPO / folder).rglob("*.py")
)
UNSAFE_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
UNSAFE_CALLS = {"eval", "exec", "__import__", "compile"}
UNSAFE_ENDINGS = ("models.load_model", "saving.load_model", "saved_model.load", "enable_unsafe_deserialization")


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def calls(path):
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def test_there_is_source_to_check():
    assert len(SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_np_load_refuses_pickles(path):
    for call in calls(path):
        if dotted(call.func) in ("np.load", "numpy.load"):
            flags = {k.arg: k.value for k in call.keywords}
            assert isinstance(flags.get("allow_pickle"), ast.Constant) and flags["allow_pickle"].value is False, (
                f"{path}:{call.lineno} calls np.load without allow_pickle=False"
            )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
@pytest.mark.slow
def test_no_module_unpickles_evaluates_or_loads_whole_keras_models(path):
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & UNSAFE_MODULES, f"{path} imports {imported & UNSAFE_MODULES}"
    for call in calls(path):
        name = dotted(call.func)
        assert name not in UNSAFE_CALLS and not name.endswith(UNSAFE_ENDINGS), f"{path}:{call.lineno} calls {name}"
        if name.endswith("import_module"):  # only the package's own modules, from a constant table
            argument = call.args[0]
            lazy_name = (
                path == REPO / "genmodels" / "__init__.py" and dotted(getattr(argument, "value", argument)) == "_LAZY"
            )
            public_path = path == REPO / "genmodels" / "core" / "faces.py" and dotted(argument) in ("target", "name")
            assert lazy_name or public_path, f"{path}:{call.lineno}"


def test_the_public_paths_lead_only_to_the_package_s_own_modules():
    from genmodels.core.faces import PUBLIC

    assert all(face.startswith("genmodels.") for face in PUBLIC)
    assert all(target.startswith("genmodels.") for targets in PUBLIC.values() for target in targets)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c.update(model="os.system"), "holds a 'os.system' model, not 'vae'"),
        (
            lambda c: c["model_config"].update(activation="builtins.eval"),
            "activation must be the plain name of a Keras activation (such as elu)",
        ),
        (lambda c: c["model_config"].update(activation="eval"), "'eval' is not a Keras activation name"),
        (
            lambda c: c["model_config"].update(initializer={"class_name": "Lambda", "module": "os", "config": {}}),
            "initializer must be a string",
        ),
        (
            lambda c: c["model_config"].update(initializer="keras.src.legacy>Lambda"),
            "initializer must be the plain name of a Keras initializer (such as he_normal)",
        ),
        (lambda c: c["train"].update(dataset={"module": "os", "class_name": "system"}), "dataset must be a string"),
        (lambda c: c.update(build="os:system"), "unknown field 'build'"),
    ],
    ids=[
        "model",
        "dotted-activation",
        "python-builtin-name",
        "serialized-object",
        "registered-name",
        "dataset-object",
        "extra-field",
    ],
)
def test_a_config_that_names_python_objects_is_refused(run_copy, capsys, change, words):
    config = json.loads((run_copy / CONFIG_FILE).read_text())
    change(config)
    (run_copy / CONFIG_FILE).write_text(json.dumps(config))
    before = snapshot(run_copy)
    run_main(capsys, "sample", "vae", "--run-dir", run_copy).assert_one_error_line(words)
    assert snapshot(run_copy) == before


def test_a_config_for_a_model_no_plugin_provides_is_refused_by_the_registry(run_copy):
    config = json.loads((run_copy / CONFIG_FILE).read_text())
    (run_copy / CONFIG_FILE).write_text(json.dumps({**config, "model": "keras.models.load-model"}))
    with pytest.raises(
        RunError, match="is a run of the model 'keras.models.load-model', which no installed plugin provides"
    ):
        load_run(run_copy, build_registry())


def test_code_hidden_in_a_weights_file_is_never_run(run_copy, tmp_path):
    """A weights file that also carries a whole-model config with a Lambda layer (what a .keras model file
    may hold) loads as arrays only: the config is never read, so its code never runs."""
    sentinel = tmp_path / "ran"
    lambda_layer = {
        "class_name": "Lambda",
        "config": {"function": f"lambda x: open({str(sentinel)!r}, 'w') or x"},
        "module": "keras.layers",
    }
    with h5py.File(run_copy / WEIGHTS_FILE, "a") as handle:
        handle.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": [lambda_layer]}})
        handle.create_group("layers/lambda").attrs["config"] = json.dumps(lambda_layer)
    model, _ = load_model(run_copy, build_registry(), "vae")
    model.generate(2, seed=0)
    assert not sentinel.exists()
