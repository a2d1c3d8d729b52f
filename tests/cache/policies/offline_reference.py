"""A slow, obviously-correct replay for offline policies: the cache as a dict, scanned per eviction."""

from __future__ import annotations

from collections.abc import Callable


def replay_with_future(ids, sizes, capacity: int, pick_victim: Callable[[dict, int, int], int]) -> list[bool]:
    """Hits of a demand-paging cache whose victim is ``pick_victim(resident, i, n)``.

    ``resident`` maps each cached object to ``(admitted size, index of its next request)`` (``n``
    when never requested again); ``i`` is the current request index.
    """
    n = len(ids)
    nxt = [next((j for j in range(i + 1, n) if ids[j] == ids[i]), n) for i in range(n)]
    resident: dict[int, tuple[int, int]] = {}
    hits = []
    for i, (o, s) in enumerate(zip(ids, sizes)):
        if o in resident:
            hits.append(True)
            resident[o] = (resident[o][0], nxt[i])
            continue
        hits.append(False)
        if s > capacity:
            continue
        while sum(size for size, _ in resident.values()) + s > capacity:
            del resident[pick_victim(resident, i, n)]
        resident[o] = (s, nxt[i])
    return hits
