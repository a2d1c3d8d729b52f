"""Trace statistics: what a cache engineer looks at before simulating (``feedlearn cache stats``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from feedlearn.cache.traces.model import Trace


@dataclass(frozen=True)
class TraceStats:
    """Summary of a trace; sizes are in bytes, quantiles over distinct objects (first-seen size)."""

    name: str
    requests: int
    unique_objects: int
    unique_bytes: int
    total_bytes: int
    one_hit_wonders: int  # objects requested exactly once
    one_hit_wonder_ratio: float  # of unique objects
    time_span: float  # latest minus earliest time (times may go backwards in real traces)
    out_of_order_times: int  # requests whose time is earlier than the request before
    first_out_of_order: int | None  # 1-based index of the first such request
    size_min: int
    size_p25: float
    size_median: float
    size_p75: float
    size_p99: float
    size_max: int
    size_mean: float

    def as_dict(self) -> dict:
        return asdict(self)


def trace_stats(trace: Trace) -> TraceStats:
    """Compute :class:`TraceStats` in a few vectorised passes."""
    _, first, counts = np.unique(trace.obj_id, return_index=True, return_counts=True)
    sizes = trace.size[first]
    q25, q50, q75, q99 = np.percentile(sizes, [25, 50, 75, 99])
    one_hit = int((counts == 1).sum())
    # Logged traces are not always in time order (clock skew, merged logs). They are simulated as
    # they come, in request order; here the span is latest - earliest (last - first would go
    # negative) and the out-of-order requests are counted so that the user sees them.
    backwards = np.flatnonzero(np.diff(trace.time) < 0)
    return TraceStats(
        name=trace.name,
        requests=len(trace),
        unique_objects=len(first),
        unique_bytes=int(sizes.sum()),
        total_bytes=int(trace.size.sum()),
        one_hit_wonders=one_hit,
        one_hit_wonder_ratio=one_hit / len(first),
        time_span=float(trace.time.max() - trace.time.min()),
        out_of_order_times=len(backwards),
        first_out_of_order=int(backwards[0]) + 2 if len(backwards) else None,
        size_min=int(sizes.min()),
        size_p25=float(q25),
        size_median=float(q50),
        size_p75=float(q75),
        size_p99=float(q99),
        size_max=int(sizes.max()),
        size_mean=float(sizes.mean()),
    )
