"""HALP end to end: tournament, fallbacks, learning a pattern LRU cannot, determinism, warm start."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from numba import njit

from feedlearn.cache.core.policy import SimContext
from feedlearn.cache.halp import features as fx
from feedlearn.cache.halp import model as mlp
from feedlearn.cache.halp import pairs as px
from feedlearn.cache.halp.policy import HALP
from feedlearn.cache.policies import make_policy
from feedlearn.cache.simulator import PreparedTrace, run_policy, simulate
from feedlearn.cache.traces import Trace, zipf_trace
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import checked_run, class_trace, make_trace, periodic_trace

NEVER = 10**9  # an update interval that is never reached: no training


def size_model(tmp_path, sign: float):
    """A saved model whose score is ``sign * log1p(size) / 10`` (relu keeps it for sign > 0)."""
    net = torch.nn.Sequential(torch.nn.Linear(fx.N_BASE, 1), torch.nn.ReLU(), torch.nn.Linear(1, 1))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.zero_()
        net[0].weight[0, fx.N_BASE - 1] = 1.0  # the log-size feature
        net[2].weight.fill_(sign)
        net[2].bias.zero_()
    return mlp.save_model(mlp.from_torch(net), tmp_path / f"size{sign:+}.npz")


def test_tournament_follows_the_model(tmp_path):
    # 4 objects of sizes 4, 3, 2, 1 fill a 10-byte cache; k = tail = 4: every resident is a candidate.
    # Score = +log size: the smallest object is predicted to come back last and is evicted first,
    # whatever LRU says. 5 (4 B) needs 4 free bytes: evict 1 (9 used), 2 (7 used), 3 (4 used).
    # 4, the LRU tail and the largest, survives and hits.
    trace = make_trace([4, 3, 2, 1, 5, 4], sizes=[4, 3, 2, 1, 4, 4])
    spec = "halp(k=4,tail=4,hidden=1,model={},update_every=" + str(NEVER) + ")"
    policy = make_policy(spec.format(size_model(tmp_path, 1.0)))
    hits = run_policy(PreparedTrace.of(trace), policy, 10)
    assert hits.tolist() == [False, False, False, False, False, True]  # 4 (the largest) survived
    d = policy.diagnostics()
    assert d["evictions"] == 3 and d["model_decisions"] == 3
    assert d["pairs_created"] == 3 + 2 + 1  # k-1 comparisons per eviction, fewer as the cache empties
    # score = -1 * relu(log size) ... with sign -1 the relu output is still log size >= 0, so the
    # largest object scores lowest and goes first: 4 (4 B) is evicted and misses at the end
    flipped = run_policy(PreparedTrace.of(trace), make_policy(spec.format(size_model(tmp_path, -1.0))), 10)
    assert flipped.tolist() == [False] * 6


def test_untrained_model_falls_back_to_the_heuristic():
    trace = zipf_trace(5_000, 400, 0.9, seed=2)
    prepared = PreparedTrace.of(trace)
    learning = make_policy(f"halp(update_every={NEVER})")
    heuristic = make_policy("halp(pick=heuristic)")
    assert np.array_equal(run_policy(prepared, learning, 50), run_policy(prepared, heuristic, 50))
    d = learning.diagnostics()
    assert d["fallback_untrained"] == d["evictions"] > 0 and d["model_decisions"] == 0


def test_non_finite_scores_fall_back_to_the_heuristic(tmp_path, monkeypatch):
    net = torch.nn.Sequential(torch.nn.Linear(fx.N_BASE, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        net[2].bias.fill_(float("nan"))
    # A model file with NaN weights is refused on load (tests/cache/test_bad_inputs.py); a model can
    # still diverge while it trains, so the policy is handed the NaN model directly.
    path = tmp_path / "nan.npz"
    monkeypatch.setattr(mlp, "load_model", lambda *args: mlp.from_torch(net))
    prepared = PreparedTrace.of(zipf_trace(3_000, 300, 0.9, seed=3))
    policy = make_policy(f"halp(hidden=4,model={path},update_every={NEVER})")
    hits = run_policy(prepared, policy, 40)
    assert np.array_equal(hits, run_policy(prepared, make_policy("halp(pick=heuristic)"), 40))
    d = policy.diagnostics()
    assert d["fallback_nonfinite"] == d["evictions"] > 0


def test_halp_learns_a_periodic_pattern_that_lru_cannot():
    # 200 objects recur every ~1000 requests among one-hit objects; 300 slots. LRU's reuse distance
    # is too long (hit ratio ~0.01); HALP learns that objects with past gaps return and one-hit
    # objects do not, and keeps the recurring ones among its candidates.
    prepared = PreparedTrace.of(periodic_trace(60))
    lru = 1 - simulate(prepared, "lru", 300).object_miss_ratio
    halp = simulate(prepared, "halp(tail=300,k=8)", 300)
    assert lru < 0.02
    assert 1 - halp.object_miss_ratio > lru + 0.08
    assert halp.diagnostics["decision_accuracy"] > 0.6


def test_request_features_let_halp_tell_classes_apart():
    trace = class_trace()
    with_class = PreparedTrace.of(trace)
    without = PreparedTrace.of(Trace(trace.name, trace.time, trace.obj_id, trace.size))
    lru = 1 - simulate(with_class, "lru", 150).object_miss_ratio
    blind = 1 - simulate(without, "halp", 150).object_miss_ratio
    informed = simulate(with_class, "halp", 150)
    # history alone tells a little (an object that came back once is done: measured 0.157 vs LRU
    # 0.002); the class column tells much more (measured 0.330)
    assert 1 - informed.object_miss_ratio > blind + 0.1 and blind > lru
    assert informed.diagnostics["decision_accuracy"] > 0.9
    baseline = "halp(pick=heuristic)"  # no model: the feature cannot change a thing
    assert simulate(with_class, baseline, 150).hits == simulate(without, baseline, 150).hits


def test_labels_sparser_than_updates_wait_for_a_row():
    # one label in 1000 reaches the buffer, an update is due every 16: updates wait for rows
    prepared = PreparedTrace.of(zipf_trace(20_000, 2_000, 0.8, seed=4))
    pol = make_policy("halp(label_stride=1000,update_every=16)")
    run_policy(prepared, pol, 200)
    d = pol.diagnostics()
    assert 0 < d["updates"] and d["pairs_labelled"] >= 1000


def test_same_seed_same_result_and_seed_matters():
    prepared = PreparedTrace.of(zipf_trace(20_000, 2_000, 0.8, seed=4))
    a = run_policy(prepared, make_policy("halp", seed=1), 200)
    b = run_policy(prepared, make_policy("halp", seed=1), 200)
    c = run_policy(prepared, make_policy("halp", seed=2), 200)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_save_and_warm_start(tmp_path):
    prepared = PreparedTrace.of(periodic_trace(20))
    first = make_policy("halp(tail=300,k=8)")
    run_policy(prepared, first, 300)
    path = first.save_model(tmp_path / "halp.npz")
    assert np.array_equal(mlp.load_model(path, fx.N_BASE, 32)[0], first.learned_model()[0])
    warm = make_policy(f"halp(tail=300,k=8,model={path})")
    run_policy(prepared, warm, 300)
    d = warm.diagnostics()
    assert d["fallback_untrained"] == 0 and d["model_decisions"] == d["evictions"]
    with pytest.raises(FeedlearnError, match="no run yet"):
        HALP().save_model(tmp_path / "x.npz")


@pytest.mark.parametrize("heuristic", ["fifo", "gdsf", "sample", "s3fifo"])
def test_other_heuristics_keep_the_loop_invariants(heuristic):
    rng = np.random.default_rng(5)
    trace = make_trace(rng.zipf(1.1, 1500) % 120, rng.integers(1, 30, 1500))
    hits = run_policy(PreparedTrace.of(trace), make_policy(f"halp(heuristic={heuristic})", seed=5), 300, seed=5)
    assert hits.tolist() == checked_run(trace, f"halp(heuristic={heuristic})", 300, seed=5)


def test_pick_heuristic_with_k_equal_tail_is_the_heuristic_itself():
    # every resident among the candidates and the heuristic's pick = its lowest priority: exactly LRU
    prepared = PreparedTrace.of(zipf_trace(5_000, 500, 0.9, seed=6))
    lru = run_policy(prepared, make_policy("lru"), 4)
    assert np.array_equal(run_policy(prepared, make_policy("halp(pick=heuristic,k=4,tail=4)"), 4), lru)


@pytest.mark.parametrize("pick", ["random", "model"])
def test_lru_candidates_always_come_from_the_lru_tail(pick):
    """Drawn from the access log's region, every victim is among the ``tail`` least recent."""
    rng = np.random.default_rng(11)
    trace = make_trace(rng.zipf(1.2, 6000) % 300, np.ones(6000, dtype=np.int64))
    prepared = PreparedTrace.of(trace)
    tail, capacity = 24, 80
    pol = make_policy(f"halp(pick={pick},k=4,tail={tail},update_every=64,min_updates=1)", seed=3)
    ctx = SimContext(prepared.n_objects, capacity, prepared.obj, prepared.size, trace.time, None, 3)
    state = pol.init_state(ctx)
    on_hit, admit, evict, on_insert = pol.hooks()
    order: OrderedDict[int, None] = OrderedDict()  # least recent first
    ranks = []
    for i, o in enumerate(prepared.obj.tolist()):
        if o in order:
            on_hit(state, o, 1, i)
            order.move_to_end(o)
            continue
        assert admit(state, o, 1, i)
        if len(order) >= capacity:
            victim = int(evict(state, o, 1, i))
            ranks.append(list(order).index(victim))
            del order[victim]
        on_insert(state, o, 1, i)
        order[o] = None
    assert len(ranks) > 1500 and max(ranks) < tail
    assert len(set(ranks)) > tail // 2  # and not always the same few positions


