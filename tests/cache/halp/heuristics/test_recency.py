"""LRU's access log: its region is exactly the ``tail`` least recent residents, drawn uniformly."""

from __future__ import annotations

from collections import Counter, OrderedDict

import numpy as np
import pytest

from feedlearn.cache.halp.heuristics import recency as rc
from feedlearn.cache.halp.rng import new_rng


def replay(n_objects: int, tail: int, steps: int, seed: int, k: int):
    """Random touches, removals and draws against an OrderedDict LRU; yields (reference tail, drawn)."""
    rng = np.random.default_rng(seed)
    log, pos, sc, drawn, probe, found = rc.new_recency(n_objects, tail)
    gen = new_rng(seed)
    out = np.zeros(max(k, 1), dtype=np.int64)
    listed = np.zeros(n_objects, dtype=np.int64)
    lru: OrderedDict[int, None] = OrderedDict()  # least recent first
    for _ in range(steps):
        op = rng.random()
        if op < 0.6:
            o = int(rng.integers(n_objects))
            rc.touch(log, pos, sc, o)
            lru.pop(o, None)
            lru[o] = None
        elif op < 0.8 and lru:
            o = list(lru)[int(rng.integers(len(lru)))]
            rc.remove(pos, sc, o)
            del lru[o]
        else:
            region = list(lru)[:tail]
            n = rc.draw(log, pos, sc, drawn, probe, found, gen, k, out)
            yield region, out[:n].tolist()
            m = rc.oldest(log, pos, sc, n_objects, listed)
            assert listed[:m].tolist() == list(lru)  # the whole LRU order, oldest first


@pytest.mark.parametrize("n_objects,tail,k", [(12, 4, 2), (40, 8, 3), (40, 64, 8), (200, 16, 16)])
def test_draws_are_distinct_members_of_the_lru_tail_oldest_first(n_objects, tail, k):
    # small id pools: the log (2n + 2 tail + 64 entries) is compacted many times over 3000 steps
    draws = 0
    for region, drawn in replay(n_objects, tail, 3000, seed=n_objects + tail, k=k):
        assert len(drawn) == min(k, len(region))
        assert len(set(drawn)) == len(drawn)
        assert set(drawn) <= set(region)
        assert drawn == [o for o in region if o in set(drawn)]  # oldest first
        draws += 1
    assert draws > 400


def test_every_tail_object_is_drawn_equally_often():
    n, tail, k = 50, 10, 3
    log, pos, sc, drawn, probe, found = rc.new_recency(n, tail)
    for o in range(n):
        rc.touch(log, pos, sc, o)
    for o in range(0, 40, 3):  # dead entries inside and after the region
        rc.touch(log, pos, sc, o)
    region = [o for o in range(n) if o % 3 != 0 or o >= 40][:tail]
    gen, out, counts = new_rng(3), np.zeros(k, dtype=np.int64), Counter()
    trials = 6000
    for _ in range(trials):
        counts.update(out[: rc.draw(log, pos, sc, drawn, probe, found, gen, k, out)].tolist())
    assert set(counts) == set(region)
    expected = trials * k / tail  # 1800 each; a binomial's sd is ~36
    assert all(abs(c - expected) < 200 for c in counts.values()), counts


def test_a_removed_or_touched_object_leaves_the_region_at_once():
    log, pos, sc, drawn, probe, found = rc.new_recency(10, 3)
    for o in range(6):
        rc.touch(log, pos, sc, o)
    out = np.zeros(3, dtype=np.int64)
    assert out[: rc.draw(log, pos, sc, drawn, probe, found, new_rng(0), 3, out)].tolist() == [0, 1, 2]
    rc.remove(pos, sc, 1)
    rc.touch(log, pos, sc, 0)
    assert out[: rc.draw(log, pos, sc, drawn, probe, found, new_rng(0), 3, out)].tolist() == [2, 3, 4]
