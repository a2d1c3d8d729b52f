"""2Q: a trace worked out by hand, and request-by-request agreement with libCacheSim's ``TwoQ``
(shipped-trace miss ratios: test_libcachesim_crosscheck.py)."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.twoq import AIN, AM, AOUT, DOOMED, NONE
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import simulated
from tests.cache.libcachesim_ref import libcachesim_hits
from tests.cache.policies import parked

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
    return parked.replay(ids, sizes, capacity, spec, lambda state, o: state[6][o] == DOOMED)


def test_hand_worked_trace():
    run = replay(TRACE, [1] * len(TRACE), 8)
    hits, dense = run.hits, run.dense
    assert hits == [i + 1 in HITS_AT for i in range(len(TRACE))]
    assert hits == simulated(TRACE, [1] * len(TRACE), 8, "twoq")
    assert run.victims == [dense[v] for v in VICTIMS] and run.doomed_hit == -1
    where = run.state[6]
    assert {o: int(where[dense[o]]) for o in (A, B, C, M, N, I, J)} == {
        A: AM, B: AIN, C: AIN, M: AOUT, N: AIN, I: NONE, J: AOUT}
    assert hits == libcachesim_hits("twoq", TRACE, [1] * len(TRACE), 8)


def test_object_larger_than_ain_share_is_refused_even_after_a_ghost_hit():
    # capacity 20: A1in share 5 bytes. 9 (6 bytes) is refused without evicting anything.
    ids, sizes = [1, 2, 9, 9, 1], [5, 5, 6, 6, 5]
    assert simulated(ids, sizes, 20, "twoq") == [False, False, False, False, True]
    assert simulated(ids, sizes, 20, "twoq") == libcachesim_hits("twoq", ids, sizes, 20)


# The documented corner (twoq.py): found by shrinking a Zipf trace, capacity 20 (A1in share 5, Am 15).
# After request 18, Am = [7 2 10 1 11 4] (2+3+1+2+4+3 = 15 bytes), A1in = [6] (1 byte), 16 bytes used.
# 19: 9 (5 bytes) is a ghost hit: 21 > 20, A1in is within its share, so Am's LRU 7 leaves (15 used).
#     libCacheSim then inserts 9 with Am's own get: Am 13 + 5 > 15, so Am also drops 2 (3 bytes).
#     The loop here stops at 15 + 5 <= 20: 2 is parked as doomed, still cached.
# 20: 2 -- a miss in libCacheSim, a hit here.
CORNER_IDS = [2, 10, 7, 6, 3, 1, 11, 8, 5, 4, 7, 2, 10, 9, 6, 1, 11, 4, 9, 2]
CORNER_SIZES = [3, 1, 2, 1, 5, 2, 4, 3, 1, 3, 2, 3, 1, 5, 1, 2, 4, 3, 5, 3]


def test_doomed_corner_is_the_only_difference_from_libcachesim():
    run = replay(CORNER_IDS, CORNER_SIZES, 20)
    ref = libcachesim_hits("twoq", CORNER_IDS, CORNER_SIZES, 20)
    assert run.doomed_hit == 19 and run.hits[:19] == ref[:19] and run.hits[19] and not ref[19]
    assert run.victims[-1] == run.dense[7] and run.state[6][run.dense[2]] == DOOMED


@pytest.mark.parametrize("seed", range(8))
def test_matches_libcachesim_request_by_request_until_a_doomed_hit(seed):
    # unit sizes: A1in never drops below its share once full, so Am never evicts on its own
    # (no doomed objects) and the whole trace agrees; with sizes, it agrees up to the first
    # re-request of a doomed object, which is a hit here and a miss in libCacheSim.
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, 800) % 80 + 1).tolist()
    size_of = rng.integers(1, 6, 81)
    sizes = [int(size_of[o]) for o in ids] if seed % 2 else [1] * len(ids)
    spec, ref = ("twoq(ain_ratio=0.4,aout_ratio=1.0)", {"a_in_size_ratio": 0.4, "a_out_size_ratio": 1.0}) \
        if seed % 4 >= 2 else ("twoq", {})
    capacity = 40 + 10 * seed
    run = replay(ids, sizes, capacity, spec)
    if seed % 2 == 0:
        assert run.doomed_hit == -1
    assert parked.agrees_until_doomed_hit(run, libcachesim_hits("twoq", ids, sizes, capacity, **ref))


def test_params_round_trip_and_validation():
    pol = make_policy("twoq(ain_ratio=0.3,aout_ratio=1.0)")
    assert pol.params() == {"ain_ratio": 0.3, "aout_ratio": 1.0}
    assert make_policy(pol.describe()).params() == pol.params()
    for bad in ("ain_ratio=0", "ain_ratio=1", "aout_ratio=-1", "aout_ratio=nan", "ain_ratio=abc"):
        with pytest.raises(FeedlearnError, match="twoq"):
            make_policy(f"twoq({bad})")
