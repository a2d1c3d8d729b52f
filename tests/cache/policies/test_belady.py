"""Belady: hand-worked eviction orders, optimality for unit sizes, and libCacheSim on small traces."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedlearn.cache.policies import POLICIES, make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from tests.cache.conftest import make_trace
from tests.cache.libcachesim_ref import libcachesim_miss_ratios
from tests.cache.policies.offline_reference import replay_with_future


def hits_of(ids, capacity, policy="belady", sizes=None) -> list[bool]:
    return run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy(policy), capacity).tolist()


def test_belady_evicts_the_object_needed_farthest_away():
    # The textbook trace, 3 slots. Next requests are shown as obj@index.
    # 1 2 3 miss | 4 (i3) misses: 1@4 2@5 3@9 -> evict 3 | 1 2 hit | 5 (i6) misses: 1@7 2@8 4@10
    # -> evict 4 | 1 2 hit | 3 (i9) misses: 1, 2 never again -> evict one of them | 4 (i10) misses:
    # the other one and 3 are never requested again -> evict one | 5 hits. 5 hits, 7 misses (OPT).
    hits = hits_of([1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5], 3)
    assert hits == [False] * 4 + [True, True, False, True, True, False, False, True]


def test_belady_ignores_size_and_frees_bytes_far_first():
    # capacity 10: A=6, B=2, C=2 fill it. D (4 bytes, i3) misses: next A@5 B@6 C@7 -> evict C,
    # still 12 > 10 -> evict B. D, A hit. B (i6) misses: D and A are dead -> one goes, room enough.
    # C (i7) misses. 2 hits (10 bytes hit); belady_size does better on objects (test_belady_size).
    ids = [1, 2, 3, 4, 4, 1, 2, 3]
    sizes = [6, 2, 2, 4, 4, 6, 2, 2]
    assert hits_of(ids, 10, sizes=sizes) == [False] * 4 + [True, True, False, False]


def test_an_object_never_requested_again_is_admitted_as_in_libcachesim():
    # 2 slots holding 1 (next i3) and 2 (next i4). 3 (i2) is never requested again, yet it is
    # admitted (libCacheSim's Belady does the same), so 2 is evicted to make room: 1 hits, 2 misses.
    # belady(bypass=True) leaves 3 out instead, keeps 1 and 2 and hits twice.
    assert hits_of([1, 2, 3, 1, 2], 2) == [False, False, False, True, False]
    assert hits_of([1, 2, 3, 1, 2], 2, policy="belady(bypass=True)") == [False, False, False, True, True]


def test_a_hit_moves_the_object_to_its_next_request():
    # 2 slots. 1 2 miss; 1 hits at i2 and is next wanted at i6; 2 is next wanted at i4.
    # 3 (i3) misses: 1@6 is farthest -> evict 1 (had the hit not re-keyed it, 1@2 would stay).
    # 2 hits, 3 hits, 1 misses.
    assert hits_of([1, 2, 1, 3, 2, 3, 1], 2) == [False, False, True, False, True, True, False]


def belady_reference(ids, sizes, capacity, rng) -> list[bool]:
    """Straight from the definition: scan the cache, evict the farthest next request.

    Objects never requested again are infinitely far; which of them goes first is drawn at
    random, since it must not change any hit.
    """

    def farthest(resident, i, n):
        far = max(nx for _, nx in resident.values())
        return rng.choice(sorted(k for k, (_, nx) in resident.items() if nx == far))

    return replay_with_future(ids, sizes, capacity, farthest)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.integers(0, 9), min_size=1, max_size=80),
    sizes_seed=st.integers(0, 2**16),
    capacity=st.integers(1, 30),
)
def test_belady_matches_the_definition_whatever_the_order_of_dead_objects(ids, sizes_seed, capacity):
    sizes = np.random.default_rng(sizes_seed).integers(1, 9, 10)[ids].tolist()
    expected = belady_reference(ids, sizes, capacity, np.random.default_rng(sizes_seed))
    assert hits_of(ids, capacity, sizes=sizes) == expected


@cache
def _min_misses(ids: tuple[int, ...], capacity: int, i: int, cache: frozenset) -> int:
    """Fewest misses serving ``ids[i:]`` from ``cache`` when every miss is admitted (unit sizes)."""
    if i == len(ids):
        return 0
    o = ids[i]
    if o in cache:
        return _min_misses(ids, capacity, i + 1, cache)
    if len(cache) < capacity:
        return 1 + _min_misses(ids, capacity, i + 1, cache | {o})
    return 1 + min(_min_misses(ids, capacity, i + 1, (cache - {v}) | {o}) for v in cache)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 5), min_size=1, max_size=14), capacity=st.integers(1, 4))
def test_belady_equals_the_exhaustive_optimum_for_unit_sizes(ids, capacity):
    misses = hits_of(ids, capacity).count(False)
    assert misses == _min_misses(tuple(ids), capacity, 0, frozenset())


@cache
def _min_misses_with_bypass(ids: tuple[int, ...], capacity: int, i: int, cache: frozenset) -> int:
    """Fewest misses serving ``ids[i:]`` when a miss may also be left out of the cache."""
    if i == len(ids):
        return 0
    o = ids[i]
    if o in cache:
        return _min_misses_with_bypass(ids, capacity, i + 1, cache)
    options = [_min_misses_with_bypass(ids, capacity, i + 1, cache)]  # do not store o
    if len(cache) < capacity:
        options.append(_min_misses_with_bypass(ids, capacity, i + 1, cache | {o}))
    else:
        options += [_min_misses_with_bypass(ids, capacity, i + 1, (cache - {v}) | {o}) for v in cache]
    return 1 + min(options)


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.integers(0, 5), min_size=1, max_size=14), capacity=st.integers(1, 4))
def test_belady_with_bypass_equals_the_exhaustive_optimum_with_bypass(ids, capacity):
    misses = hits_of(ids, capacity, policy="belady(bypass=True)").count(False)
    assert misses == _min_misses_with_bypass(tuple(ids), capacity, 0, frozenset())


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.integers(0, 15), min_size=1, max_size=120), capacity=st.integers(1, 10))
def test_belady_never_misses_more_than_any_registered_policy_for_unit_sizes(ids, capacity):
    # plain Belady bounds the demand-paging policies; belady(bypass=True) bounds every policy
    prepared = PreparedTrace.of(make_trace(ids))
    belady = int((~run_policy(prepared, make_policy("belady"), capacity)).sum())
    bypass = int((~run_policy(prepared, make_policy("belady(bypass=True)"), capacity)).sum())
    assert bypass <= belady
    for name in POLICIES:
        policy = make_policy(name)
        other = int((~run_policy(prepared, policy, capacity)).sum())
        assert bypass <= other, f"belady(bypass=True) missed {bypass} times, {name} only {other}"
        if policy.admits_every_miss():
            assert belady <= other, f"belady missed {belady} times, {name} only {other}"


def test_gdsf_can_beat_plain_belady_by_dropping_a_newcomer():
    # one slot, 1 1 0 1: Belady must store 0 (evicting 1, which then misses): 3 misses.
    # GDSF drops 0 (its priority is below 1's) and keeps 1: 2 misses, as belady(bypass=True).
    ids = [1, 1, 0, 1]
    assert hits_of(ids, 1).count(False) == 3
    assert hits_of(ids, 1, policy="belady(bypass=True)").count(False) == 2
    prepared = PreparedTrace.of(make_trace(ids))
    assert int((~run_policy(prepared, make_policy("gdsf"), 1)).sum()) == 2


@settings(max_examples=25, deadline=None)
@given(
    ids=st.lists(st.integers(0, 20), min_size=1, max_size=150),
    sizes_seed=st.integers(0, 2**16),
    capacity=st.integers(1, 60),
)
def test_belady_matches_libcachesim_on_random_traces(ids, sizes_seed, capacity):
    sizes = np.random.default_rng(sizes_seed).integers(1, 12, 21)[ids]
    trace = make_trace(ids, sizes)
    hits = run_policy(PreparedTrace.of(trace), make_policy("belady"), capacity)
    ref_omr, ref_bmr = libcachesim_miss_ratios(trace, "belady", capacity)
    assert int((~hits).sum()) == round(ref_omr * len(ids))
    assert float(sizes[~hits].sum()) / float(sizes.sum()) == pytest.approx(ref_bmr, abs=1e-12)
