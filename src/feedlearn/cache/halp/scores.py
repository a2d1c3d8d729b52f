"""Candidate scores without the MLP on the hot path: a per-object cache of the first layer.

HALP's feature vector of object ``o`` at time ``t`` is its vector as of its last access with one
column, the age, changed (``features.write_static`` / ``age_feature``). So the model's first layer
splits: ``W1 x_t + b1 = pre_o + W1[:, AGE] * age_t``, where ``pre_o = W1 x_static + b1`` depends only
on ``o``'s last access and the weights. ``pre_o`` is kept per object and stamped with the model
version it was computed with; scoring a candidate is then ``H`` multiply-adds and ReLUs (~20 ns)
instead of a feature vector and a full forward pass (~300 ns). An entry is computed lazily, when
its object is a candidate and its stamp is stale: a request of ``o`` (its features change) only
marks it stale (``invalidate``), and a model update makes every stamp stale. (Computing it at each
request was wasted work: a requested object reaches the candidate region only after ageing
through the cache, and the model changes every few dozen evictions, so its entry was nearly
always stale again by its first draw.) Scores equal ``model.score`` of the full vector up to float
rounding (``tests/cache/halp/test_scores.py``).

Cache tuple: ``(pre (n, H) float32, stamp (n,) int64, head (3, H) float32, version (1,) int64)``; ``head``
holds ``W1[:, AGE]``, ``w2`` and ``b2`` (in column 0) side by side. Compiled calls pass as few arrays as
they can: numba takes an atomic reference per array argument on entry and drops it on exit, and
with ~32 candidates per eviction that bookkeeping cost more than the arithmetic (measured: ~15%
of a HALP run went to those atomic counts).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp.model import B1, B2, FAST, W1, W2

# positions in the cache tuple
PRE, STAMP, HEAD, VERSION = range(4)


def new_score_cache(n_objects: int, hidden: int, model: tuple) -> tuple:
    """An empty cache for ``n_objects`` dense ids, for ``model``'s current weights."""
    cache = (np.zeros((n_objects, hidden), dtype=np.float32), np.full(n_objects, -1, dtype=np.int64),
             np.zeros((3, hidden), dtype=np.float32), np.zeros(1, dtype=np.int64))
    model_changed(cache, model)
    return cache


@njit(cache=True)
def model_changed(cache, model):
    """The weights changed: every cached first layer is stale."""
    cache[VERSION][0] += 1
    w1, w2, b2, head = model[W1], model[W2], model[B2], cache[HEAD]
    for j in range(head.shape[1]):  # a loop, not a slice assignment: ~2 s less compile time
        head[0, j] = w1[j, fx.AGE]
        head[1, j] = w2[j]
    head[2, 0] = b2[0]


@njit(cache=True, inline="always")
def invalidate(cache, o):
    """``o`` was requested: its features changed, so its entry is computed again when next scored."""
    cache[STAMP][o] = -1


@njit(cache=True, fastmath=FAST)  # not inlined: inlined code takes the caller's (strict) float flags
def refresh(cache, model, feat, o, use_size, scratch):
    """Compute ``o``'s first layer now (``scratch``: one feature row); ``score_candidates`` does it
    for stale candidates itself, this is for callers that want an entry ready."""
    pre, stamp, _, version = cache
    _refresh_into(pre, stamp, version[0], model[W1], model[B1], feat[fx.EXTRA], feat[fx.STATIC], o, use_size, scratch)


@njit(cache=True, inline="always")
def _refresh_into(pre, stamp, version, w1, b1, extra, static, o, use_size, x):
    """``pre[o] = W1 x_static + b1`` from unpacked arrays (the callers are both fastmath)."""
    fx.static_into(extra, static, o, use_size, x)
    h, f = w1.shape
    for j in range(h):
        acc = np.float32(0.0)
        for i in range(f):
            acc += w1[j, i] * x[i]
        pre[o, j] = acc + b1[j]
    stamp[o] = version


@njit(cache=True, fastmath=FAST)  # not inlined: one call per eviction
def score_candidates(cache, model, feat, ids, n, t, use_size, per_byte, scratch, out):
    """Scores of the candidates ``ids[:n]`` into ``out[:n]``.

    Stops at the first score that is not finite and returns how many were written (``n`` when all
    are finite). ``per_byte``: subtract ``log(size)`` (the object-miss objective). One call scores
    every candidate with the tuples unpacked once: passing a tuple of arrays, even to an inlined
    function, costs an atomic reference count per array, and per candidate that was ~40 of them.
    """
    pre, stamp, head, version = cache
    w1, b1 = model[W1], model[B1]
    rows, extra, _, static = feat
    v = version[0]
    for j in range(n):
        o = ids[j]
        if stamp[o] != v:
            _refresh_into(pre, stamp, v, w1, b1, extra, static, o, use_size, scratch)
        age = np.float32(np.log1p(t - rows[o, fx.LAST])) * fx.SCALE
        total = np.float32(0.0)
        for k in range(head.shape[1]):
            a = pre[o, k] + head[0, k] * age
            if a > 0:
                total += head[1, k] * a
        s = total + head[2, 0]
        if per_byte:
            s -= np.float32(np.log(max(rows[o, fx.SIZE], 1.0)))  # value per byte: rate / size
        out[j] = s
        if not np.isfinite(s):
            return j
    return n
