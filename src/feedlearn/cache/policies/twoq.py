"""2Q (Johnson & Shasha, VLDB'94), the full version: a FIFO for new objects, an LRU for hot ones,
and a FIFO of ids recently pushed out of the first one.

Follows libCacheSim's ``TwoQ`` (``cache/eviction/TwoQ.c``) step for step, so miss counts match:

* Queues are measured in bytes. ``A1in`` (FIFO) gets ``int(capacity * ain_ratio)`` bytes, ``Am``
  (LRU) the rest, and the ghost ``A1out`` ``int(capacity * aout_ratio)`` bytes of *non-resident* ids.
* A hit in ``A1in`` changes nothing (it is a FIFO: a burst of re-requests is not a sign of
  heat); a hit in ``Am`` moves the object to its head.
* A miss first looks in ``A1out``: a ghost entry is removed right away (before any eviction) and
  the object goes to ``Am``; otherwise it goes to ``A1in`` (which may overflow its share: it is
  only trimmed by evictions).
* To evict: if ``A1in`` holds more than its share, its oldest object leaves and its id enters
  ``A1out`` (oldest ghost ids expire, FIFO, until it fits; an id larger than the whole ghost is not
  recorded), else ``Am``'s least recently used object leaves (no ghost).

Admission, as libCacheSim: an object larger than ``A1in``'s share is refused by ``admit`` (a miss,
nothing evicted), even after a ghost hit — so with the default ``ain_ratio`` objects above 25% of
the cache are never cached.

A libCacheSim quirk kept for exact counts: a ghost hit is inserted with ``Am``'s own ``get``, as if
``Am`` were a cache of its share alone, so even when the whole cache has room ``Am`` evicts its LRU
objects until it holds at most its share with the newcomer. Those objects are parked and leave
through the ``parked`` hook right after the insertion (the access loop itself evicts only while the
whole cache is too full). A ghost hit larger than ``Am``'s share (``ain_ratio`` above 0.5), for which
libCacheSim makes room and then does not insert it, is parked the same way: inserted, then gone.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.params import MAX_SCALAR, float_param
from feedlearn.cache.core.policy import Policy, SimContext
from feedlearn.cache.core.s3ghost import ghost_add, ghost_forget

# where[o] and the first six scalars use S3-FIFO's layout (core/s3ghost.py) so its ghost FIFO
# routines serve A1out: small = A1in, main = Am, ghost = A1out.
NONE, AIN, AM, AOUT, DOOMED = 0, 1, 2, 3, 4
AIN_BYTES, AM_BYTES, AOUT_BYTES = 0, 1, 2  # bytes in each queue (doomed objects in none)
AIN_CAP, AM_CAP, AOUT_CAP = 3, 4, 5  # each queue's share, bytes
HIT_ON_GHOST = 6  # 1 if the current miss found its id in A1out
N_SCALARS = 7


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, ain, am, aout, doomed, where, osize, sc = state
    if where[obj] == AM:
        dlist.move_to_head(prev, nxt, am, obj)


@njit(cache=True)
def _admit(state, obj, size, i):
    prev, nxt, ain, am, aout, doomed, where, osize, sc = state
    # libCacheSim drops the ghost entry in its find, before it refuses an object too large
    sc[HIT_ON_GHOST] = 1 if ghost_forget(prev, nxt, aout, where, osize, sc, obj) else 0
    return size <= sc[AIN_CAP]


@njit(cache=True)
def _evict(state, obj, size, i):
    prev, nxt, ain, am, aout, doomed, where, osize, sc = state
    # (libCacheSim would evict from an empty Am when A1in is at most its share; that takes
    # ain_ratio > 0.5, and A1in's oldest object leaves instead)
    if sc[AIN_BYTES] > sc[AIN_CAP] or am[1] < 0:
        o = dlist.pop_tail(prev, nxt, ain)
        sc[AIN_BYTES] -= osize[o]
        where[o] = NONE
        ghost_add(prev, nxt, aout, where, osize, sc, o)
        return o
    o = dlist.pop_tail(prev, nxt, am)
    sc[AM_BYTES] -= osize[o]
    where[o] = NONE
    return o


@njit(cache=True)
def _parked(state):
    """The next object ``Am`` evicted on its own (oldest first), or -1."""
    prev, nxt, ain, am, aout, doomed, where, osize, sc = state
    return dlist.pop_parked(prev, nxt, doomed, where, NONE)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, ain, am, aout, doomed, where, osize, sc = state
    osize[obj] = size
    if sc[HIT_ON_GHOST] == 0:
        dlist.push_head(prev, nxt, ain, obj)
        where[obj] = AIN
        sc[AIN_BYTES] += size
        return
    sc[HIT_ON_GHOST] = 0
    if size > sc[AM_CAP]:  # libCacheSim's Am refuses it after room was made: parked, gone at once
        dlist.push_head(prev, nxt, doomed, obj)
        where[obj] = DOOMED
        return
    while sc[AM_BYTES] + size > sc[AM_CAP]:  # Am's own get evicts down to its share
        o = dlist.pop_tail(prev, nxt, am)
        sc[AM_BYTES] -= osize[o]
        dlist.push_head(prev, nxt, doomed, o)
        where[o] = DOOMED
    dlist.push_head(prev, nxt, am, obj)
    where[obj] = AM
    sc[AM_BYTES] += size


@njit(cache=True)
def _forget(state, obj):
    """A live cache reuses ``obj``'s id (``store/``): drop its A1out entry and its bytes."""
    prev, nxt, ain, am, aout, doomed, where, osize, sc = state
    ghost_forget(prev, nxt, aout, where, osize, sc, obj)
    return None


