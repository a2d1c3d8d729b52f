"""Streaming replay: simulate a trace file chunk by chunk, in memory independent of its length.

A whole-trace replay (``simulator.PreparedTrace``) holds the trace and its derived arrays, ~80 bytes
per request. A streamed one holds the policy's state, the id map and one chunk: O(objects + chunk).

Two passes over the file. ``StreamedTrace.scan`` reads it once, in chunks, for what a replay needs
before its first request: the requests, the objects (an ``IdMap`` in first-seen order), unique
bytes (for ``1%``-style cache sizes), total and smallest size (LRB's window, Belady-Size's slots),
the time range (windows in seconds) and a digest (the sweep journal's key). One scan serves every
policy and size of a sweep. ``replay`` then reads the file again for each simulation: each chunk's
ids are looked up in the map, its per-request arrays go to the policy (``Policy.on_chunk``), and
the compiled ``access_loop`` serves it; windowed metrics are tallied as chunks go by. States are
allocated once at their final size (the scan knows every object), so they never grow mid-run.

Results are identical to a whole-trace replay (tests: every policy, chunks of 1, 7 and 997
requests): the hooks see the same request indices, ``between_chunks`` runs at the same requests,
and the metrics are summed in the same order. Only the dense ids differ (first-seen here,
sorted there), which no policy's decisions depend on.

Belady needs each request's next request: the oracleGeneral column (checked as the replay goes, per
object). Other formats must be converted first (``feedlearn cache convert``).
"""

from __future__ import annotations

import hashlib
import time as _time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from feedlearn.cache.core.policy import RequestChunk, SimContext, nothing_parked
from feedlearn.cache.loop import access_loop
from feedlearn.cache.policies import Policy
from feedlearn.cache.traces import CsvSpec, open_trace
from feedlearn.cache.traces.idmap import IdMap
from feedlearn.cache.traces.model import MAX_TOTAL_BYTES, Trace, TraceChunk
from feedlearn.common.errors import FeedlearnError, located
from feedlearn.common.progress import progress_bar
from feedlearn.common.text import markup_safe, strip_suffixes

CHUNK = 1 << 20  # requests per chunk: ~40 MB of chunk arrays, and per-chunk overheads below 1%


@dataclass
class StreamedTrace:
    """A trace file scanned once; ``chunks()`` reads it again, each call a fresh pass."""

    path: Path
    format: str | None
    csv_spec: str | CsvSpec | None
    unit_size: bool
    chunk: int
    name: str = ""
    n_requests: int = 0
    n_objects: int = 0
    unique_bytes: int = 0
    total_bytes: int = 0
    min_size: int = 0
    time_min: float = 0.0
    time_max: float = 0.0
    n_features: int = 0  # request-supplied feature columns
    has_next_access: bool = False  # the file carries each request's next request (oracleGeneral)
    digest: str = ""
    ids: IdMap = field(default_factory=IdMap, repr=False)
    trace: Trace | None = field(default=None, repr=False)  # an in-memory trace streamed (tests)

    @classmethod
    def scan(cls, source: str | Path | Trace, format: str | None = None, csv_spec: str | CsvSpec | None = None, *,
             unit_size: bool = False, chunk: int = CHUNK, progress: bool | None = False) -> StreamedTrace:
        """Read ``source`` (a trace file, a shipped trace's name, or a ``Trace``) once, in chunks.

        A reader without sizes (ARC ``.lis``) is simulated with unit sizes, as whole-trace sweeps do.
        """
        if isinstance(source, Trace):
            st = cls(Path(source.name), None, None, unit_size or not source.has_sizes, chunk, trace=source)
        else:
            reader = open_trace(source, format, csv_spec)
            st = cls(reader.path, format, csv_spec, unit_size or not getattr(reader, "has_sizes", True), chunk)
        st.name = st.path.name
        hashes = [hashlib.blake2b(digest_size=16) for _ in range(3)]
        first = True
        with progress_bar(markup_safe(f"scanning {st.name}"), None, enabled=progress) as bar:
            for c in st._raw_chunks():
                size = st._sizes(c)
                _, new_bytes = st.ids.add(c.obj_id, size)
                st.unique_bytes += new_bytes
                st.total_bytes += int(size.sum())
                if st.total_bytes > MAX_TOTAL_BYTES:
                    raise FeedlearnError(f"{st.name}: the requests add up to more than the limit of 2**62 bytes "
                                         "(sizes must be in bytes)")
                lo, hi = float(c.time.min()), float(c.time.max())
                small = int(size.min())
                if first:
                    st.time_min, st.time_max, st.min_size = lo, hi, small
                    st.n_features = 0 if c.features is None else c.features.shape[1]
                    st.has_next_access = c.next_access is not None
                    first = False
                st.time_min, st.time_max, st.min_size = min(st.time_min, lo), max(st.time_max, hi), min(st.min_size, small)
                for h, array in zip(hashes, (c.obj_id, size, c.time)):
                    h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
                st.n_requests += len(c)
                bar.advance(len(c))
        if st.n_requests == 0:
            raise FeedlearnError(f"{st.name}: the trace has no requests")
        st.n_objects = len(st.ids)
        st.digest = hashlib.blake2b(b"".join(h.digest() for h in hashes), digest_size=16).hexdigest()
        return st

    def _raw_chunks(self) -> Iterator[TraceChunk]:
        if self.trace is not None:
            return self.trace.chunks(self.chunk)
        return open_trace(self.path, self.format, self.csv_spec).chunks(self.chunk)

    def _sizes(self, c: TraceChunk) -> np.ndarray:
        return np.ones(len(c), dtype=np.int64) if self.unit_size else np.ascontiguousarray(c.size, dtype=np.int64)

    def chunks(self) -> Iterator[tuple[TraceChunk, np.ndarray, np.ndarray]]:
        """``(chunk, dense ids, sizes)`` for each chunk, from a fresh read of the trace.

        The next chunk is read and remapped in a helper thread while the caller serves this one
        (the file read and the compiled lookup and access loop release the GIL): on a second core
        reading costs no replay time. At most two chunks are held at once.
        """
        raw = self._raw_chunks()

        def load() -> tuple[TraceChunk, np.ndarray, np.ndarray] | None:
            c = next(raw, None)
            return None if c is None else (c, self.ids.lookup(c.obj_id), self._sizes(c))

        with ThreadPoolExecutor(max_workers=1) as pool:
            ahead = pool.submit(load)
            while (item := ahead.result()) is not None:
                ahead = pool.submit(load)
                yield item

    def counted_time_range(self, warmup: int) -> tuple[float, float]:
        """Earliest and latest time of the requests after ``warmup`` (another pass if warmup > 0)."""
        if warmup == 0:
            return self.time_min, self.time_max
        lo, hi = np.inf, -np.inf
        for c in self._raw_chunks():
            t = c.time[max(0, warmup - c.start):]
            if len(t):
                lo, hi = min(lo, float(t.min())), max(hi, float(t.max()))
        return lo, hi


