"""A checked replay for policies that park objects libCacheSim has already evicted (twoq, lirs).

Such a policy evicts at points the access loop does not ask (on a hit, in libCacheSim's
``can_insert``, inside a sub-cache's own ``get``) and parks those victims as *doomed* until the
loop's next eviction. The replay reports the first request that hits a doomed object: up to there
the policy must agree with libCacheSim request for request, and there it must differ (hit vs miss).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from feedlearn.cache.core.policy import SimContext
from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace
from tests.cache.conftest import make_trace


@dataclass
class Replay:
    hits: list[bool]
    victims: list[int]  # dense ids, in eviction order
    state: tuple
    dense: dict[int, int]  # trace id -> dense id
    doomed_hit: int  # first request that hit a doomed object, -1 if none


def replay(ids, sizes, capacity: int, spec: str, is_doomed: Callable[[tuple, int], bool]) -> Replay:
    """The access loop by hand around the policy's hooks (``is_doomed(state, dense_id)``)."""
    prepared = PreparedTrace.of(make_trace(ids, sizes))
    pol = make_policy(spec)
    state = pol.init_state(SimContext(prepared.n_objects, capacity, prepared.obj, prepared.size,
                                      prepared.trace.time, None, 0))
    on_hit, admit, evict, on_insert = pol.hooks()
    resident: dict[int, int] = {}
    hits, victims, doomed_hit = [], [], -1
    for i, (o, s) in enumerate(zip(prepared.obj.tolist(), prepared.size.tolist())):
        hits.append(o in resident)
        if o in resident:
            if doomed_hit < 0 and is_doomed(state, o):
                doomed_hit = i
            on_hit(state, o, s, i)
            continue
        if not admit(state, o, s, i) or s > capacity:
            continue
        while sum(resident.values()) + s > capacity:
            victim = int(evict(state, o, s, i))
            victims.append(victim)
            del resident[victim]
        on_insert(state, o, s, i)
        resident[o] = s
    dense = dict(zip(prepared.trace.obj_id.tolist(), prepared.obj.tolist()))
    return Replay(hits, victims, state, dense, doomed_hit)


def agrees_until_doomed_hit(run: Replay, expected: list[bool]) -> bool:
    """Equal to libCacheSim's hits up to the first doomed hit, which is a hit here and a miss there."""
    end = len(expected) if run.doomed_hit < 0 else run.doomed_hit
    if run.hits[:end] != expected[:end]:
        return False
    return run.doomed_hit < 0 or (run.hits[end] and not expected[end])
