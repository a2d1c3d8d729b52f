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


# The groups that take longest (seconds of one core, measured), started first: xdist hands out groups in
# collection order, and one of these started last would run alone while the other worker idles.
LONGEST_FIRST = ("tests/test_wheel.py", "tests/tune/test_sharded.py", "dist-launch", "tests/cache/policies/test_belady.py",
                 "tests/cache/lrb/test_policy.py", "tests/dist/test_bench.py", "tests/tune/test_infer_cli.py",
                 "tests/cache/test_ray_executor.py", "tests/dist/test_bad_inputs.py",
                 "tests/cache/halp/heuristics/test_contract.py")


def pytest_configure(config):
    config.option.loadscopereorder = False  # xdist would order groups by their number of tests instead


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups (``--dist loadgroup``)
def pytest_collection_modifyitems(config, items):
    """One xdist group per test file (module fixtures are built once), merged per ``SHARED_WORKER``;
    the ``LONGEST_FIRST`` groups first, the others in collection order."""
    groups = {}
    for item in items:
        path = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        groups[item] = SHARED_WORKER.get(path, path)
        item.add_marker(pytest.mark.xdist_group(groups[item]))
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(groups[item], len(rank)))  # stable: files keep their order


def pytest_collection_finish(session):
    """Fail at once when the groups above are not honoured (pytest 9.2 with xdist 3.8 drops them
    silently: every test its own group, module fixtures built on both workers, CI minutes longer)."""
    if getattr(session.config.option, "loadgroup", False) and session.items and "@" not in session.items[0].nodeid:
        raise pytest.UsageError("pytest-xdist's --dist loadgroup is ignored by this pytest version: "
                                "install the test extra's pinned pytest (pip install -e '.[test]')")


@pytest.fixture
def traces_dir() -> Path:
    return TRACES
