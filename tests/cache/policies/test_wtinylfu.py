"""W-TinyLFU: a trace worked out by hand, libCacheSim's sketch hashes, and request-by-request
agreement with libCacheSim's ``WTinyLFU`` (shipped-trace miss ratios: test_libcachesim_crosscheck.py)."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.core import cbf
from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.wtinylfu import PROB_BYTES, PROT_BYTES, WIN_BYTES
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import simulated
from tests.cache.libcachesim_ref import libcachesim_hits
from tests.cache.policies.replay import replay

A, B, C, D, E, F, G, H, I, J, K, L = range(1, 13)  # noqa: E741 (I is the ninth object)
# capacity 10 (unit sizes), window_ratio=0.2: window 2, main 8 = probation 1 + protected 6 (+1 spare,
# int(8/5) + int(32/5)). Lists oldest -> newest; n(X) = sketch count (every insert and every time
# X is a window candidate adds 1; the filter's 116 counters are shared, yet for these 12 ids every
# estimate is the true count, which the test checks).
#  1-10 A..J  miss: the window takes all (it only shrinks by evictions)
# 11 K  full: window candidates A, B, ... go to main while it has room: A -> probation (fits its
#       share), B..G -> protected, H -> probation again (neither share fits, main does): P=[A H].
#       I: main full, duel with probation's oldest A: n(I)=1 < n(A)=2 -> I leaves. K -> window [J K]
# 12 I  miss: J (1) loses to A (2) and leaves; I -> window [K I], n(I)=3
# 13 A  hit in probation -> protected; protected (7 > 6) cools B to probation's head, probation
#       (2 > 1) evicts its oldest H -- an eviction on a hit. n(A)=3
# 14 J  miss, 9 cached: no eviction; window [K I J]
# 15 L  miss: K -> main (room; probation [B K]); I (3) beats B (2): B leaves, I -> probation [K I]
# 16 H  miss: J (3) beats K (2): K leaves, J -> probation [I J]; window [L H]
# 17 A  hit in protected
# 18 K  miss: L (1) loses to I (4) and leaves; window [H K]
TRACE = [A, B, C, D, E, F, G, H, I, J, K, I, A, J, L, H, A, K]
HITS_AT = {13, 17}  # 1-based
VICTIMS = [I, J, H, B, K, L]
HAND = "wtinylfu(window_ratio=0.2)"


def test_hand_worked_trace():
    run = replay(TRACE, [1] * len(TRACE), 10, HAND)
    assert run.hits == [i + 1 in HITS_AT for i in range(len(TRACE))]
    assert run.victims == [run.dense[v] for v in VICTIMS]
    pos, counts, sc = run.state[8], run.state[9], run.state[11]
    true_counts = {A: 4, B: 2, C: 2, D: 2, E: 2, F: 2, G: 2, H: 3, I: 4, J: 4, K: 3, L: 2}
    assert {o: int(cbf.estimate(pos, counts, run.dense[o])) for o in true_counts} == true_counts
    assert (sc[WIN_BYTES], sc[PROB_BYTES], sc[PROT_BYTES]) == (2, 2, 6)
    assert run.hits == simulated(TRACE, [1] * len(TRACE), 10, HAND)
    assert run.hits == libcachesim_hits("wtinylfu", TRACE, [1] * len(TRACE), 10, window_size=0.2)


def test_objects_above_the_window_are_refused():
    # capacity 500: window 5 bytes; 6 bytes is refused, 5 admitted
    ids, sizes = [1, 1, 2, 2], [6, 6, 5, 5]
    assert simulated(ids, sizes, 500, "wtinylfu") == [False, False, False, True]
    assert simulated(ids, sizes, 500, "wtinylfu") == libcachesim_hits("wtinylfu", ids, sizes, 500)


@pytest.mark.parametrize("seed", range(6))
def test_matches_libcachesim_request_by_request(seed):
    # odd seeds with sizes (up to the 1% window's bytes); seeds 2-3 with a 5% window
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, 3000) % 500 + 1).tolist()
    size_of = rng.integers(1, 4, 501)
    sizes = [int(size_of[o]) for o in ids] if seed % 2 else [1] * len(ids)
    spec, ref = ("wtinylfu(window_ratio=0.05)", {"window_size": 0.05}) if seed in (2, 3) else ("wtinylfu", {})
    capacity = 300 + 60 * seed
    assert simulated(ids, sizes, capacity, spec) == libcachesim_hits("wtinylfu", ids, sizes, capacity, **ref)


def test_params_round_trip_and_validation():
    pol = make_policy(HAND)
    assert pol.params() == {"window_ratio": 0.2}
    assert make_policy(pol.describe()).params() == pol.params()
    for bad in ("window_ratio=0", "window_ratio=1", "window_ratio=nan", "window_ratio=abc"):
        with pytest.raises(FeedlearnError, match="wtinylfu"):
            make_policy(f"wtinylfu({bad})")
