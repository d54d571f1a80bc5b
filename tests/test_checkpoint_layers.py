"""The layers of the checkpoint and weights code (issue 11): the cycle
``registry -> weights -> train.checkpoint -> registry`` is gone, counting imports inside
functions, read from the source with ``ast`` (what Python would import, not what a test
happens to trigger)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import convzoo.registry

SRC = Path(convzoo.registry.__file__).resolve().parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``convzoo`` module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("convzoo"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("convzoo"):
                continue
            for alias in node.names:  # `from convzoo import io` imports the module convzoo.io
                sub = f"{base}.{alias.name}"
                found.add(
                    sub
                    if (SRC.parent / sub.replace(".", "/")).exists()
                    or (SRC.parent / (sub.replace(".", "/") + ".py")).exists()
                    else base
                )
    return found


GRAPH = {_module_name(p): _imports(p) for p in SRC.rglob("*.py")}


def _reaches(start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        m = stack.pop()
        for dep in GRAPH.get(m, ()):
            if dep == goal:
                return True
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return False


def test_registry_imports_no_network_and_no_weights():
    assert GRAPH["convzoo.registry"] <= {"convzoo.errors"}


@pytest.mark.parametrize(
    "module", ["convzoo.io", "convzoo.io.cache", "convzoo.io.checkpoint", "convzoo.outputs"]
)
def test_ground_floor_imports_only_the_ground_floor(module):
    assert GRAPH[module] <= {"convzoo.io", "convzoo.errors", "convzoo.version"}, GRAPH[module]


@pytest.mark.parametrize(
    "module",
    [
        "convzoo.registry",
        "convzoo.weights",
        "convzoo.hub",
        "convzoo.io.cache",
        "convzoo.io.checkpoint",
        "convzoo.train.checkpoint",
        "convzoo.predict",
    ],
)
def test_no_cycle_through(module):
    assert not _reaches(module, module), f"{module} imports itself through others"


def test_weights_does_not_reach_up_into_training():
    assert not any(m.startswith("convzoo.train") for m in GRAPH["convzoo.weights"])
    assert not _reaches("convzoo.weights", "convzoo.train.checkpoint")
    assert "convzoo" not in GRAPH["convzoo.train.checkpoint"]  # not the top package
