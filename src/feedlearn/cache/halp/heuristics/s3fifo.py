"""S3-FIFO's queues (Yang et al., SOSP'23; ``policies/s3fifo.py``): its next victims as candidates.

A small probationary FIFO (10% of the bytes), a main FIFO with a 2-bit clock, a ghost of ids
evicted from small. The window comes from the queue S3-FIFO would evict from now, read from its
tail while doing what S3-FIFO does on the way (small: objects hit twice move to main; main: objects
with hits are reinserted at the head, one hit fewer); the objects left listed are S3-FIFO's next
victims. A missed object found in the ghost goes to main; objects larger than the small FIFO's
share are not admitted (``admits``), as libCacheSim's S3-FIFO. With ``k = tail = 1`` the
candidates are exactly S3-FIFO's victims, but its byte-exact corner cases are not reproduced.
The ghost routines are the S3-FIFO policy's own (``core/s3ghost.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.experimental import structref

from feedlearn.cache.core import dlist
from feedlearn.cache.core import s3ghost as s3
from feedlearn.cache.halp.heuristics.base import CandidateHeuristic, StateType, define_state

# where an object is; scalars (bytes per queue and each queue's share, objects in main): the
# S3-FIFO policy's codes and positions, so its ghost routines work on these arrays too
_OUT, _SMALL, _MAIN = s3.NONE, s3.SMALL, s3.MAIN
_SMALL_BYTES, _MAIN_BYTES, _SMALL_CAP, _MAIN_CAP, _GHOST_CAP = s3.SMALL_BYTES, s3.MAIN_BYTES, s3.SMALL_CAP, s3.MAIN_CAP, \
    s3.GHOST_CAP
_MAIN_COUNT, _GHOST_HIT, _EVICTED = 6, 7, 8  # this heuristic's own scalars after the shared ones
S3_SMALL_RATIO, S3_GHOST_RATIO, S3_MOVE_THRESHOLD = 0.1, 0.9, 2  # as libCacheSim's defaults


@structref.register
class S3FIFOStateType(StateType):
    pass


class S3FIFOState(structref.StructRefProxy):
    """``prev``/``nxt`` per id (the three queues share them), ``where``/``freq``/``osize`` per id,
    ``small``/``main``/``ghost`` queue ends, ``sc``: the scalars (bytes per queue and each queue's share)."""


define_state(S3FIFOState, S3FIFOStateType, ["prev", "nxt", "where", "freq", "osize", "small", "main", "ghost",
                                                      "sc"])


@njit(cache=True)
def on_hit(hs, o, size, i):
    hs.freq[o] += 1


@njit(cache=True)
def admits(hs, o, size):
    """Consult the ghost (its entry is consumed now, as libCacheSim does); refuse objects above small's share."""
    sc = hs.sc
    sc[_GHOST_HIT] = 1 if s3.ghost_forget(hs.prev, hs.nxt, hs.ghost, hs.where, hs.osize, sc, o) else 0
    return size <= sc[_SMALL_CAP]


@njit(cache=True)
def forget(hs, o):
    s3.ghost_forget(hs.prev, hs.nxt, hs.ghost, hs.where, hs.osize, hs.sc, o)


@njit(cache=True)
def on_insert(hs, o, size, i):
    prev, nxt, where, freq, osize, small, main, sc = hs.prev, hs.nxt, hs.where, hs.freq, hs.osize, hs.small, hs.main, hs.sc
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


@njit(cache=True)
def remove(hs, o):
    """``o`` leaves the cache; from small, its id enters the ghost (oldest ids expire, by bytes)."""
    prev, nxt, where, osize, small, main, ghost, sc = hs.prev, hs.nxt, hs.where, hs.osize, hs.small, hs.main, hs.ghost, hs.sc
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


@njit(cache=True)
def window(hs, max_len, out):
    """S3-FIFO's next victims, from the queue it would evict from now (see the module docstring)."""
    prev, nxt, where, freq, osize, small, main, sc = hs.prev, hs.nxt, hs.where, hs.freq, hs.osize, hs.small, hs.main, hs.sc
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


class S3FIFO(CandidateHeuristic):
    name = "s3fifo"
    state_type = S3FIFOStateType
    proxy = S3FIFOState
    on_hit, on_insert, remove, window, admits, forget = on_hit, on_insert, remove, window, admits, forget

    def new_state(self, n_objects: int) -> S3FIFOState:
        scalars = np.zeros(9, dtype=np.int64)
        scalars[_SMALL_CAP] = int(self.capacity * S3_SMALL_RATIO)
        scalars[_MAIN_CAP] = self.capacity - scalars[_SMALL_CAP]
        scalars[_GHOST_CAP] = int(self.capacity * S3_GHOST_RATIO)
        ends = lambda: np.array([-1, -1], dtype=np.int64)  # noqa: E731
        return S3FIFOState(np.full(n_objects, -1, dtype=np.int64), np.full(n_objects, -1, dtype=np.int64),
                           np.zeros(n_objects, dtype=np.int8), np.zeros(n_objects, dtype=np.int64),
                           np.zeros(n_objects, dtype=np.int64), ends(), ends(), ends(), scalars)

    def admits_every_miss(self) -> bool:
        return False  # objects above the small FIFO's share are refused
