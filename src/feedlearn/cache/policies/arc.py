"""ARC — Adaptive Replacement Cache (Megiddo & Modha, FAST'03), byte-sized as in libCacheSim.

ARC keeps two resident LRU lists, T1 (seen once recently) and T2 (seen at least twice), and two
ghost lists of recently evicted ids, B1 (evicted from T1) and B2 (evicted from T2). A miss that hits
a ghost adapts the target size ``p`` of T1: a B1 hit says T1 was too small (grow ``p``), a B2 hit
says T2 was too small (shrink ``p``); the object then goes to T2. REPLACE evicts the LRU end of T1
into B1 when T1 is above its target, else the LRU end of T2 into B2.

Everything is counted in bytes, following libCacheSim's ``ARC`` (the behaviour of the
``libcachesim`` 0.3.5 wheel, checked request by request):

* ``p`` is a float; a B1 hit adds ``max(|B2| / |B1|, 1)`` (bytes, with the hit ghost still in B1)
  capped at the capacity, a B2 hit subtracts ``max(|B1| / |B2|, 1)`` floored at 0. The ghost is
  then dropped from its list, with the size it was admitted with.
* REPLACE takes T1's tail when ``T1 > 0 and (T1 > p or (T1 == p and the miss hit B2))`` or when
  T2 is empty, else T2's tail; the victim becomes a ghost of its size.
* A miss that hits no ghost (case IV) first trims the ghosts: if ``T1 + B1 + size > capacity`` it
  drops B1's tail and REPLACEs, or, when B1 is empty, evicts T1's tail with no ghost at all;
  otherwise, when ``T1 + B1 + T2 + B2 >= 2 * capacity``, it drops B2's tail (if any) and REPLACEs.
  This is done on *every* eviction of the request, as libCacheSim's ``evict`` does.
* A hit on T1 moves the object to T2's head; a hit on T2 moves it to T2's head.

Hook timing: libCacheSim adapts ``p`` in its ``find``, before any eviction and before it checks
that the object fits at all. Here that step is the ``admit`` hook, which the loop calls first on
every miss (also for objects larger than the cache), so the two agree request for request.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.policy import Policy, SimContext, linked_list

# The internal helpers below are inlined into the hooks (inline="always"): measured 2.8 -> 5.9 M
# requests/s on arc_OLTP at 10%, as numba otherwise passes the 10-array state tuple on every call.

# where[o]: which list holds o (an object is in at most one)
_NONE, _T1, _T2, _B1, _B2 = 0, 1, 2, 3, 4

# meta[...] (int64): list sizes in bytes, the capacity, and the per-request ghost-hit bookkeeping
_T1_BYTES, _T2_BYTES, _B1_BYTES, _B2_BYTES = 0, 1, 2, 3
_CAPACITY = 4
_GHOST_REQ = 5  # request index of the last ghost hit (libCacheSim's vtime_last_req_in_ghost), -1 none
_IN_B1, _IN_B2 = 6, 7  # 1 while the current miss hit a B1 / B2 ghost (libCacheSim's curr_obj_in_*)
_META_LEN = 8


@njit(cache=True)
def _admit(state, obj, size, i):
    """The miss side of libCacheSim's ``ARC_find``: on a ghost hit adapt ``p`` and drop the ghost."""
    prev, nxt, t1, t2, b1, b2, where, osize, meta, p = state
    w = where[obj]
    if w == _B1:
        meta[_IN_B1] = 1
        meta[_IN_B2] = 0
        meta[_GHOST_REQ] = i
        delta = max(meta[_B2_BYTES] / meta[_B1_BYTES], 1.0)  # float, as in libCacheSim
        p[0] = min(p[0] + delta, float(meta[_CAPACITY]))
        meta[_B1_BYTES] -= osize[obj]
        dlist.unlink(prev, nxt, b1, obj)
        where[obj] = _NONE
    elif w == _B2:
        meta[_IN_B1] = 0
        meta[_IN_B2] = 1
        meta[_GHOST_REQ] = i
        delta = max(meta[_B1_BYTES] / meta[_B2_BYTES], 1.0)
        p[0] = max(p[0] - delta, 0.0)
        meta[_B2_BYTES] -= osize[obj]
        dlist.unlink(prev, nxt, b2, obj)
        where[obj] = _NONE
    return True


@njit(cache=True, inline="always")
def _ghost_hit_now(meta, i):
    return meta[_GHOST_REQ] == i and (meta[_IN_B1] != 0 or meta[_IN_B2] != 0)


@njit(cache=True, inline="always")
def _replace(state):
    """REPLACE: demote T1's or T2's LRU object to its ghost list; returns the evicted id."""
    prev, nxt, t1, t2, b1, b2, where, osize, meta, p = state
    n1 = meta[_T1_BYTES]
    take_t1 = (n1 > 0 and (n1 > p[0] or (n1 == p[0] and meta[_IN_B2] != 0))) or meta[_T2_BYTES] == 0
    if take_t1:
        victim = dlist.pop_tail(prev, nxt, t1)
        meta[_T1_BYTES] -= osize[victim]
        meta[_B1_BYTES] += osize[victim]
        dlist.push_head(prev, nxt, b1, victim)
        where[victim] = _B1
    else:
        victim = dlist.pop_tail(prev, nxt, t2)
        meta[_T2_BYTES] -= osize[victim]
        meta[_B2_BYTES] += osize[victim]
        dlist.push_head(prev, nxt, b2, victim)
        where[victim] = _B2
    return victim


