"""S3-FIFO's ghost FIFO on plain arrays, shared by the S3-FIFO policy and HALP's S3-FIFO heuristic.

Both keep, per object id, a ``where`` code (which queue holds it) and an int64 scalar array ``sc``
whose first six positions are the queues' bytes and shares; the ghost holds ids evicted from the
small FIFO, bounded in bytes, oldest expiring first (libCacheSim's S3FIFO).
"""

from __future__ import annotations

from numba import njit

from feedlearn.cache.core import dlist

# where[o]: which list holds object o
NONE, SMALL, MAIN, GHOST = 0, 1, 2, 3
# positions in the scalar array ``sc``
SMALL_BYTES, MAIN_BYTES, GHOST_BYTES = 0, 1, 2  # bytes currently in each queue
SMALL_CAP, MAIN_CAP, GHOST_CAP = 3, 4, 5  # each queue's share, bytes


@njit(cache=True, inline="always")
def ghost_forget(prev, nxt, ghost, where, osize, sc, o):
    """Drop ``o``'s ghost entry; True if it had one."""
    if where[o] != GHOST:
        return False
    dlist.unlink(prev, nxt, ghost, o)
    where[o] = NONE
    sc[GHOST_BYTES] -= osize[o]
    return True


@njit(cache=True, inline="always")
def ghost_add(prev, nxt, ghost, where, osize, sc, o):
    """Record evicted ``o`` in the ghost, expiring the oldest ghost ids until it fits (bytes)."""
    if osize[o] > sc[GHOST_CAP]:
        return
    while sc[GHOST_BYTES] + osize[o] > sc[GHOST_CAP]:
        g = dlist.pop_tail(prev, nxt, ghost)
        where[g] = NONE
        sc[GHOST_BYTES] -= osize[g]
    dlist.push_head(prev, nxt, ghost, o)
    where[o] = GHOST
    sc[GHOST_BYTES] += osize[o]
