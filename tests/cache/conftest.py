"""Helpers shared by the cache tests (traces made by hand, reference runs, store drivers)."""

from __future__ import annotations

from functools import cache

import numpy as np

from feedlearn.cache.core.policy import SimContext
from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from feedlearn.cache.store import PolicyCache
from feedlearn.cache.traces import Trace, load_trace
from feedlearn.shipped import folder


def make_trace(ids, sizes=None) -> Trace:
    ids = np.asarray(ids, dtype=np.uint64)
    sizes = np.ones(len(ids), dtype=np.int64) if sizes is None else np.asarray(sizes, dtype=np.int64)
    return Trace("t", np.arange(len(ids), dtype=np.float64), ids, sizes, has_sizes=True)


def checked_run(trace: Trace, name: str, capacity: int, seed: int = 0) -> list[bool]:
    """The access loop replayed in Python around the policy's compiled hooks, checking each step.

    Independent of ``simulator.access_loop`` on purpose: it re-derives residency and bytes used
    from the victims the policy returns and asserts the invariants after every request.
    """
    prepared = PreparedTrace.of(trace)
    pol = make_policy(name, seed=seed)
    ctx = SimContext(prepared.n_objects, capacity, prepared.obj, prepared.size, trace.time,
                     prepared.next_access() if pol.needs_future else None, seed)
    state = pol.init_state(ctx)
    on_hit, admit, evict, on_insert = pol.hooks()
    parked = type(pol).parked
    resident: dict[int, int] = {}
    hits = []

    def drain() -> None:  # objects the policy evicted on its own leave after every hook
        while (victim := int(parked(state))) >= 0:
            assert victim in resident, f"{name} parked {victim}, which is not cached"
            del resident[victim]

    for i, (o, s) in enumerate(zip(prepared.obj.tolist(), prepared.size.tolist())):
        if o in resident:
            hits.append(True)
            on_hit(state, o, s, i)
            drain()
        else:
            hits.append(False)
            admitted = admit(state, o, s, i)  # admit runs on every miss
            drain()
            if admitted and s <= capacity:
                bypassed = False
                while sum(resident.values()) + s > capacity:
                    victim = int(evict(state, o, s, i))
                    if victim == o:  # the policy drops the newcomer instead
                        bypassed = True
                        break
                    assert victim in resident, f"{name} evicted {victim}, which is not cached"
                    del resident[victim]
                    drain()
                drain()
                if not bypassed:
                    on_insert(state, o, s, i)
                    resident[o] = s
                    drain()
        assert sum(resident.values()) <= capacity
    return hits


def periodic_trace(cycles: int, hot: int = 200, scan: int = 800, seed: int = 0) -> Trace:
    """Each cycle requests ``hot`` recurring objects and ``scan`` new ones, shuffled together."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in range(cycles):
        cycle = np.concatenate([np.arange(hot), 10**6 + c * scan + np.arange(scan)])
        rng.shuffle(cycle)
        parts.append(cycle)
    ids = np.concatenate(parts).astype(np.uint64)
    return Trace("periodic", np.arange(len(ids), dtype=np.float64), ids, np.ones(len(ids), dtype=np.int64))


def class_trace(n: int = 40_000, seed: int = 0) -> Trace:
    """Each step a new object arrives; half of them (class 1) return once ~200 requests later.

    At eviction time both classes look alike (one access, similar age); only the request-supplied
    class feature tells them apart. 150 slots: LRU keeps too few returners.
    """
    rng = np.random.default_rng(seed)
    ids, cls, pending = [], [], {}
    next_id = 0
    for t in range(n):
        due = pending.pop(t, None)
        if due is not None:
            ids.append(due)
            cls.append(1.0)
            continue
        returns = rng.random() < 0.5
        ids.append(next_id)
        cls.append(1.0 if returns else 0.0)
        if returns:
            when = t + int(rng.integers(150, 250))
            while when in pending:
                when += 1
            pending[when] = next_id
        next_id += 1
    ids_arr = np.array(ids, dtype=np.uint64)
    return Trace("classes", np.arange(len(ids_arr), dtype=np.float64), ids_arr, np.ones(len(ids_arr), dtype=np.int64),
                 features=np.array(cls, dtype=np.float32)[:, None])

DATA = folder("traces")

TRACES = [
    "cloudPhysicsIO.oracleGeneral.bin",
    "tencentBlock.ns1326.sample.csv",
    "tencentBlock.ns2706.sample.csv",
    "arc_OLTP.lis.zst",
]

SIZES = ["1%", "10%"]


@cache
def prepared(name: str) -> PreparedTrace:
    return PreparedTrace.of(load_trace(DATA / name))

_MISSING = object()


def serve(cache: PolicyCache, ids, sizes=None) -> list[bool]:
    """Requests as a program makes them: ``get``; on a miss, compute and set (value = the size)."""
    hits = []
    for k, s in zip(ids, sizes if sizes is not None else [1] * len(ids)):
        hit = cache.get(k, _MISSING) is not _MISSING
        if not hit:
            cache[k] = s
        hits.append(hit)
    return hits


def simulated(ids, sizes, capacity: int, spec: str) -> list[bool]:
    return run_policy(PreparedTrace.of(make_trace(ids, sizes)), make_policy(spec), capacity).tolist()


def zipf_requests(seed: int, n: int = 6000, n_objects: int = 2000, alpha: float = 1.1):
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(alpha, n) % n_objects).tolist()
    size_of = rng.integers(1, 50, n_objects)
    return ids, [int(size_of[o]) for o in ids]


def check_invariants(cache: PolicyCache) -> None:
    """What the slot bookkeeping must keep, whatever happened."""
    assert len(cache) <= cache.slots - 1
    assert cache.currsize <= cache.maxsize
    assert cache.currsize == sum(cache.getsizeof(v) for v in cache.values())
    held = np.flatnonzero(cache._rsize >= 0)
    assert len(held) == cache.slots - 1 - cache._ctl[2]  # SLOT_ROOM
    assert set(cache._data.values()) <= set(held.tolist())
    assert not set(cache._data) & set(cache._idle)
