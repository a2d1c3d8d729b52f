"""Run libCacheSim (the ``libcachesim`` PyPI package) on a feedlearn ``Trace`` for cross-checks."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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
    "twoq": "TwoQ",
    "lirs": "LIRS",
    "wtinylfu": "WTinyLFU",
    "lecar": "LeCaR",
}


T = TypeVar("T")


def in_fresh_thread(fn: Callable[[], T]) -> T:
    """Run ``fn()`` in a new thread and return its result (re-raising its exception).

    libCacheSim's random generator (LHD, BeladySize sampling) is per thread and never reset, so a
    result depends on what ran before in the same thread; a new thread starts it afresh.
    """
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def libcachesim_miss_ratios(trace: Trace, policy: str, cache_size: int, **params) -> tuple[float, float]:
    """(object miss ratio, byte miss ratio) of libCacheSim's ``policy`` on ``trace``.

    Runs in a fresh thread so randomised libCacheSim policies are reproducible.
    """
    return in_fresh_thread(lambda: _miss_ratios(trace, policy, cache_size, **params))


def libcachesim_hits(policy: str, ids, sizes, capacity: int, **params) -> list[bool]:
    """libCacheSim's hit (True) or miss for each request, fed one by one (fresh thread)."""

    def run() -> list[bool]:
        cache = getattr(lcs, LIBCACHESIM_NAMES[policy])(capacity, **params)
        return [bool(cache.get(lcs.Request(obj_size=int(s), obj_id=int(o), clock_time=i)))
                for i, (o, s) in enumerate(zip(ids, sizes))]

    return in_fresh_thread(run)


def _miss_ratios(trace: Trace, policy: str, cache_size: int, **params) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.oracleGeneral.bin"
        write_oracle_general(trace, path)
        reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
        cache = getattr(lcs, LIBCACHESIM_NAMES[policy])(cache_size, **params)
        omr, bmr = cache.process_trace(reader)
    return float(omr), float(bmr)
