"""A set of dense ids with O(1) add, remove and uniform sampling (a packed array + positions).

``members[:count]`` holds the ids in no particular order and ``pos[o]`` is ``o``'s index there
(-1 when absent); removal moves the last member into the hole (swap-remove). LRB draws eviction
candidates from the cached objects and training samples from the tracked ones this way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MEMBERS, POS, COUNT = range(3)  # positions in the set tuple


def new_dense_set(n_objects: int) -> tuple:
    """An empty set over ids ``0..n_objects-1``: ``(members, pos, count)``."""
    return (
        np.zeros(n_objects, dtype=np.int64),
        np.full(n_objects, -1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
    )


@njit(cache=True, inline="always")
def contains(ds, o):
    return ds[POS][o] >= 0


@njit(cache=True, inline="always")
def add(ds, o):
    members, pos, count = ds
    if pos[o] < 0:
        pos[o] = count[0]
        members[count[0]] = o
        count[0] += 1


@njit(cache=True, inline="always")
def remove(ds, o):
    members, pos, count = ds
    p = pos[o]
    if p < 0:
        return
    last = members[count[0] - 1]
    members[p] = last
    pos[last] = p
    pos[o] = -1
    count[0] -= 1


@njit(cache=True, inline="always")
def swap(ds, p, q):
    """Exchange the members at positions ``p`` and ``q`` (for in-place partial shuffles)."""
    members, pos = ds[MEMBERS], ds[POS]
    a, b = members[p], members[q]
    members[p], members[q] = b, a
    pos[a], pos[b] = q, p
