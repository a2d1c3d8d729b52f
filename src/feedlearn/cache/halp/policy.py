"""HALP as a cache policy: heuristic candidates, learned re-ranking, automated feedback.

On each eviction ``k`` candidates are drawn at random from the heuristic's ``tail`` lowest-priority
residents (``heuristics/``, one file per heuristic; LRU by default), and a tournament of ``k - 1`` pairwise comparisons
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
from feedlearn.cache.halp.heuristics.base import uncached
from feedlearn.cache.halp.rng import below, new_rng
from feedlearn.common.errors import FeedlearnError

# CFG (int64) fields
K, TAIL, MIN_UPDATES, OBJ_MISS, USE_SIZE, UPDATE_EVERY, STEPS, PICK, CAPACITY, GHOST_FACTOR, RESIDENT, LOADED = range(12)
SECONDS = 12  # 1: time is the trace's seconds (``times[i]``); 0: the request index ``i`` itself
STRIDE = 13  # one label in STRIDE enters the training buffer
BASE = 14  # first request that ``times``/``extra`` hold (a streamed replay's chunk; 0: the whole trace)
# STATS (int64) fields
EVICTIONS, BY_MODEL, FALLBACK_UNTRAINED, FALLBACK_NONFINITE = range(4)
PICKS = {"model": 0, "heuristic": 1, "random": 2}
OBJECTIVES = ("byte", "object")


# The state is a StructRef: the hooks receive one pointer. (A tuple of ~50 arrays is passed by
# value, field by field: measured 60 arrays -> 2.7M instead of 13M requests/s for LRU-sized hooks.)
# Unlike a jitclass, functions taking a StructRef are cached on disk by numba. It is split in two:
# the learner (features, pairs, model, training) and the heuristic's own state, whose type differs
# per heuristic. Everything heavy takes only the learner, so it is compiled once for every
# heuristic; only the five thin hooks below are compiled per heuristic.
@structref.register
class LearnerStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class LearnerState(structref.StructRefProxy):
    """The learning side of one HALP run (see ``HALP.init_state`` for what each field holds)."""


_LEARNER_FIELDS = ["feat", "pairs", "trainer", "model", "rng", "x", "score", "scores", "cfg", "stats", "ghost", "times",
                   "extra", "tracked"]
structref.define_proxy(LearnerState, LearnerStateType, _LEARNER_FIELDS)


@structref.register
class HALPStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class HALPState(structref.StructRefProxy):
    """One HALP run: ``learner`` (a LearnerState), ``heur`` (the heuristic's state) and ``cand``
    (scratch: the heuristic's listed window and the drawn candidates)."""


structref.define_proxy(HALPState, HALPStateType, ["learner", "heur", "cand"])


@njit(cache=True)
def _model_of(st):
    return st.learner.model


@njit(cache=True)
def _learner_fields(ls):
    """Every learner field, in ``_LEARNER_FIELDS`` order (arrays are views: writing them writes the state)."""
    return (ls.feat, ls.pairs, ls.trainer, ls.model, ls.rng, ls.x, ls.score, ls.scores, ls.cfg, ls.stats, ls.ghost,
            ls.times, ls.extra, ls.tracked)


@njit(cache=True)
def _set_chunk(st, times, extra, base):
    """Point the per-request arrays at a streamed replay's chunk starting at request ``base``."""
    ls = st.learner
    ls.times = times
    ls.extra = extra
    ls.cfg[BASE] = base


@njit(cache=True)
def _counters_of(ls):
    return ls.stats, ls.pairs[px.META], ls.trainer[tx.COUNTERS], ls.trainer[tx.HISTORY]


@njit(cache=True, inline="always")
def _now(ls, i):
    """The current time: request index, or trace seconds (only then is a per-request array kept)."""
    return ls.times[i - ls.cfg[BASE]] if ls.cfg[SECONDS] == 1 else float(i)


@njit(cache=True, inline="always")
def _extra_row(ls, i):
    """Request ``i``'s extra features (a shared empty row when there are none)."""
    return ls.extra[i - ls.cfg[BASE]] if ls.extra.shape[1] > 0 else ls.extra[0]


@njit(cache=True, inline="always")
def _learning(cfg):
    return cfg[PICK] == 0


@njit(cache=True)
def _observe(ls, obj, size, i):
    """Feedback and features for a request of ``obj`` (hit or miss)."""
    cfg = ls.cfg
    if not _learning(cfg):
        return
    pairs, feat, model, trainer, score_cache = ls.pairs, ls.feat, ls.model, ls.trainer, ls.scores
    if px.label_on_access(pairs, obj, trainer, feat, cfg[USE_SIZE] == 1, cfg[STRIDE]) > 0:
        meta = pairs[px.META]
        if tx.maybe_update(trainer, model, ls.rng, cfg[UPDATE_EVERY], cfg[STEPS], meta[px.LABELLED],
                           meta[px.CORRECT], i):
            sx.model_changed(score_cache, model)
    fx.record_access(feat, obj, _now(ls, i), size, _extra_row(ls, i))
    sx.invalidate(score_cache, obj)


@njit(cache=True)
def _leave_ghost(ls, obj, size):
    """``obj`` is about to be cached again: it leaves the ghost (its metadata stays)."""
    if size <= ls.cfg[CAPACITY] and _learning(ls.cfg):
        prev, nxt, ends, in_ghost, count = ls.ghost
        if in_ghost[obj]:
            dlist.unlink(prev, nxt, ends, obj)
            in_ghost[obj] = False
            count[0] -= 1


@njit(cache=True)
def _inserted(ls, obj):
    ls.cfg[RESIDENT] += 1
    if _learning(ls.cfg):
        ls.tracked[obj] = True


@njit(cache=True)
def _forget_learner(ls, obj):
    """A live cache reuses ``obj``'s id: drop its ghost entry, metadata and pending pairs."""
    if not _learning(ls.cfg):
        return None
    prev, nxt, ends, in_ghost, count = ls.ghost
    if in_ghost[obj]:
        dlist.unlink(prev, nxt, ends, obj)
        in_ghost[obj] = False
        count[0] -= 1
    ls.tracked[obj] = False
    fx.forget(ls.feat, obj)
    px.object_left(ls.pairs, obj, ls.tracked)
    px.drop_all(ls.pairs, obj, ls.tracked)
    return None


@njit(cache=True)  # not inlined: one call per eviction, with the pool's tuple unpacked once
def _tournament(pairs, chosen, kk, scores, model_ok, t):
    """The ``kk - 1`` comparisons that pick the victim, each stored as a pending pair; returns
    the position of the victim (the lowest score; candidate 0 without a usable model)."""
    rows, when, head, meta = pairs
    champ = 0
    for j in range(1, kk):  # the lower score is predicted to come back later
        challenger_evicted = model_ok and scores[j] < scores[champ]
        a, b = chosen[champ], chosen[j]
        px.record(rows, when, head, meta, a, b, t, b if challenger_evicted else a)
        if challenger_evicted:
            champ = j
    return champ


@njit(cache=True)
def _choose(ls, chosen, kk, i):
    """The victim among the candidates ``chosen[:kk]`` (the heuristic's own choice first)."""
    cfg, stats = ls.cfg, ls.stats
    stats[EVICTIONS] += 1
    pick = cfg[PICK]
    champ = 0
    if pick == 0:
        t = _now(ls, i)
        trained = cfg[LOADED] == 1 or ls.trainer[tx.COUNTERS][tx.UPDATES] >= cfg[MIN_UPDATES]
        model_ok = trained
        if trained:
            scored = sx.score_candidates(ls.scores, ls.model, ls.feat, chosen, kk, t, cfg[USE_SIZE] == 1,
                                         cfg[OBJ_MISS] == 1, ls.x, ls.score)
            model_ok = scored == kk
        if model_ok:
            stats[BY_MODEL] += 1
        elif not trained:
            stats[FALLBACK_UNTRAINED] += 1
        else:
            stats[FALLBACK_NONFINITE] += 1
        champ = _tournament(ls.pairs, chosen, kk, ls.score, model_ok, t)
    elif pick == 2 and kk > 0:
        champ = below(ls.rng, kk)
    return chosen[champ]


@njit(cache=True)
def _evicted(ls, victim):
    """``victim`` left the cache: keep its metadata in the ghost; forget the oldest ghosts beyond the bound."""
    ls.cfg[RESIDENT] -= 1
    if not _learning(ls.cfg):
        return
    prev, nxt, ends, in_ghost, count = ls.ghost
    dlist.push_head(prev, nxt, ends, victim)
    in_ghost[victim] = True  # still tracked
    count[0] += 1
    bound = ls.cfg[GHOST_FACTOR] * max(ls.cfg[RESIDENT], 1)
    while count[0] > bound:
        g = dlist.pop_tail(prev, nxt, ends)
        in_ghost[g] = False
        ls.tracked[g] = False
        count[0] -= 1
        fx.forget(ls.feat, g)
        px.object_left(ls.pairs, g, ls.tracked)


# The hooks: the only functions compiled per heuristic (``hx`` resolves by the heuristic's state type).
@njit(cache=True)
def _on_hit(st, obj, size, i):
    _observe(st.learner, obj, size, i)
    hx.on_hit(st.heur, obj, size, i)


@njit(cache=True)
def _admit(st, obj, size, i):
    ls = st.learner
    _observe(ls, obj, size, i)
    if not hx.admits(st.heur, obj, size):
        return False
    _leave_ghost(ls, obj, size)
    return True


@njit(cache=True)
def _on_insert(st, obj, size, i):
    hx.on_insert(st.heur, obj, size, i)
    _inserted(st.learner, obj)


@njit(cache=True)
def _forget(st, obj):
    hx.forget(st.heur, obj)
    _forget_learner(st.learner, obj)
    return None


@njit(cache=True)
def _evict(st, obj, size, i):
    ls = st.learner
    listed, chosen = st.cand  # (tail,) scratch: the heuristic's window; the drawn candidates, lowest first
    kk = hx.candidates(st.heur, ls.rng, ls.cfg[K], ls.cfg[TAIL], listed, chosen)
    victim = _choose(ls, chosen, kk, i)
    hx.remove(st.heur, victim)
    _evicted(ls, victim)
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
        lr = float_param("halp", "lr", lr, 0.0, 1e3)
        edc_base = float_param("halp", "edc_base", edc_base, 0.0, 1e15)
        bool_param("halp", "size_feature", size_feature)
        if not isinstance(model, str):
            raise FeedlearnError(f"halp: model must be a file path, got {model!r}")
        if model:  # a bad model file fails here, before any trace is read; the shape is checked per run
            mlp.load_model(model)
        self.k, self.tail, self.hidden, self.heuristic, self.pick = k, tail, hidden, heuristic, pick
        self.objective, self.size_feature, self.update_every, self.steps = objective, size_feature, update_every, steps
        self.label_stride = label_stride
        self.batch, self.lr, self.buffer, self.pending, self.min_updates = batch, float(lr), buffer, pending, min_updates
        self.ghost_factor, self.time_unit, self.edc_base, self.model = ghost_factor, time_unit, float(edc_base), model
        self._state = None  # the HALPState of the last run (and its two parts, for Python)
        self._learner: LearnerState | None = None
        self._heur: Any = None

    def hooks(self) -> tuple[Any, Any, Any, Any]:
        if hx.built_in(HEURISTICS[self.heuristic]):
            return super().hooks()
        return uncached(_on_hit), uncached(_admit), uncached(_evict), uncached(_on_insert)  # see base.uncached

    def forget_hook(self) -> Any:
        return super().forget_hook() if hx.built_in(HEURISTICS[self.heuristic]) else uncached(_forget)

    def admits_every_miss(self) -> bool:
        return HEURISTICS[self.heuristic]().admits_every_miss()  # S3-FIFO refuses objects above small's share

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
        cfg = np.zeros(15, dtype=np.int64)
        cfg[[K, TAIL, MIN_UPDATES, OBJ_MISS, USE_SIZE, UPDATE_EVERY, STEPS, PICK, CAPACITY, GHOST_FACTOR, LOADED]] = [
            self.k, self.tail, self.min_updates, int(self.objective == "object"), int(self.size_feature),
            self.update_every, self.steps, PICKS[self.pick], ctx.capacity, self.ghost_factor, int(bool(self.model)),
        ]
        cfg[SECONDS] = int(self.time_unit == "seconds")
        cfg[STRIDE] = self.label_stride
        # per-request times only when time is trace seconds; otherwise the request index is the time
        # (a clock that never goes back: logged traces can be out of order, and a negative age
        # would blow up the exponential decays of the features)
        times = np.maximum.accumulate(ctx.time.astype(np.float64)) if self.time_unit == "seconds" \
            else np.zeros(1, dtype=np.float64)
        ghost = (*linked_list(n_meta), np.zeros(n_meta, dtype=np.bool_), np.zeros(1, dtype=np.int64))
        learner = LearnerState(
            fx.new_features(n_meta, extra.shape[1], self.edc_base),
            px.new_pairs(n_meta, self.pending if learning else 1),
            tx.new_trainer(self.buffer if learning else 1, f, self.hidden, self.batch, history),
            model,
            new_rng(self.seed),
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
        heuristic = HEURISTICS[self.heuristic](seed=self.seed, capacity=ctx.capacity, tail=self.tail)
        self._learner, self._heur = learner, heuristic.new_state(n)
        cand = (np.zeros(self.tail, dtype=np.int64), np.zeros(self.tail, dtype=np.int64))  # listed, chosen
        self._state = HALPState(learner, self._heur, cand)
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
        """The default's copy, field by field (the learner's fields through one njit getter, the
        heuristic's through its ``fields()``). ``state`` must be this policy's last one."""
        if state is not self._state:
            raise AssertionError("halp: grow_state of a state this policy did not make last")
        old_learner, old_heur = self._learner, self._heur
        fresh = self.init_state(ctx)
        copy_state(_learner_fields(old_learner), _learner_fields(self._learner))
        copy_state(old_heur.fields(), self._heur.fields())
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
        stats, meta, tmeta, hist = _counters_of(self._learner)
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
