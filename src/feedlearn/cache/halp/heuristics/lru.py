"""LRU: recency order; the candidates are drawn from its ``tail`` least recent residents. The default.

The order is kept as a compacting access log (``recency.py``), whose oldest ``tail`` live entries
are a region HALP draws ``k`` candidates from in O(k), without walking a list.
"""

from __future__ import annotations

from numba import njit
from numba.experimental import structref

from feedlearn.cache.halp.heuristics import recency as rc
from feedlearn.cache.halp.heuristics.base import CandidateHeuristic, StateType, define_state


@structref.register
class LRUStateType(StateType):
    pass


class LRUState(structref.StructRefProxy):
    """The access log (``recency.new_recency``): ``log``, ``pos``, ``sc``, ``drawn``, ``probe``, ``found``."""


define_state(LRUState, LRUStateType, ["log", "pos", "sc", "drawn", "probe", "found"])


@njit(cache=True)
def on_hit(hs, obj, size, i):
    rc.touch(hs.log, hs.pos, hs.sc, obj)


@njit(cache=True)
def on_insert(hs, obj, size, i):
    rc.touch(hs.log, hs.pos, hs.sc, obj)


@njit(cache=True)
def remove(hs, obj):
    rc.remove(hs.pos, hs.sc, obj)


@njit(cache=True)
def window(hs, max_len, out):
    return rc.oldest(hs.log, hs.pos, hs.sc, max_len, out)


@njit(cache=True)
def candidates(hs, rng, k, tail, listed, out):
    """``k`` distinct objects uniformly from the ``tail`` least recent (set at ``new_state``), oldest first."""
    return rc.draw(hs.log, hs.pos, hs.sc, hs.drawn, hs.probe, hs.found, rng, k, out)


class LRU(CandidateHeuristic):
    name = "lru"
    state_type = LRUStateType
    proxy = LRUState
    on_hit, on_insert, remove, window, candidates = on_hit, on_insert, remove, window, candidates

    def new_state(self, n_objects: int) -> LRUState:
        return LRUState(*rc.new_recency(n_objects, self.tail))
