"""HALP's cost: requests/s against LRU and against its own heuristic-only sampler, same run.

Targets (issue 15): the default HALP >= 500K requests/s on one core at 1% and 10% of unique bytes
on the 1M-request CDN trace, and at most 5x the cost of its own heuristic alone (HALP time /
halp(pick=heuristic) time: the same candidate sampler with the heuristic's pick). Printed for a 1M-request CDN-like trace
and the shipped tencentBlock.ns2706 trace, at 1% and 10% of unique bytes (compiled code only,
best of 2). Run: ``python bench/halp_throughput.py`` (``--requests 200000`` for a quick look).
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from feedlearn.cache.policies import POLICIES, make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.cache.traces import CdnConfig, cdn_trace, load_trace
from feedlearn.shipped import folder

TRACE_DIR = folder("traces")
SPECS = ["lru", "halp(pick=heuristic)", "halp", "lrb"]


def seconds(prepared: PreparedTrace, spec: str, capacity: int, repeats: int = 2) -> tuple[float, float]:
    """(best loop seconds, byte miss ratio) of ``spec``."""
    best, bmr = float("inf"), 0.0
    for _ in range(repeats):
        timer: list[float] = []
        hits = run_policy(prepared, make_policy(spec), capacity, timer=timer)
        best = min(best, timer[0])
        sizes = prepared.size
        bmr = float(sizes[~hits].sum() / sizes.sum())
    return best, bmr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    traces = {
        f"cdn ({args.requests:,} requests)": cdn_trace(CdnConfig(n_requests=args.requests, seed=0)),
        "tencentBlock.ns2706": load_trace(TRACE_DIR / "tencentBlock.ns2706.sample.csv"),
    }
    specs = [s for s in SPECS if s.split("(")[0] in POLICIES]
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    table = Table(title="HALP throughput (M requests/s, one core) and cost ratios, measured in the same run")
    for column in ("trace", "size", *specs, "halp / lru time", "halp / heuristic-only time"):
        table.add_column(column, justify="left" if column == "trace" else "right")
    for name, trace in traces.items():
        prepared = PreparedTrace.of(trace)
        for size in ("1%", "10%"):
            capacity = resolve_cache_size(size, prepared.unique_bytes)
            timing = {spec: seconds(prepared, spec, capacity) for spec in specs}
            n = len(prepared.obj)
            cells = [f"{n / timing[s][0] / 1e6:.2f} (bmr {timing[s][1]:.3f})" for s in specs]
            table.add_row(name, size, *cells, f"{timing['halp'][0] / timing['lru'][0]:.1f}x",
                          f"{timing['halp'][0] / timing['halp(pick=heuristic)'][0]:.1f}x")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
