"""Automated feedback on a tiny hand-made sequence: which pairs get labelled, how, and when dropped."""

from __future__ import annotations

import numpy as np

from feedlearn.cache.halp import pairs as px
from feedlearn.cache.halp import train as tx

F = 3


def vec(v):
    return np.full(F, v, dtype=np.float32)


def setup(capacity=8):
    return px.new_pairs(6, capacity, F), tx.new_trainer(16, F, 2, 4, 4)


def labelled_rows(trainer):
    n = trainer[2][tx.COUNT]
    return [(float(trainer[0][r, 0]), float(trainer[1][r, 0])) for r in range(n)]


def test_the_object_requested_first_wins():
    pairs, trainer = setup()
    # eviction 1 compared 1 (features 1.0) with 2 (2.0) and evicted 2; eviction 2 compared 1 with 3
    # (3.0) and evicted 1. Then 3 is requested, then 2, then 1.
    px.add_pair(pairs, 1, vec(1.0), 2, vec(2.0), 2)
    px.add_pair(pairs, 1, vec(1.0), 3, vec(3.0), 1)
    assert px.pending_count(pairs, 1) == 2
    # request of 3: pair (1, 3) -> 3 wins; the victim chosen then was 1 = the loser: a right decision
    assert px.label_on_access(pairs, 3, trainer) == 1
    assert labelled_rows(trainer) == [(3.0, 1.0)]
    # request of 2: pair (1, 2) -> 2 wins, but 2 was the victim: a wrong decision
    assert px.label_on_access(pairs, 2, trainer) == 1
    assert labelled_rows(trainer) == [(3.0, 1.0), (2.0, 1.0)]
    # request of 1: nothing pending any more
    assert px.label_on_access(pairs, 1, trainer) == 0
    meta = pairs[8]
    assert (meta[px.CREATED], meta[px.LABELLED], meta[px.CORRECT]) == (2, 2, 1)
    assert trainer[2][tx.NEW] == 2


def test_pairs_survive_one_departure_and_drop_on_the_second():
    pairs, trainer = setup()
    tracked = np.ones(6, dtype=np.bool_)
    px.add_pair(pairs, 1, vec(1.0), 2, vec(2.0), 2)
    px.add_pair(pairs, 4, vec(4.0), 5, vec(5.0), 5)
    # 2 leaves the ghost unrequested while 1 is still tracked: the pair stays pending
    tracked[2] = False
    px.object_left(pairs, 2, tracked)
    assert px.pending_count(pairs, 1) == 1 and pairs[8][px.DROPPED_GHOST] == 0
    # 1 is requested: it came first, so it wins even though 2 is no longer tracked
    assert px.label_on_access(pairs, 1, trainer) == 1
    assert labelled_rows(trainer) == [(1.0, 2.0)]
    # 4 and 5 both leave unrequested: the second departure drops the pair
    tracked[4] = False
    px.object_left(pairs, 4, tracked)
    assert px.pending_count(pairs, 5) == 1
    tracked[5] = False
    px.object_left(pairs, 5, tracked)
    assert px.pending_count(pairs, 5) == 0 and px.pending_count(pairs, 4) == 0
    assert pairs[8][px.DROPPED_GHOST] == 1


def test_full_pool_recycles_the_oldest_pair():
    pairs, trainer = setup(capacity=2)
    px.add_pair(pairs, 0, vec(0.0), 1, vec(1.0), 1)
    px.add_pair(pairs, 2, vec(2.0), 3, vec(3.0), 3)
    px.add_pair(pairs, 4, vec(4.0), 5, vec(5.0), 5)  # overwrites the (0, 1) pair
    assert pairs[8][px.DROPPED_OVERFLOW] == 1
    assert px.pending_count(pairs, 0) == 0 and px.pending_count(pairs, 1) == 0
    assert px.label_on_access(pairs, 5, trainer) == 1
    assert labelled_rows(trainer) == [(5.0, 4.0)]
