"""ARC: the adaptation of p and ghost hits worked out by hand, and libCacheSim request by request."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.core.policy import SimContext
from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.arc import ARC
from feedlearn.cache.simulator import PreparedTrace, run_policy
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import make_trace

_WHERE = {0: "-", 1: "T1", 2: "T2", 3: "B1", 4: "B2"}


def replay(ids, sizes, capacity):
    """Drive ARC's hooks like the simulator does; per request: (hit, p, {id: list}, evictions)."""
    prepared = PreparedTrace.of(make_trace(ids, sizes))
    ctx = SimContext(prepared.n_objects, capacity, prepared.obj, prepared.size,
                     prepared.trace.time, None, 0)
    state = ARC().init_state(ctx)
    where, p = state[6], state[9]
    dense_to_id = np.unique(np.asarray(ids))
    resident: dict[int, int] = {}
    steps = []
    for i, (o, s) in enumerate(zip(prepared.obj.tolist(), prepared.size.tolist())):
        hit, evictions = o in resident, 0
        if hit:
            ARC.on_hit(state, o, s, i)
        elif ARC.admit(state, o, s, i) and s <= capacity:
            while sum(resident.values()) + s > capacity:
                del resident[int(ARC.evict(state, o, s, i))]
                evictions += 1
            ARC.on_insert(state, o, s, i)
            resident[o] = s
        lists = {int(dense_to_id[d]): _WHERE[int(w)] for d, w in enumerate(where) if w}
        steps.append((hit, float(p[0]), lists, evictions))
    return steps


def test_b1_ghost_hit_grows_p_and_keeps_t1_object():
    # unit sizes, capacity 2, objects A=1 B=2 C=3; lists written MRU first, p = T1's target
    #  1 A miss  T1=[A]                          p=0
    #  2 A hit   T2=[A]  (T1 hit -> T2)
    #  3 B miss  T1=[B] T2=[A]
    #  4 C miss  full; no ghost hit, T1+B1+1=2 <= 2 and |all|=2 < 4 -> REPLACE:
    #            T1=1 > p=0 -> B to B1.          T1=[C] T2=[A] B1=[B]
    #  5 A hit   (T2 -> T2 head)
    #  6 B miss  ghost hit in B1: p += max(|B2|/|B1| = 0/1, 1) -> p=1, B leaves B1;
    #            REPLACE: T1=1 > p=1? no; T1 == p but the hit was in B1, not B2; T2 non-empty
    #            -> A (T2's LRU) to B2; B goes to T2. T1=[C] T2=[B] B2=[A]
    #  7 C hit   C survived because p grew (with p=0, T1=1 > p would have sent C to B1 at 6)
    #  8 A miss  ghost hit in B2: p -= max(|B1|/|B2| = 0/1, 1) -> p=0, A leaves B2;
    #            REPLACE: T1 empty -> B (T2's LRU) to B2; A goes to T2.  T2=[A,C] B2=[B]
    ids = [1, 1, 2, 3, 1, 2, 3, 1]
    steps = replay(ids, [1] * 8, 2)
    assert [s[0] for s in steps] == [False, True, False, False, True, False, True, False]
    assert [s[1] for s in steps] == [0, 0, 0, 0, 0, 1, 1, 0]
    assert steps[3][2] == {1: "T2", 2: "B1", 3: "T1"}
    assert steps[5][2] == {1: "B2", 2: "T2", 3: "T1"}
    assert steps[7][2] == {1: "T2", 2: "B2", 3: "T2"}
    # LRU on the same trace hits only at 2: C evicts A at 4, and every later request misses
    lru = run_policy(PreparedTrace.of(make_trace(ids)), make_policy("lru"), 2)
    assert lru.tolist() == [False, True, False, False, False, False, False, False]


def test_ghost_hit_without_eviction_still_adapts_p():
    # capacity 4 bytes; A=1 (1 byte), B=2 (2 bytes), C=3 (3 bytes)
    #  1 A miss  T1=[A]                              used 1
    #  2 B miss  T1=[B,A]                            used 3
    #  3 B hit   T1=[A] T2=[B]
    #  4 C miss  needs 2 evictions (3+3 > 4): T1+B1+3=4 <= 4, REPLACE: T1=1 > p=0 -> A to B1;
    #            then T1=0 -> B (T2's LRU) to B2.    T1=[C] B1=[A] B2=[B]   used 3
    #  5 A miss  used 3+1 <= 4: no eviction; admit (every miss) does the ghost-hit step:
    #            p += max(|B2|/|B1| = 2/1, 1) = 2; A enters T2.   T1=[C] T2=[A] B2=[B]
    #  6 A hit
    steps = replay([1, 2, 2, 3, 1, 1], [1, 2, 2, 3, 1, 1], 4)
    assert [s[0] for s in steps] == [False, False, True, False, False, True]
    assert [s[3] for s in steps] == [0, 0, 0, 2, 0, 0]
    assert [s[1] for s in steps] == [0, 0, 0, 0, 2, 2]
    assert steps[4][2] == {1: "T2", 2: "B2", 3: "T1"}


def test_t1_too_large_with_empty_b1_evicts_without_ghost():
    # capacity 3, unit sizes, no hits: T1+B1+1 > 3 with B1 empty -> T1's LRU leaves with no ghost
    steps = replay([1, 2, 3, 4], [1] * 4, 3)
    assert steps[3][2] == {2: "T1", 3: "T1", 4: "T1"}


