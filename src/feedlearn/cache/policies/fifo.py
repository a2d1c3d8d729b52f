"""FIFO — evict in insertion order; hits change nothing. Same as libCacheSim's ``FIFO``."""

from __future__ import annotations

from numba import njit

from feedlearn.cache.policies import dlist
from feedlearn.cache.policies.base import Policy, SimContext, linked_list


@njit(cache=True)
def _on_hit(state, obj, size, i):
    pass


@njit(cache=True)
def _evict(state, obj, size, i):
    prev, nxt, ends = state
    return dlist.pop_tail(prev, nxt, ends)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, ends = state
    dlist.push_head(prev, nxt, ends, obj)


class FIFO(Policy):
    """First In, First Out."""

    name = "fifo"
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert

    def init_state(self, ctx: SimContext) -> tuple:
        return linked_list(ctx.n_objects)
