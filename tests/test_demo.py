"""The demo's learned-eviction section runs end to end on a small trace and prints every policy."""

from __future__ import annotations

import io

from rich.console import Console

from feedlearn import demo
from feedlearn.cache.policies import make_policy


def test_learned_demo_prints_every_policy(tmp_path):
    out = io.StringIO()
    demo.learned_demo(Console(file=out, width=200), tmp_path, n_requests=20_000)
    text = out.getvalue()
    for policy in demo.LEARNED:
        assert make_policy(policy).describe() in text
    assert (tmp_path / "learned.json").stat().st_size > 0
    assert (tmp_path / "halp_timeline.png").stat().st_size > 0


def test_tune_demo_runs_the_recipe_quickly(tmp_path):
    out = io.StringIO()
    result = demo.tune_demo(Console(file=out, width=200), tmp_path, ["steps_scale=0.01"])
    text = out.getvalue()
    assert [r["stage"] for r in result["rows"]] == ["base", "domain", "task", "instruction", "reward", "raft", "dpo",
                                                 "ppo"]
    assert "align win rate" in result["rows"][-1]
    assert "held-out metrics after each stage" in text and "chat: 'Please sort: 7 2 9 4' ->" in text
    assert (tmp_path / "tiny-4stage" / "recipe_summary.json").exists()


def test_dist_demo_compares_zero3_and_zeropp(tmp_path):
    out = io.StringIO()
    result = demo.dist_demo(Console(file=out, width=200), tmp_path, steps=2)
    assert list(result["strategies"]) == ["zero3", "qwz", "hpz", "qgz", "zeropp"]
    assert "ZeRO++ sends 0.21x ZeRO-3's bytes across nodes" in out.getvalue()
    assert (tmp_path / "dist_bench.json").stat().st_size > 0


def test_bargain_demo_shows_feedback_moving_the_price(tmp_path):
    out = io.StringIO()
    rows = demo.bargain_demo(Console(file=out, width=200), tmp_path, runs=20)
    assert list(rows) == ["ai", "none", "random"]
    assert rows["ai"][2]["mean_price"] > rows["none"][2]["mean_price"]
    assert "mean deal price (deal success)" in out.getvalue() and (tmp_path / "bargain" / "bargain.png").exists()
