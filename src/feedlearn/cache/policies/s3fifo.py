"""S3-FIFO (Yang et al., SOSP'23): a small probationary FIFO, a main FIFO and a ghost FIFO.

Follows libCacheSim's ``S3FIFO`` (``cache/eviction/S3FIFO.c``) step for step, so miss counts match:

* Queues are measured in bytes. The small FIFO gets ``int(capacity * small_ratio)`` bytes, the main
  FIFO the rest, the ghost FIFO ``int(capacity * ghost_ratio)`` bytes of *non-resident* ids.
* A hit adds 1 to the object's ``freq`` (uncapped while it sits in a queue).
* A miss first looks in the ghost: a ghost entry is removed right away (before any eviction for
  this request) and the object is then inserted into main; otherwise it goes to small — except
  before the very first eviction, when a full small FIFO sends new objects to main instead.
  Every inserted object starts with ``freq = 0``.
* To evict: if main holds more than its share, or small is empty, evict from main, else from small.
  - small: pop the oldest; ``freq >= move_to_main_threshold`` → move it to main's head with
    ``freq = 0`` (main may overflow its share: nothing is evicted from main during the move) and
    look at the next; else it leaves the cache and its id enters the ghost (oldest ghost ids
    expire, FIFO, until its size fits; an object larger than the whole ghost is not recorded).
  - main: pop the oldest; ``freq >= 1`` → reinsert at the head with ``freq = min(freq, 3) - 1``
    (a 2-bit clock); else it leaves the cache.
  If a small pass moves everything to main without evicting, the choice is made again (small is
  now empty, so main evicts). One ``evict`` call therefore removes exactly one resident object,
  the moves and reinsertions happening inside that call — as libCacheSim's ``get`` loop does.

Admission, as libCacheSim: an object larger than the small FIFO's share is refused by ``admit``
(a miss, nothing evicted), even after a ghost hit. With the default ``small_ratio`` this refuses
objects above 10% of the cache; with a share of 0 bytes (caches under 10 bytes/objects) nothing is
admitted (libCacheSim refuses to build such a cache at all). ``small_ratio`` must be strictly between
0 and 1: with 0 nothing would ever be admitted (libCacheSim refuses it too).

One corner differs from libCacheSim: an object exactly the small share's size, not found in the
ghost. libCacheSim makes room for it and then does not insert it; here the loop inserts whatever it
made room for, so the object is parked in a *held* list, outside small/main and never recorded in
the ghost, that the next ``evict`` empties first. Bytes and victims are then the same as
libCacheSim's; only a re-request while the object is parked differs (a hit here, a miss there).
It does not happen on the shipped traces, where all miss counts match libCacheSim exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.params import MAX_SCALAR, float_param, int_param
from feedlearn.cache.core.policy import Policy, SimContext
from feedlearn.cache.core.s3ghost import (
    GHOST_CAP,
    MAIN,
    MAIN_BYTES,
    MAIN_CAP,
    NONE,
    SMALL,
    SMALL_BYTES,
    SMALL_CAP,
    ghost_add,
    ghost_forget,
)

# where[o] codes and the first scalar positions: core/s3ghost.py (shared with HALP's heuristic)
HELD = 4  # parked, see the module docstring
THRESHOLD = 6  # small -> main needs freq >= this
HAS_EVICTED = 7  # 1 once the first eviction has happened
HIT_ON_GHOST = 8  # 1 if the current miss found its id in the ghost
N_SCALARS = 9


@njit(cache=True)
def _ghost_lookup(state, obj, i):
    """On every miss, before any eviction: drop ``obj``'s ghost entry, remember the hit."""
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    sc[HIT_ON_GHOST] = 1 if ghost_forget(prev, nxt, ghost, where, osize, sc, obj) else 0


@njit(cache=True)
def _ghost_add(state, o):
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    ghost_add(prev, nxt, ghost, where, osize, sc, o)


@njit(cache=True)
def _evict_small(state):
    """Pop small until one object leaves the cache (returned) or small is empty (-1)."""
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    while small[1] >= 0:
        o = dlist.pop_tail(prev, nxt, small)
        sc[SMALL_BYTES] -= osize[o]
        if freq[o] >= sc[THRESHOLD]:
            dlist.push_head(prev, nxt, main, o)
            where[o] = MAIN
            freq[o] = 0
            sc[MAIN_BYTES] += osize[o]
        else:
            where[o] = NONE
            _ghost_add(state, o)
            return o
    return -1


@njit(cache=True)
def _evict_main(state):
    """Pop main, reinserting objects with freq > 0 (freq decremented), until one leaves (-1: empty)."""
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    while main[1] >= 0:
        o = dlist.pop_tail(prev, nxt, main)
        if freq[o] >= 1:
            dlist.push_head(prev, nxt, main, o)
            freq[o] = min(freq[o], 3) - 1
        else:
            where[o] = NONE
            sc[MAIN_BYTES] -= osize[o]
            return o
    return -1


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    freq[obj] += 1


