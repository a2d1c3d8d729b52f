"""libCacheSim's oracleGeneral binary format: 24-byte little-endian records, no header.

| offset | type   | field                                                          |
|--------|--------|----------------------------------------------------------------|
| 0      | uint32 | timestamp (seconds)                                            |
| 4      | uint64 | obj_id                                                         |
| 12     | uint32 | obj_size (bytes)                                               |
| 16     | int64  | next access: 1-based index of the next request, -1 if none     |
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from feedlearn.cache.traces.model import Request, Trace, next_access_indices
from feedlearn.cache.traces.text import check_trace_file
from feedlearn.common.errors import FeedlearnError, located
from feedlearn.common.io import atomic_write

ORACLE_DTYPE = np.dtype([("t", "<u4"), ("id", "<u8"), ("sz", "<u4"), ("nxt", "<i8")])
RECORD_BYTES = ORACLE_DTYPE.itemsize  # 24


class OracleGeneralReader:
    """Reader for ``*.oracleGeneral.bin`` files (memory-mapped, so huge traces load lazily)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

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
        records = self._records()
        for start in range(0, len(records), 65536):
            chunk = records[start : start + 65536]
            for t, o, s in zip(chunk["t"].tolist(), chunk["id"].tolist(), chunk["sz"].tolist()):
                yield Request(float(t), o, s)

    def read(self) -> Trace:
        records = self._records()
        return Trace(
            name=self.path.name,
            time=records["t"].astype(np.float64),
            obj_id=np.array(records["id"], dtype=np.uint64),
            size=records["sz"].astype(np.int64),
            has_sizes=True,
            next_access=records["nxt"].astype(np.int64),
        )


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
