"""Compile every policy's code ahead of time into numba's on-disk cache.

The first use of each policy compiles it: about 100 s for all registered policies on one core
(HALP ~24 s, LRB ~15 s); once cached, a process still spends a few seconds loading the code (HALP
~4 s). ``precompile`` pays the compiling once, spread over worker processes, so that a first sweep
or a Docker image built with ``feedlearn cache compile`` starts warm. (Warming before a 2-worker
test run was measured and gave nothing: ``make test`` does not use it.) It replays a small seeded
trace through every policy, and through HALP with every built-in candidate heuristic (each compiles
its own hooks).
"""

from __future__ import annotations

from collections.abc import Sequence

from feedlearn.cache.halp.heuristics import HEURISTICS
from feedlearn.cache.policies import POLICIES, make_policy
from feedlearn.cache.sweep import sweep
from feedlearn.cache.traces import zipf_trace

# the slowest to compile go first, so that workers finish together and HALP's learner, compiled with
# the first HALP, is cached before the other heuristics need it
_FIRST = ("halp", "lrb", "lhd", "lirs", "wtinylfu", "belady_size")


def compile_specs() -> list[str]:
    """Every registered policy (slowest first), then HALP on each non-default built-in heuristic."""
    specs = [*_FIRST, *(name for name in POLICIES if name not in _FIRST)]
    default = make_policy("halp").heuristic
    return specs + [f"halp(heuristic={name})" for name in HEURISTICS if name != default]


def precompile(specs: Sequence[str] | None = None, *, jobs: int | None = None, progress: bool | None = None) -> int:
    """Replay a 5,000-request trace through each of ``specs`` (default :func:`compile_specs`) on ``jobs``
    processes; returns how many policies ran. A trace of sizes and repeats reaches every code path a
    simulation compiles (hits, misses, evictions, HALP's and LRB's training)."""
    specs = list(specs or compile_specs())
    trace = zipf_trace(5000, 500, 0.9, seed=0, object_size=(100, 10_000)).with_next_access()
    sweep([trace], specs, ["5%"], jobs=jobs, progress=progress, stream=False)
    return len(specs)
