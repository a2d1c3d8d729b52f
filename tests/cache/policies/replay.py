"""The access loop replayed by hand around a policy's hooks, keeping its victims and final state.

For hand-worked eviction orders of policies that also evict on their own (``Policy.parked``: twoq,
lirs): their victims are listed in the order they leave, parked ones right after the hook that
evicted them, as ``simulator.access_loop`` drains them.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedlearn.cache.core.policy import SimContext
from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace
from tests.cache.conftest import make_trace


@dataclass
class Replay:
    hits: list[bool]
    victims: list[int]  # dense ids, in the order they left the cache
    state: tuple
    dense: dict[int, int]  # trace id -> dense id


def replay(ids, sizes, capacity: int, spec: str) -> Replay:
    prepared = PreparedTrace.of(make_trace(ids, sizes))
    pol = make_policy(spec)
    state = pol.init_state(SimContext(prepared.n_objects, capacity, prepared.obj, prepared.size,
                                      prepared.trace.time, None, 0))
    on_hit, admit, evict, on_insert = pol.hooks()
    parked = type(pol).parked
    resident: dict[int, int] = {}
    hits: list[bool] = []
    victims: list[int] = []

    def leave(victim: int) -> None:
        victims.append(victim)
        del resident[victim]

    def drain() -> None:
        while (victim := int(parked(state))) >= 0:
            leave(victim)

    for i, (o, s) in enumerate(zip(prepared.obj.tolist(), prepared.size.tolist())):
        hits.append(o in resident)
        if o in resident:
            on_hit(state, o, s, i)
            drain()
            continue
        admitted = admit(state, o, s, i)
        drain()
        if not admitted or s > capacity:
            continue
        while sum(resident.values()) + s > capacity:
            leave(int(evict(state, o, s, i)))
            drain()
        on_insert(state, o, s, i)
        resident[o] = s
        drain()
    dense = dict(zip(prepared.trace.obj_id.tolist(), prepared.obj.tolist()))
    return Replay(hits, victims, state, dense)
