"""GDSF: Greedy-Dual-Size-Frequency priorities (``policies/gdsf.py``'s formula, libCacheSim's).

The window is the lowest priorities, read by popping and re-pushing them (same keys and ties, so
the order is unchanged), O(window · log n). ``L`` rises to the evicted object's priority.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.experimental import structref

from feedlearn.cache.core import heap
from feedlearn.cache.halp.heuristics.base import CandidateHeuristic, StateType, define_state

COST = 1.0e6  # libCacheSim's per-object cost, as ``policies/gdsf.py`` (not imported: the policies import HALP)


@structref.register
class GDSFStateType(StateType):
    pass


class GDSFState(structref.StructRefProxy):
    """The heap (``core.heap``: ``key``, ``tie``, ``heap``, ``pos``, ``count``), ``freq`` per id, ``inflation`` (1,): L."""


define_state(GDSFState, GDSFStateType, ["key", "tie", "heap", "pos", "count", "freq", "inflation"])


@njit(cache=True)
def _heap(hs):
    return (hs.key, hs.tie, hs.heap, hs.pos, hs.count)


@njit(cache=True)
def on_hit(hs, obj, size, i):
    hs.freq[obj] += 1
    heap.update(_heap(hs), obj, hs.inflation[0] + hs.freq[obj] * COST / max(size, 1), i)


@njit(cache=True)
def on_insert(hs, obj, size, i):
    hs.freq[obj] = 1
    heap.push(_heap(hs), obj, hs.inflation[0] + COST / max(size, 1), i)


@njit(cache=True)
def remove(hs, obj):
    hs.inflation[0] = max(hs.inflation[0], hs.key[obj])  # inflation: L rises to the evicted priority
    heap.remove(_heap(hs), obj)


@njit(cache=True)
def window(hs, max_len, out):
    h = _heap(hs)
    n = 0
    while n < max_len and hs.count[0] > 0:
        out[n] = heap.pop(h)
        n += 1
    for j in range(n):  # back with the same key and tie: the order is unchanged
        heap.push(h, out[j], hs.key[out[j]], hs.tie[out[j]])
    return n


class GDSF(CandidateHeuristic):
    name = "gdsf"
    state_type = GDSFStateType
    proxy = GDSFState
    on_hit, on_insert, remove, window = on_hit, on_insert, remove, window

    def new_state(self, n_objects: int) -> GDSFState:
        return GDSFState(*heap.new_heap(n_objects), np.zeros(n_objects, dtype=np.int64), np.zeros(1, dtype=np.float64))
