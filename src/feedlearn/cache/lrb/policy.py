"""LRB as a cache policy: sampled candidates ranked by a gradient-boosted next-access predictor.

Per request (hit or miss): objects whose last request is exactly ``window`` requests old and that
are no longer cached leave the memory window (their pending samples mature with the capped
label, ``labels.py``); the requested object's pending samples mature with their real distance and
its access is recorded (``halp.features``: 32 gaps, 10 EDCs, count, mean gap, age, log size);
then, once the cache has evicted once, ``samples`` tracked objects are sampled for training.

Eviction: while no model exists, or when the LRU tail's last request is ``window`` or more
requests old, the LRU tail goes (libCacheSim's LRB does the same: such an object is beyond the
Belady boundary LRB approximates). Otherwise ``candidates`` distinct cached objects are drawn
uniformly (partial Fisher-Yates over the packed resident array, ``dense.py``), the model predicts
each one's ``log1p(distance to its next request)`` and the farthest is evicted (with
``objective="object"``: the largest predicted distance × size, i.e. log1p(distance) + log(size);
libCacheSim multiplies the log prediction itself by the size, which lets size swamp distance).
An evicted object keeps its metadata until ``window`` requests after its last request; a
force-evicted LRU tail is already that old and is forgotten at once.

Training runs in Python between chunks of ``chunk`` requests: once ``batch`` labelled rows are
ready, a fresh LightGBM model of ``trees`` trees is fitted on them (``gbm.py``), exported to flat
arrays, and used by the compiled eviction hook from the next request on.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
from numba import njit, types
from numba.experimental import structref

from feedlearn.cache.core import dlist, heap
from feedlearn.cache.core.params import MAX_SCALAR, choice_param, float_param, int_param
from feedlearn.cache.core.policy import Policy, RequestChunk, SimContext, copy_state, linked_list
from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp.rng import below, new_rng
from feedlearn.cache.lrb import dense as ds
from feedlearn.cache.lrb import gbm
from feedlearn.cache.lrb import labels as lb

# CFG (int64) fields
CANDIDATES, WINDOW, SAMPLES, OBJ_MISS, CAPACITY, SAMPLING, BASE = range(7)  # BASE: first request ``extra`` holds
# STATS (int64) fields
EVICTIONS, BY_MODEL, BY_LRU_UNTRAINED, FORCED, EXPIRED = range(5)
OBJECTIVES = ("byte", "object")
WINDOW_PER_OBJECT = 10  # default window, in cached objects of mean request size (see auto_window)
WINDOW_MIN = 1024  # requests
POOL_MAX = 1 << 20  # pending samples at most (24 bytes each); more are dropped and counted
ROWS_MAX = 1 << 22  # labelled rows buffered at most (4 x features bytes each, ~0.5 GB at 30 features)


# One pointer for the hooks (a tuple of ~30 arrays would be passed by value on every call), and
# unlike a jitclass, functions taking a StructRef are cached on disk by numba (as HALP's state).
@structref.register
class LRBStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class LRBState(structref.StructRefProxy):
    """The arrays of one LRB run (see ``LRB.init_state``); Python reaches them through njit getters."""


_FIELDS = ["feat", "samples", "forest", "recency", "resident", "tracked", "ghosts", "rng", "x", "score", "cfg",
           "stats", "extra"]
structref.define_proxy(LRBState, LRBStateType, _FIELDS)


@njit(cache=True)
def _fields_of(st):
    """Every field, in ``_FIELDS`` order (arrays are views: writing them writes the state)."""
    return (st.feat, st.samples, st.forest, st.recency, st.resident, st.tracked, st.ghosts, st.rng, st.x, st.score,
            st.cfg, st.stats, st.extra)


@njit(cache=True)
def _python_side(st):
    """The arrays Python reads and fills in place: (samples, forest, stats)."""
    return st.samples, st.forest, st.stats


@njit(cache=True)
def _set_chunk(st, extra, base):
    """Point the request-supplied features at a streamed replay's chunk starting at request ``base``."""
    st.extra = extra
    st.cfg[BASE] = base


