"""An indexed binary min-heap over dense ids, as numba functions (for priority-based policies).

State is ``(key, tie, heap, pos, count)``: ``key[o]`` (float64) is ``o``'s priority and ``tie[o]``
(int64) breaks equal keys (smaller first — e.g. an insertion counter for FIFO order among ties);
``heap`` holds ids in heap order, ``pos[o]`` is ``o``'s index in ``heap`` (-1 when absent) and
``count[0]`` is the heap's length. Every operation is O(log n). For a max-heap, push negated keys.
"""

from __future__ import annotations

import numpy as np
from numba import njit

KEY, TIE, HEAP, POS, COUNT = range(5)  # positions in the state tuple


def new_heap(n_objects: int) -> tuple:
    """An empty heap able to hold all ``n_objects`` ids."""
    return (
        np.zeros(n_objects, dtype=np.float64),
        np.zeros(n_objects, dtype=np.int64),
        np.zeros(n_objects, dtype=np.int64),
        np.full(n_objects, -1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
    )


@njit(cache=True)
def _less(key, tie, a, b):
    return key[a] < key[b] or (key[a] == key[b] and tie[a] < tie[b])


@njit(cache=True)
def _sift_up(key, tie, heap, pos, k):
    o = heap[k]
    while k > 0:
        parent = (k - 1) >> 1
        p = heap[parent]
        if not _less(key, tie, o, p):
            break
        heap[k] = p
        pos[p] = k
        k = parent
    heap[k] = o
    pos[o] = k


@njit(cache=True)
def _sift_down(key, tie, heap, pos, k, n):
    o = heap[k]
    while True:
        child = 2 * k + 1
        if child >= n:
            break
        right = child + 1
        if right < n and _less(key, tie, heap[right], heap[child]):
            child = right
        c = heap[child]
        if not _less(key, tie, c, o):
            break
        heap[k] = c
        pos[c] = k
        k = child
    heap[k] = o
    pos[o] = k


@njit(cache=True)
def push(h, o, k, t):
    """Insert id ``o`` with key ``k`` and tie-breaker ``t`` (``o`` must be absent)."""
    key, tie, heap, pos, count = h
    key[o] = k
    tie[o] = t
    n = count[0]
    heap[n] = o
    count[0] = n + 1
    _sift_up(key, tie, heap, pos, n)


@njit(cache=True)
def update(h, o, k, t):
    """Change the key of id ``o`` (present) and restore heap order."""
    key, tie, heap, pos, count = h
    key[o] = k
    tie[o] = t
    idx = pos[o]
    _sift_up(key, tie, heap, pos, idx)
    _sift_down(key, tie, heap, pos, pos[o], count[0])


@njit(cache=True)
def peek(h):
    """The id with the smallest ``(key, tie)``; the heap must not be empty."""
    return h[HEAP][0]


@njit(cache=True)
def remove(h, o):
    """Remove id ``o`` (present) from the heap."""
    key, tie, heap, pos, count = h
    idx = pos[o]
    n = count[0] - 1
    count[0] = n
    pos[o] = -1
    if idx == n:
        return
    last = heap[n]
    heap[idx] = last
    pos[last] = idx
    _sift_up(key, tie, heap, pos, idx)
    _sift_down(key, tie, heap, pos, pos[last], n)


@njit(cache=True)
def pop(h):
    """Remove and return the id with the smallest ``(key, tie)``."""
    o = h[HEAP][0]
    remove(h, o)
    return o
