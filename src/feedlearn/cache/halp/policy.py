"""HALP as a cache policy: heuristic candidates, learned re-ranking, automated feedback.

On each eviction the heuristic (``heuristics.py``, LRU by default) lists its ``tail`` lowest-priority
residents; ``k`` of them are drawn at random, and a tournament of ``k - 1`` pairwise comparisons
with the reward model (``model.py``) picks the victim: the candidate predicted to be requested
last. Candidates not evicted stay where the heuristic had them. Every comparison becomes a pending
pair (``pairs.py``) that the stream labels later; labelled pairs train the model online
(``train.py``). Until ``min_updates`` updates have run, and whenever a score is not finite, the
heuristic's own choice (the candidate nearest its low end) is evicted instead.

Objective and size. The model's score ``s`` ranks "requested sooner" (Bradley–Terry: under an
exponential re-access model ``s`` is the log re-access rate). For the byte miss ratio every byte
of a kept object earns the same per hit, so the victim is the lowest ``s`` — size enters only as a
feature. For the object miss ratio a hit is worth one regardless of size, so the value per byte is
rate / size and the victim is the lowest ``s - log(size)``.

Evicted objects' metadata stays in a ghost (FIFO) of at most ``ghost_factor`` × the number of
cached objects; an object that leaves the ghost is forgotten (features reset, pending pairs
dropped).

``pick="heuristic"`` or ``pick="random"`` give the baselines: the same candidate sampler with the
heuristic's or a random choice, and no features, pairs or model at all (to measure what the
learned part adds, in quality and in cost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numba import njit, types
from numba.experimental import structref

from feedlearn.cache.core import dlist
from feedlearn.cache.core.params import MAX_SCALAR, bool_param, choice_param, float_param, int_param
from feedlearn.cache.core.policy import Policy, RequestChunk, SimContext, copy_state, linked_list
from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp import heuristics as hx
from feedlearn.cache.halp import model as mlp
from feedlearn.cache.halp import pairs as px
from feedlearn.cache.halp import scores as sx
from feedlearn.cache.halp import train as tx
from feedlearn.cache.halp.heuristics import HEURISTICS
from feedlearn.cache.halp.rng import below, new_rng
from feedlearn.common.errors import FeedlearnError

# CFG (int64) fields
K, TAIL, MIN_UPDATES, OBJ_MISS, USE_SIZE, UPDATE_EVERY, STEPS, PICK, CAPACITY, GHOST_FACTOR, RESIDENT, LOADED = range(12)
SECONDS = 12  # 1: time is the trace's seconds (``times[i]``); 0: the request index ``i`` itself
STRIDE = 13  # one label in STRIDE enters the training buffer
REUSE = 14  # evictions served by one read of an LRU window (0: window length / 8k)
BASE = 15  # first request that ``times``/``extra`` hold (a streamed replay's chunk; 0: the whole trace)
LISTED, READ_AT, READS_LEFT, EPOCH = range(4)  # fields of the LRU window's snapshot state
# STATS (int64) fields
EVICTIONS, BY_MODEL, FALLBACK_UNTRAINED, FALLBACK_NONFINITE = range(4)
PICKS = {"model": 0, "heuristic": 1, "random": 2}
OBJECTIVES = ("byte", "object")


# The state is a StructRef: the hooks receive one pointer. (A tuple of ~50 arrays is passed by
# value, field by field: measured 60 arrays -> 2.7M instead of 13M requests/s for LRU-sized hooks.)
# Unlike a jitclass, functions taking a StructRef are cached on disk by numba.
@structref.register
class HALPStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class HALPState(structref.StructRefProxy):
    """The arrays of one HALP run (see ``HALP.init_state`` for what each holds).

    Its fields are visible to compiled code only; Python reads them through small njit getters.
    """


_FIELDS = ["feat", "pairs", "trainer", "model", "heur", "rng", "cand", "x", "score", "scores", "cfg", "stats",
           "ghost", "times", "extra", "tracked"]
structref.define_proxy(HALPState, HALPStateType, _FIELDS)


@njit(cache=True)
def _model_of(st):
    return st.model


@njit(cache=True)
def _fields_of(st):
    """Every field, in ``_FIELDS`` order (arrays are views: writing them writes the state)."""
    return (st.feat, st.pairs, st.trainer, st.model, st.heur, st.rng, st.cand, st.x, st.score, st.scores, st.cfg,
            st.stats, st.ghost, st.times, st.extra, st.tracked)


@njit(cache=True)
def _set_chunk(st, times, extra, base):
    """Point the per-request arrays at a streamed replay's chunk starting at request ``base``."""
    st.times = times
    st.extra = extra
    st.cfg[BASE] = base


