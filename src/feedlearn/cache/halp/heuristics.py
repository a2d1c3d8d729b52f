"""Candidate heuristics for HALP: a cheap priority order whose low end proposes eviction candidates.

Each heuristic keeps a priority order over the cached objects and lists them from the lowest
priority upward (``window``); HALP samples its candidates from that window.

* ``lru``  — recency list (a hit moves to the head); the window is the LRU tail. The default.
* ``fifo`` — insertion order; the window is the oldest objects.
* ``sample`` — no order at all: ``max_len`` residents drawn uniformly at random (LRB-style
  sampling over the whole cache; a dense array of resident ids with swap-remove makes it O(1)),
  listed least recently used first.
* ``s3fifo`` — S3-FIFO's queues (Yang et al., SOSP'23; ``policies/s3fifo.py``): a small probationary
  FIFO (10% of the bytes), a main FIFO with a 2-bit clock, a ghost of ids evicted from small. The
  window comes from the queue S3-FIFO would evict from now, read from its tail while doing what
  S3-FIFO does on the way (small: objects hit twice move to main; main: objects with hits are
  reinserted at the head, one hit fewer); the objects left listed are S3-FIFO's next victims. A
  missed object found in the ghost goes to main; objects larger than the small FIFO's share are
  not admitted (``admits``), as libCacheSim's S3-FIFO. With ``k = tail = 1`` … the candidates are
  exactly S3-FIFO's victims, but its byte-exact corner cases are not reproduced.
* ``gdsf`` — Greedy-Dual-Size-Frequency priorities (libCacheSim's formula, see ``policies/gdsf.py``);
  the window is the lowest priorities, read by popping and re-pushing them (same keys and ties,
  so the order is unchanged), O(window · log n). ``L`` rises to the evicted object's priority.

All heuristics share one state layout (a list and a heap; each uses its part) and are chosen by an
integer code inside the compiled functions. That keeps HALP's hooks one set of module-level
functions that numba caches on disk, instead of one uncachable closure set per heuristic
(~7 s of compilation per heuristic and process). Adding a heuristic: a code in ``HEURISTICS`` and a
branch in the four functions below.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist, heap
from feedlearn.cache.core import s3ghost as s3
from feedlearn.cache.halp.rng import below, new_rng

LRU, FIFO, GDSF, SAMPLE, S3FIFO = 0, 1, 2, 3, 4
HEURISTICS: dict[str, int] = {"lru": LRU, "fifo": FIFO, "gdsf": GDSF, "sample": SAMPLE, "s3fifo": S3FIFO}
_COST = 1.0e6  # GDSF's per-object cost, as libCacheSim
# S3-FIFO: where an object is; scalars (bytes per queue and each queue's share, objects in main)
# the S3-FIFO policy's codes and scalar positions, so its ghost routines work on these arrays too
_OUT, _SMALL, _MAIN = s3.NONE, s3.SMALL, s3.MAIN
_SMALL_BYTES, _MAIN_BYTES, _SMALL_CAP, _MAIN_CAP, _GHOST_CAP = s3.SMALL_BYTES, s3.MAIN_BYTES, s3.SMALL_CAP, s3.MAIN_CAP, \
    s3.GHOST_CAP
_MAIN_COUNT, _GHOST_HIT, _EVICTED = 6, 7, 8  # this heuristic's own scalars after the shared ones
S3_SMALL_RATIO, S3_GHOST_RATIO, S3_MOVE_THRESHOLD = 0.1, 0.9, 2  # as libCacheSim's defaults


def new_heuristic_state(kind: int, n_objects: int, seed: int = 0, capacity: int = 0) -> tuple:
    """``(kind, prev, next, ends, key, tie, heap, pos, count, freq, L, dense, slot, n, last, rng,
    where, s3freq, osize, small, main, ghost, s3)``.

    List parts (LRU/FIFO/S3FIFO), heap parts (GDSF), sampling parts (SAMPLE: ``dense`` resident
    ids, ``slot`` of each id in it, their number, last access per id, a generator) and S3-FIFO parts
    (queue of each id, hit counts, sizes, the three queues' ends, scalars; shares of ``capacity``
    bytes); unused parts have length 1.
    """
    n_list = n_objects if kind in (LRU, FIFO, S3FIFO) else 1
    n_s3 = n_objects if kind == S3FIFO else 1
    scalars = np.zeros(9, dtype=np.int64)
    scalars[_SMALL_CAP] = int(capacity * S3_SMALL_RATIO)
    scalars[_MAIN_CAP] = capacity - scalars[_SMALL_CAP]
    scalars[_GHOST_CAP] = int(capacity * S3_GHOST_RATIO)
    n_heap = n_objects if kind == GDSF else 1
    n_sample = n_objects if kind == SAMPLE else 1
    n_last = n_objects if kind in (SAMPLE, LRU) else 1  # access stamps: SAMPLE's order, LRU's snapshots
    return (
        np.array([kind], dtype=np.int64),
        np.full(n_list, -1, dtype=np.int64),
        np.full(n_list, -1, dtype=np.int64),
        np.array([-1, -1], dtype=np.int64),
        *heap.new_heap(n_heap),
        np.zeros(n_heap, dtype=np.int64),
        np.zeros(1, dtype=np.float64),
        np.zeros(n_sample, dtype=np.int64),
        np.full(n_sample, -1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.full(n_last, -1, dtype=np.int64),
        new_rng(seed + 7919),  # its own stream: sampling does not shift HALP's other draws
        np.zeros(n_s3, dtype=np.int8),
        np.zeros(n_s3, dtype=np.int64),
        np.zeros(n_s3, dtype=np.int64),
        np.array([-1, -1], dtype=np.int64),
        np.array([-1, -1], dtype=np.int64),
        np.array([-1, -1], dtype=np.int64),
        scalars,
    )


@njit(cache=True, inline="always")
def _heap(hs):
    return (hs[4], hs[5], hs[6], hs[7], hs[8])


@njit(cache=True, inline="always")
def on_hit(hs, o, size, i):
    kind = hs[0][0]
    if kind == SAMPLE:
        hs[14][o] = i
    elif kind == LRU:
        dlist.move_to_head(hs[1], hs[2], hs[3], o)
        hs[14][o] = i
    elif kind == S3FIFO:
        hs[17][o] += 1
    elif kind == GDSF:
        hs[9][o] += 1
        heap.update(_heap(hs), o, hs[10][0] + hs[9][o] * _COST / max(size, 1), i)


@njit(cache=True, inline="always")
def on_insert(hs, o, size, i):
    if hs[0][0] == SAMPLE:
        dense, slot, count = hs[11], hs[12], hs[13]
        slot[o] = count[0]
        dense[count[0]] = o
        count[0] += 1
        hs[14][o] = i
    elif hs[0][0] == GDSF:
        hs[9][o] = 1
        heap.push(_heap(hs), o, hs[10][0] + _COST / max(size, 1), i)
    elif hs[0][0] == S3FIFO:
        _s3_insert(hs, o, size)
    else:
        dlist.push_head(hs[1], hs[2], hs[3], o)
        if hs[0][0] == LRU:
            hs[14][o] = i


@njit(cache=True, inline="always")
def remove(hs, o):
    if hs[0][0] == SAMPLE:
        dense, slot, count = hs[11], hs[12], hs[13]
        last = dense[count[0] - 1]  # swap-remove: the last resident takes o's slot
        dense[slot[o]] = last
        slot[last] = slot[o]
        slot[o] = -1
        count[0] -= 1
    elif hs[0][0] == GDSF:
        hs[10][0] = max(hs[10][0], hs[4][o])  # inflation: L rises to the evicted priority
        heap.remove(_heap(hs), o)
    elif hs[0][0] == S3FIFO:
        _s3_remove(hs, o)
    else:
        dlist.unlink(hs[1], hs[2], hs[3], o)
        if hs[0][0] == LRU:
            hs[14][o] = -1


@njit(cache=True, inline="always")
def admits(hs, o, size):
    """On every miss, before any eviction: may ``o`` be cached? (S3-FIFO also consults its ghost.)"""
    if hs[0][0] != S3FIFO:
        return True
    sc = hs[22]
    # its ghost entry is consumed now, as libCacheSim does
    sc[_GHOST_HIT] = 1 if s3.ghost_forget(hs[1], hs[2], hs[21], hs[16], hs[18], sc, o) else 0
    return size <= sc[_SMALL_CAP]


@njit(cache=True, inline="always")
def forget(hs, o):
    """A live cache reuses ``o``'s id: drop what the heuristic keeps about it outside the cache."""
    if hs[0][0] == S3FIFO:
        s3.ghost_forget(hs[1], hs[2], hs[21], hs[16], hs[18], hs[22], o)


