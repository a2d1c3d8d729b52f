"""Operations per second of the live cache: get-hit and set-miss, per policy.

``python -m feedlearn.cache.store.throughput [policy ...]`` prints the table in ``cache/README.md``:
a cache of 10,000 items, 200,000 timed operations per measure, best of 3, one thread. get-hit looks
up random cached keys; set-miss sets keys never seen before, so each set evicts one item.
The first cache of a policy in a process is built before timing (compilation is not counted).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from feedlearn.cache.store.cache import PolicyCache


def measure(policy: str, *, maxsize: int = 10_000, n: int = 200_000, repeats: int = 3) -> dict[str, float]:
    """``{"get_hit": ops/s, "set_miss": ops/s}`` for ``policy`` (best of ``repeats``)."""
    cache = PolicyCache(maxsize, policy)
    for k in range(maxsize):
        cache[k] = k
    hit_keys = np.random.default_rng(0).integers(0, maxsize, n).tolist()  # hits never evict: all stay cached
    get, put = cache.get, cache.__setitem__
    best_get = best_set = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for k in hit_keys:
            get(k)
        best_get = min(best_get, time.perf_counter() - start)
    for r in range(repeats):
        new_keys = range(maxsize + r * n, maxsize + (r + 1) * n)  # never seen: every set is a miss
        start = time.perf_counter()
        for k in new_keys:
            put(k, k)
        best_set = min(best_set, time.perf_counter() - start)
    return {"get_hit": n / best_get, "set_miss": n / best_set}


def main(policies: list[str]) -> None:
    print(f"{'policy':<10} {'get-hit M ops/s':>16} {'set-miss M ops/s':>17}")
    for policy in policies:
        r = measure(policy)
        print(f"{policy:<10} {r['get_hit'] / 1e6:>16.2f} {r['set_miss'] / 1e6:>17.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["lru", "s3fifo", "arc", "halp"])
