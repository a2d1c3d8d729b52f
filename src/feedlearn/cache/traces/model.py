"""What a trace is: the ``Trace`` arrays, the ``Request`` tuple, ``TraceChunk`` (a slice of a
trace read in streaming fashion) and the ``TraceReader`` protocol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from feedlearn.common.errors import FeedlearnError

# Bytes of all requests together: below 2**62, int64 sums of sizes (unique bytes, totals, a cache's
# bytes in use plus one object) cannot overflow.
MAX_TOTAL_BYTES = 2**62


class Request(NamedTuple):
    """One request: ``time`` in the trace's unit (seconds for real traces), id, size in bytes."""

    time: float
    obj_id: int
    size: int


@dataclass(frozen=True)
class TraceChunk:
    """``len(obj_id)`` consecutive requests of a trace, the first being request ``start`` (0-based).

    Readers yield these from ``chunks(n)`` (each ``n`` requests but the last), so a replay holds
    one chunk at a time instead of the whole trace. ``next_access`` is the file's column
    (oracleGeneral: 1-based index of the next request to the object, -1 if none), else None.
    """

    start: int
    time: np.ndarray  # (m,) float64
    obj_id: np.ndarray  # (m,) uint64
    size: np.ndarray  # (m,) int64
    next_access: np.ndarray | None = None  # (m,) int64
    features: np.ndarray | None = None  # (m, f) float32

    def __len__(self) -> int:
        return len(self.obj_id)


@dataclass(frozen=True)
class Trace:
    """A whole trace as numpy arrays (the fast path every simulator run uses).

    ``next_access`` follows libCacheSim's oracleGeneral convention: the 1-based index of the next
    request to the same object, or -1 when the object is never requested again. It is computed on
    demand with :func:`next_access_indices` when a reader does not supply it.
    """

    name: str
    time: np.ndarray  # (n,) float64
    obj_id: np.ndarray  # (n,) uint64
    size: np.ndarray  # (n,) int64, bytes (1 for unit-size traces)
    has_sizes: bool = True
    next_access: np.ndarray | None = None  # (n,) int64
    # request-supplied features (e.g. content type, client class, from CSV ``feature-cols``);
    # learned policies (HALP) append them to their per-object features
    features: np.ndarray | None = None  # (n, m) float32

    def __post_init__(self) -> None:
        n = len(self.obj_id)
        assert len(self.time) == n and len(self.size) == n, "trace arrays must have equal length"
        if n == 0:
            raise FeedlearnError(f"{self.name}: the trace has no requests")
        if self.features is not None and (self.features.ndim != 2 or len(self.features) != n):
            raise FeedlearnError(f"{self.name}: features must have shape (requests={n}, m), "
                                 f"got {self.features.shape}")
        # Readers name the bad line; these guard traces built in Python and the totals, which no
        # single line shows. Sizes are summed as floats, which cannot overflow, before int64 sums.
        if self.size.min() < 0:
            raise FeedlearnError(f"{self.name}: request {int(np.flatnonzero(self.size < 0)[0]) + 1} has a negative size")
        if not np.isfinite(self.time).all():
            bad = int(np.flatnonzero(~np.isfinite(self.time))[0]) + 1
            raise FeedlearnError(f"{self.name}: request {bad} has a time that is not a finite number")
        total = float(self.size.sum(dtype=np.float64))
        if total > MAX_TOTAL_BYTES:
            raise FeedlearnError(f"{self.name}: the requests add up to {total:.3g} bytes, more than the "
                                 f"limit of 2**62 (sizes must be in bytes)")

    def __len__(self) -> int:
        return len(self.obj_id)

    def __iter__(self) -> Iterator[Request]:
        for t, o, s in zip(self.time.tolist(), self.obj_id.tolist(), self.size.tolist()):
            yield Request(t, o, s)

    def chunks(self, n: int) -> Iterator[TraceChunk]:
        """The trace as consecutive chunks of ``n`` requests (views, no copies)."""
        assert n >= 1
        for lo in range(0, len(self), n):
            hi = min(len(self), lo + n)
            yield TraceChunk(
                lo, self.time[lo:hi], self.obj_id[lo:hi], self.size[lo:hi],
                None if self.next_access is None else self.next_access[lo:hi],
                None if self.features is None else self.features[lo:hi],
            )

    def with_next_access(self) -> Trace:
        """This trace with ``next_access`` filled in (needed by Belady and by the writer)."""
        if self.next_access is not None:
            return self
        return Trace(
            self.name, self.time, self.obj_id, self.size, self.has_sizes,
            next_access_indices(self.obj_id), self.features,
        )

    def unit_size(self) -> Trace:
        """The same requests with every size set to 1, so cache sizes count objects."""
        ones = np.ones(len(self), dtype=np.int64)
        return Trace(self.name, self.time, self.obj_id, ones, False, self.next_access, self.features)

    def unique_bytes(self) -> int:
        """Bytes of all distinct objects, each counted once at its first-seen size (libCacheSim's WSS)."""
        _, first = np.unique(self.obj_id, return_index=True)
        return int(self.size[first].sum())


@runtime_checkable
class TraceReader(Protocol):
    """Reads one trace file: iterate requests lazily, or load everything as arrays with ``read``."""

    path: Path

    def __iter__(self) -> Iterator[Request]: ...

    def read(self) -> Trace: ...

    def chunks(self, n: int) -> Iterator[TraceChunk]: ...


def next_access_indices(obj_id: np.ndarray) -> np.ndarray:
    """1-based index of each request's next request to the same object, -1 if none (vectorised).

    A stable sort by id keeps each object's requests in time order, so neighbours in the sorted
    order that share an id are consecutive accesses of that object.
    """
    n = len(obj_id)
    order = np.argsort(obj_id, kind="stable")
    sorted_ids = obj_id[order]
    same = sorted_ids[1:] == sorted_ids[:-1]
    nxt = np.full(n, -1, dtype=np.int64)
    nxt[order[:-1][same]] = order[1:][same] + 1
    return nxt
