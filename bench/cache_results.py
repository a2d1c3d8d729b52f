"""Produce docs/cache-results.md: every policy, LRB and HALP on every shipped trace and a CDN-like one.

One command (``make results`` or ``python bench/cache_results.py``): sweeps all registered policies
plus HALP variants at 0.1%, 1% and 10% of unique bytes, writes one table and one plot per trace,
the issue-3 target summary (HALP vs LRU where LRU is > 5% above Belady, vs S3-FIFO and LRB) and
the ablations (k, hidden width, update interval, heuristic, size features), and the default HALP's
learning curve on each trace (issue 15).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from feedlearn.cache.policies import POLICIES, make_policy
from feedlearn.cache.report import human_bytes, plot_miss_ratios, plot_timeline, short_trace_name
from feedlearn.cache.simulator import SimResult
from feedlearn.cache.sweep import sweep
from feedlearn.cache.traces import CdnConfig, cdn_trace
from feedlearn.common.io import atomic_write, atomic_write_text
from feedlearn.shipped import folder

ROOT = Path(__file__).resolve().parents[1]
TRACE_DIR = folder("traces")
TRACES = [
    "tencentBlock.ns2706.sample.csv",
    "tencentBlock.ns1326.sample.csv",
    "cloudPhysicsIO.oracleGeneral.bin",
    "arc_OLTP.lis.zst",
]
SIZES = ["0.1%", "1%", "10%"]
# the learned part vs the same sampler without it, on two candidate heuristics (LRU tail; uniform)
HALP_VARIANTS = ["halp(pick=heuristic)", "halp(pick=random)", "halp(k=4,tail=16)", "halp(k=8)", "halp(k=16)",
                 "halp(heuristic=s3fifo)", "halp(heuristic=sample,k=8,tail=8)",
                 "halp(heuristic=sample,k=8,tail=8,pick=heuristic)", "halp(heuristic=sample,k=16,tail=16)"]
ABLATION_TRACES = ["tencentBlock.ns2706.sample.csv", "cdn"]
ABLATION_SIZES = ["1%"]
ABLATIONS = {
    "candidates k": ["halp(k=8)", "halp", "halp(k=64)"],
    "hidden width": ["halp(hidden=16)", "halp", "halp(hidden=64)"],
    "update interval": ["halp(update_every=256)", "halp", "halp(update_every=4096)"],
    "heuristic": ["halp", "halp(heuristic=fifo)", "halp(heuristic=gdsf)", "halp(heuristic=sample)",
                  "halp(heuristic=s3fifo)"],
    "size features": ["halp", "halp(size_feature=False)"],
}


def cdn(requests: int):
    return cdn_trace(CdnConfig(n_requests=requests, initial_objects=20_000, seed=1))


def policy_table(results: list[SimResult]) -> str:
    """Markdown: rows = policies, for each size: byte / object miss ratio, P95 window BMR, M req/s."""
    sizes = list(dict.fromkeys(r.cache_size for r in results))
    head = "| policy | " + " | ".join(f"{human_bytes(s)}: bmr / omr / p95 bmr / Mreq/s" for s in sizes) + " |"
    lines = [head, "|---" * (len(sizes) + 1) + "|"]
    best = {s: min(r.byte_miss_ratio for r in results if r.cache_size == s and not r.policy.startswith("belady"))
            for s in sizes}
    for policy in dict.fromkeys(r.policy for r in results):
        cells = []
        for s in sizes:
            r = next(x for x in results if x.policy == policy and x.cache_size == s)
            bmr = f"**{r.byte_miss_ratio:.4f}**" if r.byte_miss_ratio == best[s] else f"{r.byte_miss_ratio:.4f}"
            cells.append(f"{bmr} / {r.object_miss_ratio:.4f} / {r.p95_window_byte_miss_ratio:.4f} / "
                         f"{r.requests / max(r.seconds, 1e-9) / 1e6:.2f}")
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def eligible_pairs(results: list[SimResult]) -> tuple[dict, list, list]:
    """(byte miss per (trace, size, policy), all (trace, size) pairs, those where LRU > 1.05 x Belady)."""
    cell = {(r.trace, r.cache_size, r.policy): r.byte_miss_ratio for r in results}
    pairs = sorted({(r.trace, r.cache_size) for r in results})
    return cell, pairs, [p for p in pairs if cell[(*p, "lru")] > 1.05 * cell[(*p, "belady")]]


def plot_frontier(results: list[SimResult], path: Path) -> Path:
    """Speed/quality frontier: mean BMR reduction vs LRU (eligible pairs) against mean M req/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cell, _, eligible = eligible_pairs(results)
    fig, ax = plt.subplots(figsize=(9, 6))
    for policy in dict.fromkeys(r.policy for r in results):
        if policy.startswith("belady") or any((*p, policy) not in cell for p in eligible):
            continue
        gain = 100 * sum((cell[(*p, "lru")] - cell[(*p, policy)]) / cell[(*p, "lru")] for p in eligible) / len(eligible)
        speeds = [r.requests / max(r.seconds, 1e-9) / 1e6 for r in results if r.policy == policy]
        halp = policy.startswith("halp")
        ax.scatter(sum(speeds) / len(speeds), gain, s=60 if policy == "halp" else 25,
                   color="tab:red" if policy == "halp" else "tab:orange" if halp else "tab:blue")
        ax.annotate(policy, (sum(speeds) / len(speeds), gain), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("mean simulator speed, M requests/s (parallel sweep: indicative)")
    ax.set_ylabel(f"mean byte-miss reduction vs LRU, % ({len(eligible)} pairs with room)")
    ax.set_title("Speed / quality frontier (red: default halp; orange: HALP variants)")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def target_summary(results: list[SimResult], learned: list[str]) -> str:
    """Issue 3's quality targets, computed on the (trace, size) pairs where LRU > 1.05 x Belady."""
    cell, pairs, eligible = eligible_pairs(results)
    lines = [f"Pairs where LRU's byte miss ratio is > 5% above Belady's: {len(eligible)} of {len(pairs)}.", "",
             "| policy | mean BMR reduction vs LRU | pairs better than S3-FIFO | pairs better than LRB |",
             "|---|---|---|---|"]
    for spec in learned + ["s3fifo", "arc", "lrb"]:
        policy = make_policy(spec).describe()  # results carry the canonical name
        if (*eligible[0], policy) not in cell:
            continue
        gains = [(cell[(*p, "lru")] - cell[(*p, policy)]) / cell[(*p, "lru")] for p in eligible]
        vs_s3 = sum(cell[(*p, policy)] < cell[(*p, "s3fifo")] for p in eligible)
        vs_lrb = sum(cell[(*p, policy)] < cell[(*p, "lrb")] for p in eligible) if (*eligible[0], "lrb") in cell else 0
        lines.append(f"| {policy} | {100 * sum(gains) / len(gains):.2f}% | {vs_s3} / {len(eligible)} | "
                     f"{vs_lrb} / {len(eligible)} |")
    return "\n".join(lines)


def ablation_table(results: list[SimResult], groups: dict[str, list[str]]) -> str:
    cell = {(short_trace_name(r.trace), r.policy): r for r in results}
    traces = list(dict.fromkeys(short_trace_name(r.trace) for r in results))
    lines = ["| ablation | policy | " + " | ".join(f"{t}: bmr / Mreq/s" for t in traces) + " |",
             "|---|---|" + "---|" * len(traces)]
    for group, specs in groups.items():
        for spec in specs:
            name = next((r.policy for r in results if r.policy == spec or (spec == "halp" and r.policy == "halp")), spec)
            cells = []
            for t in traces:
                r = cell.get((t, name))
                cells.append(f"{r.byte_miss_ratio:.4f} / {r.requests / max(r.seconds, 1e-9) / 1e6:.2f}" if r else "")
            lines.append(f"| {group} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "cache-results.md"))
    parser.add_argument("--cdn-requests", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--executor", default="local", help="local or ray (then --ray-address; default: start one)")
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args()
    run = {"jobs": args.jobs, "progress": True, "executor": args.executor, "ray_address": args.ray_address}
    started = time.perf_counter()
    out = Path(args.out)
    images = out.parent / "img"
    policies = list(POLICIES) + HALP_VARIANTS
    traces = [str(TRACE_DIR / t) for t in TRACES] + [cdn(args.cdn_requests)]
    results = sweep(traces, policies, SIZES, **run)
    by_trace: dict[str, list[SimResult]] = defaultdict(list)
    for r in results:
        by_trace[r.trace].append(r)
    ablation_specs = list(dict.fromkeys(s for specs in ABLATIONS.values() for s in specs))
    ablation_traces = [str(TRACE_DIR / t) if t != "cdn" else cdn(args.cdn_requests)
                       for t in ABLATION_TRACES]
    ablations = sweep(ablation_traces, ablation_specs, ABLATION_SIZES, **run)

    doc = ["# Cache results: classic policies, LRB and HALP", "",
           f"Produced by `python bench/cache_results.py` ({time.strftime('%Y-%m-%d')}, "
           f"{time.perf_counter() - started:.0f} s on this machine). Cache sizes are fractions of each trace's",
           "unique bytes. Cells: byte miss ratio (bold: best online policy) / object miss ratio / P95 of the",
           "per-window byte miss ratio (100 windows) / simulator throughput in million requests per second",
           "(compiled loop only; all cores shared by the sweep, so speeds are indicative — `make bench` measures",
           "them alone). `belady` and `belady_size` are offline oracles. The shipped traces are small samples",
           "(see src/feedlearn/shipped/traces/README.md): read the numbers as a check of the machinery, not as claims.", "",
           "## Targets of issues 3 and 15", "", target_summary(results, ["halp", *HALP_VARIANTS]), "",
           "Speed against quality for every online policy and HALP configuration above (3L-Cache-style reference "
           "points are not implemented here):", "",
           f"![speed/quality frontier]({plot_frontier(results, images / 'halp-frontier.png').relative_to(out.parent)})",
           ""]
    for trace, rows in by_trace.items():
        name = short_trace_name(trace)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
        plot = plot_miss_ratios(rows, images / f"cache-{slug}.png")
        doc += [f"## {name}", "", policy_table(rows), "", f"![{name}]({plot.relative_to(out.parent)})", ""]
        middle = sorted({r.cache_size for r in rows})[len(SIZES) // 2]  # 1% of unique bytes
        learning = [r for r in rows if r.cache_size == middle and r.policy in ("halp", "lru")]
        curve = plot_timeline(learning, images / f"halp-learning-{slug}.png")
        doc += [f"Default `halp` learning online at {human_bytes(middle)} (LRU for reference): byte miss ratio per "
                "window, and per model update the pairwise loss, the training batch's accuracy and the decision "
                "accuracy (how often the evicted candidate really came back later than the one kept).", "",
                f"![{name}: HALP learning curve]({curve.relative_to(out.parent)})", ""]
    doc += ["## Ablations (HALP, 1% of unique bytes)", "", ablation_table(ablations, ABLATIONS), ""]
    atomic_write_text(out, "\n".join(doc))
    print(f"wrote {out} in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
