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

All heuristics share one state (``HeuristicState``, fields read by name: a list, a heap, a dense
array and S3-FIFO's queues; each uses its part) and are chosen by an integer code inside the
compiled functions. That keeps HALP's hooks one set of module-level
functions that numba caches on disk, instead of one uncachable closure set per heuristic
(~7 s of compilation per heuristic and process). Adding a heuristic: a code in ``HEURISTICS`` and a
branch in the four functions below.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.experimental import structref

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


@structref.register
class HeuristicStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class HeuristicState(structref.StructRefProxy):
    """The arrays of one heuristic, read by name (``hs.prev``, ``hs.where``); see ``new_heuristic_state``.

    A StructRef rather than a tuple: besides naming the fields, reading the state from HALP's
    state costs one reference count instead of one per array (numba counts every array of a tuple).
    """

    def fields(self) -> tuple:
        """Every field, in ``_FIELDS`` order (views: writing them writes the state)."""
        return _fields_of(self)

    def __getattr__(self, name: str) -> np.ndarray:
        """Python reads a field by name too (``hs.where``); compiled code reads it directly."""
        if name in _FIELDS:
            return self.fields()[_FIELDS.index(name)]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")


_FIELDS = ["kind", "prev", "nxt", "ends", "key", "tie", "heap", "pos", "count", "freq", "inflation", "dense", "slot",
           "n_dense", "last", "rng", "where", "s3freq", "osize", "small", "main", "ghost", "s3"]
structref.define_proxy(HeuristicState, HeuristicStateType, _FIELDS)


@njit(cache=True)
def _fields_of(hs):
    return (hs.kind, hs.prev, hs.nxt, hs.ends, hs.key, hs.tie, hs.heap, hs.pos, hs.count, hs.freq, hs.inflation,
            hs.dense, hs.slot, hs.n_dense, hs.last, hs.rng, hs.where, hs.s3freq, hs.osize, hs.small, hs.main,
            hs.ghost, hs.s3)


def new_heuristic_state(kind: int, n_objects: int, seed: int = 0, capacity: int = 0) -> HeuristicState:
    """An empty heuristic of ``kind`` over ``n_objects`` ids; parts the kind does not use have length 1.

    - ``kind`` (1,): the heuristic's code; ``prev``/``nxt`` per id and ``ends`` (head, tail): the list
      (LRU, FIFO; S3-FIFO's three queues share ``prev``/``nxt``).
    - ``key``, ``tie``, ``heap``, ``pos``, ``count``: the heap (``core.heap``; GDSF), with ``freq`` per id
      and ``inflation`` (1,): GDSF's L.
    - ``dense`` resident ids, ``slot`` of each id in it, ``n_dense`` (1,): SAMPLE's residents; ``last``
      per id: the last access (SAMPLE's order, LRU's window stamps); ``rng``: SAMPLE's generator.
    - ``where``, ``s3freq``, ``osize`` per id; ``small``, ``main``, ``ghost`` queue ends; ``s3``: the
      scalars (bytes per queue and each queue's share of ``capacity`` bytes).
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
    return HeuristicState(
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
    return (hs.key, hs.tie, hs.heap, hs.pos, hs.count)


@njit(cache=True, inline="always")
def on_hit(hs, o, size, i):
    kind = hs.kind[0]
    if kind == SAMPLE:
        hs.last[o] = i
    elif kind == LRU:
        dlist.move_to_head(hs.prev, hs.nxt, hs.ends, o)
        hs.last[o] = i
    elif kind == S3FIFO:
        hs.s3freq[o] += 1
    elif kind == GDSF:
        hs.freq[o] += 1
        heap.update(_heap(hs), o, hs.inflation[0] + hs.freq[o] * _COST / max(size, 1), i)


@njit(cache=True, inline="always")
def on_insert(hs, o, size, i):
    if hs.kind[0] == SAMPLE:
        dense, slot, count = hs.dense, hs.slot, hs.n_dense
        slot[o] = count[0]
        dense[count[0]] = o
        count[0] += 1
        hs.last[o] = i
    elif hs.kind[0] == GDSF:
        hs.freq[o] = 1
        heap.push(_heap(hs), o, hs.inflation[0] + _COST / max(size, 1), i)
    elif hs.kind[0] == S3FIFO:
        _s3_insert(hs, o, size)
    else:
        dlist.push_head(hs.prev, hs.nxt, hs.ends, o)
        if hs.kind[0] == LRU:
            hs.last[o] = i


@njit(cache=True, inline="always")
def remove(hs, o):
    if hs.kind[0] == SAMPLE:
        dense, slot, count = hs.dense, hs.slot, hs.n_dense
        last = dense[count[0] - 1]  # swap-remove: the last resident takes o's slot
        dense[slot[o]] = last
        slot[last] = slot[o]
        slot[o] = -1
        count[0] -= 1
    elif hs.kind[0] == GDSF:
        hs.inflation[0] = max(hs.inflation[0], hs.key[o])  # inflation: L rises to the evicted priority
        heap.remove(_heap(hs), o)
    elif hs.kind[0] == S3FIFO:
        _s3_remove(hs, o)
    else:
        dlist.unlink(hs.prev, hs.nxt, hs.ends, o)
        if hs.kind[0] == LRU:
            hs.last[o] = -1


@njit(cache=True, inline="always")
def admits(hs, o, size):
    """On every miss, before any eviction: may ``o`` be cached? (S3-FIFO also consults its ghost.)"""
    if hs.kind[0] != S3FIFO:
        return True
    sc = hs.s3
    # its ghost entry is consumed now, as libCacheSim does
    sc[_GHOST_HIT] = 1 if s3.ghost_forget(hs.prev, hs.nxt, hs.ghost, hs.where, hs.osize, sc, o) else 0
    return size <= sc[_SMALL_CAP]


@njit(cache=True, inline="always")
def forget(hs, o):
    """A live cache reuses ``o``'s id: drop what the heuristic keeps about it outside the cache."""
    if hs.kind[0] == S3FIFO:
        s3.ghost_forget(hs.prev, hs.nxt, hs.ghost, hs.where, hs.osize, hs.s3, o)


@njit(cache=True, inline="always")
def _s3_insert(hs, o, size):
    prev, nxt, where, freq, osize, small, main, sc = hs.prev, hs.nxt, hs.where, hs.s3freq, hs.osize, hs.small, hs.main, hs.s3
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
    prev, nxt, where, osize, small, main, ghost, sc = hs.prev, hs.nxt, hs.where, hs.osize, hs.small, hs.main, hs.ghost, hs.s3
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
    prev, nxt, where, freq, osize, small, main, sc = hs.prev, hs.nxt, hs.where, hs.s3freq, hs.osize, hs.small, hs.main, hs.s3
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
    if hs.kind[0] == SAMPLE:
        dense, count, last, rng = hs.dense, hs.n_dense[0], hs.last, hs.rng
        n = min(max_len, count)
        for j in range(n):  # distinct residents: partial Fisher-Yates over the dense array
            r = j + below(rng, count - j)
            dense[j], dense[r] = dense[r], dense[j]
            hs.slot[dense[j]] = j
            hs.slot[dense[r]] = r
            out[j] = dense[j]
        for j in range(1, n):  # least recently used first: the heuristic's own choice leads
            v = out[j]
            q = j - 1
            while q >= 0 and last[out[q]] > last[v]:
                out[q + 1] = out[q]
                q -= 1
            out[q + 1] = v
        return n
    if hs.kind[0] == S3FIFO:
        return _s3_window(hs, max_len, out)
    if hs.kind[0] == GDSF:
        h = _heap(hs)
        while n < max_len and hs.count[0] > 0:
            out[n] = heap.pop(h)
            n += 1
        for j in range(n):  # back with the same key and tie: the order is unchanged
            heap.push(h, out[j], hs.key[out[j]], hs.tie[out[j]])
        return n
    return list_window(hs, max_len, out)


@njit(cache=True, inline="always")
def list_window(hs, max_len, out):
    """``window`` of LRU and FIFO: the list read from its tail."""
    n = 0
    prev = hs.prev
    o = hs.ends[1]
    while o >= 0 and n < max_len:
        out[n] = o
        n += 1
        o = prev[o]
    return n


@njit(cache=True, inline="always")
def unchanged_since(hs, o, clock):
    """Is ``o`` (LRU) still cached and untouched since request ``clock``? Then it is where a
    window read at ``clock`` listed it, or lower: only requests and evictions move LRU objects."""
    return 0 <= hs.last[o] <= clock


@njit(cache=True, inline="always")
def kind(hs):
    return hs.kind[0]
