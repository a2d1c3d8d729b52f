"""FIFO: insertion order; the window is the oldest objects. The template of a heuristic."""

from __future__ import annotations

from numba import njit
from numba.experimental import structref

from feedlearn.cache.core import dlist
from feedlearn.cache.core.policy import linked_list
from feedlearn.cache.halp.heuristics.base import CandidateHeuristic, StateType, define_state


@structref.register
class FIFOStateType(StateType):
    pass


class FIFOState(structref.StructRefProxy):
    """``prev``/``nxt`` per id and ``ends`` (head, tail): the insertion-ordered list."""


define_state(FIFOState, FIFOStateType, ["prev", "nxt", "ends"])


@njit(cache=True)
def on_hit(hs, obj, size, i):
    return None  # a hit does not move a FIFO object


@njit(cache=True)
def on_insert(hs, obj, size, i):
    dlist.push_head(hs.prev, hs.nxt, hs.ends, obj)


@njit(cache=True)
def remove(hs, obj):
    dlist.unlink(hs.prev, hs.nxt, hs.ends, obj)


@njit(cache=True)
def window(hs, max_len, out):
    """The list read from its tail (oldest first)."""
    n = 0
    prev = hs.prev
    o = hs.ends[1]
    while o >= 0 and n < max_len:
        out[n] = o
        n += 1
        o = prev[o]
    return n


class FIFO(CandidateHeuristic):
    name = "fifo"
    state_type = FIFOStateType
    proxy = FIFOState
    on_hit, on_insert, remove, window = on_hit, on_insert, remove, window

    def new_state(self, n_objects: int) -> FIFOState:
        return FIFOState(*linked_list(n_objects))
