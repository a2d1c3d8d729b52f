"""Sweeps on Ray give the local executor's results, journal as tasks finish, and fail in one line."""

from __future__ import annotations

import sys

import pytest

from feedlearn.cache.journal import SweepJournal
from feedlearn.cache.sweep import sweep
from feedlearn.cache.traces import zipf_trace
from feedlearn.common.errors import FeedlearnError

TRACES = [zipf_trace(4_000, 400, seed=1, object_size=(10, 1000)), zipf_trace(3_000, 300, seed=2)]


def test_a_sweep_on_a_local_ray_instance_equals_the_local_one_and_is_journalled(tmp_path):
    pytest.importorskip("ray")
    local = sweep(TRACES, ["lru", "s3fifo"], ["5%", "20%"], jobs=1)
    journal = SweepJournal(tmp_path / "j.jsonl")
    on_ray = sweep(TRACES, ["lru", "s3fifo"], ["5%", "20%"], executor="ray", journal=journal)
    journal.close(remove=False)
    key = [(r.trace, r.policy, r.cache_size, r.hits, r.byte_miss_ratio, r.window_byte_miss_ratios) for r in local]
    assert [(r.trace, r.policy, r.cache_size, r.hits, r.byte_miss_ratio, r.window_byte_miss_ratios)
            for r in on_ray] == key
    journal = SweepJournal(tmp_path / "j.jsonl")
    assert len(journal.finished) == 4  # every task, as it finished
    journal.close(remove=True)


def test_ray_executor_errors_are_one_line(monkeypatch):
    with pytest.raises(FeedlearnError, match="unknown executor 'spark'; known: local, ray"):
        sweep(TRACES, ["lru"], ["5%"], executor="spark")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(FeedlearnError, match=r"--executor ray needs Ray: pip install 'feedlearn\[ray\]'"):
        sweep(TRACES, ["lru"], ["5%"], executor="ray")
