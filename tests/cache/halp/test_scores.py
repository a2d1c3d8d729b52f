"""The cached first layer gives the model's score of the full vector, through accesses and updates."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp import model as mlp
from feedlearn.cache.halp import scores as sx

N, H = 5, 8


def full_score(model, feat, o, t):
    x = np.zeros(fx.N_BASE, dtype=np.float32)
    fx.write_halp(feat, o, t, True, x)
    return mlp.score(model, x, np.zeros(H, dtype=np.float32))


def score(cache, model, feat, o, t, scratch):
    """One candidate's score through the eviction path (``score_candidates``)."""
    out = np.zeros(1, dtype=np.float32)
    assert sx.score_candidates(cache, model, feat, np.array([o]), 1, t, True, False, scratch, out) == 1
    return out[0]


def test_cached_scores_equal_full_scores_through_accesses_and_updates():
    rng = np.random.default_rng(0)
    model = mlp.new_model(fx.N_BASE, H, rng, 1e-3)
    feat = fx.new_features(N, 0, 512.0)
    cache = sx.new_score_cache(N, H, model)
    scratch = np.zeros(fx.N_BASE, dtype=np.float32)
    none = np.zeros(0, dtype=np.float32)
    t = 0.0
    for step in range(200):
        t += float(rng.integers(1, 50))
        o = int(rng.integers(N))
        fx.record_access(feat, o, t, float(rng.integers(1, 10**6)), none)
        if step % 2:  # the policy's path: the entry is computed when next scored
            sx.invalidate(cache, o)
        else:
            sx.refresh(cache, model, feat, o, True, scratch)
        if step % 37 == 36:  # the model changes: every cached first layer is stale
            model[mlp.THETA][:] += rng.normal(0, 0.1, len(model[mlp.THETA])).astype(np.float32)
            sx.model_changed(cache, model)
        for c in range(N):
            if fx.has_metadata(feat, c):
                later = t + float(rng.integers(0, 1000))
                got = score(cache, model, feat, c, later, scratch)
                assert got == pytest.approx(full_score(model, feat, c, later), rel=1e-4, abs=1e-5)


def test_a_stale_entry_is_recomputed_not_used():
    rng = np.random.default_rng(1)
    model = mlp.new_model(fx.N_BASE, H, rng, 1e-3)
    feat = fx.new_features(1, 0, 512.0)
    cache = sx.new_score_cache(1, H, model)
    scratch = np.zeros(fx.N_BASE, dtype=np.float32)
    fx.record_access(feat, 0, 0.0, 10.0, np.zeros(0, dtype=np.float32))
    # never refreshed: the stamp says "not computed", so score computes it
    assert score(cache, model, feat, 0, 5.0, scratch) == pytest.approx(full_score(model, feat, 0, 5.0), rel=1e-4)
    model[mlp.THETA][:] = 0.0  # all weights zero: every score is 0 once the change is announced
    sx.model_changed(cache, model)
    assert score(cache, model, feat, 0, 5.0, scratch) == 0.0
