"""LFU — evict the least frequently used object; among equals, the one least recently used.

Each resident object has a request count since it was admitted (1 on insert, +1 per hit); the
victim is the object with the smallest count. Frequency does not survive eviction: a re-admitted
object starts again at 1.

Ties follow libCacheSim's ``LFU`` (``LFU.c``), which keeps one FIFO list per frequency: a hit moves
the object to the tail of the next frequency's list and eviction takes the head of the lowest
non-empty list. The head of list ``f`` is therefore the object whose last request is oldest among
those with count ``f`` — so the order is exactly ``(count, index of last request)``, which we keep
in the shared indexed min-heap (``heap.py``; O(log n) per request instead of libCacheSim's O(1)
buckets, same victims). Identical miss counts to libCacheSim on the shipped traces.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import heap
from feedlearn.cache.core.policy import Policy, SimContext


@njit(cache=True)
def _on_hit(state, obj, size, i):
    h, freq = state
    freq[obj] += 1
    heap.update(h, obj, float(freq[obj]), i)  # tie: last request index -> LRU among equals


@njit(cache=True)
def _evict(state, obj, size, i):
    h, freq = state
    return heap.pop(h)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    h, freq = state
    freq[obj] = 1  # frequency is forgotten on eviction
    heap.push(h, obj, 1.0, i)


class LFU(Policy):
    """Least Frequently Used (ties: least recently used), as libCacheSim's ``LFU``."""

    name = "lfu"
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert

    def init_state(self, ctx: SimContext) -> tuple:
        # (heap keyed by (request count, last request index), request count per object)
        return (heap.new_heap(ctx.n_objects), np.zeros(ctx.n_objects, dtype=np.int64))