@njit(cache=True, inline="always")
def _s3_insert(hs, o, size):
    prev, nxt, where, freq, osize, small, main, sc = hs[1], hs[2], hs[16], hs[17], hs[18], hs[19], hs[20], hs[22]
    if sc[_GHOST_HIT] == 1:  # evicted from small not long ago (``admits`` saw it): straight to main
        sc[_GHOST_HIT] = 0
        dlist.push_head(prev, nxt, main, o)
        where[o] = _MAIN
        sc[_MAIN_BYTES] += size
        sc[_MAIN_COUNT] += 1
    elif sc[_EVICTED] == 0 and sc[_SMALL_BYTES] >= sc[_SMALL_CAP]:  # warming up: small is full
        dlist.push_head(prev, nxt, main, o)
        where[o] = _MAIN
        sc[_MAIN_BYTES] += size
        sc[_MAIN_COUNT] += 1
    else:
        dlist.push_head(prev, nxt, small, o)
        where[o] = _SMALL
        sc[_SMALL_BYTES] += size
    freq[o] = 0
    osize[o] = size


@njit(cache=True, inline="always")
def _s3_remove(hs, o):
    """``o`` leaves the cache; from small, its id enters the ghost (oldest ids expire, by bytes)."""
    prev, nxt, where, osize, small, main, ghost, sc = hs[1], hs[2], hs[16], hs[18], hs[19], hs[20], hs[21], hs[22]
    if where[o] == _MAIN:
        dlist.unlink(prev, nxt, main, o)
        sc[_MAIN_BYTES] -= osize[o]
        sc[_MAIN_COUNT] -= 1
        where[o] = _OUT
        return
    dlist.unlink(prev, nxt, small, o)
    sc[_SMALL_BYTES] -= osize[o]
    where[o] = _OUT
    s3.ghost_add(prev, nxt, ghost, where, osize, sc, o)


