"""FIFO — evict in insertion order; hits change nothing. Same as libCacheSim's ``FIFO``.

LRU with the hit hook switched off: the list is then in insertion order, so LRU's eviction from
the tail and insertion at the head are exactly FIFO's.
"""

from __future__ import annotations

from numba import njit

from feedlearn.cache.policies.lru import LRU


@njit(cache=True)
def _on_hit(state, obj, size, i):
    pass  # a hit does not move the object: the queue stays in insertion order


class FIFO(LRU):
    """First In, First Out."""

    name = "fifo"
    on_hit = _on_hit
