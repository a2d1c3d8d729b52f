"""Synthetic generators: seeded, and showing the properties their models promise."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.traces import CdnConfig, cdn_trace, zipf_trace
from feedlearn.common.errors import FeedlearnError


def test_zipf_is_seeded_and_skewed():
    a = zipf_trace(50_000, 1_000, 1.0, seed=3)
    b = zipf_trace(50_000, 1_000, 1.0, seed=3)
    assert np.array_equal(a.obj_id, b.obj_id)
    assert not np.array_equal(a.obj_id, zipf_trace(50_000, 1_000, 1.0, seed=4).obj_id)
    counts = np.sort(np.unique(a.obj_id, return_counts=True)[1])[::-1]
    # Zipf(1): P(rank 1) = 1 / H_1000 ~= 0.1336, P(rank 2) is half of it
    assert counts[0] / 50_000 == pytest.approx(1 / np.sum(1 / np.arange(1, 1001)), rel=0.05)
    assert counts[0] / counts[1] == pytest.approx(2.0, rel=0.1)
    assert np.all(np.diff(a.time) >= 0)


def test_zipf_uniform_when_alpha_zero():
    counts = np.unique(zipf_trace(100_000, 10, 0.0, seed=1).obj_id, return_counts=True)[1]
    assert counts.min() > 9_500 and counts.max() < 10_500


def test_cdn_trace_properties():
    cfg = CdnConfig(n_requests=200_000, initial_objects=5_000, new_objects_per_1k=10, half_life_requests=50_000, seed=5)
    trace = cdn_trace(cfg)
    assert np.array_equal(trace.obj_id, cdn_trace(cfg).obj_id)  # seeded
    sizes = trace.size
    # heavy-tailed sizes: video chunks of 0.5-4 MB next to small objects
    assert sizes.min() >= 1 and sizes.max() <= 4_000_000
    assert (sizes >= 500_000).mean() > 0.1 and np.median(sizes) < 500_000
    # new objects arrive: many objects are first requested late in the trace
    _, first = np.unique(trace.obj_id, return_index=True)
    assert (first > 100_000).sum() > 500
    # popularity shifts: the top objects of the first and last tenth differ
    def top(part):
        ids, counts = np.unique(part, return_counts=True)
        return set(ids[np.argsort(counts)[-50:]].tolist())
    assert len(top(trace.obj_id[:20_000]) & top(trace.obj_id[-20_000:])) < 25
    with pytest.raises(FeedlearnError):
        cdn_trace(n_requests=0)
