"""LHD: the hit-density recursion by hand, scan resistance, and exact agreement with libCacheSim.

libCacheSim's LHD draws from a per-thread random generator that is never reset, so its result
depends on what ran before in the same thread; in a fresh thread it starts from the same state as
feedlearn's LHD with seed 0. The comparisons below therefore run libCacheSim in a new thread and
expect identical hits.
"""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.lhd import hit_age_class, model_hit_density
from feedlearn.cache.simulator import PreparedTrace, run_policy, simulate
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import make_trace
from tests.cache.libcachesim_ref import libcachesim_hits, libcachesim_miss_ratios


def hits_of(ids, capacity, spec="lhd", sizes=None, seed=0) -> np.ndarray:
    return run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy(spec, seed=seed), capacity, seed=seed)


def test_hit_density_recursion_on_a_hand_worked_histogram():
    # ages 0..3; hits [1, 0, 2, 0], evictions [0, 1, 0, 1]. An object now at age a still has ahead
    # of it the events at ages >= a, each after (event age - a + 1) more steps:
    # a=2: hits at 2,2 (1 step each), eviction at 3 (2 steps): 2 hits / 4 steps  = 0.5
    # a=1: eviction at 1 (1), hits at 2,2 (2 each), eviction at 3 (3): 2 / 8    = 0.25
    # a=0: hit at 0 (1), eviction at 1 (2), hits at 2,2 (3 each), eviction at 3 (4): 3 / 13
    # the last age is never rebuilt (an object that old is evicted first anyway)
    hits = np.array([1, 0, 2, 0], dtype=np.float32)
    evictions = np.array([0, 1, 0, 1], dtype=np.float32)
    density = np.full(4, -1.0, dtype=np.float32)
    model_hit_density(hits, evictions, density)
    assert density.tolist() == pytest.approx([3 / 13, 0.25, 0.5, -1.0])


def test_hit_density_is_zero_where_nothing_was_seen():
    density = np.full(5, -1.0, dtype=np.float32)
    model_hit_density(np.zeros(5, np.float32), np.array([0, 0, 0, 1, 0], np.float32), density)
    # ages 0..3 only lead to an eviction (no hits); age 4 untouched
    assert density.tolist() == [0.0, 0.0, 0.0, 0.0, -1.0]


def test_hit_age_classes_are_log_scaled():
    # class = doublings until the age reaches 20000, capped at 15; age 0 (no hit yet) is class 15
    ages = (0, 1, 2, 10000, 19999, 20000, 40000)
    assert [hit_age_class(a) for a in ages] == [15, 15, 14, 1, 1, 0, 0]
    assert hit_age_class(150) == 8  # 150 * 2**7 = 19200 < 20000 <= 150 * 2**8


def scan_and_hot_set(rounds=100, hot=200, scan=400):
    """Each round requests a hot set in random order, then ``scan`` objects never seen again."""
    rng = np.random.default_rng(0)
    ids, is_hot, next_scan = [], [], 10**6
    for _ in range(rounds):
        ids += rng.permutation(hot).tolist()
        ids += range(next_scan, next_scan + scan)
        next_scan += scan
        is_hot += [True] * hot + [False] * scan
    return ids, np.array(is_hot)


@pytest.mark.parametrize("spec, at_least", [("lhd", 0.7), ("lhd(reconfig_interval=5000)", 0.3)])
def test_lhd_keeps_the_hot_set_through_scans(spec, at_least):
    # a cache of 300 for 200 hot objects and 400-object scans: LRU loses the hot set to every scan;
    # LHD's densities favour objects hit recently (high hit-age class) over scan objects, with the
    # initial prior and with learned densities (reconfiguring 12 times here)
    ids, is_hot = scan_and_hot_set()
    assert hits_of(ids, 300, "lru")[is_hot].mean() == 0.0
    assert hits_of(ids, 300, spec)[is_hot].mean() >= at_least


def test_lhd_seed_changes_the_sample():
    rng = np.random.default_rng(4)
    ids = (rng.zipf(1.2, 5000) % 500).tolist()
    runs = [hits_of(ids, 50, seed=s) for s in (0, 0, 1)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_lhd_rejects_bad_parameters():
    assert make_policy("lhd(associativity=64,admissions=4)").params() == {
        "associativity": 64, "admissions": 4, "reconfig_interval": 1 << 20}
    with pytest.raises(FeedlearnError, match="associativity"):
        make_policy("lhd(associativity=0)")
    with pytest.raises(FeedlearnError, match="reconfig_interval"):
        make_policy("lhd(reconfig_interval=1.5)")


@pytest.mark.parametrize("seed", range(10))
def test_lhd_matches_libcachesim_request_by_request(seed):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.3, 2000) % 200 + 1).tolist()
    size_of = rng.integers(1, 8, 201)  # one size per object
    sizes = [int(size_of[o]) for o in ids]
    assert hits_of(ids, 150, sizes=sizes).tolist() == libcachesim_hits("lhd", ids, sizes, 150)


@pytest.mark.slow
def test_lhd_matches_libcachesim_across_reconfigurations():
    # the shipped traces are shorter than one reconfiguration interval (2**20 accesses); this one
    # spans two, so the decayed counters and the learned densities are compared too
    rng = np.random.default_rng(11)
    n = 2_300_000
    ids = (rng.zipf(1.05, n) % 100_000).astype(np.uint64)
    ids[n // 3 : n // 3 + n // 20] = np.arange(n // 20, dtype=np.uint64) + 10**7  # a one-hit scan
    sizes = (ids.astype(np.int64) * 2654435761 % 99 + 1) * 64  # one size per object, 64..6336 bytes
    prep = PreparedTrace.of(make_trace(ids, sizes))
    capacity = prep.unique_bytes // 20
    ours = simulate(prep, "lhd", capacity)
    ref_omr, ref_bmr = libcachesim_miss_ratios(prep.trace, "lhd", capacity)
    assert round(ours.object_miss_ratio * n) == round(ref_omr * n)
    assert ours.byte_miss_ratio == pytest.approx(ref_bmr, abs=1e-12)


def test_forget_clears_the_id_from_the_recent_newcomers():
    from feedlearn.cache.core.policy import SimContext
    from feedlearn.cache.policies.lhd import LHD, RECENT

    prepared = PreparedTrace.of(make_trace([1, 2, 3], None))
    policy = make_policy("lhd(admissions=4)")
    state = policy.init_state(SimContext(prepared.n_objects, 10, prepared.obj, prepared.size,
                                         prepared.trace.time, None, 0))
    state[RECENT][:] = [0, 2, 0, -1]
    LHD.forget(state, 0)
    assert state[RECENT].tolist() == [-1, 2, -1, -1]
