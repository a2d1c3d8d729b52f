"""W-TinyLFU (Einziger et al., TOS'17; Caffeine's and Ristretto's policy): a small LRU window in
front of a segmented LRU, and a frequency sketch that decides who gets into the SLRU.

Follows libCacheSim's ``WTinyLFU`` with its default SLRU main cache (``cache/eviction/WTinyLFU.c``,
``SLRU.c`` with ``seg-size=1:4``) step for step, so miss counts match; everything is in bytes:

* The window gets ``int(capacity * window_ratio)`` bytes, the main SLRU the rest, split into a
  probation segment (``int(main / 5)``) and a protected one (``int(main * 4 / 5)``).
* New objects enter the window's head (it may overflow: only evictions trim it) and are counted in
  the sketch (``core/cbf.py``: libCacheSim's counting Bloom filter, hashes reproduced exactly).
* A hit in the window moves the object to its head (not counted in the sketch: libCacheSim's
  quirk). A hit in main is counted, and: in protected, to its head; in probation, promoted to
  protected, whose oldest objects cool down to probation's head while protected is over its share,
  and probation's oldest leave the cache while *it* is over its share — an eviction on a hit. Every
  ``32 * main`` main hits the sketch halves its counters.
* To evict (one libCacheSim ``evict`` call): take the window's oldest object; if main has room it
  moves there (probation if it fits that share, else protected if it fits that one, else probation)
  and the next window object is looked at; else it duels main's victim (probation's oldest, or
  protected's if probation is empty): a strictly higher sketch estimate wins — main's victim leaves
  and the candidate moves to main (evicting more of main if it still does not fit); a loser leaves
  the cache. Either ends the call. Each candidate is counted in the sketch once more. With an empty
  window, main's victim leaves. (This is the ``libcachesim`` 0.3.5 wheel's behaviour, checked request
  by request; an older libCacheSim goes on with the next window object after a win.)

One libCacheSim ``evict`` call can thus evict several objects, and a hit can evict: the extra victims
are handed to the loop through the ``parked`` hook. Admission as libCacheSim: objects larger than the
window, or than probation's share, are refused — with the default 1% window, anything above 1% of
the cache.

In a live cache (``store/``) the sketch hashes slot numbers, not keys: a key that takes over a slot
inherits its counts, as keys colliding in the filter do (there is nothing to ``forget``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import cbf, dlist
from feedlearn.cache.core.params import float_param
from feedlearn.cache.core.policy import Policy, SimContext, copy_state

NONE, WIN, PROB, PROT, PARKED = 0, 1, 2, 3, 4
# sc[...] (int64): bytes and shares, the sketch's main-hit counter and its period
WIN_BYTES, PROB_BYTES, PROT_BYTES = 0, 1, 2
WIN_CAP, MAIN_CAP, PROB_CAP, PROT_CAP = 3, 4, 5, 6
MAIN_HITS, DECAY_EVERY = 7, 8
N_SCALARS = 9


@njit(cache=True)
def _park(state, o):
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    dlist.push_head(prev, nxt, parked, o)
    where[o] = PARKED


@njit(cache=True)
def _main_evict(state):
    """SLRU's victim leaves the cache: probation's oldest, or protected's if probation is empty."""
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    if sc[PROB_BYTES] > 0:
        o = dlist.pop_tail(prev, nxt, prob)
        sc[PROB_BYTES] -= osize[o]
    else:
        o = dlist.pop_tail(prev, nxt, prot)
        sc[PROT_BYTES] -= osize[o]
    _park(state, o)


@njit(cache=True)
def _main_insert(state, o):
    """SLRU's insert: the first segment with room, else probation after making main fit."""
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    s = osize[o]
    if sc[PROB_BYTES] + s <= sc[PROB_CAP]:
        dlist.push_head(prev, nxt, prob, o)
        where[o] = PROB
        sc[PROB_BYTES] += s
    elif sc[PROT_BYTES] + s <= sc[PROT_CAP]:
        dlist.push_head(prev, nxt, prot, o)
        where[o] = PROT
        sc[PROT_BYTES] += s
    else:
        while sc[PROB_BYTES] + sc[PROT_BYTES] + s > sc[MAIN_CAP]:
            _main_evict(state)
        dlist.push_head(prev, nxt, prob, o)
        where[o] = PROB
        sc[PROB_BYTES] += s


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    w = where[obj]
    if w == WIN:
        dlist.move_to_head(prev, nxt, win, obj)
        return
    if w == PROT:
        dlist.move_to_head(prev, nxt, prot, obj)
    else:  # probation -> protected; protected cools into probation, probation overflows out
        dlist.unlink(prev, nxt, prob, obj)
        sc[PROB_BYTES] -= osize[obj]
        dlist.push_head(prev, nxt, prot, obj)
        where[obj] = PROT
        sc[PROT_BYTES] += osize[obj]
        while sc[PROT_BYTES] > sc[PROT_CAP]:
            t = dlist.pop_tail(prev, nxt, prot)
            sc[PROT_BYTES] -= osize[t]
            dlist.push_head(prev, nxt, prob, t)
            where[t] = PROB
            sc[PROB_BYTES] += osize[t]
            while sc[PROB_BYTES] > sc[PROB_CAP]:
                _main_evict(state)
    cbf.add(pos, counts, obj)
    sc[MAIN_HITS] += 1
    if sc[MAIN_HITS] >= sc[DECAY_EVERY]:
        sc[MAIN_HITS] = 0
        cbf.decay(counts)


