"""Automated feedback: comparisons made at eviction time become labelled pairs later.

Each comparison of the eviction tournament is stored as a *pending pair*: both objects and a
snapshot of their feature vectors at that moment, plus which one was chosen as the victim. When
either object is requested again the pair is labelled — the object requested first should have
been kept — and handed to the training buffer (``train.py``). No future knowledge is used: a label
exists only once the stream has shown which request came first.

A pair stays pending while at least one of its objects is still tracked (cached or in the ghost):
if only one has left the ghost and the *other* is requested, that other one was still requested
first (a request of the departed object would have labelled the pair already). A pair is
*dropped* unlabelled when its second object leaves the ghost too — both stayed unrequested for
a whole ghost lifetime, which says nothing about their order (labelling "the later departure
wins" would mostly teach eviction order, not re-access order) — or when the bounded pool
overflows (the oldest pending pair is recycled). Both counts are reported (``HALP.diagnostics``).

Pairs are found from either object through intrusive per-object lists of *slots*: pair ``p`` has
slot ``2p`` in its first object's list and slot ``2p + 1`` in the second's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp.train import add_labelled_row

# meta fields
RING, CREATED, LABELLED, DROPPED_GHOST, DROPPED_OVERFLOW, CORRECT = 0, 1, 2, 3, 4, 5


def new_pairs(n_objects: int, capacity: int, n_features: int) -> tuple:
    """An empty pool of ``capacity`` pending pairs over ``n_objects`` dense ids."""
    return (
        np.full(capacity, -1, dtype=np.int64),  # first object
        np.full(capacity, -1, dtype=np.int64),  # second object
        np.zeros((capacity, n_features), dtype=np.float32),  # first object's features
        np.zeros((capacity, n_features), dtype=np.float32),  # second object's features
        np.full(capacity, -1, dtype=np.int64),  # the object chosen as victim in this comparison
        np.full(n_objects, -1, dtype=np.int64),  # per-object head slot
        np.full(2 * capacity, -1, dtype=np.int64),  # slot next
        np.full(2 * capacity, -1, dtype=np.int64),  # slot prev
        np.zeros(6, dtype=np.int64),  # meta: ring position and counters
    )


@njit(cache=True, inline="always")
def _link(pairs, s, o):
    head, nxt, prev = pairs[5], pairs[6], pairs[7]
    prev[s] = -1
    nxt[s] = head[o]
    if head[o] >= 0:
        prev[head[o]] = s
    head[o] = s


@njit(cache=True, inline="always")
def _unlink(pairs, s, o):
    head, nxt, prev = pairs[5], pairs[6], pairs[7]
    if prev[s] >= 0:
        nxt[prev[s]] = nxt[s]
    else:
        head[o] = nxt[s]
    if nxt[s] >= 0:
        prev[nxt[s]] = prev[s]
    prev[s] = -1
    nxt[s] = -1


@njit(cache=True, inline="always")
def _release(pairs, p):
    first, second = pairs[0], pairs[1]
    _unlink(pairs, 2 * p, first[p])
    _unlink(pairs, 2 * p + 1, second[p])
    first[p] = -1
    second[p] = -1


@njit(cache=True, inline="always")
def add_pair(pairs, a, xa, b, xb, victim):
    """Store a comparison of ``a`` (features ``xa``) with ``b`` (``xb``) that chose ``victim``."""
    first, second, fa, fb, chosen, head, nxt, prev, meta = pairs
    p = meta[RING]
    if first[p] >= 0:  # the pool is full: recycle the oldest pending pair
        _release(pairs, p)
        meta[DROPPED_OVERFLOW] += 1
    meta[RING] = (p + 1) % len(first)
    first[p] = a
    second[p] = b
    fa[p, :] = xa
    fb[p, :] = xb
    chosen[p] = victim
    _link(pairs, 2 * p, a)
    _link(pairs, 2 * p + 1, b)
    meta[CREATED] += 1


@njit(cache=True, inline="always")
def label_on_access(pairs, o, trainer):
    """``o`` was requested: label all its pending pairs with ``o`` as the winner, into ``trainer``.

    Returns how many pairs were labelled.
    """
    first, second, fa, fb, chosen, head, nxt, prev, meta = pairs
    n = 0
    while head[o] >= 0:
        s = head[o]
        p = s >> 1
        if s & 1 == 0:  # o is the pair's first object
            add_labelled_row(trainer, fa[p], fb[p])
            loser = second[p]
        else:
            add_labelled_row(trainer, fb[p], fa[p])
            loser = first[p]
        if chosen[p] == loser:
            meta[CORRECT] += 1
        meta[LABELLED] += 1
        _release(pairs, p)
        n += 1
    return n


@njit(cache=True, inline="always")
def pending_count(pairs, o):
    """How many pending pairs involve ``o``."""
    nxt = pairs[6]
    n = 0
    s = pairs[5][o]
    while s >= 0:
        n += 1
        s = nxt[s]
    return n


@njit(cache=True, inline="always")
def object_left(pairs, o, tracked):
    """``o`` left the ghost: drop its pending pairs whose other object is not ``tracked`` either."""
    first, second, meta, nxt = pairs[0], pairs[1], pairs[8], pairs[6]
    s = pairs[5][o]
    while s >= 0:
        following = nxt[s]
        p = s >> 1
        other = second[p] if s & 1 == 0 else first[p]
        if not tracked[other]:
            _release(pairs, p)
            meta[DROPPED_GHOST] += 1
        s = following
    return 0


@njit(cache=True)
def drop_all(pairs, o):
    """Drop every pending pair of ``o`` unlabelled (its id is about to mean another object)."""
    meta = pairs[8]
    while pairs[5][o] >= 0:
        _release(pairs, pairs[5][o] >> 1)
        meta[DROPPED_GHOST] += 1