@njit(cache=True, inline="always")
def _s3_window(hs, max_len, out):
    """S3-FIFO's next victims, from the queue it would evict from now (see the module docstring)."""
    prev, nxt, where, freq, osize, small, main, sc = hs[1], hs[2], hs[16], hs[17], hs[18], hs[19], hs[20], hs[22]
    sc[_EVICTED] = 1
    n = 0
    if not (sc[_MAIN_BYTES] > sc[_MAIN_CAP] or sc[_SMALL_BYTES] == 0):
        o = small[1]
        while o >= 0 and n < max_len:
            younger = prev[o]
            if freq[o] >= S3_MOVE_THRESHOLD:  # hit twice while probationary: promote to main
                dlist.unlink(prev, nxt, small, o)
                sc[_SMALL_BYTES] -= osize[o]
                dlist.push_head(prev, nxt, main, o)
                where[o] = _MAIN
                freq[o] = 0
                sc[_MAIN_BYTES] += osize[o]
                sc[_MAIN_COUNT] += 1
            else:
                out[n] = o
                n += 1
            o = younger
        if n > 0:
            return n
    # main: a 2-bit clock. Objects with hits go back to the head with one hit fewer, so within
    # three passes every object is a candidate; one pass suffices once some are listed.
    o = main[1]
    steps = 0
    while o >= 0 and n < max_len and (n == 0 or steps < sc[_MAIN_COUNT]):
        younger = prev[o]
        steps += 1
        if freq[o] >= 1:
            dlist.move_to_head(prev, nxt, main, o)
            freq[o] = min(freq[o], 3) - 1
        else:
            out[n] = o
            n += 1
        o = younger if younger >= 0 else main[1]
    return n


@njit(cache=True, inline="always")
def window(hs, max_len, out):
    """Write up to ``max_len`` cached ids into ``out``, lowest priority first; returns how many."""
    n = 0
    if hs[0][0] == SAMPLE:
        dense, count, last, rng = hs[11], hs[13][0], hs[14], hs[15]
        n = min(max_len, count)
        for j in range(n):  # distinct residents: partial Fisher-Yates over the dense array
            r = j + below(rng, count - j)
            dense[j], dense[r] = dense[r], dense[j]
            hs[12][dense[j]] = j
            hs[12][dense[r]] = r
            out[j] = dense[j]
        for j in range(1, n):  # least recently used first: the heuristic's own choice leads
            v = out[j]
            q = j - 1
            while q >= 0 and last[out[q]] > last[v]:
                out[q + 1] = out[q]
                q -= 1
            out[q + 1] = v
        return n
    if hs[0][0] == S3FIFO:
        return _s3_window(hs, max_len, out)
    if hs[0][0] == GDSF:
        h = _heap(hs)
        while n < max_len and hs[8][0] > 0:
            out[n] = heap.pop(h)
            n += 1
        for j in range(n):  # back with the same key and tie: the order is unchanged
            heap.push(h, out[j], hs[4][out[j]], hs[5][out[j]])
        return n
    return list_window(hs, max_len, out)


@njit(cache=True, inline="always")
def list_window(hs, max_len, out):
    """``window`` of LRU and FIFO: the list read from its tail."""
    n = 0
    prev = hs[1]
    o = hs[3][1]
    while o >= 0 and n < max_len:
        out[n] = o
        n += 1
        o = prev[o]
    return n


@njit(cache=True, inline="always")
def unchanged_since(hs, o, clock):
    """Is ``o`` (LRU) still cached and untouched since request ``clock``? Then it is where a
    window read at ``clock`` listed it, or lower: only requests and evictions move LRU objects."""
    return 0 <= hs[14][o] <= clock


@njit(cache=True, inline="always")
def kind(hs):
    return hs[0][0]
