"""LIRS: a trace worked out by hand, and request-by-request agreement with libCacheSim's ``LIRS``
(shipped-trace miss ratios: test_libcachesim_crosscheck.py)."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.policies import make_policy
from feedlearn.cache.policies.lirs import HIR_BYTES, IN_Q, LIR_BYTES, S_BYTES
from feedlearn.common.errors import FeedlearnError
from tests.cache.conftest import simulated
from tests.cache.libcachesim_ref import libcachesim_hits
from tests.cache.policies.replay import replay

A, B, C, D, E, F, G, H, I, J = range(1, 11)  # noqa: E741 (I is the ninth object)
# capacity 8 (unit sizes), hirs_ratio=0.25: HIR limit 2, LIR limit 6. Stacks bottom -> top.
#  1-6 A..F  LIR while the LIR limit allows: S=[A B C D E F]
#  7-8 G H   HIR: S=[A..F G H], Q=[G H]
#  9 G  hit, resident HIR in S -> LIR (leaves Q); A (S's bottom) is demoted: Q=[H A]; S=[B..F H G]
# 10 I  miss, LIR and Q full: Q's bottom H is evicted (non-resident in S: NH=[H]). Q=[A I]
# 11 H  miss, non-resident HIR in S -> LIR: B demoted, Q full so A is evicted (not in S any more);
#       Q=[I B], NH=[]; S=[C D E F G I H]
# 12 A  miss, new: I evicted (NH=[I]); A -> HIR: Q=[B A], S=[C..G I H A]
# 13 C  hit (LIR): to S's top; S's bottom D is LIR, nothing pruned
# 14 B  hit, resident HIR only in Q: re-enters S as HIR, but libCacheSim first makes LIR room for it:
#       D demoted to Q, whose bottom A is evicted -- on a hit (NH=[I A]). LIR is now C E F G H
#       (5 bytes): Q=[B D]
# 15 J  miss: 7 objects cached, no eviction; J -> LIR (the freed LIR byte)
# 16 A  miss, non-resident in S -> LIR: E demoted, B evicted (NH=[I B])
# 17 B  miss, the same: F demoted, D evicted (not in S)
# 18 E  hit, HIR only in Q: G demoted, F evicted on the hit; pruning drops I from S's bottom
# 19 F  miss, new: LIR has room (A B C H J): F -> LIR, no eviction
TRACE = [A, B, C, D, E, F, G, H, G, I, H, A, C, B, J, A, B, E, F]
HITS_AT = {9, 13, 14, 18}  # 1-based
VICTIMS = [H, A, I, A, B, D, F]  # the 4th and 7th on hits
HAND = "lirs(hirs_ratio=0.25)"


def test_hand_worked_trace():
    run = replay(TRACE, [1] * len(TRACE), 8, HAND)
    assert run.hits == [i + 1 in HITS_AT for i in range(len(TRACE))]
    assert run.hits == simulated(TRACE, [1] * len(TRACE), 8, HAND)
    assert run.victims == [run.dense[v] for v in VICTIMS]
    in_s, lir, qwhere, sc = run.state[10], run.state[11], run.state[14], run.state[16]
    assert {o for o in TRACE if in_s[run.dense[o]] and lir[run.dense[o]]} == {A, B, C, F, H, J}
    assert {o for o in TRACE if qwhere[run.dense[o]] == IN_Q} == {E, G}
    assert sc[LIR_BYTES] == 6 and sc[HIR_BYTES] == 2


def test_object_above_the_hir_limit_is_refused():
    # capacity 400: HIR limit 4 bytes; a 5-byte object is refused, a 4-byte one admitted
    ids, sizes = [1, 2, 2, 3, 3], [5, 5, 5, 4, 4]
    assert simulated(ids, sizes, 400, "lirs") == [False, False, False, False, True]
    assert simulated(ids, sizes, 400, "lirs") == libcachesim_hits("lirs", ids, sizes, 400)


@pytest.mark.parametrize("seed", range(8))
def test_matches_libcachesim_request_by_request(seed):
    # capacities of 200+ so that libCacheSim's HIR part has 2+ bytes (with 1, a hit in Q can evict
    # the object it is promoting, a use-after-free there); odd seeds with sizes
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.2, 3000) % 600 + 1).tolist()
    size_of = rng.integers(1, 4, 601)
    sizes = [int(size_of[o]) for o in ids] if seed % 2 else [1] * len(ids)
    capacity = 200 + 40 * seed
    assert simulated(ids, sizes, capacity, "lirs") == libcachesim_hits("lirs", ids, sizes, capacity)


def test_params_round_trip_and_validation():
    pol = make_policy(HAND)
    assert pol.params() == {"hirs_ratio": 0.25}
    assert make_policy(pol.describe()).params() == pol.params()
    for bad in ("hirs_ratio=0", "hirs_ratio=1", "hirs_ratio=nan", "hirs_ratio=abc"):
        with pytest.raises(FeedlearnError, match="lirs"):
            make_policy(f"lirs({bad})")


def test_forget_drops_a_non_resident_entry():
    # the hand-worked trace up to request 12: I was just evicted, a non-resident HIR in S and in NH
    run = replay(TRACE[:12], [1] * 12, 8, HAND)
    in_s, in_nh, sc = run.state[10], run.state[13], run.state[16]
    i = run.dense[I]
    s_bytes = int(sc[S_BYTES])
    assert in_s[i] and in_nh[i] and not run.state[12][i]
    type(make_policy(HAND)).forget(run.state, i)
    assert not in_s[i] and not in_nh[i] and sc[S_BYTES] == s_bytes - 1
    assert run.state[9].tolist() == [-1, -1]  # NH is empty
