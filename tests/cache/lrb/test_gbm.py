"""LRB's tree export: the numba walk of the flat arrays equals LightGBM's own ``predict``."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from numba import njit

from feedlearn.cache.halp import features as fx
from feedlearn.cache.lrb import gbm
from feedlearn.cache.simulator import PreparedTrace
from feedlearn.cache.traces import zipf_trace


def predict_all(forest, x: np.ndarray) -> np.ndarray:
    """Both compiled walks: one row at a time, and four rows in lockstep (must agree exactly)."""
    single = np.array([gbm.predict(forest, row) for row in x])
    rows = np.zeros(len(x))
    gbm.predict_rows(forest, x, len(x) - 1, rows)  # n not a multiple of 4: the remainder loop too
    rows[-1] = gbm.predict(forest, x[-1])
    assert np.array_equal(single, rows)
    return single


def exported(booster, trees: int = 32, leaves: int = 32) -> tuple:
    forest = gbm.new_forest(trees, leaves)
    gbm.load_forest(forest, booster)
    return forest


def real_rows(n_requests: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """HALP/LRB feature vectors of a Zipf trace's requests, and log1p of each one's next-request distance."""
    prepared = PreparedTrace.of(zipf_trace(n_requests, 500, 0.9, seed=11, object_size=(512, 65536)))
    feat = fx.new_features(prepared.n_objects, 0, 512.0)
    nxt = prepared.next_access()
    x = np.zeros((n_requests, fx.N_BASE), dtype=np.float32)
    extra = np.zeros((1, 0), dtype=np.float32)
    _fill(feat, prepared.obj, prepared.size, x, extra)
    y = np.log1p(np.minimum(nxt - np.arange(n_requests), 4 * n_requests)).astype(np.float32)
    return x, y


@njit(cache=True)
def _fill(feat, obj, size, x, extra):
    for i in range(len(obj)):
        if fx.has_metadata(feat, obj[i]):
            fx.write_vector(feat, obj[i], float(i), True, x[i])
        else:
            x[i, :] = -1.0
        fx.record_access(feat, obj[i], float(i), size[i], extra[0])


def test_export_matches_lightgbm_on_real_feature_vectors():
    x, y = real_rows()
    booster = gbm.train(x[:4000], y[:4000], trees=32, leaves=32, learning_rate=0.1, seed=3)
    forest = exported(booster)
    assert forest[gbm.META][gbm.TREES] == booster.num_trees() == 32
    for rows in (x[:4000], x[4000:]):  # training rows and unseen ones
        np.testing.assert_allclose(predict_all(forest, rows), booster.predict(rows), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_export_matches_lightgbm_on_random_vectors_with_missing_values(zero_as_missing):
    # NaN and exact zeros exercise LightGBM's missing-value rules: "NaN" splits send NaN the
    # default way, "Zero" splits (zero_as_missing) send |x| <= 1e-35 and NaN the default way,
    # "None" splits treat NaN as 0.0.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 12)).astype(np.float32)
    x[:, 1] = np.where(rng.random(3000) < 0.3, np.nan, x[:, 1])
    x[:, 2] = np.where(rng.random(3000) < 0.4, 0.0, x[:, 2])
    y = 2 * x[:, 0] + np.nan_to_num(x[:, 1], nan=-3.0) + (x[:, 2] == 0) + 0.1 * rng.normal(size=3000)
    params = gbm.lgb_params(leaves=16, learning_rate=0.2, seed=1) | {"zero_as_missing": zero_as_missing}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=20)
    forest = exported(booster, 20, 16)
    test = rng.normal(size=(2000, 12)).astype(np.float32)
    test[:300, 1] = np.nan
    test[300:600, 2] = 0.0
    test[600:700, 0] = np.nan  # never missing in training: a "None" split, NaN read as 0.0
    types = set(((forest[3] >> 1) & 3).tolist())
    assert (gbm.MISSING_ZERO in types) == zero_as_missing
    np.testing.assert_allclose(predict_all(forest, test), booster.predict(test), rtol=1e-6, atol=1e-6)


def test_a_constant_label_gives_single_leaf_trees():
    x = np.random.default_rng(1).normal(size=(200, 4)).astype(np.float32)
    booster = gbm.train(x, np.full(200, 2.5, dtype=np.float32), trees=3, leaves=8, learning_rate=0.1, seed=0)
    forest = exported(booster, 3, 8)
    # LightGBM stops once no split helps: one tree, its root a leaf holding the mean label
    assert forest[gbm.META][gbm.TREES] == booster.num_trees() == 1 and forest[gbm.ROOT][0] == ~0
    np.testing.assert_allclose(predict_all(forest, x[:5]), 2.5, rtol=1e-6)


def test_training_is_deterministic_and_the_forest_must_fit():
    x, y = real_rows(3000)
    a = gbm.train(x, y, trees=8, leaves=16, learning_rate=0.1, seed=5)
    b = gbm.train(x, y, trees=8, leaves=16, learning_rate=0.1, seed=5)
    assert np.array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ValueError, match="trees do not fit"):
        gbm.load_forest(gbm.new_forest(4, 16), a)
    with pytest.raises(ValueError, match="leaves"):
        gbm.load_forest(gbm.new_forest(8, 4), a)