@njit(cache=True, inline="always")
def _leave_window(st, o, i):
    """``o`` is beyond the memory window and not cached: label its samples, forget it."""
    lb.mature(st.samples, st.feat, o, i, False, 2 * st.cfg[WINDOW])
    ds.remove(st.tracked, o)
    fx.forget(st.feat, o)


@njit(cache=True, inline="always")
def _expire(st, i):
    """Forget the evicted objects whose last request is ``window`` or more requests old."""
    ghosts = st.ghosts
    while ghosts[heap.COUNT][0] > 0 and ghosts[heap.KEY][heap.peek(ghosts)] <= i - st.cfg[WINDOW]:
        _leave_window(st, heap.pop(ghosts), i)
        st.stats[EXPIRED] += 1


@njit(cache=True, inline="always")
def _request(st, o, size, i):
    """Label ``o``'s pending samples with their distance, then record this access."""
    lb.mature(st.samples, st.feat, o, i, True, 2 * st.cfg[WINDOW])
    extra = st.extra[i - st.cfg[BASE]] if st.extra.shape[1] > 0 else st.extra[0]
    fx.record_access(st.feat, o, float(i), size, extra)


@njit(cache=True, inline="always")
def _sample(st, i):
    """Draw ``samples`` tracked objects as training samples at time ``i`` (after the first eviction)."""
    cfg = st.cfg
    members, n = st.tracked[ds.MEMBERS], st.tracked[ds.COUNT][0]
    if cfg[SAMPLING] == 0 or n == 0:
        return
    for _ in range(cfg[SAMPLES]):
        lb.take(st.samples, members[below(st.rng, n)], i)


@njit(cache=True)
def _on_hit(st, obj, size, i):
    _expire(st, i)
    _request(st, obj, size, i)
    prev, nxt, ends = st.recency
    dlist.move_to_head(prev, nxt, ends, obj)
    _sample(st, i)


@njit(cache=True)
def _admit(st, obj, size, i):
    cfg = st.cfg
    _expire(st, i)
    if ds.contains(st.tracked, obj):  # evicted but inside the window
        _request(st, obj, size, i)
        if size > cfg[CAPACITY]:  # too large to cache: stays evicted, its window restarts now
            heap.update(st.ghosts, obj, float(i), 0)
        else:
            heap.remove(st.ghosts, obj)
    elif size <= cfg[CAPACITY]:  # first sight (objects larger than the cache are never tracked)
        _request(st, obj, size, i)
    _sample(st, i)
    return True


@njit(cache=True)
def _on_insert(st, obj, size, i):
    ds.add(st.resident, obj)
    ds.add(st.tracked, obj)
    prev, nxt, ends = st.recency
    dlist.push_head(prev, nxt, ends, obj)


@njit(cache=True)
def _forget(st, obj):
    """A live cache reuses ``obj``'s id: drop its window entry, metadata and pending samples."""
    if ds.contains(st.tracked, obj) and not ds.contains(st.resident, obj):
        heap.remove(st.ghosts, obj)
        ds.remove(st.tracked, obj)
        lb.drop(st.samples, obj)
        fx.forget(st.feat, obj)
    return None


@njit(cache=True)
def _model_victim(st, i):
    """The farthest predicted next request among ``candidates`` distinct random cached objects."""
    res, feat, x, score = st.resident, st.feat, st.x, st.score
    members, n = res[ds.MEMBERS], res[ds.COUNT][0]
    k = min(st.cfg[CANDIDATES], n)
    for j in range(k):
        ds.swap(res, j, j + below(st.rng, n - j))  # partial Fisher-Yates: members[:k] are the draw
        fx.write_vector(feat, members[j], float(i), True, x[j])
    gbm.predict_rows(st.forest, x, k, score)  # log1p(predicted requests until the next request)
    best, victim = -np.inf, members[0]
    for j in range(k):
        s = score[j]
        if st.cfg[OBJ_MISS] == 1:  # distance x size: the space-time an eviction frees
            s += np.log(max(fx.size_of(feat, members[j]), 1.0))
        if s > best:
            best, victim = s, members[j]
    return victim


