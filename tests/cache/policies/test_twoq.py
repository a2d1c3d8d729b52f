"""2Q: a trace worked out by hand, and request-by-request agreement with libCacheSim's ``TwoQ``
(shipped-trace miss ratios: test_libcachesim_crosscheck.py)."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.twoq import AIN, AM, AM_BYTES, AOUT, NONE
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import simulated
from tests.cache.libcachesim_ref import libcachesim_hits
from tests.cache.policies.replay import replay as replay_hooks

A, B, C, D, E, F, G, H, I, J, K, L, M, N = range(1, 15)  # noqa: E741 (I is the ninth object)
# capacity 8 (unit sizes), default ratios: A1in share 2, Am share 6, A1out 4 ids. Lists oldest -> newest.
#  1-3 A B C miss        Ain=[A B C] (over its share: only evictions trim it)
#  4 A   hit in Ain: nothing moves (FIFO)
#  5-9 D E F G H miss    Ain=[A B C D E F G H], cache full
# 10 I   miss  Ain 8 > 2: A leaves (its hit did not save it) -> Aout=[A]
# 11 A   miss  ghost hit (Aout=[]); Ain's B leaves -> Aout=[B]; A -> Am=[A]
# 12 C   hit in Ain
# 13 B   miss  ghost hit; C leaves -> Aout=[C]; Am=[A B]
# 14 A   hit in Am -> Am=[B A]
# 15-18 J K L M  miss: D E F G leave Ain into Aout; at G the ghost is full and C expires -> Aout=[D E F G]
# 19 C   miss  no longer a ghost: H leaves, D expires -> Aout=[E F G H]; C -> Ain
# 20-23 E F G H  ghost hits: I J K L leave Ain -> Aout=[I J K L]; Am=[B A E F G H] (its share)
# 24 N   miss  Ain=[M C] is at its share: Am's LRU B leaves, with no ghost
# 25 B   miss  not a ghost: Ain=[M C N] 3 > 2, M leaves -> Aout (I expires); B -> Ain
# 26 A   hit in Am
TRACE = [A, B, C, A, D, E, F, G, H, I, A, C, B, A, J, K, L, M, C, E, F, G, H, N, B, A]
HITS_AT = {4, 12, 14, 26}  # 1-based
VICTIMS = [A, B, C, D, E, F, G, H, I, J, K, L, B, M]


def replay(ids, sizes, capacity, spec="twoq"):
    return replay_hooks(ids, sizes, capacity, spec)


def test_hand_worked_trace():
    run = replay(TRACE, [1] * len(TRACE), 8)
    hits, dense = run.hits, run.dense
    assert hits == [i + 1 in HITS_AT for i in range(len(TRACE))]
    assert hits == simulated(TRACE, [1] * len(TRACE), 8, "twoq")
    assert run.victims == [dense[v] for v in VICTIMS]
    where = run.state[6]
    assert {o: int(where[dense[o]]) for o in (A, B, C, M, N, I, J)} == {
        A: AM, B: AIN, C: AIN, M: AOUT, N: AIN, I: NONE, J: AOUT}
    assert hits == libcachesim_hits("twoq", TRACE, [1] * len(TRACE), 8)


def test_object_larger_than_ain_share_is_refused_even_after_a_ghost_hit():
    # capacity 20: A1in share 5 bytes. 9 (6 bytes) is refused without evicting anything.
    ids, sizes = [1, 2, 9, 9, 1], [5, 5, 6, 6, 5]
    assert simulated(ids, sizes, 20, "twoq") == [False, False, False, False, True]
    assert simulated(ids, sizes, 20, "twoq") == libcachesim_hits("twoq", ids, sizes, 20)


# Am's own evictions (twoq.py): found by shrinking a Zipf trace, capacity 20 (A1in share 5, Am 15).
# After request 18, Am = [7 2 10 1 11 4] (2+3+1+2+4+3 = 15 bytes), A1in = [6] (1 byte), 16 bytes used.
# 19: 9 (5 bytes) is a ghost hit: 21 > 20, A1in is within its share, so Am's LRU 7 leaves (15 used).
#     9 then enters Am as libCacheSim's Am.get does: Am 13 + 5 > 15, so Am also drops 2 (3 bytes),
#     though the whole cache has room: 2 is parked and leaves right after the insertion.
# 20: 2 misses, as in libCacheSim.
CORNER_IDS = [2, 10, 7, 6, 3, 1, 11, 8, 5, 4, 7, 2, 10, 9, 6, 1, 11, 4, 9, 2]
CORNER_SIZES = [3, 1, 2, 1, 5, 2, 4, 3, 1, 3, 2, 3, 1, 5, 1, 2, 4, 3, 5, 3]


def test_am_evicts_on_its_own_after_a_ghost_hit():
    run = replay(CORNER_IDS, CORNER_SIZES, 20)
    assert run.victims[-2:] == [run.dense[7], run.dense[2]]
    assert run.state[6][run.dense[2]] == AIN and run.state[8][AM_BYTES] == 15  # 2 is back, in A1in
    assert not run.hits[19]
    assert run.hits == libcachesim_hits("twoq", CORNER_IDS, CORNER_SIZES, 20)
    assert run.hits == simulated(CORNER_IDS, CORNER_SIZES, 20, "twoq")


@pytest.mark.parametrize("seed", range(8))
def test_matches_libcachesim_request_by_request(seed):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, 800) % 80 + 1).tolist()
    size_of = rng.integers(1, 6, 81)
    sizes = [int(size_of[o]) for o in ids] if seed % 2 else [1] * len(ids)  # odd seeds: sizes
    spec, ref = ("twoq(ain_ratio=0.4,aout_ratio=1.0)", {"a_in_size_ratio": 0.4, "a_out_size_ratio": 1.0}) \
        if seed % 4 >= 2 else ("twoq", {})
    capacity = 40 + 10 * seed
    assert simulated(ids, sizes, capacity, spec) == libcachesim_hits("twoq", ids, sizes, capacity, **ref)


def test_params_round_trip_and_validation():
    pol = make_policy("twoq(ain_ratio=0.3,aout_ratio=1.0)")
    assert pol.params() == {"ain_ratio": 0.3, "aout_ratio": 1.0}
    assert make_policy(pol.describe()).params() == pol.params()
    for bad in ("ain_ratio=0", "ain_ratio=1", "aout_ratio=-1", "aout_ratio=nan", "ain_ratio=abc"):
        with pytest.raises(FeedlearnError, match="twoq"):
            make_policy(f"twoq({bad})")
