"""Simulator metrics: windows, warm-up, unit size, and the trace preparation."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.simulator import PreparedTrace, simulate, window_byte_miss_ratios
from feedlearn.cache.traces import Trace
from feedlearn.common.errors import FeedlearnError


def trace_of(ids, sizes, times=None) -> Trace:
    n = len(ids)
    t = np.arange(n, dtype=np.float64) if times is None else np.asarray(times, dtype=np.float64)
    return Trace("t", t, np.asarray(ids, dtype=np.uint64), np.asarray(sizes, dtype=np.int64))


def test_metrics_by_hand():
    # LRU, capacity 10 bytes: 1(4) 2(4) 1 hit, 3(4) evicts 2, 2 miss evicts 1, 1 miss
    trace = trace_of([1, 2, 1, 3, 2, 1], [4, 4, 4, 4, 4, 4])
    res = simulate(trace, "lru", 10, window=2)
    assert (res.requests, res.hits) == (6, 1)
    assert res.object_miss_ratio == pytest.approx(5 / 6)
    assert res.byte_miss_ratio == pytest.approx(20 / 24)
    # windows of 2 requests: [miss, miss], [hit, miss], [miss, miss] -> 1, .5, 1
    assert res.window_byte_miss_ratios == [1.0, 0.5, 1.0]
    assert res.p95_window_byte_miss_ratio == pytest.approx(np.percentile([1, 0.5, 1], 95))


def test_byte_miss_ratio_weights_by_request_size():
    trace = trace_of([1, 2, 1, 2], [1, 9, 1, 9])
    res = simulate(trace, "lru", 9)  # 2 (9 bytes) evicts 1; 1 evicts 2 ... all miss but check weights
    assert res.hits == 0 and res.byte_miss_ratio == 1.0
    res = simulate(trace, "lru", 10)
    assert res.hits == 2 and res.byte_miss_ratio == pytest.approx(10 / 20)


def test_warmup_is_served_but_not_counted():
    trace = trace_of([1, 2, 1, 2], [1, 1, 1, 1])
    res = simulate(trace, "lru", 2, warmup=2)
    assert res.requests == 2 and res.hits == 2 and res.object_miss_ratio == 0.0
    with pytest.raises(FeedlearnError, match="warmup"):
        simulate(trace, "lru", 2, warmup=4)


def test_windows_in_seconds():
    # times 0, .5, 1, 10 with 1-second windows: windows {0: r0 r1}, {1: r2}, {10: r3}; empty ones skipped
    trace = trace_of([1, 1, 1, 2], [1, 1, 1, 1], times=[0, 0.5, 1, 10])
    res = simulate(trace, "lru", 5, window=1, window_unit="seconds")
    assert res.window_byte_miss_ratios == [0.5, 0.0, 1.0]


def test_window_helper_skips_empty_windows():
    ids = np.array([0, 0, 3])
    out = window_byte_miss_ratios(ids, np.array([1.0, 3.0, 2.0]), np.array([True, False, False]))
    assert out.tolist() == [0.75, 1.0]


def test_unit_size_mode_counts_objects():
    trace = trace_of([1, 2, 3, 1], [100, 200, 300, 100])
    res = simulate(trace, "lru", 3, unit_size=True)
    assert res.hits == 1 and res.byte_miss_ratio == pytest.approx(res.object_miss_ratio)


def test_prepared_trace_dense_ids_and_next_access():
    prep = PreparedTrace.of(trace_of([50, 7, 50, 9], [1, 2, 1, 3]))
    assert prep.n_objects == 3 and prep.unique_bytes == 6
    assert prep.obj.tolist() == [2, 0, 2, 1]
    assert prep.next_access().tolist() == [2, 4, 4, 4]


def test_bad_window_options():
    trace = trace_of([1, 2], [1, 1])
    with pytest.raises(FeedlearnError, match="window unit"):
        simulate(trace, "lru", 2, window_unit="hours")
    with pytest.raises(FeedlearnError, match="window"):
        simulate(trace, "lru", 2, window=0)


def test_between_chunks_is_called_after_every_chunk():
    from feedlearn.cache.policies.lru import LRU

    calls = []

    class ChunkedLRU(LRU):
        chunk = 3

        def between_chunks(self, state, next_request):
            calls.append(next_request)

    trace = trace_of([1, 2, 3, 1, 2, 3, 4], [1] * 7)
    res = simulate(trace, ChunkedLRU(), 3)
    assert calls == [3, 6, 7]
    assert res.hits == 3
