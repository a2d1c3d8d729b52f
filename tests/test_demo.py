"""The demo's bargain and learned-eviction parts, and its part selection, in process. The other parts run
in ``tests/test_wheel.py``: ``feedlearn demo --quick --parts ...`` from the installed wheel prints each of
them (the recipe's table, ZeRO++'s byte ratio, the self-play table), so they are not run twice."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from feedlearn import demo
from feedlearn.cache.policies import make_policy
from feedlearn.common.errors import FeedlearnError


def test_bargain_demo_shows_feedback_moving_the_price(tmp_path):
    out = io.StringIO()
    rows = demo.bargain_demo(Console(file=out, width=200), tmp_path, runs=20)
    assert list(rows) == ["ai", "none", "random"]
    assert rows["ai"][2]["mean_price"] > rows["none"][2]["mean_price"]
    assert "mean deal price (deal success)" in out.getvalue() and (tmp_path / "bargain" / "bargain.png").exists()


def test_learned_demo_shows_every_learned_policy_and_halps_learning(tmp_path):
    out = io.StringIO()
    # in this process (jobs=1): the policies' compiled code is loaded once per process, ~4 s for HALP or LRB
    demo.learned_demo(Console(file=out, width=200), tmp_path, n_requests=5000, jobs=1)
    text = out.getvalue()
    assert "HALP trains its model online" in text
    for policy in demo.LEARNED:  # every learned policy's row (the full demo's list; --quick's is a subset)
        assert make_policy(policy).describe() in text, policy
    assert set(demo.QUICK.learned) <= set(demo.LEARNED)
    for made in ("learned.json", "halp_timeline.png"):
        assert (tmp_path / made).stat().st_size > 0, made


def test_unknown_demo_parts_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(FeedlearnError, match="unknown demo part 'cach'; choose from cache, learned, tune, dist, bargain"):
        demo.run_demo(tmp_path, demo.QUICK, parts=("cach",))
    with pytest.raises(FeedlearnError, match="no demo part given"):
        demo.run_demo(tmp_path, demo.QUICK, parts=())
    assert not any(tmp_path.iterdir())

