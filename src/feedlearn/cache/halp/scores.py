"""Candidate scores without the MLP on the hot path: a per-object cache of the first layer.

HALP's feature vector of object ``o`` at time ``t`` is its vector as of its last access with one
column, the age, changed (``features.write_static`` / ``age_feature``). So the model's first layer
splits: ``W1 x_t + b1 = pre_o + W1[:, AGE] * age_t``, where ``pre_o = W1 x_static + b1`` depends only
on ``o``'s last access and the weights. ``pre_o`` is kept per object and stamped with the model
version it was computed with; scoring a candidate is then ``H`` multiply-adds and ReLUs (~20 ns)
instead of a feature vector and a full forward pass (~300 ns). When ``o`` is requested (its
features change) its entry is computed again at once; when the model is updated every stamp goes
stale, and a stale entry is computed again the next time its object is a candidate. Scores equal
``model.score`` of the full vector up to float rounding (``tests/cache/halp/test_scores.py``).

Cache tuple: ``(pre (n, H) float32, stamp (n,) int64, age_weights (H,) float32, version (1,) int64)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp.model import FAST


def new_score_cache(n_objects: int, hidden: int, model: tuple) -> tuple:
    """An empty cache for ``n_objects`` dense ids, for ``model``'s current weights."""
    cache = (np.zeros((n_objects, hidden), dtype=np.float32), np.full(n_objects, -1, dtype=np.int64),
             np.zeros(hidden, dtype=np.float32), np.zeros(1, dtype=np.int64))
    model_changed(cache, model)
    return cache


@njit(cache=True)
def model_changed(cache, model):
    """The weights changed: every cached first layer is stale."""
    cache[3][0] += 1
    w1, age_weights = model[6], cache[2]
    for j in range(len(age_weights)):  # a loop, not a slice assignment: ~2 s less compile time
        age_weights[j] = w1[j, fx.AGE]


@njit(cache=True)  # not inlined: one compiled copy keeps HALP's compile time down
def refresh(cache, model, feat, o, use_size, scratch):
    """Compute ``o``'s first layer now (``scratch``: one feature row).

    Called when ``o`` is requested — eagerly, not when ``o`` is next a candidate: residents are
    requested between two draws far more often than the model changes, so a lazy cache would
    recompute on nearly every draw — and for a candidate whose entry predates a model update.
    """
    fx.write_static(feat, o, use_size, scratch)
    _first_layer(model, scratch, cache[0][o])
    cache[1][o] = cache[3][0]


@njit(cache=True, fastmath=FAST)  # not inlined: inlined code takes the caller's (strict) float flags
def _first_layer(model, x, out):
    w1, b1 = model[6], model[7]
    h, f = w1.shape
    for j in range(h):
        acc = np.float32(0.0)
        for i in range(f):
            acc += w1[j, i] * x[i]
        out[j] = acc + b1[j]


@njit(cache=True, fastmath=FAST)
def _output(pre, age_weights, age, w2, b2):
    total = np.float32(0.0)
    for j in range(len(w2)):
        a = pre[j] + age_weights[j] * age
        if a > 0:
            total += w2[j] * a
    return total + b2[0]


@njit(cache=True, inline="always")
def score(cache, model, feat, o, t, use_size, scratch):
    """The model's score of ``o`` at time ``t`` (``scratch``: one feature row, written on a miss)."""
    pre, stamp, age_weights, version = cache
    if stamp[o] != version[0]:
        refresh(cache, model, feat, o, use_size, scratch)
    return _output(pre[o], age_weights, fx.age_feature(feat, o, t), model[8], model[9])