@njit(cache=True)
def _counters_of(st):
    return st.stats, st.pairs[px.META], st.trainer[tx.COUNTERS], st.trainer[tx.HISTORY]


@njit(cache=True, inline="always")
def _now(st, i):
    """The current time: request index, or trace seconds (only then is a per-request array kept)."""
    return st.times[i - st.cfg[BASE]] if st.cfg[SECONDS] == 1 else float(i)


@njit(cache=True, inline="always")
def _extra_row(st, i):
    """Request ``i``'s extra features (a shared empty row when there are none)."""
    return st.extra[i - st.cfg[BASE]] if st.extra.shape[1] > 0 else st.extra[0]


@njit(cache=True, inline="always")
def _learning(cfg):
    return cfg[PICK] == 0


@njit(cache=True, inline="always")
def _observe(st, obj, size, i):
    """Feedback and features for a request of ``obj`` (hit or miss)."""
    cfg = st.cfg
    if not _learning(cfg):
        return
    pairs, feat, model, trainer, score_cache = st.pairs, st.feat, st.model, st.trainer, st.scores
    if px.label_on_access(pairs, obj, trainer, feat, cfg[USE_SIZE] == 1, cfg[STRIDE]) > 0:
        meta = pairs[px.META]
        if tx.maybe_update(trainer, model, st.rng, cfg[UPDATE_EVERY], cfg[STEPS], meta[px.LABELLED],
                           meta[px.CORRECT], i):
            sx.model_changed(score_cache, model)
    fx.record_access(feat, obj, _now(st, i), size, _extra_row(st, i))
    sx.invalidate(score_cache, obj)


@njit(cache=True, inline="always")
def _ghost_push(st, victim):
    """Keep ``victim``'s metadata in the ghost; forget the oldest ghosts beyond the bound."""
    prev, nxt, ends, in_ghost, count = st.ghost
    dlist.push_head(prev, nxt, ends, victim)
    in_ghost[victim] = True  # still tracked
    count[0] += 1
    bound = st.cfg[GHOST_FACTOR] * max(st.cfg[RESIDENT], 1)
    while count[0] > bound:
        g = dlist.pop_tail(prev, nxt, ends)
        in_ghost[g] = False
        st.tracked[g] = False
        count[0] -= 1
        fx.forget(st.feat, g)
        px.object_left(st.pairs, g, st.tracked)


@njit(cache=True)
def _on_hit(st, obj, size, i):
    _observe(st, obj, size, i)
    hx.on_hit(st.heur, obj, size, i)


@njit(cache=True)
def _admit(st, obj, size, i):
    _observe(st, obj, size, i)
    if not hx.admits(st.heur, obj, size):
        return False
    if size <= st.cfg[CAPACITY] and _learning(st.cfg):
        prev, nxt, ends, in_ghost, count = st.ghost
        if in_ghost[obj]:  # it is about to be cached again
            dlist.unlink(prev, nxt, ends, obj)
            in_ghost[obj] = False
            count[0] -= 1
    return True


@njit(cache=True)
def _on_insert(st, obj, size, i):
    hx.on_insert(st.heur, obj, size, i)
    st.cfg[RESIDENT] += 1
    if _learning(st.cfg):
        st.tracked[obj] = True


@njit(cache=True)
def _forget(st, obj):
    """A live cache reuses ``obj``'s id: drop its ghost entry, metadata and pending pairs."""
    hx.forget(st.heur, obj)
    if not _learning(st.cfg):
        return None
    prev, nxt, ends, in_ghost, count = st.ghost
    if in_ghost[obj]:
        dlist.unlink(prev, nxt, ends, obj)
        in_ghost[obj] = False
        count[0] -= 1
    st.tracked[obj] = False
    fx.forget(st.feat, obj)
    px.object_left(st.pairs, obj, st.tracked)
    px.drop_all(st.pairs, obj, st.tracked)
    return None


@njit(cache=True, inline="always")
def _sort(order, n):
    for j in range(1, n):  # insertion sort: candidate 0 is the heuristic's own choice
        v = order[j]
        q = j - 1
        while q >= 0 and order[q] > v:
            order[q + 1] = order[q]
            q -= 1
        order[q + 1] = v


@njit(cache=True, inline="always")
def _sample(st, window, order):
    """Fill ``window`` from the heuristic and choose ``k`` sorted positions in ``order[:k]``."""
    cfg, rng = st.cfg, st.rng
    m = hx.window(st.heur, cfg[TAIL], window)
    kk = min(cfg[K], m)
    for j in range(m):
        order[j] = j
    for j in range(kk):  # k distinct positions of the window, uniformly (partial Fisher-Yates)
        r = j + below(rng, m - j)
        order[j], order[r] = order[r], order[j]
    _sort(order, kk)
    return kk


