"""The house's rules, checked on the import graph (grimp, the engine behind import-linter).

import-linter's layer contract in ``pyproject.toml`` keeps the arrows pointing down; these tests
add what a contract cannot say: no cycle at all between modules (imports inside functions
included), internal imports at module top, and nothing inside the package importing the top
package ``convzoo`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "convzoo"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("convzoo", cache_dir=None, exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """Every direct import ``a -> b`` from which a chain of imports leads back to ``a``."""
    return sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )


def test_no_import_cycle(graph):
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    g = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c"):
        g.add_module(m)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.a")
    g.add_import(importer="p.c", imported="p.a")
    assert _cycles(g) == [("p.a", "p.b"), ("p.b", "p.a")]


def _python_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imports_of(node: ast.AST) -> list[str]:
    """The modules an import statement loads; ``from convzoo import io`` loads ``convzoo.io``
    (a submodule), ``from convzoo import create_model`` loads the top package's face."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == "convzoo":
            return [
                f"convzoo.{a.name}"
                if (SRC / a.name).is_dir() or (SRC / f"{a.name}.py").is_file()
                else "convzoo"
                for a in node.names
            ]
        return [node.module]
    return []


# Where an internal import inside a function is the point: the command modules of the CLI (the
# top floor, imported by nothing, so no cycle can hide there) load the library only when their
# command runs, so that `convzoo --help` does not import torch; the top package's PEP 562
# ``__getattr__`` loads its heavier parts on first use.
LAZY_ALLOWED = ("cli/", "__init__.py")


def test_internal_imports_are_at_module_top():
    """An internal import inside a function hides a cycle; third-party lazy imports are fine."""
    offenders = []
    for path in _python_files():
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(LAZY_ALLOWED[0]) or rel == LAZY_ALLOWED[1]:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                for name in _imports_of(node):
                    if name == "convzoo" or name.startswith("convzoo."):
                        offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert offenders == []


def test_nothing_inside_imports_the_top_package():
    offenders = []
    for path in _python_files():
        if path == SRC / "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if "convzoo" in _imports_of(node):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def test_library_draws_with_matplotlibs_object_api():
    """No pyplot (its global figure state) and no ``matplotlib.use`` (a global backend switch)
    inside the library: a program with its own backend keeps it."""
    offenders = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = _imports_of(node)
            if isinstance(node, ast.ImportFrom) and node.module == "matplotlib":
                names = [f"matplotlib.{a.name}" for a in node.names]
            if any(n.startswith("matplotlib.pyplot") for n in names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} pyplot")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "use"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("matplotlib", "mpl")
            ):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} matplotlib.use")
    assert offenders == []
