"""Every module imports, and no two modules import each other, even through a function-local import."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import feedlearn

SRC = Path(feedlearn.__file__).resolve().parents[1]


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(feedlearn.__path__, "feedlearn.") if m.name != "feedlearn.__main__"]
    assert len(names) > 10
    for name in names:
        importlib.import_module(name)


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is its ``__init__``)."""
    found = {}
    for path in (SRC / "feedlearn").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The feedlearn modules ``name`` imports anywhere in its file (module level or in a function).

    ``from pkg import x`` counts as importing ``pkg.x`` when that is a module, else ``pkg``; importing
    one's own parent packages is not counted (Python runs them first, whatever the order).
    """
    targets: set[str] = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in candidates:
            while target and target not in modules:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target.startswith("feedlearn") and target != name and not name.startswith(target + "."):
                targets.add(target)
    return targets


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (empty if none), by depth-first search."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_cycle_finder_sees_a_cycle_through_a_local_import(tmp_path):
    pkg = tmp_path / "feedlearn"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from feedlearn.b import g\n")
    (pkg / "b.py").write_text("def g():\n    from feedlearn import a  # hidden in a function\n")
    (pkg / "c.py").write_text("import feedlearn.a\n")
    modules = {"feedlearn": pkg / "__init__.py", **{f"feedlearn.{m}": pkg / f"{m}.py" for m in "abc"}}
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    assert graph["feedlearn.b"] == {"feedlearn.a"} and graph["feedlearn.c"] == {"feedlearn.a"}
    assert _cycle(graph) == ["feedlearn.a", "feedlearn.b", "feedlearn.a"]
    (pkg / "b.py").write_text("def g():\n    pass\n")
    assert _cycle({name: _imported(name, path, modules) for name, path in modules.items()}) == []


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imported(name, path, modules) for name, path in modules.items()}
    assert sum(len(t) for t in graph.values()) > 100  # the scan sees the package's imports
    assert _cycle(graph) == [], "import cycle: " + " -> ".join(_cycle(graph))
