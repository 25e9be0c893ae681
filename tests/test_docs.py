"""The docs are true: their snippets run, their files are the repo's files, every hook is documented and tested."""

from __future__ import annotations

import re
import sys

import pytest

from genmodels import hookspecs

from conftest import REPO

DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
BLOCK = re.compile(r"(?:<!-- (?P<marker>[\w-]+)(?:: (?P<path>\S+))? -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("register_"))


def blocks(path, lang=None):
    return [m for m in BLOCK.finditer(path.read_text()) if lang is None or m["lang"] == lang]


def call_of(hook: str) -> str:
    """`register_models(register)`: the hook as a plugin writes it, with its spec's parameter names."""
    import inspect

    return f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"


def test_there_are_hooks_to_check():
    assert {"register_datasets", "register_models", "register_commands"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_for_plugin_authors(hook):
    assert f"`{call_of(hook)}`" in (REPO / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_exercised_by_the_tests(hook):
    assert any(f"def {call_of(hook)}" in path.read_text() for path in (REPO / "tests").glob("test_*.py"))


def test_the_api_reference_is_generated_from_the_code():
    sys.path.insert(0, str(REPO / "tools"))
    from reference import render  # tools/reference.py

    assert (REPO / "docs" / "reference.md").read_text() == render(), (
        "docs/reference.md is stale: python tools/reference.py > docs/reference.md"
    )


@pytest.mark.parametrize(
    "name",
    [
        "ModelSpec",
        "DatasetSpec",
        "Dataset",
        "Loss",
        "Encoder",
        "Decoder",
        "LatentPrior",
        "ForwardPass",
        "option",
        "GaussianMLPEncoder",
        "DeterministicMLPEncoder",
        "MLPDecoder",
        "mlp_vae",
        "Tracker",
        "Run",
    ],
)
def test_the_api_reference_documents_what_plugins_and_programs_touch(name):
    text = (REPO / "docs" / "reference.md").read_text()
    heading = re.search(
        rf"^### `genmodels\.[\w.]*\b{name}`\n\n<!-- signature -->\n```python\n.*\n```\n\n(.+)", text, re.M
    )
    assert heading, f"{name} is not in docs/reference.md"
    assert not heading.group(1).startswith("###"), f"{name} has no docstring"


def test_files_shown_in_the_docs_are_the_files_in_the_repo():
    shown = [m for path in DOCS for m in blocks(path) if m["marker"] == "file"]
    assert len(shown) >= 2
    for match in shown:
        assert match["body"] == (REPO / match["path"]).read_text(), f"{match['path']} differs from its copy in the docs"


@pytest.mark.parametrize(
    "doc", [path for path in DOCS if any(not m["marker"] for m in blocks(path, "python"))], ids=lambda p: p.name
)
def test_python_snippets_in_the_docs_run(doc):
    for match in blocks(doc, "python"):
        if not match["marker"]:
            exec(compile(match["body"], str(doc), "exec"), {})


def test_ci_runs_the_test_command_that_the_readme_gives():
    (command,) = [m["body"].strip() for m in blocks(REPO / "README.md") if m["marker"] == "test-command"]
    assert "pytest" in command
    assert command in (REPO / ".ci" / "run").read_text().splitlines()


def test_the_readme_main_command_installs_trains_and_samples_the_vae():
    (command,) = [m["body"].strip() for m in blocks(REPO / "README.md") if m["marker"] == "main-command"]
    assert "pip install" in command and "genmodels train vae" in command and "genmodels sample vae -n 60" in command


def test_every_built_in_model_is_in_the_models_doc_with_its_true_line_count():
    from genmodels.plugins import build_registry

    text = (REPO / "docs" / "models.md").read_text()
    rows = {
        name: (path, int(lines))
        for name, path, lines in re.findall(r"^\| `([\w-]+)` \| `(genmodels_plugins/\w+\.py)` \| (\d+) \|", text, re.M)
    }
    built_in = {spec.name for spec in build_registry().models if spec.package == "genmodels"}
    assert built_in == set(rows)
    for name, (path, lines) in rows.items():
        assert len((REPO / path).read_text().splitlines()) == lines, f"{path} is not {lines} lines long"
