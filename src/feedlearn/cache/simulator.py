"""The trace-driven simulator: one access loop for every policy, metrics over time windows.

The loop (:func:`access_loop`) is written once: find → on a hit call the policy's ``on_hit``; on a
miss, ask the policy's ``admit``, skip objects it refuses and objects larger than the cache (a miss,
never inserted), call ``evict`` until the object fits, then ``on_insert``. It runs in chunks so
long simulations show progress and can be stopped.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from feedlearn.cache.core.policy import nothing_parked
from feedlearn.cache.loop import access_loop, drain  # noqa: F401 (re-exported: the loop lives in loop.py)
from feedlearn.cache.policies import Policy, SimContext, make_policy
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.cache.streaming import StreamedTrace, WindowTally, check_streamable, replay
from feedlearn.cache.traces.model import Trace, next_access_indices
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.progress import progress_bar
from feedlearn.common.text import markup_safe


@dataclass(frozen=True)
class PreparedTrace:
    """A trace with ids remapped to ``0..n_objects-1`` (done once, shared by all policies)."""

    trace: Trace
    obj: np.ndarray  # (n,) int64 dense ids
    size: np.ndarray  # (n,) int64
    n_objects: int
    unique_bytes: int
    _next: list = field(default_factory=list, repr=False)  # memo for next_access

    @classmethod
    def of(cls, trace: Trace, *, unit_size: bool = False) -> PreparedTrace:
        if unit_size:
            trace = trace.unit_size()
        uniq, first, dense = np.unique(trace.obj_id, return_index=True, return_inverse=True)
        size = np.ascontiguousarray(trace.size, dtype=np.int64)
        return cls(trace, dense.astype(np.int64).ravel(), size, len(uniq), int(size[first].sum()))

    def obj_ids(self) -> np.ndarray:
        """The trace's id of each dense id, (n_objects,) uint64."""
        ids = np.empty(self.n_objects, dtype=np.uint64)
        ids[self.obj] = self.trace.obj_id
        return ids

    def next_access(self) -> np.ndarray:
        """Index of each request's next request to the same object, ``n`` if none (0-based)."""
        if not self._next:
            nxt = next_access_indices(self.trace.obj_id)
            given = self.trace.next_access
            # A file's next-access column (oracleGeneral) is trusted only if it is the true one:
            # Belady's numbers come from it, and a corrupt column would make them silently wrong.
            if given is not None and not np.array_equal(given, nxt):
                bad = int(np.flatnonzero(given != nxt)[0])
                raise FeedlearnError(
                    f"{self.trace.name}: record {bad + 1}: next-access index {int(given[bad])} is wrong "
                    f"(the next request to object {int(self.trace.obj_id[bad])} is {int(nxt[bad])}, -1 if none); "
                    "rewrite the file with feedlearn cache convert")
            self._next.append(np.where(nxt < 0, len(nxt), nxt - 1).astype(np.int64))
        return self._next[0]


@dataclass(frozen=True)
class SimResult:
    """Metrics of one simulation; ``window_byte_miss_ratios`` holds one value per window."""

    trace: str
    policy: str
    cache_size: int
    requests: int
    hits: int
    object_miss_ratio: float
    byte_miss_ratio: float
    p95_window_byte_miss_ratio: float
    seconds: float
    warmup: int
    window: float
    window_unit: str
    window_byte_miss_ratios: list[float]
    diagnostics: dict = field(default_factory=dict)  # the policy's own (e.g. HALP's learning curves)

    def record(self) -> dict:
        """A flat dict for JSON/CSV (without the per-window list and the diagnostics)."""
        out = asdict(self)
        out.pop("window_byte_miss_ratios")
        out.pop("diagnostics")
        return out


def simulate(
    trace: Trace | PreparedTrace | StreamedTrace,
    policy: Policy | str,
    cache_size: int | float | str,
    *,
    seed: int = 0,
    warmup: int = 0,
    window: float | None = None,
    window_unit: str = "requests",
    unit_size: bool = False,
    progress: bool | None = False,
) -> SimResult:
    """Run ``policy`` over ``trace`` with a cache of ``cache_size`` and measure miss ratios.

    ``warmup`` requests are served but not counted. ``window`` (requests or seconds, per
    ``window_unit``) slices the counted requests for per-window byte miss ratios; by default the
    counted requests are split into 100 equal windows. A ``StreamedTrace`` (``streaming.py``) is
    replayed chunk by chunk from its file, with the same results in bounded memory.
    """
    check_window(window, window_unit)  # before the run, not after it
    if isinstance(trace, StreamedTrace):
        return _simulate_streamed(trace, make_policy(policy, seed=seed), cache_size, seed=seed, warmup=warmup,
                                  window=window, window_unit=window_unit, progress=progress)
    prepared = trace if isinstance(trace, PreparedTrace) else PreparedTrace.of(trace, unit_size=unit_size)
    pol = make_policy(policy, seed=seed)
    capacity = resolve_cache_size(cache_size, prepared.unique_bytes)
    _check_warmup(warmup, len(prepared.obj), prepared.trace.name)
    timer: list[float] = []
    hits = run_policy(prepared, pol, capacity, seed=seed, progress=progress, timer=timer)
    seconds = timer[0]
    return _measure(prepared, pol, capacity, hits, seconds, warmup, window, window_unit)


