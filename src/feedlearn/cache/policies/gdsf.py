"""GDSF — Greedy-Dual-Size-Frequency (Cherkasova 1998): evict the lowest ``L + freq * cost / size``.

Every resident object has a priority ``H = L + freq * 1e6 / size`` (bytes), set when it is admitted
(``freq = 1``) and recomputed on every hit (``freq`` += 1). Eviction takes the lowest ``H`` and sets
the inflation value ``L`` to it, so objects that stop being requested age out relative to newly
(re)computed priorities. Ties go to the object whose priority was set earliest (FIFO), as in
libCacheSim. Frequency is forgotten on eviction.

Same formula as libCacheSim's ``GDSF`` (``cpp/GDSF.cpp``): cost 1e6 per object (a constant, so
the ranking is the classic ``freq / size``), float64 arithmetic in the same order, frequency =
requests since admission, ties by the request index of the last priority update.

Admission as libCacheSim: its ``GDSF_get`` *inserts* the missed object first (``H = L + 1e6/size``
with ``L`` from before this request's evictions) and then evicts the lowest priority until the
cache fits, so the newcomer may itself be the lowest and be dropped at once (after lower objects
were already evicted for it), setting ``L`` to its ``H``. Here ``admit`` computes the newcomer's
``H`` before any eviction, and ``evict`` returns the newcomer itself (the loop's bypass) when it
would be the lowest — residents win ties, being older — so miss counts match libCacheSim exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.core import heap
from feedlearn.cache.core.policy import Policy, SimContext

COST = 1.0e6  # libCacheSim's per-object cost: priority = L + freq * COST / size (bytes)


@njit(cache=True)
def _on_hit(state, obj, size, i):
    h, freq, infl = state
    freq[obj] += 1
    heap.update(h, obj, infl[0] + freq[obj] * COST / size, i)


@njit(cache=True)
def _admit(state, obj, size, i):
    h, freq, infl = state
    infl[1] = infl[0] + COST / size  # the newcomer's H, fixed before this request's evictions
    return True


@njit(cache=True)
def _evict(state, obj, size, i):
    h, freq, infl = state
    newcomer = infl[1]
    if h[heap.KEY][heap.peek(h)] > newcomer:  # the newcomer is the lowest (residents win ties: older)
        infl[0] = newcomer
        return obj  # dropped: not inserted, as libCacheSim evicts it right after inserting it
    victim = heap.pop(h)
    infl[0] = h[heap.KEY][victim]  # L <- priority of the evicted object
    return victim


@njit(cache=True)
def _on_insert(state, obj, size, i):
    h, freq, infl = state
    freq[obj] = 1  # frequency is forgotten on eviction
    heap.push(h, obj, infl[1], i)


class GDSF(Policy):
    """Greedy-Dual-Size-Frequency with libCacheSim's cost (1e6 per object)."""

    name = "gdsf"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert

    def admits_every_miss(self) -> bool:
        return False  # evict may drop the newcomer (see the module docstring)

    def init_state(self, ctx: SimContext) -> tuple:
        # infl = [L (the inflation value), H of the current miss's newcomer]
        infl = np.zeros(2, dtype=np.float64)
        return (heap.new_heap(ctx.n_objects), np.zeros(ctx.n_objects, dtype=np.int64), infl)
