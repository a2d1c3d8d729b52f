"""LeCaR: a trace worked out by hand (with libCacheSim's random draws), and request-by-request
agreement with libCacheSim's ``LeCaR`` (shipped-trace miss ratios: test_libcachesim_crosscheck.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.lecar import G_LFU, G_LRU, W_LFU, W_LRU
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import simulated
from tests.cache.libcachesim_ref import libcachesim_hits
from tests.cache.policies.replay import replay

A, B, C, D, E, F, G = range(1, 8)
# capacity 3 (unit sizes): dr = 0.005 ** (1/3). LRU listed oldest -> newest; LFU = (freq, since).
# The generator's draws (next_rand() % 100 / 100, fresh thread): 0.97, 0.82, 0.21, 0.32, ...
#  1-3 A B C  miss          4 A hit (freq 2)
#  5 D  miss  LRU's and LFU's victim are both B: evicted, no draw, no history
#  6 B  miss  both name C: evicted the same way        7 A hit (3)     8 D hit (2)
#  9 E  miss  both name B                            LRU [A D E]
# 10 F  miss  LRU names A, LFU names E (freq 1): draw 0.97 >= w_lru 0.5 -> LFU: E, history_lfu=[E]
# 11 E  miss  in LFU's history, evicted 1 request ago: w_lfu *= exp(-0.45 dr), renormalised
#             (w_lru 0.519); then A vs F: draw 0.82 -> LFU: F
# 12 G  miss  A vs E: draw 0.21 < 0.519 -> LRU: A, history_lru=[A]
# 13 A  miss  in LRU's history (1 request ago): w_lru pays the same, back to 0.5;
#             D vs E: draw 0.32 -> LRU: D (history_lru=[D], one unit: capacity // 2 bytes)
# 14 E  hit
TRACE = [A, B, C, A, D, B, A, D, E, F, E, G, A, E]
HITS_AT = {4, 7, 8, 14}  # 1-based
VICTIMS = [B, C, B, E, F, A, D]


def _regret(wrong: float, other: float, t: int, dr: float) -> tuple[float, float]:
    wrong = wrong * math.exp(-0.45 * dr ** t) + 1e-10
    s = wrong + other + 2e-10
    return wrong / s, (other + 1e-10) / s


def test_hand_worked_trace():
    run = replay(TRACE, [1] * len(TRACE), 3, "lecar")
    assert run.hits == [i + 1 in HITS_AT for i in range(len(TRACE))]
    assert run.victims == [run.dense[v] for v in VICTIMS]
    dr = 0.005 ** (1 / 3)
    w_lfu, w_lru = _regret(0.5, 0.5, 1, dr)  # request 11
    w_lru, w_lfu = _regret(w_lru, w_lfu, 1, dr)  # request 13
    fv, where = run.state[10], run.state[7]
    assert (fv[W_LRU], fv[W_LFU]) == (w_lru, w_lfu)
    assert where[run.dense[D]] == G_LRU and where[run.dense[F]] == G_LFU
    assert run.hits == libcachesim_hits("lecar", TRACE, [1] * len(TRACE), 3)


@pytest.mark.parametrize("seed", range(6))
def test_matches_libcachesim_request_by_request(seed):
    # odd seeds with sizes; seeds 2-3 with fixed weights favouring LRU
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, 3000) % 400 + 1).tolist()
    size_of = rng.integers(1, 20, 401)
    sizes = [int(size_of[o]) for o in ids] if seed % 2 else [1] * len(ids)
    spec, ref = ("lecar(update_weight=false,lru_weight=0.8)", {"update_weight": False, "lru_weight": 0.8}) \
        if seed in (2, 3) else ("lecar", {})
    capacity = (60 + 20 * seed) * (10 if seed % 2 else 1)
    assert simulated(ids, sizes, capacity, spec) == libcachesim_hits("lecar", ids, sizes, capacity, **ref)


def test_params_round_trip_and_validation():
    pol = make_policy("lecar(update_weight=false,lru_weight=0.8)")
    assert pol.params() == {"update_weight": False, "lru_weight": 0.8}
    assert make_policy(pol.describe()).params() == pol.params()
    for bad in ("lru_weight=1.5", "lru_weight=-0.1", "lru_weight=nan", "update_weight=2"):
        with pytest.raises(FeedlearnError, match="lecar"):
            make_policy(f"lecar({bad})")
