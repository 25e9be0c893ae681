"""The import graph of the genmodels package: which module imports which, its circles, and its floors.

    python tools/import_graph.py            # each module with what it imports, then every circle
    python tools/import_graph.py --circles  # only the circles (exit status 1 if there is one)
    python tools/import_graph.py --layers   # only the imports that run up the layers or into a public face

Every import counts, wherever it is written: at the top of a module, inside a function (a lazy import is
still a dependency) or under `if TYPE_CHECKING:` (a type hint names what the module is written against).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = "genmodels"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# The package's layers, lowest first (docs/architecture.md draws them): a module imports modules of its own layer
# and of the layers below it, never of a layer above, and never a public face (the modules outside every layer:
# `genmodels`, `genmodels.specs`, `genmodels.components`, ... which only forward names to the layers).
LAYERS = [
    "genmodels.core",
    "genmodels.data",
    "genmodels.nn",
    "genmodels.runs",
    "genmodels.samplers",
    "genmodels.evaluation",
    "genmodels.training",
    "genmodels.plugins",
    "genmodels.workflows",
    "genmodels.api",
    "genmodels.serve",
    "genmodels.cli",
]
# a subpackage's __init__ that forwards the names of its old module: a face, though it shares the layer's name
PACKAGE_FACES = {
    "genmodels.data",
    "genmodels.runs",
    "genmodels.samplers",
    "genmodels.evaluation",
    "genmodels.plugins",
    "genmodels.cli",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The package's modules that the module at `path` imports (`from genmodels.x import y` counts as
    genmodels.x.y when that is a module, else genmodels.x)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(path, root) for path in paths}
    return {module_name(path, root): imports_of(path, modules, root) for path in paths}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def layer_of(module: str, layers: list[str] = LAYERS, package_faces: set[str] = PACKAGE_FACES) -> int | None:
    """The index of `module`'s layer in `layers`; None for a public face."""
    if module in package_faces:
        return None
    for index, layer in enumerate(layers):
        if module == layer or module.startswith(layer + "."):
            return index
    return None


def upward_imports(
    edges: dict[str, set[str]], layers: list[str] = LAYERS, package_faces: set[str] = PACKAGE_FACES
) -> list[str]:
    """Every import of a layered module into a higher layer or into a public face, as a readable line."""
    found = []
    for module in sorted(edges):
        own = layer_of(module, layers, package_faces)
        if own is None:
            continue
        for target in sorted(edges[module]):
            theirs = layer_of(target, layers, package_faces)
            if theirs is None:
                found.append(f"{module} imports the public face {target}")
            elif theirs > own:
                found.append(f"{module} ({layers[own]}) imports {target} ({layers[theirs]}, a higher layer)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circles", action="store_true", help="print only the circles")
    parser.add_argument("--layers", action="store_true", help="print only the imports that run up the layers")
    args = parser.parse_args(argv)
    edges = graph()
    if args.layers:
        upward = upward_imports(edges)
        print("\n".join(upward) or "every import runs down the layers")
        return 1 if upward else 0
    if not args.circles:
        for module in sorted(edges):
            print(f"{module}: {', '.join(sorted(edges[module])) or '-'}")
    found = circles(edges)
    for group in found:
        print("circle:", " <-> ".join(group))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
