"""LRU: eviction order worked out by hand (its miss counts against libCacheSim: test_libcachesim_crosscheck.py)."""

from __future__ import annotations

from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from tests.cache.conftest import make_trace


def test_lru_evicts_least_recently_used():
    # capacity 3: 1 2 3 | 1 hits (recency 1 3 2) | 4 evicts 2 | 2 evicts 3 | 3 evicts 1 | 1 misses
    trace = make_trace([1, 2, 3, 1, 4, 2, 3, 1])
    hits = run_policy(PreparedTrace.of(trace), make_policy("lru"), 3)
    assert hits.tolist() == [False, False, False, True, False, False, False, False]


def test_lru_size_aware_eviction_frees_enough_bytes():
    # sizes 2,2,2 fill capacity 6; a 5-byte object needs all three slots evicted
    trace = make_trace([1, 2, 3, 1, 9, 1], sizes=[2, 2, 2, 2, 5, 2])
    hits = run_policy(PreparedTrace.of(trace), make_policy("lru"), 6)
    # after 1 hit, recency: 1 3 2 (tail 2); 9 (5 bytes) evicts 2, 3, then 1 -> 1 misses
    assert hits.tolist() == [False, False, False, True, False, False]
