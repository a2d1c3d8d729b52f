"""CLOCK — FIFO with reinsertion (second chance), with an ``n_bit_counter``-bit frequency counter.

Objects sit in one FIFO queue (a doubly-linked list over dense ids, head = newest). A hit adds one
to the object's counter, saturating at ``2**n_bit_counter - 1``; a new object starts at
``init_freq``. To evict, the hand looks at the tail (oldest): a counter >= 1 is decremented by ONE
and the object moves to the head (it gets another lap); the first tail object with counter 0 is
evicted. With the default 1-bit counter this is the classic second-chance CLOCK.

Same semantics as libCacheSim's ``Clock`` (``Clock.c``: ``Clock_insert`` prepends with
``init_freq``, ``Clock_find`` increments up to ``max_freq``, ``Clock_evict`` decrements and moves the
tail to the head), so miss counts match it exactly, including for non-default parameters. The one
difference: libCacheSim accepts an ``init_freq`` above the counter's maximum; we reject it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.policy import Policy, SimContext, linked_list
from feedlearn.common.errors import FeedlearnError

MAX_BITS = 32  # counters are int64; more bits than this is never useful


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, ends, freq, params = state
    if freq[obj] < params[1]:
        freq[obj] += 1


@njit(cache=True)
def _evict(state, obj, size, i):
    prev, nxt, ends, freq, params = state
    victim = ends[1]
    while freq[victim] >= 1:
        # second chance: spend one unit of the counter and send the object round again
        freq[victim] -= 1
        dlist.move_to_head(prev, nxt, ends, victim)
        victim = ends[1]
    dlist.unlink(prev, nxt, ends, victim)
    return victim


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, ends, freq, params = state
    freq[obj] = params[0]
    dlist.push_head(prev, nxt, ends, obj)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


class Clock(Policy):
    """CLOCK / FIFO-reinsertion with an n-bit frequency counter."""

    name = "clock"
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert

    def __init__(self, *, n_bit_counter: int = 1, init_freq: int = 0, seed: int = 0) -> None:
        super().__init__(seed=seed)
        if not _is_int(n_bit_counter) or not 1 <= n_bit_counter <= MAX_BITS:
            raise FeedlearnError(f"clock: n_bit_counter must be an integer in [1, {MAX_BITS}], got {n_bit_counter!r}")
        max_freq = (1 << int(n_bit_counter)) - 1
        if not _is_int(init_freq) or not 0 <= init_freq <= max_freq:
            raise FeedlearnError(
                f"clock: init_freq must be an integer in [0, 2**n_bit_counter - 1 = {max_freq}], got {init_freq!r}"
            )
        self.n_bit_counter = int(n_bit_counter)
        self.init_freq = int(init_freq)

    def init_state(self, ctx: SimContext) -> tuple:
        prev, nxt, ends = linked_list(ctx.n_objects)  # the FIFO queue, head = newest
        freq = np.zeros(ctx.n_objects, dtype=np.int64)  # per-object counter (hits, saturating)
        params = np.array([self.init_freq, (1 << self.n_bit_counter) - 1], dtype=np.int64)  # init, max
        return prev, nxt, ends, freq, params