class TwoQ(Policy):
    """2Q: A1in FIFO + Am LRU + A1out ghost FIFO, sizes in bytes."""

    name = "twoq"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    parked = _parked
    forget = _forget

    def __init__(self, *, ain_ratio: float = 0.25, aout_ratio: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed=seed)
        # A1in's share must be positive (0 admits nothing) and leave Am some bytes
        self.ain_ratio = float_param("twoq", "ain_ratio", ain_ratio, 0.0, 1.0)
        self.aout_ratio = float_param("twoq", "aout_ratio", aout_ratio, 0.0, 1e6, low_open=False, high_open=False)

    def admits_every_miss(self) -> bool:
        return False  # objects above A1in's share are refused

    def init_state(self, ctx: SimContext) -> tuple:
        n = ctx.n_objects
        sc = np.zeros(N_SCALARS, dtype=np.int64)
        # truncating float products, as libCacheSim's int64 conversions do (bytes)
        sc[AIN_CAP] = int(ctx.capacity * self.ain_ratio)
        sc[AM_CAP] = ctx.capacity - sc[AIN_CAP]
        sc[AOUT_CAP] = min(int(ctx.capacity * self.aout_ratio), MAX_SCALAR)
        # the four lists share prev/next (an id is in at most one); ends[0] = head, ends[1] = tail
        return (
            np.full(n, -1, dtype=np.int64),  # prev
            np.full(n, -1, dtype=np.int64),  # next
            np.array([-1, -1], dtype=np.int64),  # A1in FIFO ends
            np.array([-1, -1], dtype=np.int64),  # Am LRU ends
            np.array([-1, -1], dtype=np.int64),  # A1out ghost FIFO ends (ids not in the cache)
            np.array([-1, -1], dtype=np.int64),  # parked ("doomed") list ends: Am's own evictions
            np.zeros(n, dtype=np.int8),  # where: NONE/AIN/AM/AOUT/DOOMED
            np.zeros(n, dtype=np.int64),  # osize: bytes the object was admitted with (ghosts keep it)
            sc,
        )
