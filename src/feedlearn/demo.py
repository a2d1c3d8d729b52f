"""``make demo``: feedlearn's main jobs on the embedded data, with short readable results.

Part 1 (cache): every registered eviction policy on two shipped real traces at several cache
sizes — a miss-ratio table and a plot. Later parts add their own sections here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console

from feedlearn.cache.policies import POLICIES
from feedlearn.cache.report import pivot_table, plot_miss_ratios, write_json
from feedlearn.cache.sweep import sweep

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "traces"
OUT = Path("runs") / "demo"

DEMO_TRACES = ["tencentBlock.ns2706.sample.csv", "cloudPhysicsIO.oracleGeneral.bin"]
DEMO_SIZES = ["0.5%", "1%", "2%", "5%", "10%", "20%"]
TABLE_SIZES = {"1%", "10%"}


def cache_demo(console: Console) -> None:
    """Compare all policies; print the 1% and 10% rows, save all sizes to JSON and a plot."""
    console.rule("[bold]cache: eviction policies on real traces")
    started = time.perf_counter()
    results = sweep([str(DATA / t) for t in DEMO_TRACES], list(POLICIES), DEMO_SIZES)
    # results come in (trace, policy, size) order: keep the 1% and 10% columns for the table
    shown = [r for i, r in enumerate(results) if DEMO_SIZES[i % len(DEMO_SIZES)] in TABLE_SIZES]
    title = ("object / byte miss ratio at 1% and 10% of unique bytes (lower is better; "
             "bold: best online byte miss ratio; belady*: offline oracles)")
    console.print(pivot_table(shown, title))
    write_json(results, OUT / "cache_sweep.json")
    plot = plot_miss_ratios(results, OUT / "cache_miss_ratio.png")
    console.print(f"all sizes: {OUT / 'cache_sweep.json'}")
    console.print(f"plot: {plot}")
    console.print(f"cache demo took {time.perf_counter() - started:.1f}s")


def main() -> int:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    cache_demo(console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
