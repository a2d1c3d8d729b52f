"""A 10M-request CDN-like trace (issue 15, point 4): HALP where a model has time to learn, and memory.

The shipped traces are 100K-request samples, where a model trained from scratch spends much of the
trace learning. This generates the seeded CDN-like trace at run time (10M requests by default),
replays LRU, S3-FIFO, LRB, the default HALP and Belady on it at 0.1%, 1% and 10% of unique bytes,
each (policy, size) in a fresh process so that its peak resident memory (``ru_maxrss``, which
includes generating the trace and its derived arrays) is its own, and how much resident memory
the replay itself added (the policy's state). Prints byte miss ratio, reduction vs LRU,
M req/s and peak RSS. ``python bench/halp_long.py [--requests N] [--policy SPEC ...] [--size S ...]``
(LRB runs at ~0.02 M req/s: ~10 minutes per size at 10M requests).

Measured 2026-12-07 (10M requests, ~400K objects; peak RSS 732 MB for every policy: the trace's):

    size  policy  byte miss  vs LRU   M req/s
    1%    lru     0.4249              13.3
    1%    s3fifo  0.3508     +17.4%   3.0
    1%    halp    0.3484     +18.0%   0.05
    1%    lrb     0.3566     +16.1%   0.02   (RSS growth during the replay: 273 MB; LRU 95 MB)
    1%    belady  0.2557     +39.8%   3.4
    10%   lru     0.0970              14.4
    10%   s3fifo  0.0903     +6.9%    10.1
    10%   halp    0.0923     +4.8%    0.17
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

REFERENCES = ["lru", "s3fifo", "lrb", "halp", "belady"]
SIZES = ["0.1%", "1%", "10%"]

_CHILD = """
import json, resource, sys
from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy
from feedlearn.cache.sizes import resolve_cache_size
from feedlearn.cache.traces import CdnConfig, cdn_trace
def rss_mb():  # resident memory now (Linux), MB
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
n, spec, size = int(sys.argv[1]), sys.argv[2], sys.argv[3]
prepared = PreparedTrace.of(cdn_trace(CdnConfig(n_requests=n, initial_objects=max(n // 50, 20_000), seed=3)))
timer = []
before = rss_mb()
hits = run_policy(prepared, make_policy(spec), resolve_cache_size(size, prepared.unique_bytes), timer=timer)
print(json.dumps({"bmr": float(prepared.size[~hits].sum() / prepared.size.sum()), "seconds": timer[0],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "grew_mb": rss_mb() - before}))
"""


def run_one(requests: int, spec: str, size: str) -> dict:
    """One (policy, size) replay in its own process: its results and its own peak memory."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(requests), spec, size], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"{spec} at {size} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--policy", action="append", help="policies (default: lru, s3fifo, lrb, halp, belady)")
    parser.add_argument("--size", action="append", help="cache sizes (default: 0.1%%, 1%%, 10%%)")
    args = parser.parse_args()
    policies = args.policy or REFERENCES
    if "lru" not in policies:
        policies = ["lru", *policies]
    started = time.perf_counter()
    print(f"CDN-like trace, {args.requests:,} requests (seed 3)\n")
    print("| size | policy | byte miss | vs LRU | M req/s | peak RSS (MB) | RSS growth during the replay (MB) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.size or SIZES:
        lru = None
        for spec in policies:
            r = run_one(args.requests, spec, size)
            lru = r["bmr"] if spec == "lru" else lru
            gain = (lru - r["bmr"]) / lru if lru else 0.0
            print(f"| {size} | {spec} | {r['bmr']:.4f} | {gain:+.1%} | {args.requests / r['seconds'] / 1e6:.2f} | "
                  f"{r['rss_mb']:.0f} | {r['grew_mb']:.0f} |", flush=True)
    print(f"\n{time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
