"""Cross-check against libCacheSim (PyPI ``libcachesim``) on the shipped traces at 1% and 10%.

``CROSSCHECK`` maps a policy to the largest absolute difference allowed in object and byte miss
ratio. 0 means the same miss *counts* (the algorithms are specified identically). A policy with a
non-zero tolerance says in its comment why an exact match is impossible.
"""

from __future__ import annotations

import pytest

from feedlearn.cache.simulator import simulate
from feedlearn.cache.sizes import resolve_cache_size
from tests.cache.conftest import SIZES, TRACES, prepared
from tests.cache.libcachesim_ref import libcachesim_miss_ratios

CROSSCHECK: dict[str, float] = {
    "lru": 0.0,
    "fifo": 0.0,
    "clock": 0.0,
    "sieve": 0.0,
    "belady": 0.0,
    "s3fifo": 0.0,
    "arc": 0.0,
    # belady_size is not listed: it is exact by default while libCacheSim's BeladySize samples 128
    # objects per eviction (up to 0.0073 apart here), and libCacheSim's sampled result itself moves
    # by up to 0.007 between runs (process-wide random stream), so no tolerance <= 0.002 can hold;
    # test_belady_size.py compares its samples=128 mode with libCacheSim within that noise.
    "lfu": 0.0,
    "gdsf": 0.0,
    # lhd samples at random, with libCacheSim's own generator and float32 arithmetic reproduced;
    # the harness runs libCacheSim in a fresh thread, where its generator starts from its seed
    "lhd": 0.0,
    # twoq and lirs evict on their own where libCacheSim does (Am's own get after a ghost hit; LIRS
    # on hits and in can_insert): Policy.parked hands those objects to the loop, so counts are exact
    "twoq": 0.0,
    "lirs": 0.0,
    # wtinylfu hashes the trace's ids with libCacheSim's XXH64 seeds into its counting Bloom filter
    "wtinylfu": 0.0,
    # lecar draws its expert with libCacheSim's generator (fresh thread, as lhd)
    "lecar": 0.0,
}


@pytest.mark.slow
@pytest.mark.parametrize("trace_name", TRACES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("policy", sorted(CROSSCHECK))
def test_miss_ratios_match_libcachesim(policy, trace_name, size):
    prep = prepared(trace_name)
    capacity = resolve_cache_size(size, prep.unique_bytes)
    ours = simulate(prep, policy, capacity)
    ref_omr, ref_bmr = libcachesim_miss_ratios(prep.trace, policy, capacity)
    tolerance = CROSSCHECK[policy]
    if tolerance == 0.0:
        n = ours.requests
        assert round(ours.object_miss_ratio * n) == round(ref_omr * n)
        assert ours.byte_miss_ratio == pytest.approx(ref_bmr, abs=1e-12)
    else:
        assert abs(ours.object_miss_ratio - ref_omr) <= tolerance
        assert abs(ours.byte_miss_ratio - ref_bmr) <= tolerance
