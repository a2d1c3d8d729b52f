"""The package's layout rules: stages import components, never the reverse; local imports say why."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import feedlearn.tune

TUNE = Path(feedlearn.tune.__file__).parent


def _imports(path: Path) -> list[tuple[ast.AST, str, list[str], bool]]:
    """(node, module, names, inside a function or class) of every ``feedlearn`` import in ``path``."""
    tree = ast.parse(path.read_text())
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
             for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("feedlearn"):
            out.append((node, node.module, [a.name for a in node.names], id(node) in local))
        elif isinstance(node, ast.Import):
            out += [(node, a.name, [], id(node) in local) for a in node.names if a.name.startswith("feedlearn")]
    return out


def test_only_the_stage_registry_is_imported_from_outside_stages():
    offenders = []
    for path in TUNE.rglob("*.py"):
        if "stages" in path.relative_to(TUNE).parts:
            continue
        for node, module, names, _ in _imports(path):
            if module.startswith("feedlearn.tune.stages") and (module, names) != ("feedlearn.tune.stages", ["STAGES"]):
                offenders.append(f"{path.name}:{node.lineno}: {module} {names}")
    assert offenders == []


def test_function_local_imports_say_why():
    """A feedlearn import inside a function defers a heavy one (torch at CLI start-up): its line says so."""
    offenders = []
    for path in TUNE.rglob("*.py"):
        lines = path.read_text().splitlines()
        offenders += [f"{path.name}:{node.lineno}" for node, _, _, local in _imports(path)
                      if local and "#" not in lines[node.lineno - 1]]
    assert offenders == []


def test_cli_start_up_imports_no_torch():
    code = ("import sys, feedlearn.cli; heavy = {'torch', 'transformers', 'peft', 'trl', 'datasets'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
