"""Throughput of every policy: feedlearn vs libCacheSim's same policy, measured in the same run.

On a 1M-request synthetic Zipf trace (100k objects, alpha 1.0, sizes 4 KiB–1 MiB) at a cache of
10% of unique bytes, prints requests/s for both simulators and their ratio. feedlearn's time is the
access loop after compilation; the one-off id remapping shared by all policies of a sweep
(``PreparedTrace.of``) is printed separately. libCacheSim's time is ``process_trace`` on the same
trace written as oracleGeneral (its reader included, as that is how it is used).

Targets (issue 2): every classic policy >= 1M requests/s on one core; LRU >= 0.5x libCacheSim.
Run: ``make bench`` (or ``python bench/cache_throughput.py --requests 200000`` for a quick look).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from feedlearn.cache.policies import POLICIES
from feedlearn.cache.simulator import PreparedTrace, simulate
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.cache.traces import write_oracle_general, zipf_trace

LIBCACHESIM = {
    "lru": "LRU", "fifo": "FIFO", "clock": "Clock", "sieve": "Sieve", "arc": "ARC", "s3fifo": "S3FIFO",
    "belady": "Belady", "belady_size": "BeladySize", "lfu": "LFU", "lhd": "LHD", "gdsf": "GDSF",
}


def best_of(repeats: int, fn):
    """``(seconds, result)`` of the fastest of ``repeats`` calls (the least disturbed by other work)."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - start, result))
    return min(runs, key=lambda run: run[0])


def libcachesim_run(class_name: str, path: Path, capacity: int) -> tuple[float, float]:
    """libCacheSim's (object, byte) miss ratios, reading the oracleGeneral file as users do."""
    import libcachesim as lcs

    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    return getattr(lcs, class_name)(capacity).process_trace(reader)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policies", default=",".join(POLICIES))
    args = parser.parse_args()

    trace = zipf_trace(args.requests, 100_000, 1.0, seed=0, object_size=(4096, 1 << 20))
    start = time.perf_counter()
    prepared = PreparedTrace.of(trace)
    prepare_s = time.perf_counter() - start
    capacity = resolve_cache_size("10%", prepared.unique_bytes)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    table = Table(title=f"requests/s, {args.requests:,}-request Zipf trace, cache = 10% of unique bytes")
    for column in ("policy", "feedlearn Mreq/s", "libCacheSim Mreq/s", "ratio", "feedlearn omr", "libCacheSim omr"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "zipf.oracleGeneral.bin"
        write_oracle_general(trace, path)
        for name in [p for p in args.policies.split(",") if p in POLICIES]:
            ours = min((simulate(prepared, name, capacity) for _ in range(args.repeats)), key=lambda r: r.seconds)
            ours_rate = args.requests / ours.seconds / 1e6
            ref_rate, ref_omr = float("nan"), float("nan")
            if name in LIBCACHESIM:
                run = functools.partial(libcachesim_run, LIBCACHESIM[name], path, capacity)
                seconds, (ref_omr, _) = best_of(args.repeats, run)
                ref_rate = args.requests / seconds / 1e6
            table.add_row(name, f"{ours_rate:.2f}", f"{ref_rate:.2f}", f"{ours_rate / ref_rate:.2f}x",
                          f"{ours.object_miss_ratio:.4f}", f"{ref_omr:.4f}")
    console.print(table)
    console.print(f"id remapping shared by all policies (PreparedTrace.of): {prepare_s:.3f}s "
                  f"= {args.requests / prepare_s / 1e6:.1f}M requests/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
