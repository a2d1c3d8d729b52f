"""The compiled side of the live cache: the simulator's hit and miss paths for one key's slot.

``miss_path`` is ``simulator.access_loop``'s miss branch for one request, plus the bookkeeping a
live cache needs: it reports the evicted slots so the Python side can drop their keys and values,
and it also evicts while the policy holds as many slots as the pool allows (``SLOT_ROOM``).
"""

from __future__ import annotations

from typing import Any

from numba import njit, typeof, types
from numba.experimental import structref

# ctl (int64): bytes of the cached values, capacity, how many more slots the policy may hold
USED, CAPACITY, SLOT_ROOM = range(3)


# The policy's state and the cache's arrays as one StructRef: compiled calls then unbox one pointer
# instead of every array of a state tuple (S3-FIFO's 10 arrays: on_hit 0.62 -> 0.25 µs per call).
@structref.register
class SlotStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class SlotState(structref.StructRefProxy):
    """``state`` (the policy's), ``ctl`` (USED, CAPACITY, SLOT_ROOM), ``rsize`` and ``victims`` (see
    :func:`miss_path`); the arrays are the same buffers as the Python side's."""


structref.define_proxy(SlotState, SlotStateType, ["state", "ctl", "rsize", "victims"])


@njit
def drain_into(st, parked, n):
    """Take out the slots the policy evicted on its own (``Policy.parked``), writing them to
    ``victims[n:]``; returns the new number of victims."""
    state, ctl, rsize, victims = st.state, st.ctl, st.rsize, st.victims
    victim = parked(state)
    while victim >= 0:
        if rsize[victim] < 0:
            raise AssertionError("policy parked a slot that is not in the cache")
        n = _take_out(ctl, rsize, victims, n, victim)
        victim = parked(state)
    return n


@njit(inline="always")
def _take_out(ctl, rsize, victims, n, victim):
    """Slot ``victim`` leaves the cache (its bytes and its slot are free again) as victim number ``n``."""
    ctl[USED] -= rsize[victim]
    ctl[SLOT_ROOM] += 1
    rsize[victim] = -1
    victims[n] = victim
    return n + 1


@njit
def hit_path(st, on_hit, parked, o, size, i):
    """A lookup found slot ``o``; returns how many slots the policy evicted on its own (in
    ``victims``; 0 for most policies). (Not cached by numba, like ``miss_path``.)"""
    on_hit(st.state, o, size, i)
    if parked is None:  # most policies: the branch is compiled away
        return 0
    return drain_into(st, parked, 0)


@njit
def miss_path(st, admit, evict, on_insert, forget, parked, o, hook_size, size, i, reuse):
    """The simulator's miss path for slot ``o``: forget → admit → evict until it fits → insert.

    ``reuse``: first ``forget`` what the policy kept about the slot's previous key. ``rsize[s]`` is
    the bytes slot ``s`` counts in ``ctl[USED]`` (0 for a deleted key the policy still holds), -1 when
    the policy does not hold ``s``. Writes the evicted slots to ``victims`` and returns their number
    ``n`` if ``o`` was inserted, ``-1 - n`` if it was refused (``admit``) or dropped (``evict``
    returned ``o``), the evictions made before standing; the slots the policy evicted on its own
    (``parked``, drained after every hook) are among the victims. Compiled once per policy and process (not
    cached by numba: its type depends on the policy's hooks, as ``access_loop``'s does).
    """
    state, ctl, rsize, victims = st.state, st.ctl, st.rsize, st.victims
    if reuse:
        forget(state, o)
    admitted = admit(state, o, hook_size, i)
    n = 0
    if parked is not None:  # (None for most policies: compiled away)
        n = drain_into(st, parked, n)
    if not admitted:
        return -1 - n
    while ctl[USED] + size > ctl[CAPACITY] or ctl[SLOT_ROOM] <= 0:
        victim = evict(state, o, hook_size, i)
        if victim == o:
            if parked is not None:
                n = drain_into(st, parked, n)
            return -1 - n
        if rsize[victim] < 0:
            raise AssertionError("policy evicted a slot that is not in the cache")
        n = _take_out(ctl, rsize, victims, n, victim)
        if parked is not None:
            n = drain_into(st, parked, n)
    on_insert(state, o, hook_size, i)
    rsize[o] = size
    ctl[USED] += size
    ctl[SLOT_ROOM] -= 1
    if parked is not None:
        n = drain_into(st, parked, n)
    return n


@njit(cache=True)
def victims_of(st):
    """The ``victims`` array as numpy sees it (Python reads the slots ``miss_path`` wrote)."""
    return st.victims


def entry(fn: Any, *example: Any) -> Any:
    """``fn``'s compiled entry point for the types of ``example``.

    Calling it skips numba's per-call type dispatch (measured 0.44 -> 0.22 µs for LRU's ``on_hit``);
    safe because the cache always passes the same types.
    """
    return fn.compile(tuple(typeof(a) for a in example))
