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
