"""SIEVE: eviction order worked out by hand, and per-request agreement with libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from tests.cache.conftest import make_trace
from tests.cache.libcachesim_ref import libcachesim_hits


def hits_of(ids, capacity, spec="sieve", sizes=None) -> list[bool]:
    return run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy(spec), capacity).tolist()


def test_sieve_keeps_visited_objects_in_place():
    # capacity 3, queue head (newest) -> tail (oldest), * = visited, ^ = where the hand rests:
    # 1 2 3 miss -> 3 2 1;  1 hit -> 3 2 1*
    # 4 miss: hand starts at tail 1* (cleared), moves to 2: evicted, hand -> 3   => 4 3^ 1
    # 2 miss: 3 evicted, hand -> 4                                                 => 2 4^ 1
    # 5 miss: 4 evicted, hand -> 2                                                 => 5 2^ 1
    # 1 hit: 1 was never moved and is still at the tail (CLOCK would have evicted it at 5)
    assert hits_of([1, 2, 3, 1, 4, 2, 5, 1], 3) == [False, False, False, True, False, False, False, True]
    assert hits_of([1, 2, 3, 1, 4, 2, 5, 1], 3, "clock")[-1] is False


def test_sieve_hand_wraps_from_head_to_tail():
    # capacity 3: 1 2 3 miss, 1 2 3 hit -> 3* 2* 1*
    # 4 miss: hand clears 1, 2, 3, runs off the head, wraps to the tail: 1 evicted, hand -> 2 => 4 3 2^
    # 1 miss: 2 evicted, hand -> 3 => 1 4 3^;  3 hit -> 3*
    # 2 miss: hand clears 3, moves to 4: evicted, hand -> 1 => 2 1^ 3
    ids = [1, 2, 3, 1, 2, 3, 4, 1, 3, 2, 3]
    assert hits_of(ids, 3) == [False, False, False, True, True, True, False, False, True, False, True]


@pytest.mark.parametrize("seed", range(10))
def test_sieve_matches_libcachesim_request_by_request(seed):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.3, 600) % 60 + 1).tolist()
    size_of = rng.integers(1, 8, 61)  # one size per object
    sizes = [int(size_of[o]) for o in ids]
    assert hits_of(ids, 40, sizes=sizes) == libcachesim_hits("sieve", ids, sizes, 40)
