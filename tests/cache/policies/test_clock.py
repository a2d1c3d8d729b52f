"""CLOCK: eviction order worked out by hand, its parameters, and per-request agreement with libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy, simulate
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import SIZES, TRACES, make_trace, prepared
from tests.cache.libcachesim_ref import libcachesim_hits, libcachesim_miss_ratios


def hits_of(ids, capacity, spec="clock", sizes=None) -> list[bool]:
    return run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy(spec), capacity).tolist()


def test_clock_gives_hit_objects_a_second_chance():
    # capacity 3, queue written head (newest) -> tail (oldest), counter in brackets:
    # 1 2 3 miss              -> 3[0] 2[0] 1[0]
    # 1 hit                   -> 1[1]
    # 4 miss: tail 1[1] -> 1[0] moved to head; tail 2[0] evicted -> 4 1 3
    # 1 hit (FIFO would have evicted 1 here) -> 1[1]
    # 2 miss: tail 3[0] evicted               -> 2 4 1[1]
    # 3 miss: tail 1[1] -> 1[0] to head; tail 4[0] evicted -> 3 1 2
    # 1 hit
    assert hits_of([1, 2, 3, 1, 4, 1, 2, 3, 1], 3) == [False, False, False, True, False, True, False, False, True]


def test_clock_two_bit_counter_saturates_at_three_and_decrements_by_one_per_lap():
    # capacity 2, 2-bit counter (max 3): 1 miss, 1 hit [1], 1 hit [2]; 2 miss -> 2[0] 1[2]
    # 3 miss: tail 1[2] -> 1[1] to head; tail 2[0] evicted -> 3[0] 1[1]
    # 2 miss: tail 1[1] -> 1[0] to head; tail 3[0] evicted -> 2[0] 1[0]
    # 3 miss: tail 1[0] evicted -> 3 2;  1 miss
    ids = [1, 1, 1, 2, 3, 2, 3, 1]
    assert hits_of(ids, 2, "clock(n_bit_counter=2)") == [False, True, True, False, False, False, False, False]
    # with the default 1-bit counter 1 saturates at [1]: 3 evicts 2, then 2 evicts 1, so 3 hits
    assert hits_of(ids, 2) == [False, True, True, False, False, False, True, False]


def test_clock_init_freq_gives_new_objects_a_lap():
    # capacity 2, init_freq=1: 1[1] 2[1]; 3 miss: 1 -> [0] to head, 2 -> [0] to head, 1[0] evicted
    # -> 3[1] 2[0]; 2 hit -> 2[1]; 4 miss: tail 2[1] -> [0] to head, tail 3[1] -> [0] to head,
    # tail 2[0] evicted -> 4 3; 3 hits.  With init_freq=0 the same trace evicts 1 then 2 (FIFO-like).
    ids = [1, 2, 3, 2, 4, 3]
    assert hits_of(ids, 2, "clock(init_freq=1)") == [False, False, False, True, False, True]
    assert hits_of(ids, 2) == [False, False, False, True, False, False]


def test_clock_params_are_validated_and_recorded():
    assert make_policy("clock(n_bit_counter=3,init_freq=2)").params() == {"n_bit_counter": 3, "init_freq": 2}
    for bad in ("clock(n_bit_counter=0)", "clock(init_freq=-1)", "clock(init_freq=2)", "clock(n_bit_counter=1.5)"):
        with pytest.raises(FeedlearnError):
            make_policy(bad)


@pytest.mark.parametrize("params", [{}, {"n_bit_counter": 2}, {"n_bit_counter": 3, "init_freq": 2}])
@pytest.mark.parametrize("seed", range(5))
def test_clock_matches_libcachesim_request_by_request(params, seed):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.3, 600) % 60 + 1).tolist()
    size_of = rng.integers(1, 8, 61)  # one size per object
    sizes = [int(size_of[o]) for o in ids]
    spec = "clock(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")"
    assert hits_of(ids, 40, spec, sizes) == libcachesim_hits("clock", ids, sizes, 40, **params)


@pytest.mark.slow
@pytest.mark.parametrize("trace_name", TRACES)
@pytest.mark.parametrize("size", SIZES)
def test_clock_non_default_params_match_libcachesim(trace_name, size):
    prep = prepared(trace_name)
    capacity = resolve_cache_size(size, prep.unique_bytes)
    ours = simulate(prep, "clock(n_bit_counter=2,init_freq=1)", capacity)
    ref_omr, ref_bmr = libcachesim_miss_ratios(prep.trace, "clock", capacity, n_bit_counter=2, init_freq=1)
    assert round(ours.object_miss_ratio * ours.requests) == round(ref_omr * ours.requests)
    assert ours.byte_miss_ratio == pytest.approx(ref_bmr, abs=1e-12)
