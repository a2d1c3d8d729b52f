"""LRU — the template policy. Copy this file to add a policy.

Least Recently Used keeps objects in recency order (a doubly-linked list over dense ids); a hit
moves the object to the head, eviction takes the tail. Same algorithm as libCacheSim's ``LRU``.

To add a policy: copy this file, give the class a new ``name``, write its three hooks, and add one
line to ``POLICIES`` in ``policies/__init__.py``. The shared contract tests then cover it.
"""

from __future__ import annotations

from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.policy import Policy, SimContext, linked_list


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, ends = state
    dlist.move_to_head(prev, nxt, ends, obj)


@njit(cache=True)
def _evict(state, obj, size, i):
    prev, nxt, ends = state
    return dlist.pop_tail(prev, nxt, ends)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, ends = state
    dlist.push_head(prev, nxt, ends, obj)


class LRU(Policy):
    """Least Recently Used."""

    name = "lru"
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert

    def init_state(self, ctx: SimContext) -> tuple:
        # (prev, next, ends): the recency list, head = most recently used.
        return linked_list(ctx.n_objects)