@njit(cache=True)
def _evict(st, obj, size, i):
    cfg, stats = st.cfg, st.stats
    cfg[SAMPLING] = 1
    stats[EVICTIONS] += 1
    prev, nxt, ends = st.recency
    tail = ends[1]
    if i - fx.last_access(st.feat, tail) >= cfg[WINDOW]:
        victim = tail
        stats[FORCED] += 1
    elif st.forest[gbm.META][gbm.TREES] == 0:
        victim = tail
        stats[BY_LRU_UNTRAINED] += 1
    else:
        victim = _model_victim(st, i)
        stats[BY_MODEL] += 1
    dlist.unlink(prev, nxt, ends, victim)
    ds.remove(st.resident, victim)
    if i - fx.last_access(st.feat, victim) >= cfg[WINDOW]:
        _leave_window(st, victim, i)
    else:
        heap.push(st.ghosts, victim, fx.last_access(st.feat, victim), 0)
    return victim


def auto_window(capacity: int, mean_size: float) -> int:
    """The default memory window: ``WINDOW_PER_OBJECT`` x the objects of mean request size the cache holds.

    LRB tunes its window per trace and cache size so that it approximates the Belady boundary
    (the paper searches it on the trace's first part; libCacheSim fixes 2^26 requests, which no
    trace here reaches). The boundary grows with the cache, so the default scales with it.
    """
    return max(WINDOW_MIN, int(WINDOW_PER_OBJECT * capacity / max(mean_size, 1.0)))