@njit(cache=True)
def _admit(state, obj, size, i):
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    return size <= sc[WIN_CAP] and size <= sc[MAIN_CAP] and size <= sc[PROB_CAP]


@njit(cache=True)
def _evict(state, obj, size, i):
    """One libCacheSim ``evict`` call; the first victim is returned, the others parked."""
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    while True:
        if sc[WIN_BYTES] == 0:
            _main_evict(state)
            break
        wv = dlist.pop_tail(prev, nxt, win)
        sc[WIN_BYTES] -= osize[wv]
        done = False
        if sc[PROB_BYTES] + sc[PROT_BYTES] + osize[wv] <= sc[MAIN_CAP]:
            _main_insert(state, wv)
        else:
            mv = prob[1] if sc[PROB_BYTES] > 0 else prot[1]
            if cbf.estimate(pos, counts, wv) > cbf.estimate(pos, counts, mv):
                _main_evict(state)
                _main_insert(state, wv)
                done = True
            else:
                _park(state, wv)
                done = True
        cbf.add(pos, counts, wv)
        if done:
            break
    return _parked(state)


@njit(cache=True)
def _parked(state):
    """The next object evicted beyond the one ``evict`` returned, or on a hit (oldest first); -1 if none."""
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    return dlist.pop_parked(prev, nxt, parked, where, NONE)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, win, prob, prot, parked, where, osize, pos, counts, distinct, sc = state
    osize[obj] = size
    dlist.push_head(prev, nxt, win, obj)
    where[obj] = WIN
    sc[WIN_BYTES] += size
    cbf.add(pos, counts, obj)


class WTinyLFU(Policy):
    """W-TinyLFU: LRU window + SLRU main (20/80) + counting-Bloom-filter admission, sizes in bytes."""

    name = "wtinylfu"
    needs_obj_ids = True  # the sketch hashes the trace's ids, as libCacheSim does
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    parked = _parked

    def __init__(self, *, window_ratio: float = 0.01, seed: int = 0) -> None:
        super().__init__(seed=seed)
        # libCacheSim's window-size, in [0, 1); 0 would refuse every object (nothing fits the window)
        self.window_ratio = float_param("wtinylfu", "window_ratio", window_ratio, 0.0, 1.0)

    def admits_every_miss(self) -> bool:
        return False  # objects above the window's share are refused

    def init_state(self, ctx: SimContext) -> tuple:
        n = ctx.n_objects
        sc = np.zeros(N_SCALARS, dtype=np.int64)
        sc[WIN_CAP] = int(ctx.capacity * self.window_ratio)  # truncated, as libCacheSim's int64 product
        main = ctx.capacity - sc[WIN_CAP]
        sc[MAIN_CAP] = main
        sc[PROB_CAP] = int(1 / 5 * main)  # SLRU seg-size=1:4, computed as libCacheSim does
        sc[PROT_CAP] = int(4 / 5 * main)
        sc[DECAY_EVERY] = 32 * main
        keys = ctx.obj_ids if ctx.obj_ids is not None else np.arange(n, dtype=np.uint64)  # live cache: slots
        pos, distinct = cbf.positions(keys, int(main))
        # one pair of links: an object is in the window, probation, protected or parked, at most one
        return (
            np.full(n, -1, dtype=np.int64),  # prev
            np.full(n, -1, dtype=np.int64),  # next
            np.array([-1, -1], dtype=np.int64),  # window LRU ends (head = most recent)
            np.array([-1, -1], dtype=np.int64),  # probation ends
            np.array([-1, -1], dtype=np.int64),  # protected ends
            np.array([-1, -1], dtype=np.int64),  # parked ends (evicted, not yet handed out)
            np.zeros(n, dtype=np.int8),  # where: NONE/WIN/PROB/PROT/PARKED
            np.zeros(n, dtype=np.int64),  # osize: bytes the object was admitted with
            pos,  # (n, k) int32: each object's sketch counters
            np.zeros(len(distinct), dtype=np.uint32),  # the sketch's counters (only those objects use)
            distinct,  # their positions in libCacheSim's filter (for grow_state)
            sc,
        )

    def grow_state(self, state: tuple, ctx: SimContext) -> tuple:
        """More slots for a live cache: the sketch's counters are renumbered, everything else copied."""
        fresh = self.init_state(ctx)
        for k in (0, 1, 2, 3, 4, 5, 6, 7, 11):
            copy_state(state[k], fresh[k])
        fresh[9][np.searchsorted(fresh[10], state[10])] = state[9]
        return fresh
