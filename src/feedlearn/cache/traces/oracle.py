"""libCacheSim's oracleGeneral binary format: 24-byte little-endian records, no header.

| offset | type   | field                                                          |
|--------|--------|----------------------------------------------------------------|
| 0      | uint32 | timestamp (seconds)                                            |
| 4      | uint64 | obj_id                                                         |
| 12     | uint32 | obj_size (bytes)                                               |
| 16     | int64  | next access: 1-based index of the next request, -1 if none     |

A ``.zst``-compressed file (``x.oracleGeneral.bin.zst``, as libCacheSim's traces are distributed)
is decompressed as a stream. ``chunks(n)`` reads ``n`` records at a time with plain reads (not a
memory map, whose touched pages would count in the process's resident memory on a long replay).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import zstandard
from numba import njit

from feedlearn.cache.traces.idmap import IdMap
from feedlearn.cache.traces.model import Request, Trace, TraceChunk, next_access_indices
from feedlearn.cache.traces.text import binary_stream, check_trace_file
from feedlearn.common.errors import FeedlearnError, located
from feedlearn.common.io import atomic_write

ORACLE_DTYPE = np.dtype([("t", "<u4"), ("id", "<u8"), ("sz", "<u4"), ("nxt", "<i8")])
RECORD_BYTES = ORACLE_DTYPE.itemsize  # 24


class OracleGeneralReader:
    """Reader for ``*.oracleGeneral.bin`` files (memory-mapped, so huge traces load lazily)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def compressed(self) -> bool:
        return self.path.suffix == ".zst"

    def _records(self) -> np.ndarray:
        check_trace_file(self.path)
        n_bytes = self.path.stat().st_size
        if n_bytes == 0:
            raise FeedlearnError(f"{self.path}: the trace has no requests")
        whole, extra = divmod(n_bytes, RECORD_BYTES)
        if extra:
            raise located(
                self.path, f"record {whole + 1}",
                f"truncated record: {extra} of {RECORD_BYTES} bytes "
                f"(file size {n_bytes} is not a multiple of {RECORD_BYTES})",
            )
        return np.memmap(self.path, dtype=ORACLE_DTYPE, mode="r")

    def __iter__(self) -> Iterator[Request]:
        for chunk in self.chunks(65536):
            for t, o, s in zip(chunk.time.tolist(), chunk.obj_id.tolist(), chunk.size.tolist()):
                yield Request(t, o, s)

    def chunks(self, n: int) -> Iterator[TraceChunk]:
        """Consecutive chunks of ``n`` requests, read (and decompressed) as a stream."""
        assert n >= 1
        if not self.compressed:
            total = len(self._records())  # checks the file: exists, not empty, whole records
            with open(self.path, "rb") as handle:
                for start in range(0, total, n):
                    yield _chunk(start, np.fromfile(handle, dtype=ORACLE_DTYPE, count=min(n, total - start)))
            return
        check_trace_file(self.path)
        with open(self.path, "rb") as raw:
            try:
                yield from _stream_chunks(self.path, binary_stream(self.path, raw), n)
            except zstandard.ZstdError as exc:
                raise FeedlearnError(f"{self.path}: cannot decompress the file ({exc})") from None

    def read(self) -> Trace:
        if self.compressed:
            parts = list(self.chunks(1 << 20))
            return Trace(
                name=self.path.name,
                time=np.concatenate([c.time for c in parts]),
                obj_id=np.concatenate([c.obj_id for c in parts]),
                size=np.concatenate([c.size for c in parts]),
                has_sizes=True,
                next_access=np.concatenate([c.next_access for c in parts]),
            )
        records = self._records()
        return Trace(
            name=self.path.name,
            time=records["t"].astype(np.float64),
            obj_id=np.array(records["id"], dtype=np.uint64),
            size=records["sz"].astype(np.int64),
            has_sizes=True,
            next_access=records["nxt"].astype(np.int64),
        )


def _chunk(start: int, records: np.ndarray) -> TraceChunk:
    return TraceChunk(start, records["t"].astype(np.float64), records["id"].astype(np.uint64),
                      records["sz"].astype(np.int64), records["nxt"].astype(np.int64))


