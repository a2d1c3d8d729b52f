"""LIRS (Jiang & Zhang, SIGMETRICS'02): rank objects by reuse distance, not recency.

Objects with a short reuse distance are LIR and own almost the whole cache; the rest are HIR and
share a small slice (``hirs_ratio``, 1%), where a new object waits until it proves itself. Three
LRU stacks over dense ids, in bytes, following libCacheSim's ``LIRS`` (``cache/eviction/LIRS.c``)
step for step:

* S — recency stack of LIR objects and recently seen HIR objects, resident or not. Its bottom is
  always LIR ("pruning" drops the HIR entries below the lowest LIR, and their non-resident record).
* Q — the resident HIR objects, LRU; evictions from the cache take Q's bottom.
* NH — the non-resident HIR objects still in S, oldest first; when S holds more than twice the
  cache's bytes, the oldest of them leave S.

Limits: HIR ``max(1, int(hirs_ratio * capacity))`` bytes, LIR the rest. A hit on a LIR object moves
it to S's top; on a resident HIR in S it becomes LIR (leaves Q); on a resident HIR only in Q it
re-enters S as HIR. A miss on a non-resident HIR still in S makes it LIR straight away (its reuse
distance is short); a new object becomes LIR while the LIR limit allows, else HIR in Q. Making room
in the LIR part demotes S's bottom LIR object to Q's top (``evictLIR``); making room in Q evicts its
bottom from the cache (``evictHIR``), keeping a non-resident entry if it is still in S. Objects above
the HIR limit are refused (libCacheSim's ``can_insert``).

libCacheSim's quirks, kept for exact counts: a resident HIR re-entering S demotes LIR objects as if
it needed LIR room; both counts are of bytes the objects were first stored with.

Hook timing. libCacheSim evicts at points where the access loop does not: on *hits* (a HIR object
promoted to LIR demotes LIR objects, which may evict from Q) and in ``can_insert``, before the
loop's eviction step. Those victims are parked and leave through the ``parked`` hook right after the
hook that evicted them; LIRS always frees at least what the loop needs, so ``evict`` is a fallback.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import dlist
from feedlearn.cache.core.params import float_param
from feedlearn.cache.core.policy import Policy, SimContext

# sc[...] (int64): byte counters and limits
LIR_BYTES, HIR_BYTES, LIR_LIMIT, HIR_LIMIT, S_BYTES, CAPACITY = 0, 1, 2, 3, 4, 5
N_SCALARS = 6
# qwhere[o]: Q and the doomed list share one pair of link arrays (an object is in at most one)
OUT, IN_Q, DOOMED = 0, 1, 2


@njit(cache=True)
def _evict_hir(state):
    """Q's bottom leaves the cache (parked as doomed); still in S, it becomes non-resident."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    o = dlist.pop_tail(qp, qn, q_ends)
    sc[HIR_BYTES] -= osize[o]
    dlist.push_head(qp, qn, dq_ends, o)
    qwhere[o] = DOOMED
    res[o] = 0
    if in_s[o] and not in_nh[o]:
        dlist.push_head(np_, nn, nh_ends, o)
        in_nh[o] = 1


@njit(cache=True)
def _prune(state):
    """Drop HIR entries from S's bottom until a LIR object is there (one entry always stays)."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    while s_ends[1] != s_ends[0]:
        t = s_ends[1]
        if lir[t]:
            break
        if not res[t] and in_nh[t]:
            dlist.unlink(np_, nn, nh_ends, t)
            in_nh[t] = 0
        dlist.unlink(sp, sn, s_ends, t)
        in_s[t] = 0
        sc[S_BYTES] -= osize[t]


@njit(cache=True)
def _evict_lir(state):
    """S's bottom (LIR) is demoted to Q's top, Q making room; above the HIR limit it leaves."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    o = s_ends[1]
    if o < 0:  # libCacheSim would crash on an empty S; nothing to demote
        return False
    sc[LIR_BYTES] -= osize[o]
    dlist.unlink(sp, sn, s_ends, o)
    in_s[o] = 0
    sc[S_BYTES] -= osize[o]
    lir[o] = 0
    if osize[o] <= sc[HIR_LIMIT]:
        while sc[HIR_BYTES] + osize[o] > sc[HIR_LIMIT] and q_ends[1] >= 0:
            _evict_hir(state)
        dlist.push_head(qp, qn, q_ends, o)
        qwhere[o] = IN_Q
        res[o] = 1
        sc[HIR_BYTES] += osize[o]
    else:
        dlist.push_head(qp, qn, dq_ends, o)
        qwhere[o] = DOOMED
        res[o] = 0
    _prune(state)
    return True


