"""LRB's training data: objects sampled at request time, labelled once their next request is known.

At each request (once the cache has evicted for the first time) ``samples`` objects are drawn
uniformly from the tracked ones (cached, or evicted but still inside the memory window) and each
draw becomes a *pending sample* ``(object, time t)``. It matures when the stream decides its
label (``mature``):

* the object is requested at time ``i``: label ``log1p(min(i - t, 2 * window))``;
* the object leaves the memory window unrequested (it expires, or is force-evicted as the LRU tail
  older than the window): label ``log1p(2 * window)`` — relaxed Belady: every object whose next
  request lies beyond the window is an equally good victim, so its exact distance is not needed.

The feature row is written when the sample matures, for time ``t``: the object was not requested
between ``t`` and maturing (a request matures it), so its metadata is still what it was at ``t``
and no snapshot needs to be kept. Matured rows go to a buffer that the policy trains on once it
holds ``batch`` rows; then it is emptied (LRB trains each model on a fresh batch).

Pending samples live in a pool of slots chained per object; a full pool or buffer drops the new
sample or row, and both drops are counted.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp import features as fx

# meta fields
FREE_TOP, ROWS, TAKEN, DROPPED_POOL, BY_REQUEST, BY_WINDOW, DROPPED_BUFFER = range(7)
# positions in the samples tuple (``new_samples``)
HEAD, NEXT, WHEN, FREE, X, Y, META = range(7)


def new_samples(n_objects: int, pool: int, rows: int, n_features: int) -> tuple:
    """``pool`` pending-sample slots over ``n_objects`` ids and a buffer of ``rows`` labelled rows."""
    return (
        np.full(n_objects, -1, dtype=np.int64),  # head: first pending slot of each object
        np.full(pool, -1, dtype=np.int64),  # next slot of the same object
        np.zeros(pool, dtype=np.int64),  # time (request index) each slot was sampled at
        np.arange(pool - 1, -1, -1, dtype=np.int64),  # stack of free slots (top at FREE_TOP - 1)
        np.zeros((rows, n_features), dtype=np.float32),  # labelled feature rows
        np.zeros(rows, dtype=np.float32),  # labels: log1p(distance in requests)
        np.array([pool, 0, 0, 0, 0, 0, 0], dtype=np.int64),  # meta
    )


@njit(cache=True, inline="always")
def take(samples, o, t):
    """Start a pending sample of ``o`` at time ``t`` (dropped, and counted, if the pool is full)."""
    head, nxt, when, free, meta = samples[HEAD], samples[NEXT], samples[WHEN], samples[FREE], samples[META]
    if meta[FREE_TOP] == 0:
        meta[DROPPED_POOL] += 1
        return
    meta[FREE_TOP] -= 1
    s = free[meta[FREE_TOP]]
    when[s] = t
    nxt[s] = head[o]
    head[o] = s
    meta[TAKEN] += 1


@njit(cache=True)
def mature(samples, feat, o, i, requested, cap):
    """Label every pending sample of ``o``: requested at ``i``, or (``requested`` False) gone.

    ``cap`` = 2 * window, the label distance of everything beyond the window. Must run before
    ``o``'s metadata changes (its access is recorded, or it is forgotten).
    """
    head, nxt, when, free, x, y, meta = samples
    s = head[o]
    while s >= 0:
        r = meta[ROWS]
        if r < len(y):
            distance = min(i - when[s], cap) if requested else cap
            fx.write_vector(feat, o, float(when[s]), True, x[r])
            y[r] = np.log1p(distance)
            meta[ROWS] = r + 1
            meta[BY_REQUEST if requested and distance < cap else BY_WINDOW] += 1
        else:
            meta[DROPPED_BUFFER] += 1
        free[meta[FREE_TOP]] = s
        meta[FREE_TOP] += 1
        s = nxt[s]
    head[o] = -1


@njit(cache=True)
def drop(samples, o):
    """Discard ``o``'s pending samples unlabelled (a live cache reuses its id)."""
    head, nxt, free, meta = samples[HEAD], samples[NEXT], samples[FREE], samples[META]
    s = head[o]
    while s >= 0:
        free[meta[FREE_TOP]] = s
        meta[FREE_TOP] += 1
        s = nxt[s]
    head[o] = -1


@njit(cache=True)
def pending_of(samples, o):
    """How many samples of ``o`` are pending (for tests and diagnostics)."""
    n = 0
    s = samples[HEAD][o]
    while s >= 0:
        n += 1
        s = samples[NEXT][s]
    return n
