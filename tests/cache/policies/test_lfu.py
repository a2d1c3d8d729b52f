"""LFU: eviction order worked out by hand, and per-request agreement with libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from tests.cache.conftest import make_trace
from tests.cache.libcachesim_ref import libcachesim_hits


def hits_of(ids, capacity, spec="lfu", sizes=None) -> list[bool]:
    return run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy(spec), capacity).tolist()


def test_lfu_evicts_lowest_count():
    # capacity 3, (count, last request) per object:
    # 1 2 3 miss -> 1(1,0) 2(1,1) 3(1,2);  1 1 hit -> 1(3,4);  2 hit -> 2(2,5)
    # 4 miss: lowest count is 3 -> evicted; 4(1,6)
    # 3 miss: lowest count is 4 -> evicted; 3(1,7);  2 hit -> 2(3,8)
    # 4 miss: 3 evicted;  1 hit (count 4)
    ids = [1, 2, 3, 1, 1, 2, 4, 3, 2, 4, 1]
    assert hits_of(ids, 3) == [False, False, False, True, True, True, False, False, True, False, True]


def test_lfu_ties_go_to_the_least_recently_used():
    # capacity 2: 1(1,0) 2(1,1);  2 hit -> 2(2,2);  1 hit -> 1(2,3)
    # 3 miss: both have count 2; 2's last request (2) is older than 1's (3) -> 2 evicted
    # (insertion order would have evicted 1);  1 hit;  2 miss: 3 (count 1) evicted
    assert hits_of([1, 2, 2, 1, 3, 1, 2], 2) == [False, False, True, True, False, True, False]


def test_lfu_forgets_counts_on_eviction():
    # capacity 2: 1 reaches count 3, 2 count 4;  3 miss evicts 1 (count 3 < 4)
    # 1 miss evicts 3 (count 1) and restarts at count 1;  4 miss evicts 1 again (count 1 < 4)
    # so the last 1 misses — had 1 kept its old count (4 after re-admission), 2 would have gone
    ids = [1, 1, 1, 2, 2, 2, 2, 3, 1, 4, 1]
    expected = [False, True, True, False, True, True, True, False, False, False, False]
    assert hits_of(ids, 2) == expected


def test_lfu_size_aware_eviction_evicts_until_it_fits():
    # capacity 6, sizes 2: 1(1) 2(1) 3(1), 3 hit -> count 2, 1 hit -> count 2
    # 9 (5 bytes) needs 5 free: evicts 2 (count 1), then 3 (count 2, older), then 1 -> 1 misses
    ids = [1, 2, 3, 3, 1, 9, 1]
    sizes = [2, 2, 2, 2, 2, 5, 2]
    assert hits_of(ids, 6, sizes=sizes) == [False, False, False, True, True, False, False]


@pytest.mark.parametrize("seed", range(10))
def test_lfu_matches_libcachesim_request_by_request(seed):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.3, 600) % 60 + 1).tolist()
    size_of = rng.integers(1, 8, 61)  # one size per object
    sizes = [int(size_of[o]) for o in ids]
    assert hits_of(ids, 40, sizes=sizes) == libcachesim_hits("lfu", ids, sizes, 40)
