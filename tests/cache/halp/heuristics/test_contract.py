"""Every candidate heuristic, and one plugged in from outside: the same contract.

A heuristic lists residents lowest priority first and draws distinct residents as candidates;
HALP runs on any registered one (``halp(heuristic=NAME)``), including one defined in this file.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from numba import njit
from numba.experimental import structref

from feedlearn.cache.core import dlist
from feedlearn.cache.core.policy import linked_list
from feedlearn.cache.halp import heuristics as hx
from feedlearn.cache.halp import policy as halp_policy
from feedlearn.cache.halp.heuristics import base
from feedlearn.cache.halp.heuristics.base import CandidateHeuristic, StateType, define_state
from feedlearn.cache.halp.rng import new_rng
from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from tests.cache.conftest import make_trace


@pytest.mark.parametrize("name", sorted(hx.HEURISTICS))
def test_windows_and_candidates_are_distinct_residents(name):
    n, tail, k = 60, 12, 5
    hs = hx.HEURISTICS[name](seed=1, capacity=10_000, tail=tail).new_state(n)
    rng = np.random.default_rng(2)
    gen = new_rng(4)
    listed, out = np.zeros(tail, dtype=np.int64), np.zeros(tail, dtype=np.int64)
    cached: set[int] = set()
    for i in range(2000):
        o = int(rng.integers(n))
        if o in cached:
            hx.on_hit(hs, o, 10, i)
        elif len(cached) < 40 and hx.admits(hs, o, 10):
            hx.on_insert(hs, o, 10, i)
            cached.add(o)
        if i % 7 == 0 and cached:
            m = hx.candidates(hs, gen, k, tail, listed, out)
            drawn = out[:m].tolist()
            assert 1 <= m <= min(k, len(cached)) and len(set(drawn)) == m and set(drawn) <= cached
            victim = drawn[0]  # the heuristic's own choice
            hx.remove(hs, victim)
            cached.discard(victim)
            window = listed[: hx.window(hs, tail, listed)].tolist()
            assert len(set(window)) == len(window) and set(window) <= cached


# --- a heuristic from outside the package: MRU (evict the most recently used) ---------------------

@structref.register
class MRUStateType(StateType):
    pass


class MRUState(structref.StructRefProxy):
    pass


define_state(MRUState, MRUStateType, ["prev", "nxt", "ends"])


@njit(cache=True)
def _mru_touch(hs, obj, size, i):
    dlist.move_to_head(hs.prev, hs.nxt, hs.ends, obj)


@njit(cache=True)
def _mru_insert(hs, obj, size, i):
    dlist.push_head(hs.prev, hs.nxt, hs.ends, obj)


@njit(cache=True)
def _mru_remove(hs, obj):
    dlist.unlink(hs.prev, hs.nxt, hs.ends, obj)


@njit(cache=True)
def _mru_window(hs, max_len, out):
    n, o = 0, hs.ends[0]  # from the head: the most recent is the lowest priority
    while o >= 0 and n < max_len:
        out[n] = o
        n += 1
        o = hs.nxt[o]
    return n


class MRU(CandidateHeuristic):
    name = "test-mru"
    state_type, proxy = MRUStateType, MRUState
    on_hit, on_insert, remove, window = _mru_touch, _mru_insert, _mru_remove, _mru_window

    def new_state(self, n_objects: int) -> MRUState:
        return MRUState(*linked_list(n_objects))


def test_a_heuristic_registered_from_outside_drives_halp():
    hx.register(MRU)
    try:
        rng = np.random.default_rng(7)
        trace = make_trace(rng.zipf(1.3, 3000) % 50)
        hits = run_policy(PreparedTrace.of(trace), make_policy("halp(heuristic=test-mru,pick=heuristic,k=2,tail=2)"), 8)
        mru: OrderedDict[int, None] = OrderedDict()  # reference MRU over the dense ids
        prepared, expected = PreparedTrace.of(trace), []
        for o in prepared.obj.tolist():
            expected.append(o in mru)
            if o in mru:
                mru.move_to_end(o)
                continue
            if len(mru) == 8:
                mru.popitem(last=True)
            mru[o] = None
        assert hits.tolist() == expected
        # the learned pick runs on it too
        assert run_policy(prepared, make_policy("halp(heuristic=test-mru,k=2,tail=2)"), 8).sum() > 0
        # ... through uncached twins of HALP's hooks: a disk-cached compilation for this module's state
        # type would make HALP fail in every process that cannot import this test file
        for hook in (halp_policy._on_hit, halp_policy._evict, halp_policy._admit, halp_policy._on_insert,
                     base.admit_all, base.forget_nothing, hx._from_window):
            assert not any("MRUState" in str(sig) for sig in hook.signatures), hook
    finally:
        hx.HEURISTICS.pop(MRU.name)
