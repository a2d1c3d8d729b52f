"""Feature updates worked out by hand: gaps, decayed counters, counts, age, size."""

from __future__ import annotations

import numpy as np
import pytest

from feedlearn.cache.halp import features as fx


def test_record_access_and_vector_by_hand():
    feat = fx.new_features(2, 1, edc_base=4.0)  # half-lives 4, 8, 16, ... (time units)
    none = np.zeros(1, dtype=np.float32)
    fx.record_access(feat, 1, 0.0, 100.0, none)
    fx.record_access(feat, 1, 10.0, 100.0, none)
    fx.record_access(feat, 1, 30.0, 300.0, np.array([7.5], dtype=np.float32))
    rows, extra, half_lives, _ = feat
    row = rows[1]
    assert half_lives[:3].tolist() == [4.0, 8.0, 16.0]
    assert (row[fx.COUNT], row[fx.LAST], row[fx.SUM_GAP], row[fx.SIZE]) == (3, 30.0, 30.0, 300.0)
    assert (fx.access_count(feat, 1), fx.last_access(feat, 1), fx.size_of(feat, 1)) == (3, 30.0, 300.0)
    assert not rows[0].any()  # another object's row is untouched
    # EDC_k: 1 at t=0; at t=10: 1 + 1 * 2^(-10/h); at t=30: 1 + (1 + 2^(-10/h)) * 2^(-20/h)
    for k, h in enumerate(half_lives):
        assert row[fx.EDC + k] == pytest.approx(1 + (1 + 2 ** (-10 / h)) * 2 ** (-20 / h), rel=1e-12)
    out = np.zeros(fx.N_BASE + 1, dtype=np.float32)
    fx.write_vector(feat, 1, 40.0, True, out)
    scale = 0.1
    # gaps newest first: 20 then 10, the other 30 slots missing (-1)
    assert out[0] == pytest.approx(np.log1p(20) * scale, rel=1e-6)
    assert out[1] == pytest.approx(np.log1p(10) * scale, rel=1e-6)
    assert np.all(out[2:32] == -1.0)
    # EDCs decayed to t=40 (age 10)
    for k, h in enumerate(half_lives):
        expected = np.log1p((1 + (1 + 2 ** (-10 / h)) * 2 ** (-20 / h)) * 2 ** (-10 / h)) * scale
        assert out[32 + k] == pytest.approx(expected, rel=1e-5)
    assert out[42] == pytest.approx(np.log1p(3) * scale, rel=1e-6)  # access count
    assert out[43] == pytest.approx(np.log1p(15) * scale, rel=1e-6)  # mean gap (10 + 20) / 2
    assert out[44] == pytest.approx(np.log1p(10) * scale, rel=1e-6)  # age
    assert out[45] == pytest.approx(np.log1p(300) * scale, rel=1e-6)  # latest size
    assert out[46] == 7.5  # request-supplied feature, as given
    fx.write_vector(feat, 1, 40.0, False, out)
    assert out[45] == 0.0  # size features switched off


def test_first_access_and_forget():
    feat = fx.new_features(1, 0, edc_base=512.0)
    none = np.zeros(0, dtype=np.float32)
    fx.record_access(feat, 0, 5.0, 10.0, none)
    out = np.zeros(fx.N_BASE, dtype=np.float32)
    fx.write_vector(feat, 0, 5.0, True, out)
    assert np.all(out[:32] == -1.0) and out[43] == -1.0  # no gap, no mean gap yet
    assert np.allclose(out[32:42], np.log1p(1.0) * 0.1)  # every EDC starts at 1, age 0
    assert fx.has_metadata(feat, 0)
    fx.record_access(feat, 0, 9.0, 10.0, none)
    before = np.zeros(fx.N_BASE, dtype=np.float32)
    fx.write_vector(feat, 0, 12.0, True, before)
    fx.forget(feat, 0)
    fx.forget(feat, 0)  # twice is once
    assert not fx.has_metadata(feat, 0) and fx.access_count(feat, 0) == 0
    # the row still describes the last access (pending pairs read it)
    fx.write_vector(feat, 0, 12.0, True, out)
    assert np.array_equal(out, before)
    fx.record_access(feat, 0, 50.0, 10.0, none)  # starts afresh: no gap from t=9
    assert fx.access_count(feat, 0) == 1 and feat[fx.METADATA][0, fx.SUM_GAP] == 0.0


def test_halp_vector_is_the_static_one_with_the_age_at_t():
    feat = fx.new_features(1, 0, edc_base=4.0)
    none = np.zeros(0, dtype=np.float32)
    for t in (0.0, 3.0, 10.0):
        fx.record_access(feat, 0, t, 100.0, none)
    static, at_t, decayed = (np.zeros(fx.N_BASE, dtype=np.float32) for _ in range(3))
    fx.write_static(feat, 0, True, static)
    fx.write_halp(feat, 0, 30.0, True, at_t)
    fx.write_vector(feat, 0, 10.0, True, decayed)
    assert np.array_equal(static, decayed)  # as of the last access: age 0, EDCs undecayed
    assert static[fx.AGE] == 0.0
    assert at_t[fx.AGE] == np.float32(np.log1p(20.0)) * fx.SCALE
    assert np.array_equal(np.delete(at_t, fx.AGE), np.delete(static, fx.AGE))


def test_gap_ring_keeps_the_latest_32():
    feat = fx.new_features(1, 0, edc_base=512.0)
    none = np.zeros(0, dtype=np.float32)
    t = 0.0
    for gap in range(1, 41):  # 40 gaps of 1, 2, ..., 40
        fx.record_access(feat, 0, t, 1.0, none)
        t += gap
    fx.record_access(feat, 0, t, 1.0, none)
    out = np.zeros(fx.N_BASE, dtype=np.float32)
    fx.write_vector(feat, 0, t, True, out)
    expected = [np.log1p(g) * 0.1 for g in range(40, 8, -1)]  # newest first: 40 down to 9
    assert np.allclose(out[:32], expected, rtol=1e-6)


def test_static_vector_kept_ready_equals_the_vector_rebuilt_at_the_last_access():
    """The kept static row must be what ``write_vector`` computes at the last access, through more
    accesses than the 32 gap slots, a forget, a fresh start, and with size features off."""
    rng = np.random.default_rng(3)
    feat = fx.new_features(3, 2, edc_base=8.0)
    t = 0.0
    kept, rebuilt = (np.zeros(fx.N_BASE + 2, dtype=np.float32) for _ in range(2))
    for step in range(120):
        o = int(rng.integers(3))
        t += float(rng.exponential(20.0))
        fx.record_access(feat, o, t, float(rng.integers(1, 10**6)), rng.random(2).astype(np.float32))
        if step == 60:
            fx.forget(feat, o)
        for use_size in (True, False):
            for other in range(3):
                if fx.access_count(feat, other) == 0 and feat[fx.METADATA][other, fx.COUNT] == 0:
                    continue  # never requested yet
                fx.write_static(feat, other, use_size, kept)
                fx.write_vector(feat, other, fx.last_access(feat, other), use_size, rebuilt)
                assert np.array_equal(kept, rebuilt), (step, other, use_size)
    assert fx.access_count(feat, 0) > 32  # the gap window did wrap
