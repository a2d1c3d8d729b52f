"""SIEVE — a FIFO queue with a visited bit and a hand that moves from old to new, never reinserting.

New objects go to the head (newest end) unvisited; a hit only sets the visited bit. To evict, the
hand starts where it stopped last time (at the tail, the oldest object, the first time or after it
ran off the head) and walks towards the head, clearing visited bits, wrapping from the head back to
the tail; the first unvisited object is evicted and the hand stays at its newer neighbour. Unlike
CLOCK, survivors keep their place in the queue, so new objects near the head are sifted quickly.

Same semantics as libCacheSim's ``Sieve`` (``Sieve.c``: ``Sieve_insert`` prepends with freq 0,
``Sieve_find`` sets freq = 1, ``Sieve_evict`` walks ``prev`` from the saved pointer and saves the
victim's ``prev``), so miss counts match it exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.policy import Policy, SimContext, linked_list


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, ends, visited, hand = state
    visited[obj] = 1


@njit(cache=True)
def _evict(state, obj, size, i):
    prev, nxt, ends, visited, hand = state
    o = hand[0] if hand[0] >= 0 else ends[1]
    while visited[o]:
        visited[o] = 0
        # towards the head (newer); past the head wrap round to the tail
        o = prev[o] if prev[o] >= 0 else ends[1]
    hand[0] = prev[o]  # -1 when the victim was the head: next time start at the tail
    dlist.unlink(prev, nxt, ends, o)
    return o


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, ends, visited, hand = state
    visited[obj] = 0
    dlist.push_head(prev, nxt, ends, obj)


class Sieve(Policy):
    """SIEVE (Zhang et al., NSDI '24)."""

    name = "sieve"
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert

    def init_state(self, ctx: SimContext) -> tuple:
        prev, nxt, ends = linked_list(ctx.n_objects)  # the queue, head = newest
        visited = np.zeros(ctx.n_objects, dtype=np.uint8)  # 1 = hit since the hand last passed
        hand = np.array([-1], dtype=np.int64)  # id the next eviction starts at; -1 = the tail
        return prev, nxt, ends, visited, hand
