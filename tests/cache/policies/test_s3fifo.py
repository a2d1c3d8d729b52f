"""S3-FIFO: a trace worked out by hand, request-by-request and shipped-trace agreement with libCacheSim."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.core.policy import SimContext
from feedlearn.cache.core.s3ghost import GHOST, MAIN, NONE, SMALL
from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.s3fifo import HELD
from feedlearn.cache.simulator import PreparedTrace, run_policy, simulate
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import TRACES, make_trace, prepared
from tests.cache.libcachesim_ref import libcachesim_hits, libcachesim_miss_ratios

A, B, C, D, E, F, X, Y = 1, 2, 3, 4, 5, 6, 7, 8
# capacity 4 (unit sizes), small_ratio=0.5, ghost_ratio=0.5: small share 2, main share 2, ghost 2.
# S/M/G listed oldest -> newest, f = freq.
#  1 A  miss                                    S=[A]
#  2 B  miss                                    S=[A B]
#  3 C  miss  small full, nothing evicted yet -> M=[C]
#  4 D  miss                                    M=[C D]
#  5 A  hit fA=1   6 A hit fA=2   7 C hit fC=1
#  8 E  miss  main 2 !> 2, evict small: A (f 2 >= 2) moves to main with f=0: M=[C D A];
#             B (f 0) evicted -> G=[B].  E -> S=[E]
#  9 B  miss  ghost hit (G=[]); main 3 > 2: C (f 1) reinserted f=0: M=[D A C]; D evicted.
#             B -> main: M=[A C B]
# 10 D  miss  (main victims leave no ghost) main 3 > 2: A evicted.  D -> S=[E D]
# 11 A  miss  main 2 !> 2, small: E evicted, G=[E].  A -> S=[D A]
# 12 E  miss  ghost hit (G=[]); small: D evicted, G=[D].  E -> M=[C B E]
# 13 C  hit fC=1
# 14 F  miss  main 3 > 2: C reinserted f=0 (M=[B E C]); B evicted.  F -> S=[A F]
# 15 D  miss  ghost hit (G=[]); small: A evicted, G=[A].  D -> M=[E C D]
# 16 B  miss  main 3 > 2: E evicted.  B -> S=[F B]
# 17 C  hit fC=1
# 18 X  miss  main 2 !> 2, small: F evicted, G=[A F].  X -> S=[B X]
# 19 Y  miss  small: B evicted; ghost full, A expires: G=[F B].  Y -> S=[X Y]
# 20 A  miss  A expired from the ghost -> small: X evicted, F expires: G=[B X].  A -> S=[Y A]
# 21 F  miss  small: Y evicted, B expires: G=[X Y].  F -> S=[A F]
# 22 X  miss  ghost hit (G=[Y]); small: A evicted, G=[Y A].  X -> M=[C D X]
TRACE = [A, B, C, D, A, A, C, E, B, D, A, E, C, F, D, B, C, X, Y, A, F, X]
HITS_AT = {5, 6, 7, 13, 17}  # 1-based
VICTIMS = [B, D, A, E, D, B, A, E, F, B, X, Y, A]
HAND = "s3fifo(small_ratio=0.5,ghost_ratio=0.5)"


def hits_of(ids, capacity, spec="s3fifo", sizes=None) -> list[bool]:
    return run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy(spec), capacity).tolist()


def replay(ids, sizes, capacity, spec):
    """The access loop by hand around the hooks: (victims in order, final state, dense id of each id)."""
    prepared = PreparedTrace.of(make_trace(ids, sizes))
    pol = make_policy(spec)
    state = pol.init_state(SimContext(prepared.n_objects, capacity, prepared.obj, prepared.size,
                                      prepared.trace.time, None, 0))
    on_hit, admit, evict, on_insert = pol.hooks()
    resident: dict[int, int] = {}
    victims = []
    for i, (o, s) in enumerate(zip(prepared.obj.tolist(), prepared.size.tolist())):
        if o in resident:
            on_hit(state, o, s, i)
            continue
        if not admit(state, o, s, i):
            continue
        while sum(resident.values()) + s > capacity:
            victim = int(evict(state, o, s, i))
            victims.append(victim)
            del resident[victim]
        on_insert(state, o, s, i)
        resident[o] = s
    dense = dict(zip(prepared.trace.obj_id.tolist(), prepared.obj.tolist()))
    return victims, state, dense


def test_hand_worked_trace_hits():
    expected = [i + 1 in HITS_AT for i in range(len(TRACE))]
    assert hits_of(TRACE, 4, HAND) == expected


def test_hand_worked_trace_victims_and_final_queues():
    victims, state, dense = replay(TRACE, [1] * len(TRACE), 4, HAND)
    assert victims == [dense[v] for v in VICTIMS]
    where, freq = state[6], state[7]
    assert {o: int(where[dense[o]]) for o in (A, B, C, D, E, F, X, Y)} == {
        A: GHOST, B: NONE, C: MAIN, D: MAIN, E: NONE, F: SMALL, X: MAIN, Y: GHOST}
    assert freq[dense[C]] == 1 and freq[dense[X]] == 0


def test_object_larger_than_small_share_is_refused_without_evictions():
    # capacity 20: small share 2 bytes. 9 (3 bytes) is refused like libCacheSim's can_insert does:
    # a miss, nothing evicted, not cached, so its re-request misses too.
    ids, sizes = [1, 2, 9, 9, 1], [1, 1, 3, 3, 1]
    assert hits_of(ids, 20, sizes=sizes) == [False, False, False, False, True]
    assert hits_of(ids, 20, sizes=sizes) == libcachesim_hits("s3fifo", ids, sizes, 20)
    victims, state, dense = replay(ids, sizes, 20, "s3fifo")
    assert victims == [] and state[6][dense[9]] == NONE


def test_object_equal_to_small_share_is_parked_and_evicted_first():
    # capacity 100: small share 10 bytes. 1 and 2 (5 bytes each) fill small; 9 has exactly 10 bytes
    # and no ghost entry: libCacheSim makes room for it (nothing needed here) but does not insert it.
    # Here it is parked in the held list, outside small and main. Then 9-byte objects 3.. go to main
    # (small is full before the first eviction); 3..10 bring the cache to 100 bytes, so 11 needs
    # room and the first eviction removes the parked 9 — the 10 free bytes libCacheSim has.
    ids = [1, 2, 9] + list(range(3, 9)) + [10, 11, 12]
    sizes = [5, 5, 10] + [9] * 9
    victims, state, dense = replay(ids[:3], sizes[:3], 100, "s3fifo")
    assert state[6][dense[9]] == HELD and state[9][0] + state[9][1] == 10
    victims, state, dense = replay(ids, sizes, 100, "s3fifo")
    assert victims[0] == dense[9] and state[6][dense[9]] == NONE
    assert hits_of(ids + [9], 100, sizes=sizes + [10]) == libcachesim_hits("s3fifo", ids + [9], sizes + [10], 100)


def test_params_round_trip_and_validation():
    pol = make_policy("s3fifo(small_ratio=0.2,ghost_ratio=0.5,move_to_main_threshold=1)")
    assert pol.params() == {"small_ratio": 0.2, "ghost_ratio": 0.5, "move_to_main_threshold": 1}
    assert make_policy(pol.describe()).params() == pol.params()
    for bad in ("small_ratio=1.5", "small_ratio=-0.1", "ghost_ratio=-1", "move_to_main_threshold=1.5",
                "move_to_main_threshold=-1", "small_ratio=abc"):
        with pytest.raises(FeedlearnError, match="s3fifo"):
            make_policy(f"s3fifo({bad})")


@pytest.mark.parametrize("seed", range(12))
def test_matches_libcachesim_request_by_request(seed):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, 800) % 80 + 1).tolist()
    size_of = rng.integers(1, 6, 81)  # one size per object, all below the small share
    sizes = [int(size_of[o]) for o in ids]
    if seed % 2:
        spec = "s3fifo(small_ratio=0.25,ghost_ratio=0.5,move_to_main_threshold=1)"
        ref = {"small_size_ratio": 0.25, "ghost_size_ratio": 0.5, "move_to_main_threshold": 1}
    else:
        spec, ref = "s3fifo", {}
    capacity = 60 + 10 * seed
    assert hits_of(ids, capacity, spec, sizes) == libcachesim_hits("s3fifo", ids, sizes, capacity, **ref)


@pytest.mark.slow
@pytest.mark.parametrize("trace_name", TRACES)
@pytest.mark.parametrize("size", ["1%", "10%"])
@pytest.mark.parametrize(
    ("spec", "ref"),
    [
        ("s3fifo", {}),
        ("s3fifo(small_ratio=0.2,ghost_ratio=0.5,move_to_main_threshold=1)",
         {"small_size_ratio": 0.2, "ghost_size_ratio": 0.5, "move_to_main_threshold": 1}),
    ],
)
def test_shipped_traces_match_libcachesim(spec, ref, trace_name, size):
    prep = prepared(trace_name)
    capacity = resolve_cache_size(size, prep.unique_bytes)
    ours = simulate(prep, spec, capacity)
    ref_omr, ref_bmr = libcachesim_miss_ratios(prep.trace, "s3fifo", capacity, **ref)
    n = ours.requests
    assert round(ours.object_miss_ratio * n) == round(ref_omr * n)
    assert ours.byte_miss_ratio == pytest.approx(ref_bmr, abs=1e-12)


def test_forget_drops_a_ghost_entry_so_the_object_goes_to_small():
    # The hand-worked trace above: after request 8, B is the only ghost (G=[B]). Forgetting it (as a
    # live cache does before reusing B's id) empties the ghost and its bytes; B's request 9 is then
    # no ghost hit: main 3 > 2 evicts as before (C reinserted, D evicted) but B enters small S=[E B]
    # instead of main.
    pol = make_policy(HAND)
    ids = {o: o - 1 for o in TRACE}  # dense ids 0..7
    state = pol.init_state(SimContext(8, 4, np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64),
                                      np.zeros(1), None, 0))
    on_hit, admit, evict, on_insert = pol.hooks()
    resident: set[int] = set()

    def request(i, o):
        if o in resident:
            on_hit(state, o, 1, i)
            return
        assert admit(state, o, 1, i)
        while len(resident) + 1 > 4:
            resident.remove(int(evict(state, o, 1, i)))
        on_insert(state, o, 1, i)
        resident.add(o)

    for i, o in enumerate(TRACE[:8]):
        request(i, ids[o])
    where, sc = state[6], state[9]
    assert where[ids[B]] == GHOST and sc[2] == 1  # GHOST_BYTES
    type(pol).forget(state, ids[C])  # cached: never forgotten by a live cache; a no-op anyway
    assert where[ids[C]] == MAIN
    type(pol).forget(state, ids[B])
    assert where[ids[B]] == NONE and sc[2] == 0 and state[4].tolist() == [-1, -1]  # ghost list empty
    request(8, ids[B])
    assert where[ids[B]] == SMALL and where[ids[D]] == NONE and where[ids[C]] == MAIN
    assert sorted(resident) == sorted(ids[o] for o in (A, B, C, E))