@njit(cache=True)
def _make_lir_room(state, need):
    while state[16][LIR_BYTES] + need > state[16][LIR_LIMIT]:
        if not _evict_lir(state):
            break


@njit(cache=True)
def _limit_stack(state):
    """S may hold at most twice the cache's bytes: the oldest non-resident entries leave it."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    while sc[S_BYTES] > 2 * sc[CAPACITY] and nh_ends[1] >= 0:
        o = dlist.pop_tail(np_, nn, nh_ends)
        in_nh[o] = 0
        if in_s[o]:
            dlist.unlink(sp, sn, s_ends, o)
            in_s[o] = 0
            sc[S_BYTES] -= osize[o]


@njit(cache=True)
def _touch(state, obj):
    """libCacheSim's ``find``: a request moves the object to the top of S and of Q, where it is."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    if in_s[obj]:
        dlist.move_to_head(sp, sn, s_ends, obj)
    if qwhere[obj] == IN_Q:
        dlist.move_to_head(qp, qn, q_ends, obj)


@njit(cache=True)
def _on_hit(state, obj, size, i):
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    _touch(state, obj)
    if in_s[obj] and lir[obj]:
        _prune(state)
    elif in_s[obj]:  # resident HIR in S: becomes LIR, leaves Q
        if qwhere[obj] == IN_Q:
            dlist.unlink(qp, qn, q_ends, obj)
            qwhere[obj] = OUT
            sc[HIR_BYTES] -= osize[obj]
        _make_lir_room(state, osize[obj])
        lir[obj] = 1
        sc[LIR_BYTES] += osize[obj]
    else:  # resident HIR only in Q: re-enters S as HIR (making LIR room for it: libCacheSim's quirk)
        _make_lir_room(state, osize[obj])
        # unless that demotion evicted obj itself (Q held only obj): libCacheSim then reads freed
        # memory and keeps a phantom S entry; here obj is simply gone (parked, drained by the loop)
        if qwhere[obj] == IN_Q:
            dlist.push_head(sp, sn, s_ends, obj)
            in_s[obj] = 1
            sc[S_BYTES] += osize[obj]
    _limit_stack(state)


@njit(cache=True)
def _admit(state, obj, size, i):
    """libCacheSim's miss side: ``find`` then ``can_insert``, which already makes LIR or Q room."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    _touch(state, obj)
    if size > sc[CAPACITY]:
        _limit_stack(state)
        return False
    if in_s[obj]:  # non-resident HIR still in S: it will be LIR; its first size counts
        _make_lir_room(state, osize[obj])
        if in_nh[obj]:
            dlist.unlink(np_, nn, nh_ends, obj)
            in_nh[obj] = 0
        return True
    if size > sc[LIR_LIMIT] or size > sc[HIR_LIMIT]:
        _limit_stack(state)
        return False
    if sc[LIR_BYTES] + size > sc[LIR_LIMIT] and sc[HIR_BYTES] + size > sc[HIR_LIMIT]:
        while sc[HIR_BYTES] + size > sc[HIR_LIMIT] and q_ends[1] >= 0:
            _evict_hir(state)
    return True


@njit(cache=True)
def _evict(state, obj, size, i):
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    # LIRS freed less than the loop needs (not seen with libCacheSim's own checks): Q, then S
    if q_ends[1] >= 0:
        _evict_hir(state)
    else:
        _evict_lir(state)
        if dq_ends[1] < 0:
            _evict_hir(state)
    return _parked(state)


@njit(cache=True)
def _parked(state):
    """The next object LIRS evicted on its own (oldest first), or -1."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    return dlist.pop_parked(qp, qn, dq_ends, qwhere, OUT)