@njit(cache=True, inline="always")
def _draw_from_snapshot(st, window, order, mark, snap, i):
    """LRU without a list walk per eviction: ``k`` positions of a window read now and then.

    Reading the LRU tail costs ``tail`` pointer hops; one read serves ``window_reuse`` evictions
    (default: listed objects / 8k, e.g. 8 for 32 of 2048).
    Between reads an object that was requested or evicted since (its stamp is newer than the
    read) is skipped, so every candidate is still in the LRU region the window covered — the
    window only misses objects that aged into the region since the read. ``snap`` = (window
    length, request index of the read, evictions left before the next read, draw epoch: fields
    ``LISTED``, ``READ_AT``, ``READS_LEFT``, ``EPOCH``).
    """
    cfg, rng, heur = st.cfg, st.rng, st.heur
    k = cfg[K]
    n = 0
    for attempt in range(2):
        if snap[READS_LEFT] <= 0 or attempt == 1:
            snap[LISTED] = hx.list_window(heur, cfg[TAIL], window)
            snap[READ_AT] = i
            snap[READS_LEFT] = cfg[REUSE] if cfg[REUSE] > 0 else max(1, snap[LISTED] // (8 * k))
        m = snap[LISTED]
        want = min(k, m)
        n = 0
        if want == m:  # every listed object is a candidate
            for pos in range(m):
                if hx.unchanged_since(heur, window[pos], snap[READ_AT]):
                    order[n] = pos
                    n += 1
        else:  # k distinct listed objects still unchanged, uniformly (bounded rejection sampling)
            snap[EPOCH] += 1
            tries = 0
            while n < want and tries < 4 * want:
                tries += 1
                pos = below(rng, m)
                if mark[pos] != snap[EPOCH] and hx.unchanged_since(heur, window[pos], snap[READ_AT]):
                    mark[pos] = snap[EPOCH]
                    order[n] = pos
                    n += 1
        if n == want:
            break
    snap[READS_LEFT] -= 1
    _sort(order, n)
    return n


@njit(cache=True)  # not inlined: one call per eviction, with the pool's tuple unpacked once
def _tournament(pairs, window, order, kk, scores, model_ok, t):
    """The ``kk - 1`` comparisons that pick the victim, each stored as a pending pair; returns
    the position of the victim (the lowest score; candidate 0 without a usable model)."""
    rows, when, head, meta = pairs
    champ = 0
    for j in range(1, kk):  # the lower score is predicted to come back later
        challenger_evicted = model_ok and scores[j] < scores[champ]
        a, b = window[order[champ]], window[order[j]]
        px.record(rows, when, head, meta, a, b, t, b if challenger_evicted else a)
        if challenger_evicted:
            champ = j
    return champ


@njit(cache=True)
def _evict(st, obj, size, i):
    cfg, stats, x, scores = st.cfg, st.stats, st.x, st.score
    window, order, mark, snap = st.cand  # (tail,) ids, lowest priority first; (tail,) positions
    if hx.kind(st.heur) == hx.LRU:
        kk = _draw_from_snapshot(st, window, order, mark, snap, i)
    else:
        kk = _sample(st, window, order)
    stats[EVICTIONS] += 1
    pick = cfg[PICK]
    champ = 0
    if pick == 0:
        t = _now(st, i)
        trained = cfg[LOADED] == 1 or st.trainer[tx.COUNTERS][tx.UPDATES] >= cfg[MIN_UPDATES]
        model_ok = trained
        if trained:
            scored = sx.score_candidates(st.scores, st.model, st.feat, window, order, kk, t, cfg[USE_SIZE] == 1,
                                         cfg[OBJ_MISS] == 1, x, scores)
            model_ok = scored == kk
        if model_ok:
            stats[BY_MODEL] += 1
        elif not trained:
            stats[FALLBACK_UNTRAINED] += 1
        else:
            stats[FALLBACK_NONFINITE] += 1
        champ = _tournament(st.pairs, window, order, kk, scores, model_ok, t)
    elif pick == 2 and kk > 0:
        champ = below(st.rng, kk)
    victim = window[order[champ]]
    hx.remove(st.heur, victim)
    cfg[RESIDENT] -= 1
    if pick == 0:
        _ghost_push(st, victim)
    return victim


class HALP(Policy):
    """Heuristic-Aided Learned Preference eviction (Song et al., NSDI'23)."""

    name = "halp"
    on_hit = _on_hit
    admit = _admit
    evict = _evict
    on_insert = _on_insert
    forget = _forget

    def __init__(
        self,
        *,
        k: int = 32,
        tail: int = 2048,
        hidden: int = 32,
        heuristic: str = "lru",
        pick: str = "model",
        objective: str = "byte",
        size_feature: bool = True,
        update_every: int = 1024,
        steps: int = 1,
        label_stride: int = 2,
        window_reuse: int = 0,
        batch: int = 128,
        lr: float = 1e-3,
        buffer: int = 8192,
        pending: int = 65536,
        min_updates: int = 4,
        ghost_factor: int = 4,
        time_unit: str = "requests",
        edc_base: float = 512.0,
        model: str = "",
        seed: int = 0,
    ) -> None:
        super().__init__(seed=seed)
        # Bounds keep the arrays these size (candidate window, hidden layer, buffers) reasonable.
        counts = dict(k=(k, 1 << 12), tail=(tail, 1 << 16), hidden=(hidden, 1 << 12), update_every=(update_every, 1 << 40),
                      steps=(steps, 1 << 12), label_stride=(label_stride, 1 << 20),
                      batch=(batch, 1 << 20), buffer=(buffer, 1 << 24),
                      pending=(pending, 1 << 24), ghost_factor=(ghost_factor, 1 << 10))
        for key, (value, high) in counts.items():
            int_param("halp", key, value, 1, high)
        if k < 2 or tail < k:
            raise FeedlearnError(f"halp: need 2 <= k <= tail, got k={k}, tail={tail}")
        choice_param("halp", "heuristic", heuristic, HEURISTICS)
        choice_param("halp", "pick", pick, PICKS)
        choice_param("halp", "objective", objective, OBJECTIVES)
        choice_param("halp", "time_unit", time_unit, ("requests", "seconds"))
        int_param("halp", "min_updates", min_updates, 0, MAX_SCALAR)
        int_param("halp", "window_reuse", window_reuse, 0, 1 << 20)
        lr = float_param("halp", "lr", lr, 0.0, 1e3)
        edc_base = float_param("halp", "edc_base", edc_base, 0.0, 1e15)
        bool_param("halp", "size_feature", size_feature)
        if not isinstance(model, str):
            raise FeedlearnError(f"halp: model must be a file path, got {model!r}")
        if model:  # a bad model file fails here, before any trace is read; the shape is checked per run
            mlp.load_model(model)
        self.k, self.tail, self.hidden, self.heuristic, self.pick = k, tail, hidden, heuristic, pick
        self.objective, self.size_feature, self.update_every, self.steps = objective, size_feature, update_every, steps
        self.label_stride, self.window_reuse = label_stride, window_reuse
        self.batch, self.lr, self.buffer, self.pending, self.min_updates = batch, float(lr), buffer, pending, min_updates
        self.ghost_factor, self.time_unit, self.edc_base, self.model = ghost_factor, time_unit, float(edc_base), model
        self._state = None  # the HALPState of the last run

    def admits_every_miss(self) -> bool:
        return self.heuristic != "s3fifo"  # S3-FIFO refuses objects above its small FIFO's share

    def n_features(self, n_extra: int = 0) -> int:
        return fx.N_BASE + n_extra

    def init_state(self, ctx: SimContext):
        n, n_req = ctx.n_objects, ctx.requests()
        extra = np.zeros((1, 0), dtype=np.float32)  # request-supplied features (none: an empty row)
        if ctx.features is not None and ctx.features.shape[1] > 0:
            extra = np.ascontiguousarray(ctx.features, dtype=np.float32)
        f = self.n_features(extra.shape[1])
        rng = np.random.default_rng(self.seed)
        model = mlp.load_model(self.model, f, self.hidden) if self.model else mlp.new_model(f, self.hidden, rng, self.lr)
        learning = self.pick == "model"
        # Without learning, features/pairs/ghost are never touched: allocate them minimally.
        n_meta = n if learning else 1
        # updates logged: enough for the whole trace (a live cache has no known length: 4096)
        expected = (self.k - 1) * n_req // self.update_every + 2
        history = min(max(expected, 4096), 1 << 16) if learning else 1
        cfg = np.zeros(16, dtype=np.int64)
        cfg[[K, TAIL, MIN_UPDATES, OBJ_MISS, USE_SIZE, UPDATE_EVERY, STEPS, PICK, CAPACITY, GHOST_FACTOR, LOADED]] = [
            self.k, self.tail, self.min_updates, int(self.objective == "object"), int(self.size_feature),
            self.update_every, self.steps, PICKS[self.pick], ctx.capacity, self.ghost_factor, int(bool(self.model)),
        ]
        cfg[SECONDS] = int(self.time_unit == "seconds")
        cfg[STRIDE] = self.label_stride
        cfg[REUSE] = self.window_reuse
        # per-request times only when time is trace seconds; otherwise the request index is the time
        # (a clock that never goes back: logged traces can be out of order, and a negative age
        # would blow up the exponential decays of the features)
        times = np.maximum.accumulate(ctx.time.astype(np.float64)) if self.time_unit == "seconds" \
            else np.zeros(1, dtype=np.float64)
        ghost = (*linked_list(n_meta), np.zeros(n_meta, dtype=np.bool_), np.zeros(1, dtype=np.int64))
        fields = (
            fx.new_features(n_meta, extra.shape[1], self.edc_base),
            px.new_pairs(n_meta, self.pending if learning else 1),
            tx.new_trainer(self.buffer if learning else 1, f, self.hidden, self.batch, history),
            model,
            hx.new_heuristic_state(HEURISTICS[self.heuristic], n, self.seed, ctx.capacity),
            new_rng(self.seed),
            (np.zeros(self.tail, dtype=np.int64), np.zeros(self.tail, dtype=np.int64),
             np.zeros(self.tail, dtype=np.int64), np.zeros(4, dtype=np.int64)),  # + draw marks, snapshot state
            np.zeros(f, dtype=np.float32),  # scratch: one feature vector
            np.zeros(self.k, dtype=np.float32),
            sx.new_score_cache(n_meta, self.hidden, model),
            cfg,
            np.zeros(4, dtype=np.int64),
            ghost,
            times,
            extra,
            np.zeros(n_meta, dtype=np.bool_),  # tracked: cached or in the ghost
        )
        self._state = HALPState(*fields)
        self._clock = -np.inf  # latest trace time so far (a streamed replay's running maximum)
        return self._state

    def on_chunk(self, state: HALPState, chunk: RequestChunk) -> HALPState:
        """Hand the hooks the chunk's times (as a clock that never goes back) and features."""
        times = np.zeros(1, dtype=np.float64)
        if self.time_unit == "seconds":
            times = np.maximum(np.maximum.accumulate(chunk.time.astype(np.float64)), self._clock)
            self._clock = float(times[-1]) if len(times) else self._clock
        extra = np.zeros((1, 0), dtype=np.float32)
        if chunk.features is not None and chunk.features.shape[1] > 0:
            extra = np.ascontiguousarray(chunk.features, dtype=np.float32)
        _set_chunk(state, times, extra, chunk.start)
        return state

    def grow_state(self, state: HALPState, ctx: SimContext) -> HALPState:
        """The default's copy, field by field (a StructRef's fields are not visible to Python)."""
        fresh = self.init_state(ctx)
        copy_state(_fields_of(state), _fields_of(fresh))
        return fresh

    # --- after a run ------------------------------------------------------------------------

    def learned_model(self) -> tuple:
        """The model state after the last run (weights and Adam moments)."""
        if self._state is None:
            raise FeedlearnError("halp: no run yet, so no learned model")
        return _model_of(self._state)

    def save_model(self, path: str | Path) -> Path:
        """Save the learned model; ``halp(model=PATH)`` warm-starts from it."""
        return mlp.save_model(self.learned_model(), path)

    def diagnostics(self) -> dict[str, Any]:
        if self._state is None:
            return {}
        stats, meta, tmeta, hist = _counters_of(self._state)
        hist = hist[: tmeta[tx.HIST_LEN]]
        return {
            "evictions": int(stats[EVICTIONS]),
            "model_decisions": int(stats[BY_MODEL]),
            "fallback_untrained": int(stats[FALLBACK_UNTRAINED]),
            "fallback_nonfinite": int(stats[FALLBACK_NONFINITE]),
            "pairs_created": int(meta[px.CREATED]),
            "pairs_labelled": int(meta[px.LABELLED]),
            "pairs_dropped_ghost": int(meta[px.DROPPED_GHOST]),
            "pairs_dropped_overflow": int(meta[px.DROPPED_OVERFLOW]),
            "decision_accuracy": float(meta[px.CORRECT] / meta[px.LABELLED]) if meta[px.LABELLED] else float("nan"),
            "updates": int(tmeta[tx.UPDATES]),
            "history": {
                "request": hist[:, 0].astype(np.int64).tolist(),
                "loss": hist[:, 1].tolist(),
                "batch_accuracy": hist[:, 2].tolist(),
                "decision_accuracy": hist[:, 3].tolist(),
            },
        }
