"""LRB's training labels on a hand-made sequence: the next-request distance, or 2 x window beyond it."""

from __future__ import annotations

import numpy as np

from feedlearn.cache.halp import features as fx
from feedlearn.cache.lrb import labels as lb

EXTRA = np.zeros((1, 0), dtype=np.float32)[0]
AGE = fx.N_GAPS + fx.N_EDC + 2  # column of log1p(age) / 10


def test_labels_on_a_hand_made_sequence():
    # window 4 -> cap 2 * 4 = 8 requests. Time = request index.
    #   t=0 request A, t=1 request B
    #   t=2 sample A, sample B; t=3 sample A
    #   t=5 request A: its samples (t=3, t=2) mature with distances 5-3=2 and 5-2=3
    #   t=5 B (last request t=1) leaves the window (1 + 4 = 5): its sample (t=2) gets the cap, 8
    #   t=6 sample A; t=20 request A: distance 14 >= 8 -> capped, 8
    window = 4
    a, b = 0, 1
    feat = fx.new_features(2, 0, 512.0)
    samples = lb.new_samples(2, 8, 16, fx.N_BASE)
    fx.record_access(feat, a, 0.0, 100, EXTRA)
    fx.record_access(feat, b, 1.0, 200, EXTRA)
    lb.take(samples, a, 2)
    lb.take(samples, b, 2)
    lb.take(samples, a, 3)
    assert lb.pending_of(samples, a) == 2 and lb.pending_of(samples, b) == 1
    lb.mature(samples, feat, a, 5, True, 2 * window)
    fx.record_access(feat, a, 5.0, 100, EXTRA)
    lb.mature(samples, feat, b, 5, False, 2 * window)
    lb.take(samples, a, 6)
    lb.mature(samples, feat, a, 20, True, 2 * window)
    x, y, meta = samples[lb.X], samples[lb.Y], samples[lb.META]
    assert meta[lb.ROWS] == 4
    # newest sample first (per-object lists push at the head)
    np.testing.assert_allclose(y[:4], np.log1p([2, 3, 8, 8]).astype(np.float32))
    assert meta[lb.BY_REQUEST] == 2 and meta[lb.BY_WINDOW] == 2 and meta[lb.TAKEN] == 4
    assert meta[lb.FREE_TOP] == 8  # every slot back in the pool
    assert lb.pending_of(samples, a) == 0 and lb.pending_of(samples, b) == 0
    # each row holds the features at sampling time: A's age 3 (t=3, last t=0) and 2 (t=2);
    # B's age 1 (t=2, last t=1); A's age 1 (t=6, last t=5)
    expected_age = np.float32(np.log1p([3, 2, 1, 1])) * np.float32(0.1)
    np.testing.assert_allclose(x[:4, AGE], expected_age, rtol=1e-6)
    row = np.zeros(fx.N_BASE, dtype=np.float32)
    fx.write_vector(feat, a, 6.0, True, row)
    np.testing.assert_array_equal(x[3], row)


def test_full_pool_and_full_buffer_drop_and_count():
    feat = fx.new_features(1, 0, 512.0)
    samples = lb.new_samples(1, 2, 1, fx.N_BASE)  # 2 pending slots, 1 buffered row
    fx.record_access(feat, 0, 0.0, 1, EXTRA)
    for t in (1, 2, 3):
        lb.take(samples, 0, t)
    meta = samples[lb.META]
    assert meta[lb.TAKEN] == 2 and meta[lb.DROPPED_POOL] == 1
    lb.mature(samples, feat, 0, 4, True, 100)
    assert meta[lb.ROWS] == 1 and meta[lb.DROPPED_BUFFER] == 1
    assert samples[lb.Y][0] == np.float32(np.log1p(4 - 2))  # the newest sample (t=2) got the row


def test_drop_discards_pending_samples_unlabelled():
    samples = lb.new_samples(2, 4, 4, fx.N_BASE)
    lb.take(samples, 1, 0)
    lb.take(samples, 1, 1)
    lb.drop(samples, 1)
    assert lb.pending_of(samples, 1) == 0 and samples[lb.META][lb.ROWS] == 0 and samples[lb.META][lb.FREE_TOP] == 4
