"""Belady-Size: a hand-worked trace, the exact tournament against a brute-force scan, the sampled mode."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy, simulate
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.cache.traces import load_trace
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import folder
from tests.cache.conftest import make_trace
from tests.cache.libcachesim_ref import libcachesim_miss_ratios
from tests.cache.policies.offline_reference import replay_with_future

DATA = folder("traces")


def hits_of(ids, capacity, policy="belady_size", sizes=None, seed=0) -> list[bool]:
    trace = make_trace(ids, sizes)
    return run_policy(PreparedTrace.of(trace), make_policy(policy, seed=seed), capacity, seed=seed).tolist()


def test_belady_size_evicts_the_largest_distance_times_size():
    # capacity 10: A=6, B=2, C=2 fill it. D (4 bytes, i3) misses; scores at t=3 (size × distance):
    # A 6×(5-3)=12, B 2×(6-3)=6, C 2×(7-3)=8 -> evict A alone (Belady would evict C then B).
    # D hits (and is dead). A (i5) misses: dead D goes first, which makes room. B, C hit.
    # 3 hits but only 8 bytes hit, against Belady's 2 hits and 10 bytes (see test_belady.py).
    ids = [1, 2, 3, 4, 4, 1, 2, 3]
    sizes = [6, 2, 2, 4, 4, 6, 2, 2]
    assert hits_of(ids, 10, sizes=sizes) == [False] * 4 + [True, False, True, True]


def test_the_order_is_decided_at_eviction_time_not_at_insertion():
    # capacity 6. X (4 bytes) is next wanted at i10, Y (1 byte) at i20; their scores 4×(10-t) and
    # 20-t cross at t=20/3: X leads when both are cached (t=1: 36 vs 19), Y leads by i8 (8 vs 12).
    # F (1 byte, i2..i7) fills the last byte and is dead after i7. Z (2 bytes, i8) misses: dead F
    # goes first, still 7 > 6, so Y (12 > 8) is evicted. Z, X hit; F2 (1 byte) misses once, hits
    # 8 times; Y misses at i20. A score frozen at insertion would have evicted X instead.
    ids = [100, 101] + [1] * 6 + [2, 2, 100] + [3] * 9 + [101]
    sizes = [4, 1] + [1] * 6 + [2, 2, 4] + [1] * 9 + [1]
    expected = [False] * 3 + [True] * 5 + [False, True, True, False] + [True] * 8 + [False]
    assert hits_of(ids, 6, sizes=sizes) == expected


def belady_size_reference(ids, sizes, capacity) -> list[bool]:
    """From the definition: on each eviction scan the cache; dead objects first, then the largest
    size × distance (ties to the later next request)."""

    def largest_score(resident, i, n):
        scores = {k: (nx == n, size * (nx - i), nx) for k, (size, nx) in resident.items()}
        return max(scores, key=scores.__getitem__)

    return replay_with_future(ids, sizes, capacity, largest_score)


@settings(max_examples=80, deadline=None)
@given(
    ids=st.lists(st.integers(0, 12), min_size=1, max_size=120),
    sizes_seed=st.integers(0, 2**16),
    capacity=st.integers(1, 80),
)
def test_the_tournament_picks_the_exact_maximum(ids, sizes_seed, capacity):
    sizes = np.random.default_rng(sizes_seed).integers(1, 30, 13)[ids].tolist()
    assert hits_of(ids, capacity, sizes=sizes) == belady_size_reference(ids, sizes, capacity)


@pytest.mark.parametrize("seed", range(3))
def test_the_tournament_picks_the_exact_maximum_on_a_long_trace(seed):
    # Many objects and sizes over a long run: deep trees and many order flips between requests.
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, 4000) % 300).tolist()
    per_object = rng.integers(1, 200, 300)
    sizes = per_object[ids].tolist()
    assert hits_of(ids, 3000, sizes=sizes) == belady_size_reference(ids, sizes, 3000)


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.integers(0, 15), min_size=1, max_size=120), capacity=st.integers(1, 10))
def test_with_unit_sizes_it_is_belady(ids, capacity):
    assert hits_of(ids, capacity) == hits_of(ids, capacity, policy="belady")


def test_sampled_mode_with_many_samples_finds_the_maximum_and_is_seeded():
    rng = np.random.default_rng(4)
    ids = (rng.zipf(1.3, 3000) % 100).tolist()
    # unit sizes: distinct distances, so the best of 2000 draws among <= 8 objects is the maximum
    assert hits_of(ids, 8, policy="belady_size(samples=2000)") == hits_of(ids, 8)
    sizes = rng.integers(1, 20, 100)[ids].tolist()
    a = hits_of(ids, 60, policy="belady_size(samples=4)", sizes=sizes, seed=3)
    b = hits_of(ids, 60, policy="belady_size(samples=4)", sizes=sizes, seed=3)
    assert a == b


@pytest.mark.parametrize("spec", [
    "belady_size(samples=-1)", "belady_size(samples=1.5)", "belady_size(samples=True)",
])
def test_bad_samples_is_a_user_error(spec):
    with pytest.raises(FeedlearnError, match="samples"):
        make_policy(spec)


@cache
def prepared(name: str) -> PreparedTrace:
    return PreparedTrace.of(load_trace(DATA / name))


# libCacheSim's BeladySize takes the best of 128 objects drawn through its hash table (a random
# non-empty bucket, then a random object in it: not quite uniform) from a process-wide random
# stream, so its result even changes from run to run within one process. Measured over 20 runs each
# on tencentBlock.ns2706 at 1% (the noisiest case): libCacheSim spans 0.0021 (object) and 0.0072
# (byte miss ratio), our seeds 0.0013 and 0.0050; the means are 0.0014 and 0.0003 apart, and the
# worst pair 0.0030 and 0.0068. Only agreement within that noise can be asserted.
OBJECT_TOLERANCE = 0.004
BYTE_TOLERANCE = 0.01


@pytest.mark.slow
@pytest.mark.parametrize("trace_name", [
    "cloudPhysicsIO.oracleGeneral.bin",
    "tencentBlock.ns1326.sample.csv",
    "tencentBlock.ns2706.sample.csv",
    "arc_OLTP.lis.zst",
])
@pytest.mark.parametrize("size", ["1%", "10%"])
def test_sampled_mode_tracks_libcachesim(trace_name, size):
    prep = prepared(trace_name)
    capacity = resolve_cache_size(size, prep.unique_bytes)
    ours = simulate(prep, "belady_size(samples=128)", capacity)
    ref_omr, ref_bmr = libcachesim_miss_ratios(prep.trace, "belady_size", capacity)
    assert abs(ours.object_miss_ratio - ref_omr) <= OBJECT_TOLERANCE
    assert abs(ours.byte_miss_ratio - ref_bmr) <= BYTE_TOLERANCE