def test_object_objective_prefers_evicting_large_objects(tmp_path):
    # a model that scores every object the same: the byte objective keeps the heuristic's order,
    # the object objective subtracts log(size), so the largest candidate goes first
    net = torch.nn.Sequential(torch.nn.Linear(fx.N_BASE, 1), torch.nn.ReLU(), torch.nn.Linear(1, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()  # score 0 for every object
    path = mlp.save_model(mlp.from_torch(net), tmp_path / "flat.npz")
    trace = make_trace([1, 2, 3, 9, 1, 2], sizes=[1, 5, 1, 1, 1, 5])
    spec = f"halp(k=3,tail=3,hidden=1,model={path},update_every={NEVER}"
    byte = run_policy(PreparedTrace.of(trace), make_policy(spec + ")"), 7)
    obj = run_policy(PreparedTrace.of(trace), make_policy(spec + ",objective=object)"), 7)
    # 7 bytes hold 1 (1 B), 2 (5 B), 3 (1 B); 9 (1 B) needs one eviction among all three.
    # byte: equal scores keep LRU's choice: 9 evicts 1; 1 misses and evicts 2 (now LRU); 2 misses
    assert byte.tolist() == [False] * 6
    # object: evicts 2 (5 B, the largest) -> 1 hits, 2 misses
    assert obj.tolist() == [False, False, False, False, True, False]


def test_bad_parameters():
    for spec in ("halp(k=1)", "halp(k=8,tail=4)", "halp(heuristic=lfu)", "halp(pick=best)", "halp(objective=cost)",
                 "halp(time_unit=hours)", "halp(hidden=0)", "halp(lr=-1)"):
        with pytest.raises(FeedlearnError, match="halp"):
            make_policy(spec)


def test_time_in_seconds_uses_trace_time():
    trace = zipf_trace(3_000, 300, 0.9, seed=7)
    ctx_ok = make_policy("halp(time_unit=seconds,edc_base=1.0)")
    prepared = PreparedTrace.of(trace)
    hits = run_policy(prepared, ctx_ok, 30)
    assert hits.sum() > 0


@njit
def _pending_of(st, o):
    return px.pending_count(st.learner.pairs, o), st.learner.tracked[o]


def test_forget_drops_what_halp_remembers_about_an_object():
    prepared = PreparedTrace.of(periodic_trace(3))
    policy = make_policy("halp(tail=300,k=8)")
    run_policy(prepared, policy, 300)
    state = policy._state
    remembered = [o for o in range(prepared.n_objects) if _pending_of(state, o)[0] > 0]
    assert remembered
    o = remembered[0]
    HALP.forget(state, o)
    assert _pending_of(state, o) == (0, False)
