"""The package's shape: imports that never go round in a circle, and every documented name importable from the
path the reference shows."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import import_graph  # noqa: E402  (tools/import_graph.py)


def test_no_module_of_the_package_imports_itself_back_through_others():
    edges = import_graph.graph()
    assert len(edges) > 30 and "genmodels.cli" in edges
    assert import_graph.circles(edges) == []


def test_the_circle_finder_finds_a_circle(tmp_path):
    package = tmp_path / "genmodels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from genmodels.b import B\n")
    (package / "b.py").write_text("def f():\n    from genmodels import c\n")  # a lazy import is a dependency too
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from genmodels.a import A\n"
    )
    (package / "d.py").write_text("import genmodels.a\n")
    edges = import_graph.graph(package)
    assert edges["genmodels.d"] == {"genmodels.a"}
    assert import_graph.circles(edges) == [["genmodels.a", "genmodels.b", "genmodels.c"]]


DOCUMENTED = sorted(set(re.findall(r"^### `(genmodels[\w.]*)`", (REPO / "docs" / "reference.md").read_text(), re.M)))


@pytest.mark.parametrize("path", DOCUMENTED)
def test_every_name_the_reference_documents_imports_from_the_path_it_shows(path):
    module, _, name = path.rpartition(".")
    while module:
        try:
            found = importlib.import_module(module)
            break
        except ModuleNotFoundError:  # a method: Class.method
            module, _, outer = module.rpartition(".")
            name = f"{outer}.{name}"
    for part in name.split("."):
        found = getattr(found, part)
    assert found is not None


def test_every_import_runs_down_the_layers_and_none_goes_through_a_public_face():
    edges = import_graph.graph()
    assert import_graph.upward_imports(edges) == []


def test_every_module_is_in_a_layer_or_is_a_known_public_face():
    from genmodels.core.faces import PUBLIC

    outside = {module for module in import_graph.graph() if import_graph.layer_of(module) is None}
    assert outside == set(PUBLIC) | {"genmodels", "genmodels.__main__", "genmodels.specs"}


def test_the_layer_check_finds_an_import_up_the_layers_and_one_through_a_face(tmp_path):
    package = tmp_path / "genmodels"
    (package / "low").mkdir(parents=True)
    (package / "high").mkdir()
    for path in ("__init__.py", "low/__init__.py", "high/__init__.py", "high/top.py", "face.py"):
        (package / path).write_text("")
    (package / "low" / "base.py").write_text("def f():\n    from genmodels.high.top import x\n")
    (package / "high" / "user.py").write_text("from genmodels.low.base import f\nimport genmodels.face\n")
    edges = import_graph.graph(package)
    found = import_graph.upward_imports(edges, ["genmodels.low", "genmodels.high"], set())
    assert found == [
        "genmodels.high.user imports the public face genmodels.face",
        "genmodels.low.base (genmodels.low) imports genmodels.high.top (genmodels.high, a higher layer)",
    ]


FACES = sorted(__import__("genmodels.core.faces", fromlist=["PUBLIC"]).PUBLIC)


@pytest.mark.parametrize("face", FACES)
def test_a_public_path_gives_the_very_objects_of_the_modules_that_hold_them(face):
    from genmodels.core.faces import PUBLIC

    module = importlib.import_module(face)
    names = dir(module) if face != "genmodels.backend" else []
    assert face == "genmodels.backend" or names, f"{face} forwards nothing"
    for name in names:
        holder = next(importlib.import_module(t) for t in PUBLIC[face] if hasattr(importlib.import_module(t), name))
        assert getattr(module, name) is getattr(holder, name)
    star: dict = {}
    exec(f"from {face} import *", star)
    assert set(names) <= set(star)
    with pytest.raises(AttributeError, match="no attribute"):
        module.no_such_name  # noqa: B018


def test_importing_the_public_paths_and_the_registry_imports_no_tensorflow():
    import subprocess

    faces = [face for face in FACES if face != "genmodels.backend"]  # that one is imported for TensorFlow
    code = (
        f"import sys, {', '.join(faces)}\n"
        "from genmodels.plugins import build_registry\n"
        "build_registry()\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_built_in_plugins_and_the_example_package_import_only_public_paths():
    """The built-ins reach the core exactly as a third party's package does: through public paths only."""
    import ast

    from genmodels.core.faces import PUBLIC

    public = set(PUBLIC) | {"genmodels", "genmodels.specs", "genmodels.api"}
    sources = [*(REPO / "genmodels_plugins").rglob("*.py"), *(REPO / "examples").rglob("*.py")]
    found = set()
    for path in sources:
        if "build" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            found |= {(name, path.name) for name in names if name == "genmodels" or name.startswith("genmodels.")}
    assert len(found) > 20
    assert sorted((name, file) for name, file in found if name not in public) == []
