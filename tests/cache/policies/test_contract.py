"""The contract every registered policy must keep (one suite, run against each policy).

Each policy's own test file adds only what is special to it (hand-worked eviction orders,
libCacheSim cross-checks).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedlearn.cache.policies import POLICIES, make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy, simulate
from tests.cache.conftest import checked_run, make_trace

ALL = sorted(POLICIES)


@pytest.fixture(params=ALL)
def policy_name(request) -> str:
    return request.param


def test_registry_names_match_classes():
    for key, cls in POLICIES.items():
        assert cls.name == key
        assert make_policy(key).name == key


def test_rerequest_right_after_insert_hits(policy_name):
    # 110 distinct unit objects overflow a 100-object cache; then each new object is re-requested.
    # (100 objects: large enough that admission filters admit them: S3-FIFO's small queue, and
    # W-TinyLFU's window of 1% of the cache, which is 0 objects below 100.)
    trace = make_trace(list(range(110)) + [150, 150, 151, 151])
    hits = run_policy(PreparedTrace.of(trace), make_policy(policy_name), 100)
    assert hits.tolist() == [False] * 110 + [False, True, False, True]


def test_object_larger_than_cache_is_a_miss_and_not_inserted(policy_name):
    # (1 byte for object 1 in 100: LIRS admits only objects within its HIR part, W-TinyLFU only
    # objects within its window, both 1% of the cache)
    trace = make_trace([1, 9, 9, 1], sizes=[1, 120, 120, 1])
    hits = run_policy(PreparedTrace.of(trace), make_policy(policy_name), 100)
    assert hits.tolist() == [False, False, False, True]


def test_hits_plus_misses_is_requests_and_ratios_agree(policy_name):
    rng = np.random.default_rng(1)
    trace = make_trace(rng.zipf(1.3, 3000) % 200, rng.integers(1, 50, 3000))
    res = simulate(trace, policy_name, 0.2)
    assert res.requests == 3000
    assert 0 < res.hits < res.requests
    assert res.object_miss_ratio == pytest.approx(1 - res.hits / res.requests)
    assert 0.0 <= res.byte_miss_ratio <= 1.0


def test_same_seed_same_result(policy_name):
    rng = np.random.default_rng(2)
    trace = make_trace(rng.zipf(1.2, 5000) % 500, rng.integers(1, 20, 5000))
    prepared = PreparedTrace.of(trace)
    a = run_policy(prepared, make_policy(policy_name, seed=7), 400, seed=7)
    b = run_policy(prepared, make_policy(policy_name, seed=7), 400, seed=7)
    assert np.array_equal(a, b)


def test_compiled_loop_matches_checked_replay(policy_name):
    rng = np.random.default_rng(3)
    trace = make_trace(rng.zipf(1.1, 1500) % 120, rng.integers(1, 30, 1500))
    fast = run_policy(PreparedTrace.of(trace), make_policy(policy_name, seed=5), 300, seed=5)
    assert fast.tolist() == checked_run(trace, policy_name, 300, seed=5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ids=st.lists(st.integers(0, 12), min_size=1, max_size=60),
    sizes_seed=st.integers(0, 2**16),
    capacity=st.integers(1, 40),
)
def test_invariants_hold_on_random_traces(policy_name, ids, sizes_seed, capacity):
    sizes = np.random.default_rng(sizes_seed).integers(1, 12, 13)[ids]  # one size per object
    trace = make_trace(ids, sizes)
    hits = checked_run(trace, policy_name, capacity)
    first_seen = set()
    for o, hit in zip(ids, hits):
        assert not (hit and o not in first_seen), "a first request can never hit"
        first_seen.add(o)
