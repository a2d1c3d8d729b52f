"""Automated feedback on a tiny hand-made sequence: which pairs get labelled, how, and when dropped."""

from __future__ import annotations

import numpy as np

from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp import pairs as px
from feedlearn.cache.halp import train as tx

F = fx.N_BASE
NONE = np.zeros(0, dtype=np.float32)


def setup(capacity=8):
    """A pool, a trainer and metadata for 6 objects: object o was requested at time o with size 10**o."""
    feat = fx.new_features(6, 0, 512.0)
    for o in range(6):
        fx.record_access(feat, o, float(o), 10.0**o, NONE)
    return px.new_pairs(6, capacity), tx.new_trainer(16, F, 2, 4, 4), feat


def vector(feat, o, t):
    out = np.zeros(F, dtype=np.float32)
    fx.write_halp(feat, o, t, True, out)
    return out


def labelled(trainer, feat, t):
    """The buffer's (winner, loser) pairs, identified by the object whose vector at ``t`` they are."""
    n = trainer[tx.COUNTERS][tx.COUNT]
    by_vector = {vector(feat, o, t).tobytes(): o for o in range(6)}
    return [(by_vector.get(trainer[tx.WINNERS][r].tobytes()), by_vector.get(trainer[tx.LOSERS][r].tobytes())) for r in range(n)]


def test_the_object_requested_first_wins_with_its_features_at_the_decision():
    pairs, trainer, feat = setup()
    # at t=10 eviction 1 compared 1 with 2 and evicted 2; eviction 2 compared 1 with 3 and evicted 1.
    # Then 3 is requested, then 2, then 1.
    px.add_pair(pairs, 1, 2, 10.0, 2)
    px.add_pair(pairs, 1, 3, 10.0, 1)
    assert px.pending_count(pairs, 1) == 2
    # request of 3: pair (1, 3) -> 3 wins; the victim chosen then was 1 = the loser: a right decision
    assert px.label_on_access(pairs, 3, trainer, feat, True, 1) == 1
    assert labelled(trainer, feat, 10.0) == [(3, 1)]
    # the rows are the vectors at the decision time (age 10 - o), not at any later time
    assert np.array_equal(trainer[tx.WINNERS][0], vector(feat, 3, 10.0))
    assert trainer[tx.WINNERS][0][fx.AGE] == np.float32(np.log1p(7.0)) * fx.SCALE
    # request of 2: pair (1, 2) -> 2 wins, but 2 was the victim: a wrong decision
    assert px.label_on_access(pairs, 2, trainer, feat, True, 1) == 1
    assert labelled(trainer, feat, 10.0) == [(3, 1), (2, 1)]
    # request of 1: nothing pending any more
    assert px.label_on_access(pairs, 1, trainer, feat, True, 1) == 0
    meta = pairs[px.META]
    assert (meta[px.CREATED], meta[px.LABELLED], meta[px.CORRECT]) == (2, 2, 1)
    assert trainer[tx.COUNTERS][tx.NEW] == 2


def test_stride_builds_one_label_in_n_but_counts_them_all():
    pairs, trainer, feat = setup()
    for other in range(1, 6):
        px.add_pair(pairs, 0, other, 20.0, other)
    assert px.label_on_access(pairs, 0, trainer, feat, True, 2) == 5
    # labels 2 and 4 of 5 enter the buffer (the list is newest first: pairs with 4 and 2)
    assert labelled(trainer, feat, 20.0) == [(0, 4), (0, 2)]
    assert trainer[tx.COUNTERS][tx.NEW] == 5 and pairs[px.META][px.LABELLED] == 5
    assert pairs[px.META][px.CORRECT] == 5


def test_pairs_survive_one_departure_and_drop_on_the_second():
    pairs, trainer, feat = setup()
    tracked = np.ones(6, dtype=np.bool_)
    px.add_pair(pairs, 1, 2, 10.0, 2)
    px.add_pair(pairs, 4, 5, 10.0, 5)
    # 2 leaves the ghost unrequested while 1 is still tracked: the pair stays pending
    tracked[2] = False
    fx.forget(feat, 2)
    px.object_left(pairs, 2, tracked)
    assert px.pending_count(pairs, 1) == 1 and pairs[px.META][px.DROPPED_GHOST] == 0
    # 1 is requested: it came first, so it wins even though 2 is forgotten; 2's row still holds
    # its features at the decision
    assert px.label_on_access(pairs, 1, trainer, feat, True, 1) == 1
    assert labelled(trainer, feat, 10.0) == [(1, 2)]
    # 4 and 5 both leave unrequested: the second departure drops the pair
    tracked[4] = False
    px.object_left(pairs, 4, tracked)
    assert px.pending_count(pairs, 5) == 1
    tracked[5] = False
    px.object_left(pairs, 5, tracked)
    assert px.pending_count(pairs, 5) == 0 and px.pending_count(pairs, 4) == 0
    assert pairs[px.META][px.DROPPED_GHOST] == 1


def test_full_pool_recycles_the_oldest_pair():
    pairs, trainer, feat = setup(capacity=2)
    px.add_pair(pairs, 0, 1, 10.0, 1)
    px.add_pair(pairs, 2, 3, 10.0, 3)
    px.add_pair(pairs, 4, 5, 10.0, 5)  # overwrites the (0, 1) pair
    assert pairs[px.META][px.DROPPED_OVERFLOW] == 1
    assert px.pending_count(pairs, 0) == 0 and px.pending_count(pairs, 1) == 0
    assert px.label_on_access(pairs, 5, trainer, feat, True, 1) == 1
    assert labelled(trainer, feat, 10.0) == [(5, 4)]