@njit(cache=True)
def _on_insert(state, obj, size, i):
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    res[obj] = 1
    if in_s[obj]:  # non-resident HIR in S (already at S's top): LIR now
        lir[obj] = 1
        sc[LIR_BYTES] += osize[obj]
    else:
        osize[obj] = size
        dlist.push_head(sp, sn, s_ends, obj)
        in_s[obj] = 1
        sc[S_BYTES] += size
        if sc[LIR_BYTES] + size <= sc[LIR_LIMIT]:
            lir[obj] = 1
            sc[LIR_BYTES] += size
        else:
            lir[obj] = 0
            dlist.push_head(qp, qn, q_ends, obj)
            qwhere[obj] = IN_Q
            sc[HIR_BYTES] += size
    _limit_stack(state)


@njit(cache=True)
def _forget(state, obj):
    """A live cache reuses ``obj``'s id (``store/``): drop its non-resident S entry and NH record."""
    (sp, sn, s_ends, qp, qn, q_ends, dq_ends, np_, nn, nh_ends,
     in_s, lir, res, in_nh, qwhere, osize, sc) = state
    if in_nh[obj]:
        dlist.unlink(np_, nn, nh_ends, obj)
        in_nh[obj] = 0
    if in_s[obj]:  # never resident here: a non-resident HIR entry
        dlist.unlink(sp, sn, s_ends, obj)
        in_s[obj] = 0
        sc[S_BYTES] -= osize[obj]
    return None


class LIRS(Policy):
    """LIRS: LIR objects (short reuse distance) own the cache, HIR ones a 1% slice, sizes in bytes."""

    name = "lirs"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    parked = _parked
    forget = _forget

    def __init__(self, *, hirs_ratio: float = 0.01, seed: int = 0) -> None:
        super().__init__(seed=seed)
        # libCacheSim fixes it at 1% (the paper's choice); the LIR part gets the rest
        self.hirs_ratio = float_param("lirs", "hirs_ratio", hirs_ratio, 0.0, 1.0)

    def admits_every_miss(self) -> bool:
        return False  # objects above the HIR limit are refused

    def init_state(self, ctx: SimContext) -> tuple:
        n = ctx.n_objects
        sc = np.zeros(N_SCALARS, dtype=np.int64)
        sc[HIR_LIMIT] = max(1, int(self.hirs_ratio * ctx.capacity))  # truncated, as libCacheSim's
        sc[LIR_LIMIT] = ctx.capacity - sc[HIR_LIMIT]
        sc[CAPACITY] = ctx.capacity
        # S and NH have their own links (an object may be in S and Q, or S and NH); Q and the doomed
        # list share a pair. ends[0] = top (newest), ends[1] = bottom.

        def links() -> tuple[np.ndarray, np.ndarray]:
            return np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)

        def ends() -> np.ndarray:
            return np.array([-1, -1], dtype=np.int64)

        sp, sn = links()
        qp, qn = links()
        np_, nn = links()
        return (
            sp, sn, ends(),  # S stack
            qp, qn, ends(), ends(),  # Q stack, doomed list
            np_, nn, ends(),  # NH: non-resident HIR entries of S, oldest at the bottom
            np.zeros(n, dtype=np.int8),  # in_s
            np.zeros(n, dtype=np.int8),  # lir: LIR (1) or HIR (0), meaningful while in S or Q
            np.zeros(n, dtype=np.int8),  # res: resident for LIRS (parked objects are not)
            np.zeros(n, dtype=np.int8),  # in_nh
            np.zeros(n, dtype=np.int8),  # qwhere: OUT / IN_Q / DOOMED
            np.zeros(n, dtype=np.int64),  # osize: bytes the object was first stored with
            sc,
        )
