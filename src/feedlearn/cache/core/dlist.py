"""Intrusive doubly-linked lists over dense ids, as numba functions on ``(prev, next, ends)``.

Several queues can share one pair of ``prev``/``next`` arrays (an object is in one queue at a time),
each queue with its own ``ends`` array: ``ends[0]`` = head (newest), ``ends[1]`` = tail (oldest).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def push_head(prev, nxt, ends, o):
    """Insert ``o`` at the head (newest end)."""
    head = ends[0]
    prev[o] = -1
    nxt[o] = head
    if head >= 0:
        prev[head] = o
    else:
        ends[1] = o
    ends[0] = o


@njit(cache=True)
def unlink(prev, nxt, ends, o):
    """Remove ``o`` from the list it is in."""
    p = prev[o]
    q = nxt[o]
    if p >= 0:
        nxt[p] = q
    else:
        ends[0] = q
    if q >= 0:
        prev[q] = p
    else:
        ends[1] = p
    prev[o] = -1
    nxt[o] = -1


@njit(cache=True)
def pop_tail(prev, nxt, ends):
    """Remove and return the tail (oldest) element; the list must not be empty."""
    o = ends[1]
    unlink(prev, nxt, ends, o)
    return o


@njit(cache=True)
def pop_parked(prev, nxt, ends, where, gone):
    """The ``Policy.parked`` hook's body for a list of objects evicted on their own: pop the
    oldest, mark ``where[o] = gone`` and return it; -1 when the list is empty."""
    if ends[1] < 0:
        return -1
    o = pop_tail(prev, nxt, ends)
    where[o] = gone
    return o


@njit(cache=True)
def move_to_head(prev, nxt, ends, o):
    """Move ``o`` (already in this list) to the head."""
    if ends[0] != o:
        unlink(prev, nxt, ends, o)
        push_head(prev, nxt, ends, o)
