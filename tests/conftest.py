"""Shared test fixtures (paths to the shipped data) and how pytest-xdist splits the suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers share two cores: one torch thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read when torch is first imported, after this file

from feedlearn.shipped import folder  # noqa: E402  (after the thread setting above)

ROOT = Path(__file__).resolve().parents[1]
TRACES = folder("traces")

# Files whose tests share one expensive session fixture run in one worker, so it is built once:
# the 4-process ZeRO++ launch (tests/dist/conftest.py ``result``).
SHARED_WORKER = {
    "tests/dist/test_zeropp.py": "dist-launch",
    "tests/dist/test_strategy_contract.py": "dist-launch",
}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups (``--dist loadgroup``)
def pytest_collection_modifyitems(config, items):
    """One xdist group per test file (module fixtures are built once), merged per ``SHARED_WORKER``."""
    for item in items:
        path = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        item.add_marker(pytest.mark.xdist_group(SHARED_WORKER.get(path, path)))


@pytest.fixture
def traces_dir() -> Path:
    return TRACES
