"""Belady (MIN) — the offline optimum for unit sizes: evict the object needed farthest in the future.

Every resident object sits in a heap keyed by the index of its next request (an object never
requested again counts as infinitely far); eviction pops the farthest, and a hit re-keys the object
with its new next request. Same algorithm as libCacheSim's ``Belady``, reproduced to the victim:

* libCacheSim keys its max-heap (``pqueue``) by ``next_access_vtime`` and gives every object with no
  future request the same key, ``INT64_MAX``. Their order is therefore decided by the heap's shape.
  We use ``heap.py`` with key ``-next`` and a constant tie-breaker 0: its sift rules (strict
  comparisons, the left child unless the right one is strictly better, the last element moved to
  the root on pop) are exactly pqueue's, index-shifted by one, so the same object is evicted at
  every step. (Which "dead" object goes first cannot change any hit anyway — dead objects are always
  evicted before live ones, so they behave like free space — but matching the victims keeps the
  two simulators comparable step by step.)
* A hit updates the key (libCacheSim's ``Belady_find`` calls ``pqueue_change_priority``).
* Objects never requested again ARE inserted (libCacheSim's ``EVICT_IMMEDIATELY_IF_NO_FUTURE_ACCESS``
  is off), and the loop first evicts to make room for them. Within that demand-paging model (every
  miss is inserted) this policy is optimal for unit sizes; tests check it by exhaustive search.
* ``belady(bypass=True)`` drops a missed object instead when its next request is no nearer than
  every resident's (the loop's bypass: ``evict`` returns the newcomer). That is the optimum when
  a cache may decline to store a miss — the bound for admission-filtering policies such as S3-FIFO
  and GDSF, which can beat plain Belady (e.g. GDSF on ``1 1 0 1`` with one slot). Not in libCacheSim.

With real sizes Belady is not optimal (see ``belady_size``). Measured on the shipped traces, object /
byte miss ratio at 1% and 10% of the working set (bytes):

    trace                   1%: belady       belady_size      10%: belady      belady_size
    cloudPhysicsIO              0.8005/0.9393   0.7718/0.9411        0.6513/0.7320   0.6017/0.7410
    tencentBlock.ns1326         0.8755/0.7838   0.8233/0.8397        0.6804/0.5892   0.5605/0.6298
    tencentBlock.ns2706         0.5077/0.5682   0.4134/0.6711        0.3537/0.3969   0.3472/0.3978
    arc_OLTP (unit sizes)       0.4024/0.4024   0.4024/0.4024        0.2379/0.2379   0.2379/0.2379

So ``belady`` is the reference to beat for the BYTE miss ratio (it never sacrifices a large object
just for its size), and ``belady_size`` the one for the OBJECT miss ratio; with unit sizes they agree.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import heap
from feedlearn.cache.core.policy import Policy, RequestChunk, SimContext
from feedlearn.common.errors import FeedlearnError


@njit(cache=True)
def _on_hit(state, obj, size, i):
    key, tie, order, pos, count, next_access, bypass, base = state
    # Re-key with the next request; "never again" is next_access == n, the largest possible key.
    heap.update((key, tie, order, pos, count), obj, -float(next_access[i - base[0]]), 0)


@njit(cache=True)
def _evict(state, obj, size, i):
    key, tie, order, pos, count, next_access, bypass, base = state
    h = (key, tie, order, pos, count)
    if bypass[0] and -float(next_access[i - base[0]]) <= key[heap.peek(h)]:
        return obj  # the newcomer is needed no sooner than any resident: do not store it
    return heap.pop(h)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    key, tie, order, pos, count, next_access, bypass, base = state
    heap.push((key, tie, order, pos, count), obj, -float(next_access[i - base[0]]), 0)


class Belady(Policy):
    """Belady's MIN: evict the resident object whose next request is farthest away."""

    name = "belady"
    needs_future = True
    on_hit = _on_hit
    evict = _evict
    on_insert = _on_insert

    def __init__(self, *, bypass: bool = False, seed: int = 0) -> None:
        super().__init__(seed=seed)
        if not isinstance(bypass, bool):
            raise FeedlearnError(f"belady: bypass must be true or false, got {bypass!r}")
        self.bypass = bypass

    def admits_every_miss(self) -> bool:
        return not self.bypass

    def init_state(self, ctx: SimContext) -> tuple:
        assert ctx.next_access is not None, "belady needs next_access (needs_future = True)"
        # (key, tie, heap, pos, count): min-heap on -next request index (float64, exact below 2**53);
        # the tie-breaker is always 0 so equal keys behave as in libCacheSim's pqueue.
        # next_access covers requests base[0].. (the whole trace, or a streamed replay's chunk)
        return (*heap.new_heap(ctx.n_objects), ctx.next_access, np.array([self.bypass], dtype=np.bool_),
                np.zeros(1, dtype=np.int64))

    def on_chunk(self, state: tuple, chunk: RequestChunk) -> tuple:
        return (*state[:5], chunk.next_access, state[6], np.array([chunk.start], dtype=np.int64))