@njit(cache=True)
def _check_next(dense, nxt, start, n, claim, claimed_by):
    """Check a chunk's next-access column (1-based, -1 none) per object; fills ``nxt0`` in place with
    0-based indices (``n``: never). Returns the 0-based record whose claim is wrong, or -1.

    ``claim[o]`` is the request the previous request to ``o`` said comes next (-2 before any)."""
    for j in range(len(dense)):
        o, i = dense[j], start + j
        if claim[o] != -2 and claim[o] != i:
            return claimed_by[o]
        x = nxt[j]
        nxt[j] = n if x < 0 else x - 1
        claim[o] = nxt[j]
        claimed_by[o] = i
    return -1


class _NextAccessCheck:
    """Belady trusts the file's next-access column only if it is the true one, checked per object."""

    def __init__(self, st: StreamedTrace) -> None:
        self.st = st
        self.claim = np.full(st.n_objects, -2, dtype=np.int64)
        self.claimed_by = np.zeros(st.n_objects, dtype=np.int64)

    def convert(self, c: TraceChunk, dense: np.ndarray) -> np.ndarray:
        nxt = np.array(c.next_access, dtype=np.int64)
        bad = _check_next(dense, nxt, c.start, self.st.n_requests, self.claim, self.claimed_by)
        if bad >= 0:
            self._fail(bad)
        return nxt

    def finish(self) -> None:
        wrong = np.flatnonzero((self.claim != self.st.n_requests) & (self.claim != -2))
        if len(wrong):
            self._fail(int(self.claimed_by[wrong].min()))

    def _fail(self, record: int) -> None:
        raise located(self.st.name, f"record {record + 1}",
                      "next-access index is wrong (it does not name the next request to the same object); "
                      "rewrite the file with feedlearn cache convert")


def check_streamable(st: StreamedTrace, pol: Policy) -> None:
    """Refuse, before any work, a policy that needs what the trace file cannot give in a stream."""
    if pol.needs_future and not st.has_next_access:
        out = strip_suffixes(st.name, (".zst", ".csv", ".tsv", ".txt", ".lis")) + ".oracleGeneral.bin"
        raise FeedlearnError(
            f"{st.path}: {pol.name} needs each request's next request, which only oracleGeneral files carry; "
            f"convert the trace first: feedlearn cache convert {st.path} {out}")