def run_policy(prepared: PreparedTrace, pol: Policy, capacity: int, *, seed: int = 0,
               progress: bool | None = False, timer: list[float] | None = None) -> np.ndarray:
    """Serve every request of ``prepared`` through ``pol``; returns the (n,) boolean hit mask.

    ``timer``, when given, receives the seconds spent serving requests, excluding the one-off
    compilation of the policy's hooks (triggered first by an empty call).
    """
    n = len(prepared.obj)
    ctx = SimContext(
        n_objects=prepared.n_objects,
        capacity=capacity,
        obj=prepared.obj,
        size=prepared.size,
        time=prepared.trace.time,
        next_access=prepared.next_access() if pol.needs_future else None,
        seed=seed,
        features=prepared.trace.features,
        obj_ids=prepared.obj_ids() if pol.needs_obj_ids else None,
    )
    state = pol.init_state(ctx)
    on_hit, admit, evict, on_insert = pol.hooks()
    parked = type(pol).parked if type(pol).parked is not nothing_parked else None
    resident_size = np.full(prepared.n_objects, -1, dtype=np.int64)
    hits = np.zeros(n, dtype=np.bool_)
    used = access_loop(prepared.obj, prepared.size, 0, 0, 0, capacity, 0, resident_size, hits,
                       state, on_hit, admit, evict, on_insert, parked)  # compiles, serves nothing
    started = _time.perf_counter()
    with progress_bar(markup_safe(f"{pol.name} {prepared.trace.name}"), n, enabled=progress) as bar:
        for start in range(0, n, pol.chunk):
            end = min(n, start + pol.chunk)
            used = access_loop(
                prepared.obj, prepared.size, start, end, 0, capacity, used, resident_size, hits,
                state, on_hit, admit, evict, on_insert, parked,
            )
            pol.between_chunks(state, end)
            bar.advance(end - start)
    if timer is not None:
        timer.append(_time.perf_counter() - started)
    assert used <= capacity
    return hits


def _check_warmup(warmup: object, n: int, name: str) -> None:
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not 0 <= warmup < n:
        raise FeedlearnError(f"warmup {warmup} must be in [0, {n}) for trace {name}")


def _simulate_streamed(st: StreamedTrace, pol: Policy, cache_size: int | float | str, *, seed: int, warmup: int,
                       window: float | None, window_unit: str, progress: bool | None,
                       hits_out: list[np.ndarray] | None = None) -> SimResult:
    """``simulate`` for a trace read in chunks (``hits_out``: each chunk's hit mask, for tests)."""
    capacity = resolve_cache_size(cache_size, st.unique_bytes)
    _check_warmup(warmup, st.n_requests, st.name)
    check_streamable(st, pol)
    requests = st.n_requests - warmup
    time_range = st.counted_time_range(warmup) if window_unit == "seconds" else (0.0, 0.0)
    ids_of, length = window_plan(requests, window, window_unit, time_range)
    tally = WindowTally(warmup, ids_of)
    timer: list[float] = []
    replay(st, pol, capacity, tally, seed=seed, progress=progress, timer=timer, hits_out=hits_out)
    per_window = tally.per_window()
    return SimResult(
        trace=st.name,
        policy=pol.describe(),
        cache_size=capacity,
        requests=requests,
        hits=tally.hits,
        object_miss_ratio=float(1.0 - tally.hits / requests),
        byte_miss_ratio=tally.miss_bytes / tally.total_bytes if tally.total_bytes > 0 else 0.0,
        p95_window_byte_miss_ratio=float(np.percentile(per_window, 95)) if len(per_window) else float("nan"),
        seconds=timer[0],
        warmup=warmup,
        window=length,
        window_unit=window_unit,
        window_byte_miss_ratios=per_window.tolist(),
        diagnostics=pol.diagnostics(),
    )


