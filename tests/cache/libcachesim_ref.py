"""Run libCacheSim (the ``libcachesim`` PyPI package) on a feedlearn ``Trace`` for cross-checks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import libcachesim as lcs

from feedlearn.cache.traces import Trace, write_oracle_general

# feedlearn policy name -> libcachesim class name (same algorithm, libCacheSim's default params)
LIBCACHESIM_NAMES = {
    "lru": "LRU",
    "fifo": "FIFO",
    "clock": "Clock",
    "sieve": "Sieve",
    "arc": "ARC",
    "s3fifo": "S3FIFO",
    "belady": "Belady",
    "belady_size": "BeladySize",
    "lfu": "LFU",
    "lhd": "LHD",
    "gdsf": "GDSF",
}


def libcachesim_miss_ratios(trace: Trace, policy: str, cache_size: int, **params) -> tuple[float, float]:
    """(object miss ratio, byte miss ratio) of libCacheSim's ``policy`` on ``trace``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.oracleGeneral.bin"
        write_oracle_general(trace, path)
        reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
        cache = getattr(lcs, LIBCACHESIM_NAMES[policy])(cache_size, **params)
        omr, bmr = cache.process_trace(reader)
    return float(omr), float(bmr)
