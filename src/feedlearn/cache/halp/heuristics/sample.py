"""Uniform sampling over the whole cache (LRB-style): no order, candidates least recently used first.

A dense array of resident ids with swap-remove makes a draw O(k); the access stamps order the
drawn candidates so that the least recently used leads (the heuristic's own choice).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.experimental import structref

from feedlearn.cache.halp.heuristics.base import CandidateHeuristic, StateType, define_state
from feedlearn.cache.halp.rng import below, new_rng


@structref.register
class SampleStateType(StateType):
    pass


class SampleState(structref.StructRefProxy):
    """``dense`` resident ids, ``slot`` of each id in it, ``count`` (1,), ``last`` access per id, ``rng``."""


define_state(SampleState, SampleStateType, ["dense", "slot", "count", "last", "rng"])


@njit(cache=True)
def on_hit(hs, obj, size, i):
    hs.last[obj] = i


@njit(cache=True)
def on_insert(hs, obj, size, i):
    slot, count = hs.slot, hs.count
    slot[obj] = count[0]
    hs.dense[count[0]] = obj
    count[0] += 1
    hs.last[obj] = i


@njit(cache=True)
def remove(hs, obj):
    dense, slot, count = hs.dense, hs.slot, hs.count
    last = dense[count[0] - 1]  # swap-remove: the last resident takes obj's slot
    dense[slot[obj]] = last
    slot[last] = slot[obj]
    slot[obj] = -1
    count[0] -= 1


@njit(cache=True)
def window(hs, max_len, out):
    """``max_len`` distinct residents drawn uniformly (their own stream), least recently used first."""
    dense, count, last, rng = hs.dense, hs.count[0], hs.last, hs.rng
    n = min(max_len, count)
    for j in range(n):  # partial Fisher-Yates over the dense array
        r = j + below(rng, count - j)
        dense[j], dense[r] = dense[r], dense[j]
        hs.slot[dense[j]] = j
        hs.slot[dense[r]] = r
        out[j] = dense[j]
    for j in range(1, n):  # least recently used first: the heuristic's own choice leads
        v = out[j]
        q = j - 1
        while q >= 0 and last[out[q]] > last[v]:
            out[q + 1] = out[q]
            q -= 1
        out[q + 1] = v
    return n


class Sample(CandidateHeuristic):
    name = "sample"
    state_type = SampleStateType
    proxy = SampleState
    on_hit, on_insert, remove, window = on_hit, on_insert, remove, window

    def new_state(self, n_objects: int) -> SampleState:
        return SampleState(np.zeros(n_objects, dtype=np.int64), np.full(n_objects, -1, dtype=np.int64),
                           np.zeros(1, dtype=np.int64), np.full(n_objects, -1, dtype=np.int64),
                           new_rng(self.seed + 7919))  # its own stream: sampling does not shift HALP's draws
