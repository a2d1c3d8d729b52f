"""LRU's low end as a region HALP can draw from in O(k): a compacting log of accesses.

HALP's default candidates are ``k`` objects drawn uniformly from the ``tail`` least recently used
residents. Listing that region from a linked list is a walk of ``tail`` dependent pointer hops;
at 1% of the CDN trace the whole cache (~400 objects) is the region and the walk ran at every
eviction — 60% of the sampler's time. Here the LRU order is kept as an append-only log instead:
every access appends its object (``log[p] = o``, ``pos[o] = p``); an entry is *live* when it is its
object's newest and the object is cached (``pos[log[p]] == p``; a removal sets ``pos[o] = -1``),
and the LRU order is the live entries in log order. The *region* ``[lo, hi)`` holds exactly the
``tail`` oldest live entries (all of them when fewer are cached): a touch or removal inside it
lowers its live count, and before a draw ``hi`` moves on over newer entries until the count is
``tail`` again, ``lo`` over dead ones. A candidate is a uniform position of the region, kept if
live and not drawn yet (rejection sampling: independent random reads, not a pointer chain); when
the region is drawn densely a sequential selection pass is used instead.

Dead entries thin the region out and fill the log; both are cured by *compaction*: live entries
move to the front of the log in order, positions rewritten. The log holds ``2 · n_objects + 2 ·
tail + 64`` entries, so a compaction frees at least half of it (amortised O(1) per access), and
one is also run when rejection keeps failing (the region is then dense again).

Written by hand: no library keeps a sampleable LRU tail. Arrays are passed unpacked (numba takes
an atomic reference count per array of a tuple on every call).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp.rng import below, next_u64

LO, HI, HEAD, COUNT, TAIL, EPOCH = range(6)  # fields of the scalars array
_BATCH = 32  # probes per round of a sparse draw


@njit(cache=True, inline="always")
def _scaled(x, n):
    """``x``'s high 32 bits scaled to ``[0, n)`` (multiply-shift: no 64-bit division; n < 2**32)."""
    return np.int64(((x >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


def log_length(n_objects: int, tail: int) -> int:
    """Entries of the log: after a compaction at least half of it is free (live <= n_objects)."""
    return 2 * n_objects + 2 * tail + 64


def new_recency(n_objects: int, tail: int) -> tuple[np.ndarray, ...]:
    """``(log, pos, scalars, drawn, probe, found)`` for ``n_objects`` ids and a region of ``tail`` objects.

    Positions are absolute (no wrap-around), so a bigger state for more ids (``Policy.grow_state``)
    can take the old arrays as its prefix.
    """
    scalars = np.zeros(6, dtype=np.int64)
    scalars[TAIL] = tail
    return (np.full(log_length(n_objects, tail), -1, dtype=np.int64), np.full(n_objects, -1, dtype=np.int64),
            scalars, np.zeros(n_objects, dtype=np.int64), np.zeros(_BATCH, dtype=np.int64),
            np.zeros(_BATCH, dtype=np.int64))


@njit(cache=True, inline="always")
def _in_region(sc, p):
    return sc[LO] <= p < sc[HI]


@njit(cache=True)
def compact(log, pos, sc):
    """Move the live entries to the front of the log, in order; the region keeps its objects."""
    j = 0
    hi = sc[HI]
    new_hi = 0
    for p in range(sc[LO], sc[HEAD]):
        o = log[p]
        if o >= 0 and pos[o] == p:
            log[j] = o
            pos[o] = j
            j += 1
            if p < hi:
                new_hi = j
    sc[LO] = 0
    sc[HI] = new_hi  # 0 when the region holds no live entry (COUNT == 0)
    sc[HEAD] = j


@njit(cache=True, inline="always")
def touch(log, pos, sc, o):
    """``o`` was requested or inserted: it becomes the most recent entry."""
    p = pos[o]
    if p >= 0 and _in_region(sc, p):
        sc[COUNT] -= 1
    if sc[HEAD] == len(log):
        compact(log, pos, sc)
    log[sc[HEAD]] = o
    pos[o] = sc[HEAD]
    sc[HEAD] += 1


@njit(cache=True, inline="always")
def remove(pos, sc, o):
    """``o`` left the cache: its entry is dead."""
    p = pos[o]
    if p >= 0 and _in_region(sc, p):
        sc[COUNT] -= 1
    pos[o] = -1


@njit(cache=True, inline="always")
def _live(log, pos, p):
    o = log[p]
    return o >= 0 and pos[o] == p


@njit(cache=True)
def refill(log, pos, sc):
    """Make the region the ``tail`` oldest live entries again (fewer only if fewer are cached)."""
    lo, hi, head, count = sc[LO], sc[HI], sc[HEAD], sc[COUNT]
    while lo < hi and not _live(log, pos, lo):
        lo += 1
    if lo == hi:  # empty region: start it at the oldest live entry
        while lo < head and not _live(log, pos, lo):
            lo += 1
        hi = lo
    while count < sc[TAIL] and hi < head:
        if _live(log, pos, hi):
            count += 1
        hi += 1
    sc[LO], sc[HI], sc[COUNT] = lo, hi, count


@njit(cache=True)
def draw(log, pos, sc, drawn, probe, found, rng, k, out):
    """``min(k, live in region)`` distinct region objects, uniformly, into ``out`` oldest first.

    Returns how many (``out`` needs room for ``k``); ``probe``/``found``: scratch of ``_BATCH``.
    """
    refill(log, pos, sc)
    m = sc[COUNT]
    want = min(k, m)
    if want <= 0:
        return 0
    if 2 * want >= m:  # dense draw: list the region, keep ``want`` in order (selection sampling)
        n = 0
        left = m
        for p in range(sc[LO], sc[HI]):
            if _live(log, pos, p):
                if below(rng, left) < want - n:
                    out[n] = log[p]
                    n += 1
                left -= 1
        return n
    n = 0
    misses = 0
    sc[EPOCH] += 1
    while n < want:
        if misses > 4 * want + 32:  # the region is mostly dead entries: compact it and start over
            compact(log, pos, sc)
            sc[EPOCH] += 1
            n = 0
            misses = 0
        epoch = sc[EPOCH]
        lo, span = sc[LO], sc[HI] - sc[LO]
        # A batch of probes, then their loads, then the checks: the loads are independent, so
        # they overlap; probing one position at a time waited on each (a branch on every load).
        for j in range(_BATCH):
            probe[j] = lo + _scaled(next_u64(rng), span)
        for j in range(_BATCH):
            found[j] = log[probe[j]]
        for j in range(_BATCH):
            o = found[j]
            if n < want:
                if o >= 0 and pos[o] == probe[j] and drawn[o] != epoch:
                    drawn[o] = epoch
                    out[n] = probe[j]  # the position: sorted below without reading pos again
                    n += 1
                else:
                    misses += 1
    out[:n].sort()  # oldest first (log positions)
    for j in range(n):
        out[j] = log[out[j]]
    return n


@njit(cache=True)
def oldest(log, pos, sc, max_len, out):
    """Up to ``max_len`` live objects from the oldest on (the LRU tail, as a list would give it)."""
    refill(log, pos, sc)
    n = 0
    p = sc[LO]
    while p < sc[HEAD] and n < max_len:
        if _live(log, pos, p):
            out[n] = log[p]
            n += 1
        p += 1
    return n
