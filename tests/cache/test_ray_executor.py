"""Sweeps on Ray give the local executor's results, journal as tasks finish, and fail in one line."""

from __future__ import annotations

import sys

import pytest

from feedlearn.cache.journal import SweepJournal
from feedlearn.cache.sweep import sweep
from feedlearn.cache.traces import zipf_trace
from feedlearn.common.errors import FeedlearnError

TRACES = [zipf_trace(3_000, 300 + 50 * i, seed=i, object_size=(10, 1000)) for i in range(4)]
POLICIES = ["lru", "s3fifo", "arc", "halp(min_updates=1)"]


def test_a_sweep_on_a_local_ray_instance_equals_the_local_one_and_is_journalled(tmp_path):
    """Issue 20's target: 4 traces x 4 policies x 2 sizes, record for record."""
    pytest.importorskip("ray")
    local = sweep(TRACES, POLICIES, ["5%", "20%"], jobs=1)
    journal = SweepJournal(tmp_path / "j.jsonl")
    on_ray = sweep(TRACES, POLICIES, ["5%", "20%"], executor="ray", journal=journal)
    journal.close(remove=False)
    assert len(on_ray) == 32
    for a, b in zip(local, on_ray, strict=True):  # every field but the wall-clock time
        assert {**a.record(), "seconds": 0} == {**b.record(), "seconds": 0}
        assert a.window_byte_miss_ratios == b.window_byte_miss_ratios
        assert a.diagnostics.get("pairs_labelled") == b.diagnostics.get("pairs_labelled")
    journal = SweepJournal(tmp_path / "j.jsonl")
    assert len(journal.finished) == 32  # every (trace, policy, size), as it finished
    journal.close(remove=True)


def test_ray_executor_errors_are_one_line(monkeypatch):
    with pytest.raises(FeedlearnError, match="unknown executor 'spark'; known: local, ray"):
        sweep(TRACES, ["lru"], ["5%"], executor="spark")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(FeedlearnError, match=r"--executor ray needs Ray: pip install 'feedlearn\[ray\]'"):
        sweep(TRACES, ["lru"], ["5%"], executor="ray")