def replay(st: StreamedTrace, pol: Policy, capacity: int, tally: WindowTally, *, seed: int = 0,
           progress: bool | None = False, timer: list[float] | None = None,
           hits_out: list[np.ndarray] | None = None) -> None:
    """Serve every request of ``st`` through ``pol``, chunk by chunk, into ``tally``.

    ``timer`` receives the seconds spent reading and serving (compilation excluded, as in
    ``run_policy``); ``hits_out`` (tests) the hit mask of each chunk.
    """
    check_streamable(st, pol)
    n = st.n_requests
    m = st.n_features
    ctx = SimContext(
        n_objects=st.n_objects, capacity=capacity,
        obj=np.zeros(0, dtype=np.int64), size=np.zeros(0, dtype=np.int64), time=np.zeros(0),
        next_access=np.zeros(0, dtype=np.int64) if pol.needs_future else None, seed=seed,
        features=np.zeros((0, m), dtype=np.float32) if m else None,
        obj_ids=st.ids.keys() if pol.needs_obj_ids else None,
        n_requests=n, total_bytes=st.total_bytes, min_size=st.min_size,
    )
    state = pol.init_state(ctx)
    on_hit, admit, evict, on_insert = pol.hooks()
    parked = type(pol).parked if type(pol).parked is not nothing_parked else None
    resident_size = np.full(st.n_objects, -1, dtype=np.int64)

    empty = np.zeros(0, dtype=np.int64)
    used = access_loop(empty, empty, 0, 0, 0, capacity, 0, resident_size, np.zeros(0, dtype=np.bool_),
                       state, on_hit, admit, evict, on_insert, parked)  # compiles, serves nothing
    check = _NextAccessCheck(st) if pol.needs_future else None
    every = pol.chunk  # between_chunks after requests every, 2 every, ... and n, as run_policy
    done_until = 0  # requests served and handed to between_chunks
    started = _time.perf_counter()
    with progress_bar(markup_safe(f"{pol.name} {st.name}"), n, enabled=progress, unit="req") as bar:
        for c, dense, size in st.chunks():
            nxt = check.convert(c, dense) if check is not None else None
            state = pol.on_chunk(state, RequestChunk(c.start, c.time, c.features, nxt))
            hits = np.zeros(len(c), dtype=np.bool_)
            lo = 0
            while lo < len(c):  # split at multiples of pol.chunk, where between_chunks runs
                boundary = (c.start + lo) // every * every + every
                hi = min(len(c), boundary - c.start)
                used = access_loop(dense, size, lo, hi, c.start, capacity, used, resident_size, hits,
                                   state, on_hit, admit, evict, on_insert, parked)
                if c.start + hi == boundary:
                    pol.between_chunks(state, boundary)
                    done_until = boundary
                lo = hi
            tally.add(c.start, c.time, size, hits)
            if hits_out is not None:
                hits_out.append(hits)
            bar.advance(len(c))
    if done_until < n:
        pol.between_chunks(state, n)
    if check is not None:
        check.finish()
    if timer is not None:
        timer.append(_time.perf_counter() - started)
    assert used <= capacity


@njit(cache=True)
def _tally(inv, slots, size, hit, total, missed):
    """Add each request's bytes to its window, in request order (as ``np.bincount`` sums)."""
    for j in range(len(inv)):
        s = slots[inv[j]]
        total[s] += size[j]
        if not hit[j]:
            missed[s] += size[j]


class WindowTally:
    """The counted requests' metrics, summed chunk by chunk (``simulator._measure``'s numbers).

    Requests, hits and bytes are exact integer sums; per-window bytes are float64 sums in request
    order, as ``np.bincount`` makes them, so per-window ratios equal the whole-trace ones.
    """

    def __init__(self, warmup: int, window_ids) -> None:
        self.warmup, self.window_ids = warmup, window_ids
        self.requests = self.hits = self.total_bytes = self.miss_bytes = 0
        self._slot: dict[int, int] = {}  # window id -> row of total/missed
        self._total = np.zeros(64)
        self._missed = np.zeros(64)

    def add(self, start: int, time: np.ndarray, size: np.ndarray, hits: np.ndarray) -> None:
        skip = max(0, self.warmup - start)
        if skip >= len(hits):
            return
        time, size, hits = time[skip:], size[skip:], hits[skip:]
        self.requests += len(hits)
        self.hits += int(hits.sum())
        self.total_bytes += int(size.sum())
        self.miss_bytes += int(size[~hits].sum())
        ids = self.window_ids(start + skip - self.warmup, time)
        if len(ids) and np.all(ids[1:] >= ids[:-1]):  # the usual case: windows in order
            change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
            uniq = ids[np.concatenate(([0], change))]
            inv = np.zeros(len(ids), dtype=np.int64)
            inv[change] = 1
            inv = np.cumsum(inv)
        else:
            uniq, inv = np.unique(ids, return_inverse=True)
        slots = np.array([self._slot.setdefault(int(u), len(self._slot)) for u in uniq], dtype=np.int64)
        if len(self._slot) > len(self._total):
            grow = max(len(self._slot), 2 * len(self._total)) - len(self._total)
            self._total = np.concatenate([self._total, np.zeros(grow)])
            self._missed = np.concatenate([self._missed, np.zeros(grow)])
        _tally(inv.ravel().astype(np.int64), slots, size.astype(np.float64), hits, self._total, self._missed)

    def per_window(self) -> np.ndarray:
        """Byte miss ratio of each non-empty window, in window order."""
        order = np.array([self._slot[k] for k in sorted(self._slot)], dtype=np.int64)
        total, missed = self._total[order], self._missed[order]
        keep = total > 0
        return missed[keep] / total[keep]