class LRB(Policy):
    """Learning Relaxed Belady (Song et al., NSDI'20), with HALP's features."""

    name = "lrb"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    forget = _forget
    chunk: ClassVar[int] = 8192  # requests between retraining checks

    def __init__(
        self,
        *,
        candidates: int = 64,
        window: int = 0,
        batch: int = 8192,
        samples: int = 1,
        trees: int = 32,
        leaves: int = 32,
        learning_rate: float = 0.1,
        objective: str = "byte",
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        # Upper bounds keep every array these size (candidate rows, the labelled buffer of
        # batch + 2 x samples x chunk rows, trees x leaves nodes) far below exhausting memory.
        candidates = int_param("lrb", "candidates", candidates, 1, 1 << 16)
        batch = int_param("lrb", "batch", batch, 1, MAX_SCALAR)  # > ROWS_MAX: never trains (see init_state)
        samples = int_param("lrb", "samples", samples, 1, 64)
        trees = int_param("lrb", "trees", trees, 1, 1 << 12)
        leaves = int_param("lrb", "leaves", leaves, 2, 1 << 12)
        window = int_param("lrb", "window (0: auto)", window, 0, MAX_SCALAR)
        learning_rate = float_param("lrb", "learning_rate", learning_rate, 0.0, 1e3)
        choice_param("lrb", "objective", objective, OBJECTIVES)
        self.candidates, self.window, self.batch, self.samples = candidates, window, batch, samples
        self.trees, self.leaves, self.learning_rate, self.objective = trees, leaves, float(learning_rate), objective
        self._state: LRBState | None = None
        self._window = window
        self._history: list[dict[str, float]] = []

    def init_state(self, ctx: SimContext) -> LRBState:
        n = ctx.n_objects
        extra = np.zeros((1, 0), dtype=np.float32)  # request-supplied features (none: an empty row)
        if ctx.features is not None and ctx.features.shape[1] > 0:
            extra = np.ascontiguousarray(ctx.features, dtype=np.float32)
        f = fx.N_BASE + extra.shape[1]
        window = self.window or auto_window(ctx.capacity, ctx.mean_size())
        # A run never labels more than it samples: samples x requests. (A live cache, store/, passes
        # a one-request placeholder trace and has no such bound.)
        taken = self.samples * ctx.requests() if ctx.requests() > 1 else np.iinfo(np.int64).max
        # pending samples live ~window requests (relaxed Belady); more than that is dropped, counted
        pool = min(self.samples * 2 * window, POOL_MAX, taken) + 1
        # a batch + what a chunk adds, at most ROWS_MAX: a batch the buffer cannot hold never trains
        rows = min(self.batch + 2 * self.samples * self.chunk, taken, ROWS_MAX) + 1
        cfg = np.zeros(7, dtype=np.int64)
        cfg[[CANDIDATES, WINDOW, SAMPLES, OBJ_MISS, CAPACITY]] = [
            self.candidates, window, self.samples, int(self.objective == "object"), ctx.capacity]
        self._window = window
        self._history = []
        self._state = LRBState(
            fx.new_features(n, extra.shape[1], 512.0),  # EDC half-lives 2^9..2^18 requests, as HALP
            lb.new_samples(n, pool, rows, f),
            gbm.new_forest(self.trees, self.leaves),
            linked_list(n),  # recency: head = most recent; the tail is the pre-model victim
            ds.new_dense_set(n),  # resident (cached) objects
            ds.new_dense_set(n),  # tracked: cached or inside the memory window
            heap.new_heap(n),  # evicted objects inside the window, keyed by last request time
            new_rng(self.seed),
            np.zeros((self.candidates, f), dtype=np.float32),  # candidates' feature rows
            np.zeros(self.candidates, dtype=np.float64),  # their predictions
            cfg,
            np.zeros(5, dtype=np.int64),
            extra,
        )
        return self._state

    def on_chunk(self, state: LRBState, chunk: RequestChunk) -> LRBState:
        """Hand the hooks the chunk's request-supplied features (if the trace has any)."""
        if chunk.features is not None and chunk.features.shape[1] > 0:
            _set_chunk(state, np.ascontiguousarray(chunk.features, dtype=np.float32), chunk.start)
        return state

    def grow_state(self, state: LRBState, ctx: SimContext) -> LRBState:
        """As the default, keeping the Python side (retraining history, window) that ``init_state`` resets."""
        history, window = self._history, self._window
        fresh = self.init_state(ctx)
        copy_state(_fields_of(state), _fields_of(fresh))  # a StructRef's fields are not visible to Python
        self._history, self._window = history, window
        return fresh

    def between_chunks(self, state: LRBState, next_request: int) -> None:
        """Fit a new model once ``batch`` labelled rows are ready, and hand it to the hooks."""
        samples, forest, _ = _python_side(state)
        x, y, meta = samples[lb.X], samples[lb.Y], samples[lb.META]
        rows = int(meta[lb.ROWS])
        if rows < self.batch:
            return
        xs, ys = x[:rows].copy(), y[:rows].copy()
        meta[lb.ROWS] = 0
        started = time.perf_counter()
        booster = gbm.train(xs, ys, trees=self.trees, leaves=self.leaves, learning_rate=self.learning_rate,
                            seed=self.seed + len(self._history))
        gbm.load_forest(forest, booster)
        self._history.append({
            "request": next_request,
            "rows": rows,
            # one thread, as training: OpenMP's pool does not survive fork (sweeps fork workers)
            "mse": float(np.mean((booster.predict(xs, num_threads=1) - ys) ** 2)),
            "beyond_window": float(np.mean(ys >= np.log1p(2 * self._window) - 1e-6)),
            "seconds": time.perf_counter() - started,
        })

    def diagnostics(self) -> dict[str, Any]:
        if self._state is None:
            return {}
        samples, _, stats = _python_side(self._state)
        meta = samples[lb.META]
        return {
            "window": self._window,
            "evictions": int(stats[EVICTIONS]),
            "model_decisions": int(stats[BY_MODEL]),
            "lru_untrained": int(stats[BY_LRU_UNTRAINED]),
            "lru_beyond_window": int(stats[FORCED]),
            "expired": int(stats[EXPIRED]),
            "samples": int(meta[lb.TAKEN]),
            "samples_dropped_pool": int(meta[lb.DROPPED_POOL]),
            "labels_by_request": int(meta[lb.BY_REQUEST]),
            "labels_beyond_window": int(meta[lb.BY_WINDOW]),
            "labels_dropped_buffer": int(meta[lb.DROPPED_BUFFER]),
            "retrains": len(self._history),
            "training_seconds": float(sum(h["seconds"] for h in self._history)),
            "history": list(self._history),
        }
