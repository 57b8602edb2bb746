"""fwlab's two layers, read from the source files with ``ast`` (nothing is imported): the library
(what a researcher imports) never imports the application (what fwlab's commands and notebooks do
with it), fwlab.util (infrastructure both use) imports neither, and no two packages, nor two
modules, import each other, directly or around a circle.

An import is any ``import``/``from ... import`` at any depth (inside a function too), and any
string constant that names a module of fwlab (``"fwlab.runs.examples:square"``, the modules of
:func:`fwlab.util.lazy.lazy_exports`), since those are imported when used.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

UTIL = {"fwlab.util"}
LIBRARY = {
    "fwlab.optim",
    "fwlab.models",
    "fwlab.data",
    "fwlab.train",
    "fwlab.toy",
    "fwlab.plots",
    "fwlab.widgets",
}
APPLICATION = {"fwlab.runs", "fwlab.experiments", "fwlab.integrations", "fwlab.app"}
# fwlab/__init__.py and __main__.py: the package's front door (lazy re-exports, python -m fwlab)
FRONT = {"fwlab", "fwlab.__main__"}

# The library's imports of the application that are left, each with why and what would remove
# it; the test fails on any other, and on an entry here that no longer happens.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    out = {}
    for package, base in (("fwlab", ROOT / "fwlab"), ("fwlab.widgets", ROOT / "widgets")):
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The modules of fwlab that module ``name`` imports, anywhere in its file."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from package import module` imports the module (the package runs first anyway,
            # as for every import of a module in it); `from module import name` the module
            modules = {f"{module}.{alias.name}" for alias in node.names} & set(MODULES)
            found.update(modules)
            if len(modules) < len(node.names):
                found.add(module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value.split(":")[0])
    return {m for m in found if m in MODULES and m != name and m not in FRONT}


EDGES = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> str:
    """``"util"``, ``"library"``, ``"application"`` or ``"front"`` for a module of fwlab."""
    if module in FRONT:
        return "front"
    for layer, packages in (("util", UTIL), ("library", LIBRARY), ("application", APPLICATION)):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return layer
    raise AssertionError(f"{module} is in no layer: add its package to tests/test_layers.py")


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_every_module_is_in_a_layer():
    assert {layer_of(m) for m in MODULES} == {"front", "util", "library", "application"}


def test_the_import_graph_sees_function_level_and_string_imports():
    # a package __init__ imports its modules; fwlab.experiments' lazy exports name their module
    # in a string, `fwlab search` its default target as "module:function"; the CLI imports its
    # sub-commands inside functions
    assert "fwlab.optim.frank_wolfe" in EDGES["fwlab.optim"]
    assert "fwlab.experiments.protocol" in EDGES["fwlab.experiments"]
    assert "fwlab.experiments.tuning" in EDGES["fwlab.app.search_cli"]
    assert "fwlab.experiments.reproduce" in EDGES["fwlab.app.cli"]


def test_the_library_imports_no_application_module():
    upward = {
        (a, b)
        for a, targets in EDGES.items()
        for b in targets
        if layer_of(a) == "library" and layer_of(b) == "application"
    }
    assert sorted(upward - set(ALLOWED_UPWARD)) == []
    assert sorted(set(ALLOWED_UPWARD) - upward) == [], "an allowed import is gone: drop its entry"


@pytest.mark.parametrize("layer", ["library", "application"])
def test_util_imports_nothing_of_a_layer_above(layer):
    above = {
        (a, b)
        for a, targets in EDGES.items()
        for b in targets
        if layer_of(a) == "util" and layer_of(b) == layer
    }
    assert sorted(above) == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_circles_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_around_a_circle():
    # no two modules of fwlab import each other, directly or around a circle, at module level
    # or inside a function (record <-> recorded was one: its command line is now record_cli)
    assert _circles(EDGES) == []


def test_no_two_packages_import_each_other_even_around_a_circle():
    graph: dict[str, set[str]] = defaultdict(set)
    for a, targets in EDGES.items():
        for b in targets:
            if (a, b) in ALLOWED_UPWARD or layer_of(a) == "front":
                continue
            if package_of(a) != package_of(b):
                graph[package_of(a)].add(package_of(b))
    assert _circles(graph) == []


def test_tests_import_the_widgets_as_fwlab_widgets():
    # `widgets.x` and `fwlab.widgets.x` would be two module objects with two sets of classes
    bare = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if re.match(r"widgets\.\w", node.value) else []
            bare += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for n in names
                if n == "widgets" or n.startswith("widgets.")
            ]
    assert bare == []


def test_test_folders_mirror_the_packages():
    packages = {p.removeprefix("fwlab.") for p in LIBRARY | APPLICATION | UTIL}
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - packages == {"e2e", "golden"}
