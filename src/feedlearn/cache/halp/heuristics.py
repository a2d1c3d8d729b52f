"""Candidate heuristics for HALP: a cheap priority order whose low end proposes eviction candidates.

Each heuristic keeps a priority order over the cached objects and lists them from the lowest
priority upward (``window``); HALP samples its candidates from that window.

* ``lru``  — recency list (a hit moves to the head); the window is the LRU tail. The default.
* ``fifo`` — insertion order; the window is the oldest objects.
* ``sample`` — no order at all: ``max_len`` residents drawn uniformly at random (LRB-style
  sampling over the whole cache; a dense array of resident ids with swap-remove makes it O(1)),
  listed least recently used first.
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
from feedlearn.cache.halp.rng import below, new_rng

LRU, FIFO, GDSF, SAMPLE = 0, 1, 2, 3
HEURISTICS: dict[str, int] = {"lru": LRU, "fifo": FIFO, "gdsf": GDSF, "sample": SAMPLE}
_COST = 1.0e6  # GDSF's per-object cost, as libCacheSim


def new_heuristic_state(kind: int, n_objects: int, seed: int = 0) -> tuple:
    """``(kind, prev, next, ends, key, tie, heap, pos, count, freq, L, dense, slot, n, last, rng)``.

    List parts (LRU/FIFO), heap parts (GDSF) and sampling parts (SAMPLE: ``dense`` resident ids,
    ``slot`` of each id in it, their number, last access per id, a generator); unused parts have
    length 1.
    """
    n_list = n_objects if kind in (LRU, FIFO) else 1
    n_heap = n_objects if kind == GDSF else 1
    n_sample = n_objects if kind == SAMPLE else 1
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
        np.zeros(n_sample, dtype=np.int64),
        new_rng(seed + 7919),  # its own stream: sampling does not shift HALP's other draws
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
    else:
        dlist.push_head(hs[1], hs[2], hs[3], o)


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
    else:
        dlist.unlink(hs[1], hs[2], hs[3], o)


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
    if hs[0][0] == GDSF:
        h = _heap(hs)
        while n < max_len and hs[8][0] > 0:
            out[n] = heap.pop(h)
            n += 1
        for j in range(n):  # back with the same key and tie: the order is unchanged
            heap.push(h, out[j], hs[4][out[j]], hs[5][out[j]])
        return n
    prev = hs[1]
    o = hs[3][1]
    while o >= 0 and n < max_len:
        out[n] = o
        n += 1
        o = prev[o]
    return n
