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

Pairs are found from either object through per-object singly linked lists, newest first: a pair
is one 64-byte row of a ring (both objects, the choice, one link per object, its serial number
and its state) and a link is a pair's serial. Nothing is ever unlinked: a labelled or dropped
pair is only marked settled, and a recycled row no longer carries the serial a link expects,
which ends the list there (every later link is older, so recycled too). Creating a pair then
touches its own row and the two list heads, and labelling touches the rows it walks — the
doubly linked version also rewrote both neighbours of each side on every release (~6 cache
misses per pair instead of ~2), which made pending pairs the largest cost of an eviction.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp import train as tx

# fields of the meta array (``pairs[META]``)
RING, CREATED, LABELLED, DROPPED_GHOST, DROPPED_OVERFLOW, CORRECT = 0, 1, 2, 3, 4, 5
ROWS, WHEN, HEAD, META = range(4)  # positions in the pool tuple (``new_pairs``)
# columns of a pair's row; the link of side s (0: first object, 1: second) is column NEXT + s
FIRST, SECOND, CHOSEN, NEXT, SERIAL, STATE = 0, 1, 2, 3, 5, 6
PENDING, SETTLED = 0, 1  # a pair's STATE: waiting for a label; labelled or dropped


def new_pairs(n_objects: int, capacity: int) -> tuple:
    """An empty pool of ``capacity`` pending pairs (rounded up to a power of two) over ``n_objects`` ids.

    A power of two makes a serial's row ``q & (capacity - 1)``: a 64-bit division in the middle of
    every list hop (each one a cache miss waiting on it) cost ~25 cycles more.
    """
    capacity = 1 << max(capacity - 1, 0).bit_length()
    return (
        np.full((capacity, 8), -1, dtype=np.int64),  # rows: first, second, chosen, 2 x next, serial, state, pad
        np.zeros(capacity, dtype=np.float64),  # time of the decision
        np.full(n_objects, -1, dtype=np.int64),  # per-object newest pair serial
        np.zeros(6, dtype=np.int64),  # meta: ring position and counters
    )


@njit(cache=True, inline="always")
def _row(rows, q):
    """The row of pair serial ``q``, or -1 once the ring has recycled it."""
    r = q & (len(rows) - 1)
    return r if rows[r, SERIAL] == q else -1


@njit(cache=True, inline="always")
def _after(rows, r, o):
    """The serial linked after row ``r`` in ``o``'s list."""
    return rows[r, NEXT] if rows[r, FIRST] == o else rows[r, NEXT + 1]


@njit(cache=True, inline="always")
def add_pair(pairs, a, b, t, victim):
    """Store a comparison of ``a`` with ``b`` made at time ``t`` that chose ``victim``."""
    rows, when, head, meta = pairs
    record(rows, when, head, meta, a, b, t, victim)


@njit(cache=True, inline="always")
def record(rows, when, head, meta, a, b, t, victim):
    """:func:`add_pair` on the pool's unpacked arrays, for loops: numba takes an atomic reference
    count per array each time a tuple of arrays is passed, even to an inlined function."""
    q = meta[CREATED]
    r = q & (len(rows) - 1)
    if rows[r, SERIAL] >= 0 and rows[r, STATE] == PENDING:  # the pool is full: the oldest pair is recycled
        meta[DROPPED_OVERFLOW] += 1
    meta[RING] = (r + 1) & (len(rows) - 1)
    rows[r, FIRST] = a
    rows[r, SECOND] = b
    rows[r, CHOSEN] = victim
    rows[r, NEXT] = head[a]
    rows[r, NEXT + 1] = head[b]
    rows[r, SERIAL] = q
    rows[r, STATE] = PENDING
    when[r] = t
    head[a] = q
    head[b] = q
    meta[CREATED] += 1


@njit(cache=True)  # not inlined: one compiled copy keeps HALP's compile time down
def label_on_access(pairs, o, trainer, feat, use_size, stride):
    """``o`` was requested: label all its pending pairs with ``o`` as the winner.

    Call it before ``o``'s metadata records this access. One label in ``stride`` is written to
    ``trainer``'s buffer as the two vectors at the decision time. Returns how many were labelled.
    """
    rows, when, head, meta = pairs
    # unpacked once: see ``record``
    winners, losers, tmeta = trainer[tx.WINNERS], trainer[tx.LOSERS], trainer[tx.COUNTERS]
    f_rows, f_extra, _, f_static = feat
    n = 0
    q = head[o]
    while q >= 0:
        r = _row(rows, q)
        if r < 0:
            break
        q = _after(rows, r, o)
        if rows[r, STATE] != PENDING:
            continue
        rows[r, STATE] = SETTLED
        loser = rows[r, SECOND] if rows[r, FIRST] == o else rows[r, FIRST]
        if rows[r, CHOSEN] == loser:
            meta[CORRECT] += 1
        meta[LABELLED] += 1
        if meta[LABELLED] % stride == 0:
            b = tx.claim(tmeta, len(winners))
            fx.halp_into(f_rows, f_extra, f_static, o, when[r], use_size, winners, b)
            fx.halp_into(f_rows, f_extra, f_static, loser, when[r], use_size, losers, b)
        tmeta[tx.NEW] += 1  # one more label towards the next update (whether or not it was kept)
        n += 1
    head[o] = -1  # nothing of o's is pending any more
    return n


@njit(cache=True, inline="always")
def pending_count(pairs, o):
    """How many pending pairs involve ``o``."""
    rows = pairs[ROWS]
    n = 0
    q = pairs[HEAD][o]
    while q >= 0:
        r = _row(rows, q)
        if r < 0:
            break
        n += rows[r, STATE] == PENDING
        q = _after(rows, r, o)
    return n


@njit(cache=True, inline="always")
def object_left(pairs, o, tracked):
    """``o`` left the ghost: drop its pending pairs whose other object is not ``tracked`` either."""
    _drop_pending(pairs, o, tracked, True)
    return 0


@njit(cache=True)
def drop_all(pairs, o, tracked):
    """Drop every pending pair of ``o`` unlabelled (its id is about to mean another object)."""
    _drop_pending(pairs, o, tracked, False)
    pairs[HEAD][o] = -1


@njit(cache=True, inline="always")
def _drop_pending(pairs, o, tracked, only_untracked_others):
    rows, meta = pairs[ROWS], pairs[META]
    q = pairs[HEAD][o]
    while q >= 0:
        r = _row(rows, q)
        if r < 0:
            break
        q = _after(rows, r, o)
        other = rows[r, SECOND] if rows[r, FIRST] == o else rows[r, FIRST]
        if rows[r, STATE] == PENDING and not (only_untracked_others and tracked[other]):
            rows[r, STATE] = SETTLED
            meta[DROPPED_GHOST] += 1