@njit(cache=True, inline="always")
def _drop_ghost_tail(prev, nxt, ends, where, osize, meta, field):
    """Forget the oldest ghost of one ghost list (its bytes counted in ``meta[field]``)."""
    g = dlist.pop_tail(prev, nxt, ends)
    meta[field] -= osize[g]
    where[g] = _NONE


@njit(cache=True, inline="always")
def _evict_no_ghost_hit(state, size):
    """Case IV of the paper (the miss hit no ghost), in libCacheSim's byte form."""
    prev, nxt, t1, t2, b1, b2, where, osize, meta, p = state
    capacity = meta[_CAPACITY]  # bytes
    if meta[_T1_BYTES] + meta[_B1_BYTES] + size > capacity:
        if meta[_B1_BYTES] > 0:
            _drop_ghost_tail(prev, nxt, b1, where, osize, meta, _B1_BYTES)
            return _replace(state)
        # B1 empty: T1 alone is too large, evict its LRU object without keeping a ghost
        victim = dlist.pop_tail(prev, nxt, t1)
        meta[_T1_BYTES] -= osize[victim]
        where[victim] = _NONE
        return victim
    total = meta[_T1_BYTES] + meta[_B1_BYTES] + meta[_T2_BYTES] + meta[_B2_BYTES]
    if total >= 2 * capacity and meta[_B2_BYTES] > 0:
        _drop_ghost_tail(prev, nxt, b2, where, osize, meta, _B2_BYTES)
    return _replace(state)


@njit(cache=True)
def _on_hit(state, obj, size, i):
    prev, nxt, t1, t2, b1, b2, where, osize, meta, p = state
    meta[_IN_B1] = 0
    meta[_IN_B2] = 0
    if where[obj] == _T1:
        dlist.unlink(prev, nxt, t1, obj)
        dlist.push_head(prev, nxt, t2, obj)
        where[obj] = _T2
        meta[_T1_BYTES] -= osize[obj]
        meta[_T2_BYTES] += osize[obj]
    else:
        dlist.move_to_head(prev, nxt, t2, obj)


@njit(cache=True)
def _evict(state, obj, size, i):
    meta = state[8]
    if _ghost_hit_now(meta, i):
        return _replace(state)
    return _evict_no_ghost_hit(state, size)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    prev, nxt, t1, t2, b1, b2, where, osize, meta, p = state
    osize[obj] = size
    if _ghost_hit_now(meta, i):
        dlist.push_head(prev, nxt, t2, obj)
        where[obj] = _T2
        meta[_T2_BYTES] += size
        meta[_IN_B1] = 0
        meta[_IN_B2] = 0
        meta[_GHOST_REQ] = -1
    else:
        dlist.push_head(prev, nxt, t1, obj)
        where[obj] = _T1
        meta[_T1_BYTES] += size


@njit(cache=True)
def _forget(state, obj):
    """A live cache reuses ``obj``'s id (``store.py``): drop its B1/B2 ghost entry and its bytes.

    ``obj`` is never cached here; nothing else is kept per id (``osize`` is rewritten on insert).
    """
    prev, nxt, t1, t2, b1, b2, where, osize, meta, p = state
    w = where[obj]
    if w == _B1:
        meta[_B1_BYTES] -= osize[obj]
        dlist.unlink(prev, nxt, b1, obj)
        where[obj] = _NONE
    elif w == _B2:
        meta[_B2_BYTES] -= osize[obj]
        dlist.unlink(prev, nxt, b2, obj)
        where[obj] = _NONE
    return None


class ARC(Policy):
    """Adaptive Replacement Cache, sizes in bytes (no parameters: ARC tunes itself)."""

    name = "arc"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    forget = _forget

    def init_state(self, ctx: SimContext) -> tuple:
        n = ctx.n_objects
        meta = np.zeros(_META_LEN, dtype=np.int64)
        meta[_CAPACITY] = ctx.capacity
        meta[_GHOST_REQ] = -1
        prev, nxt, t1 = linked_list(n)  # prev/next are shared by the four lists
        return (
            prev,
            nxt,
            t1,  # (head, tail) of T1, then of T2, B1, B2
            t1.copy(),
            t1.copy(),
            t1.copy(),
            np.zeros(n, dtype=np.int8),  # where: _NONE/_T1/_T2/_B1/_B2
            np.zeros(n, dtype=np.int64),  # osize: bytes the object was admitted with (ghosts keep it)
            meta,
            np.zeros(1, dtype=np.float64),  # p: target bytes of T1
        )