@njit(cache=True)
def _admit(state, obj, size, i):
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    _ghost_lookup(state, obj, i)  # libCacheSim drops the ghost entry even when it refuses the object
    return size <= sc[SMALL_CAP]


@njit(cache=True)
def _evict(state, obj, size, i):
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    if held[1] >= 0:  # an object libCacheSim made room for but did not insert: it goes first
        o = dlist.pop_tail(prev, nxt, held)
        where[o] = NONE
        return o
    sc[HAS_EVICTED] = 1
    while True:
        if sc[MAIN_BYTES] > sc[MAIN_CAP] or sc[SMALL_BYTES] == 0:
            victim = _evict_main(state)
        else:
            victim = _evict_small(state)
        if victim >= 0:
            return victim


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    osize[obj] = size
    freq[obj] = 0
    ghost_hit = sc[HIT_ON_GHOST] == 1
    sc[HIT_ON_GHOST] = 0
    if size >= sc[SMALL_CAP] and not ghost_hit:
        # libCacheSim made room but does not insert it (see the module docstring): park it.
        dlist.push_head(prev, nxt, held, obj)
        where[obj] = HELD
    elif ghost_hit:
        dlist.push_head(prev, nxt, main, obj)
        where[obj] = MAIN
        sc[MAIN_BYTES] += size
    elif sc[HAS_EVICTED] == 0 and sc[SMALL_BYTES] >= sc[SMALL_CAP]:
        dlist.push_head(prev, nxt, main, obj)
        where[obj] = MAIN
        sc[MAIN_BYTES] += size
    else:
        dlist.push_head(prev, nxt, small, obj)
        where[obj] = SMALL
        sc[SMALL_BYTES] += size


@njit(cache=True)
def _forget(state, obj):
    """A live cache reuses ``obj``'s id (``store.py``): drop its ghost entry and its bytes.

    ``obj`` is never cached here; ``freq``/``osize`` are rewritten on insert, so nothing else is kept.
    """
    prev, nxt, small, main, ghost, held, where, freq, osize, sc = state
    ghost_forget(prev, nxt, ghost, where, osize, sc, obj)
    return None


class S3FIFO(Policy):
    """S3-FIFO: small FIFO filter + main 2-bit-clock FIFO + ghost FIFO, sizes in bytes."""

    name = "s3fifo"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    forget = _forget

    def __init__(self, *, small_ratio: float = 0.1, ghost_ratio: float = 0.9,
                 move_to_main_threshold: int = 2, seed: int = 0) -> None:
        super().__init__(seed=seed)
        # libCacheSim refuses a small share of 0 or 1 (one queue would get no bytes: a share of 0
        # admits nothing, a 100% share leaves main empty); ghost_ratio 0 means no ghost.
        small_ratio = float_param("s3fifo", "small_ratio", small_ratio, 0.0, 1.0)
        ghost_ratio = float_param("s3fifo", "ghost_ratio", ghost_ratio, 0.0, 1e6, low_open=False, high_open=False)
        move_to_main_threshold = int_param("s3fifo", "move_to_main_threshold", move_to_main_threshold, 0, MAX_SCALAR)
        self.small_ratio = float(small_ratio)
        self.ghost_ratio = float(ghost_ratio)
        self.move_to_main_threshold = move_to_main_threshold

    def admits_every_miss(self) -> bool:
        return False  # objects above the small queue's share are refused

    def init_state(self, ctx: SimContext) -> tuple:
        n = ctx.n_objects
        # Truncating float products, as libCacheSim's int64 conversions do (bytes).
        small_cap = int(ctx.capacity * self.small_ratio)
        sc = np.zeros(N_SCALARS, dtype=np.int64)
        sc[SMALL_CAP] = small_cap
        sc[MAIN_CAP] = ctx.capacity - small_cap
        sc[GHOST_CAP] = min(int(ctx.capacity * self.ghost_ratio), MAX_SCALAR)  # a large ratio stays in int64
        sc[THRESHOLD] = self.move_to_main_threshold
        # The four lists share prev/next (an id is in at most one); each has its own ends array,
        # ends[0] = head (newest), ends[1] = tail (oldest).
        return (
            np.full(n, -1, dtype=np.int64),  # prev
            np.full(n, -1, dtype=np.int64),  # next
            np.array([-1, -1], dtype=np.int64),  # small FIFO ends
            np.array([-1, -1], dtype=np.int64),  # main FIFO ends
            np.array([-1, -1], dtype=np.int64),  # ghost FIFO ends (ids not in the cache)
            np.array([-1, -1], dtype=np.int64),  # held list ends (see module docstring)
            np.zeros(n, dtype=np.int8),  # where: NONE/SMALL/MAIN/GHOST/HELD
            np.zeros(n, dtype=np.int64),  # freq: hits since insertion (main: 2-bit clock)
            np.zeros(n, dtype=np.int64),  # osize: bytes the object was admitted with
            sc,
        )