def _measure(prepared: PreparedTrace, pol: Policy, capacity: int, hits: np.ndarray, seconds: float,
             warmup: int, window: float | None, window_unit: str) -> SimResult:
    counted = slice(warmup, None)
    hit = hits[counted]
    size = prepared.size[counted].astype(np.float64)
    requests = len(hit)
    total_bytes = float(size.sum())
    miss_bytes = float(size[~hit].sum())
    window_ids, window_value = _window_ids(prepared.trace.time[counted], requests, window, window_unit)
    per_window = window_byte_miss_ratios(window_ids, size, hit)
    return SimResult(
        trace=prepared.trace.name,
        policy=pol.describe(),
        cache_size=capacity,
        requests=requests,
        hits=int(hit.sum()),
        object_miss_ratio=float(1.0 - hit.mean()),
        byte_miss_ratio=miss_bytes / total_bytes if total_bytes > 0 else 0.0,
        p95_window_byte_miss_ratio=float(np.percentile(per_window, 95)) if len(per_window) else float("nan"),
        seconds=seconds,
        warmup=warmup,
        window=window_value,
        window_unit=window_unit,
        window_byte_miss_ratios=per_window.tolist(),
        diagnostics=pol.diagnostics(),
    )


def check_window(window: float | None, unit: str) -> None:
    """Refuse a window spelling before any simulation runs (the CLI's ``--window``/``--window-unit``)."""
    if unit not in ("requests", "seconds"):
        raise FeedlearnError(f"window unit {unit!r}: choose requests or seconds")
    if window is None:
        return
    if isinstance(window, bool) or not isinstance(window, (int, float, np.integer, np.floating)) \
            or not math.isfinite(window) or window <= 0:
        raise FeedlearnError(f"window {window!r} must be a finite number > 0")
    if unit == "requests" and window < 1:
        raise FeedlearnError(f"window {window!r} requests: a window holds at least one request")


# At most this many windows between the earliest and latest time: window ids stay exact int64.
_MAX_WINDOWS = 2**53


def _window_ids(times: np.ndarray, requests: int, window: float | None, unit: str) -> tuple[np.ndarray, float]:
    """Window index of each counted request, and the window length actually used."""
    time_range = (float(times.min()), float(times.max())) if requests else (0.0, 0.0)
    ids_of, length = window_plan(requests, window, unit, time_range)
    return ids_of(0, times), length


def window_plan(requests: int, window: float | None, unit: str,
                time_range: tuple[float, float]) -> tuple[Callable[[int, np.ndarray], np.ndarray], float]:
    """``(ids_of, length)``: ``ids_of(k, times)`` is the window index of counted requests ``k, k+1, ...``
    (whose times are ``times``), for a whole trace or one chunk of it; ``time_range`` is the earliest
    and latest time of the counted requests.

    In seconds, windows start at the earliest time, not the first request's: a trace whose time
    goes backwards (merged or skewed logs) puts each request in the window of its own time.
    """
    check_window(window, unit)
    if unit == "requests":
        length = float(window) if window is not None else float(max(1, -(-requests // 100)))
        if length.is_integer() and length < 2**53:  # integer division: the same floors, ~5x faster
            whole = int(length)
            return (lambda k, times: np.arange(k, k + len(times), dtype=np.int64) // whole), length
        return (lambda k, times: (np.arange(k, k + len(times)) // length).astype(np.int64)), length
    start = time_range[0] if requests else 0.0
    span = time_range[1] - start if requests else 0.0
    length = float(window) if window is not None else max(span / 100.0, 1e-9)
    if span / length >= _MAX_WINDOWS:
        raise FeedlearnError(f"window {length:g} seconds is too short for a trace spanning {span:g} seconds")
    return (lambda k, times: np.floor((times - start) / length).astype(np.int64)), length


def window_byte_miss_ratios(window_ids: np.ndarray, size: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Byte miss ratio of each non-empty window (windows with zero bytes are skipped)."""
    if len(window_ids) == 0:
        return np.zeros(0)
    # Number the windows that hold requests 0, 1, 2, ... in time order, so bincount allocates one
    # bin per non-empty window, not one per window of the whole span (a short window on a long
    # trace would ask for billions).
    if np.all(window_ids[1:] >= window_ids[:-1]):
        window_ids = np.concatenate(([0], np.cumsum(window_ids[1:] != window_ids[:-1])))
    else:
        window_ids = np.unique(window_ids, return_inverse=True)[1].ravel()
    total = np.bincount(window_ids, weights=size)
    missed = np.bincount(window_ids, weights=np.where(hit, 0.0, size), minlength=len(total))
    keep = total > 0
    return missed[keep] / total[keep]
