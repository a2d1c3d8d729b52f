"""Automated feedback: comparisons made at eviction time become labelled pairs later.

Each comparison of the eviction tournament is stored as a *pending pair*: both objects, the time
of the decision and which one was chosen as the victim. When either object is requested again the
pair is labelled — the object requested first should have been kept. No future knowledge is used:
a label exists only once the stream has shown which request came first.

No feature snapshot is stored. Until the pair is labelled neither object has been requested
since the decision, so its metadata (``features.py``) is still what it was then, and its vector at
the decision time is rebuilt from it when needed (a forgotten object's row stays readable for
this). Only one label in ``stride`` is rebuilt into the training buffer (``train.py``): a
mini-batch update reads ``steps · batch`` rows per ``update_every`` labels (1/8 by default), so
building every label's two vectors would mostly feed rows no update ever reads. Every label
counts towards the update cadence and the decision accuracy.

A pair stays pending while at least one of its objects is still tracked (cached or in the ghost):
if only one has left the ghost and the *other* is requested, that other one was still requested
first (a request of the departed object would have labelled the pair already). A pair is
*dropped* unlabelled when its second object leaves the ghost too — both stayed unrequested for
a whole ghost lifetime, which says nothing about their order (labelling "the later departure
wins" would mostly teach eviction order, not re-access order) — or when the bounded pool
overflows (the oldest pending pair is recycled). Both counts are reported (``HALP.diagnostics``).

Pairs are found from either object through intrusive per-object lists of *slots*: pair ``p`` has
slot ``2p`` in its first object's list and slot ``2p + 1`` in the second's. A pair is one 64-byte
row (both objects, the choice, and both slots' links): labelling and unlinking a pair is
cache-miss-bound, and one row costs ~3 misses where separate arrays cost ~10.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp import train as tx

# meta fields
RING, CREATED, LABELLED, DROPPED_GHOST, DROPPED_OVERFLOW, CORRECT = 0, 1, 2, 3, 4, 5
META = 3  # the meta array's position in the pool tuple
# columns of a pair's row; slot s = 2p + side links through columns NEXT + 2 side and PREV + 2 side
FIRST, SECOND, CHOSEN, NEXT, PREV = 0, 1, 2, 3, 4


def new_pairs(n_objects: int, capacity: int) -> tuple:
    """An empty pool of ``capacity`` pending pairs over ``n_objects`` dense ids."""
    return (
        np.full((capacity, 8), -1, dtype=np.int64),  # rows: first, second, chosen, 2 x (next, prev), pad
        np.zeros(capacity, dtype=np.float64),  # time of the decision
        np.full(n_objects, -1, dtype=np.int64),  # per-object head slot
        np.zeros(6, dtype=np.int64),  # meta: ring position and counters
    )


@njit(cache=True, inline="always")
def _next(rows, s):
    return rows[s >> 1, NEXT + 2 * (s & 1)]


@njit(cache=True, inline="always")
def _link(pairs, s, o):
    rows, head = pairs[0], pairs[2]
    p, side = s >> 1, 2 * (s & 1)
    rows[p, PREV + side] = -1
    rows[p, NEXT + side] = head[o]
    if head[o] >= 0:
        h = head[o]
        rows[h >> 1, PREV + 2 * (h & 1)] = s
    head[o] = s


@njit(cache=True, inline="always")
def _unlink(pairs, s, o):
    rows, head = pairs[0], pairs[2]
    p, side = s >> 1, 2 * (s & 1)
    before, after = rows[p, PREV + side], rows[p, NEXT + side]
    if before >= 0:
        rows[before >> 1, NEXT + 2 * (before & 1)] = after
    else:
        head[o] = after
    if after >= 0:
        rows[after >> 1, PREV + 2 * (after & 1)] = before


@njit(cache=True, inline="always")
def _release(pairs, p):
    rows = pairs[0]
    _unlink(pairs, 2 * p, rows[p, FIRST])
    _unlink(pairs, 2 * p + 1, rows[p, SECOND])
    rows[p, FIRST] = -1
    rows[p, SECOND] = -1


@njit(cache=True, inline="always")
def add_pair(pairs, a, b, t, victim):
    """Store a comparison of ``a`` with ``b`` made at time ``t`` that chose ``victim``."""
    rows, when, meta = pairs[0], pairs[1], pairs[META]
    p = meta[RING]
    if rows[p, FIRST] >= 0:  # the pool is full: recycle the oldest pending pair
        _release(pairs, p)
        meta[DROPPED_OVERFLOW] += 1
    meta[RING] = (p + 1) % len(rows)
    rows[p, FIRST] = a
    rows[p, SECOND] = b
    rows[p, CHOSEN] = victim
    when[p] = t
    _link(pairs, 2 * p, a)
    _link(pairs, 2 * p + 1, b)
    meta[CREATED] += 1


@njit(cache=True)  # not inlined: one compiled copy keeps HALP's compile time down
def label_on_access(pairs, o, trainer, feat, use_size, stride):
    """``o`` was requested: label all its pending pairs with ``o`` as the winner.

    Call it before ``o``'s metadata records this access. One label in ``stride`` is written to
    ``trainer``'s buffer as the two vectors at the decision time. Returns how many were labelled.
    """
    rows, when, head, meta = pairs
    winners, losers = trainer[0], trainer[1]
    n = 0
    while head[o] >= 0:
        s = head[o]
        p = s >> 1
        loser = rows[p, SECOND] if s & 1 == 0 else rows[p, FIRST]
        if rows[p, CHOSEN] == loser:
            meta[CORRECT] += 1
        meta[LABELLED] += 1
        if meta[LABELLED] % stride == 0:
            r = tx.claim_row(trainer)
            fx.write_halp(feat, o, when[p], use_size, winners[r])
            fx.write_halp(feat, loser, when[p], use_size, losers[r])
        tx.count_label(trainer)
        _release(pairs, p)
        n += 1
    return n


@njit(cache=True, inline="always")
def pending_count(pairs, o):
    """How many pending pairs involve ``o``."""
    rows = pairs[0]
    n = 0
    s = pairs[2][o]
    while s >= 0:
        n += 1
        s = _next(rows, s)
    return n


@njit(cache=True, inline="always")
def object_left(pairs, o, tracked):
    """``o`` left the ghost: drop its pending pairs whose other object is not ``tracked`` either."""
    rows, meta = pairs[0], pairs[META]
    s = pairs[2][o]
    while s >= 0:
        following = _next(rows, s)
        p = s >> 1
        other = rows[p, SECOND] if s & 1 == 0 else rows[p, FIRST]
        if not tracked[other]:
            _release(pairs, p)
            meta[DROPPED_GHOST] += 1
        s = following
    return 0


@njit(cache=True)
def drop_all(pairs, o):
    """Drop every pending pair of ``o`` unlabelled (its id is about to mean another object)."""
    meta = pairs[META]
    while pairs[2][o] >= 0:
        _release(pairs, pairs[2][o] >> 1)
        meta[DROPPED_GHOST] += 1