def _stream_chunks(path: Path, stream: BinaryIO, n: int) -> Iterator[TraceChunk]:
    """Chunks of a decompressed stream; a trailing partial record is an error naming it."""
    start = 0
    while True:
        data = stream.read(n * RECORD_BYTES)
        whole, extra = divmod(len(data), RECORD_BYTES)
        if whole:
            yield _chunk(start, np.frombuffer(data, dtype=ORACLE_DTYPE, count=whole))
        if extra:
            raise located(path, f"record {start + whole + 1}",
                          f"truncated record: {extra} of {RECORD_BYTES} bytes (decompressed size is not a "
                          f"multiple of {RECORD_BYTES})")
        start += whole
        if len(data) < n * RECORD_BYTES:
            break
    if start == 0:
        raise FeedlearnError(f"{path}: the trace has no requests")


def write_oracle_general(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` as oracleGeneral (computing next-access indices), atomically."""
    # Computed afresh, never copied from a file read earlier: converting a file whose column is
    # corrupt repairs it.
    next_access = next_access_indices(trace.obj_id)
    if trace.size.max() > np.iinfo(np.uint32).max or trace.size.min() < 0:
        raise FeedlearnError(f"{path}: object sizes must fit in uint32 for oracleGeneral")
    if trace.time.min() < 0 or trace.time.max() > np.iinfo(np.uint32).max:
        raise FeedlearnError(f"{path}: timestamps must fit in uint32 seconds for oracleGeneral")
    records = np.empty(len(trace), dtype=ORACLE_DTYPE)
    records["t"] = np.rint(trace.time).astype(np.uint32)
    records["id"] = trace.obj_id
    records["sz"] = trace.size.astype(np.uint32)
    records["nxt"] = next_access
    out = Path(path)
    with atomic_write(out, "wb") as handle:
        handle.write(records.tobytes())
    return out


@njit(cache=True)
def _fill_next(dense, start, nxt, last):
    """Next-access of a block of records read backwards: ``last[o]`` is the 0-based index of the
    next request to ``o`` seen so far (-1 if none); records are 1-based in the file."""
    for j in range(len(dense) - 1, -1, -1):
        o = dense[j]
        nxt[j] = last[o] + 1 if last[o] >= 0 else -1
        last[o] = start + j


def write_oracle_chunks(chunks: Iterable[TraceChunk], path: str | Path, *, block: int = 1 << 20) -> int:
    """Write a stream of chunks as oracleGeneral, atomically, in memory O(objects + block); returns
    the requests written.

    Records go out as they come with a placeholder next access; a second pass then reads the file
    backwards ``block`` records at a time and fills each record's next access from the last request
    seen per object (the id map gives dense ids), as libCacheSim's converters do.
    """
    out = Path(path)
    ids = IdMap()
    total = 0
    with atomic_write(out, "w+b") as handle:
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            if chunk.size.max() > np.iinfo(np.uint32).max or chunk.size.min() < 0:
                raise FeedlearnError(f"{path}: object sizes must fit in uint32 for oracleGeneral")
            if chunk.time.min() < 0 or chunk.time.max() > np.iinfo(np.uint32).max:
                raise FeedlearnError(f"{path}: timestamps must fit in uint32 seconds for oracleGeneral")
            records = np.empty(len(chunk), dtype=ORACLE_DTYPE)
            records["t"] = np.rint(chunk.time).astype(np.uint32)
            records["id"] = chunk.obj_id
            records["sz"] = chunk.size.astype(np.uint32)
            records["nxt"] = -1
            ids.add(chunk.obj_id, chunk.size)
            handle.write(records.tobytes())
            total += len(chunk)
        if total == 0:
            raise FeedlearnError(f"{path}: the trace has no requests")
        last = np.full(len(ids), -1, dtype=np.int64)
        for start in range((total - 1) // block * block, -1, -block):
            count = min(block, total - start)
            handle.seek(start * RECORD_BYTES)
            records = np.fromfile(handle, dtype=ORACLE_DTYPE, count=count)
            nxt = np.empty(count, dtype=np.int64)
            _fill_next(ids.lookup(records["id"]), start, nxt, last)
            records["nxt"] = nxt
            handle.seek(start * RECORD_BYTES)
            handle.write(records.tobytes())
    return total