def test_arc_takes_no_parameters():
    assert make_policy("arc").params() == {}
    with pytest.raises(FeedlearnError):
        make_policy("arc(p=3)")


def test_matches_libcachesim_request_by_request_on_random_traces():
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(11)
    for _ in range(300):
        n, n_obj = int(rng.integers(1, 150)), int(rng.integers(1, 25))
        ids = rng.integers(0, n_obj, n)
        sizes = rng.integers(1, 12, n_obj)[ids]  # one size per object
        capacity = int(rng.integers(int(sizes.max()), 60))
        ours = run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy("arc"), capacity)
        cache = lcs.ARC(capacity, hashpower=10)  # the default 2**24 table costs 50 ms to build
        ref = [bool(cache.get(lcs.Request(obj_size=int(s), obj_id=int(o) + 1, clock_time=t)))
               for t, (o, s) in enumerate(zip(ids, sizes))]
        assert ours.tolist() == ref, (ids.tolist(), sizes.tolist(), capacity)


def test_oversized_request_for_a_ghost_adapts_p_like_libcachesim():
    # sizes change between requests, sometimes above the cache: libCacheSim's find still adapts p
    # and drops the ghost for such a request, and so does our admit hook (called on every miss)
    lcs = pytest.importorskip("libcachesim")
    rng = np.random.default_rng(5)
    for _ in range(200):
        n, n_obj = int(rng.integers(1, 120)), int(rng.integers(1, 15))
        ids = rng.integers(0, n_obj, n)
        capacity = int(rng.integers(8, 40))
        sizes = rng.integers(1, capacity + 10, n)  # per request; some larger than the cache
        ours = run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy("arc"), capacity)
        cache = lcs.ARC(capacity, hashpower=10)
        ref = [bool(cache.get(lcs.Request(obj_size=int(s), obj_id=int(o) + 1, clock_time=t)))
               for t, (o, s) in enumerate(zip(ids, sizes))]
        assert ours.tolist() == ref, (ids.tolist(), sizes.tolist(), capacity)


def drive_with_forget(requests, capacity):
    """ARC's hooks as the access loop calls them (unit sizes, ids 0..3 used as dense ids);
    ``("forget", o)`` calls ``forget`` as a live cache does before reusing ``o``'s id."""
    ctx = SimContext(4, capacity, np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64), np.zeros(1), None, 0)
    state = ARC().init_state(ctx)
    resident: set[int] = set()
    i = 0
    for r in requests:
        if isinstance(r, tuple):
            ARC.forget(state, r[1])
            continue
        if r in resident:
            ARC.on_hit(state, r, 1, i)
        elif ARC.admit(state, r, 1, i):
            while len(resident) + 1 > capacity:
                resident.remove(int(ARC.evict(state, r, 1, i)))
            ARC.on_insert(state, r, 1, i)
            resident.add(r)
        i += 1
    where, meta, p = state[6], state[8], state[9]
    lists = {o: _WHERE[int(w)] for o, w in enumerate(where) if w}
    return lists, float(p[0]), meta[:4].tolist()  # (T1, T2, B1, B2) bytes


def test_forget_drops_a_b1_ghost_so_the_next_request_is_a_plain_miss():
    # The hand-worked trace above with A=1 B=2 C=3: after 1 1 2 3, T1=[C] T2=[A] B1=[B].
    # Forgetting B empties B1 (0 bytes). B's request is then case IV, not a B1 ghost hit: p stays 0,
    # T1+B1+1 = 2 <= 2 and the directory (2) < 4 -> REPLACE: T1=1 > p=0 -> C to B1; B enters T1.
    lists, p, sizes = drive_with_forget([1, 1, 2, 3], 2)
    assert lists == {1: "T2", 2: "B1", 3: "T1"} and sizes == [1, 1, 1, 0]
    lists, p, sizes = drive_with_forget([1, 1, 2, 3, ("forget", 2)], 2)
    assert lists == {1: "T2", 3: "T1"} and sizes == [1, 1, 0, 0]
    lists, p, sizes = drive_with_forget([1, 1, 2, 3, ("forget", 2), 2], 2)
    assert lists == {1: "T2", 2: "T1", 3: "B1"} and p == 0 and sizes == [1, 1, 1, 0]
    # without forget, step 6 was a ghost hit: p = 1 and B went to T2
    assert drive_with_forget([1, 1, 2, 3, 1, 2], 2)[1] == 1


def test_forget_drops_a_b2_ghost_and_leaves_cached_ids_alone():
    # After 1 1 2 3 1 2 3 (the trace above up to 7): T2=[C,B] B2=[A], p=1 (C's hit moved it to T2).
    # Forget A: B2 empty. A's request is case IV: directory 2 < 4 -> REPLACE: T1 empty -> B (T2's
    # LRU) to B2; A enters T1; p stays 1 (a B2 ghost hit would have lowered it to 0).
    lists, p, sizes = drive_with_forget([1, 1, 2, 3, 1, 2, 3], 2)
    assert lists == {1: "B2", 2: "T2", 3: "T2"} and p == 1 and sizes == [0, 2, 0, 1]
    lists, p, sizes = drive_with_forget([1, 1, 2, 3, 1, 2, 3, ("forget", 1), 1], 2)
    assert lists == {1: "T1", 2: "B2", 3: "T2"} and p == 1 and sizes == [1, 1, 0, 1]
    # forget is only called for ids that are not cached; for an id ARC does not know it is a no-op
    assert drive_with_forget([1, 1, 2, 3, ("forget", 0)], 2) == drive_with_forget([1, 1, 2, 3], 2)
