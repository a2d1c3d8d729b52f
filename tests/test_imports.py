"""Every module imports (a module that does not import is a defect even if nothing uses it yet)."""

from __future__ import annotations

import importlib
import pkgutil

import feedlearn


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(feedlearn.__path__, "feedlearn.") if m.name != "feedlearn.__main__"]
    assert len(names) > 10
    for name in names:
        importlib.import_module(name)
