"""``bargain report`` on a self-play folder: the arms compared in the paper's terms, on hand-made runs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from feedlearn.bargain.cli import bargain_app
from feedlearn.bargain.compare import arm, comparison, markdown, price_at_success, target
from feedlearn.bargain.experiment import ExperimentConfig
from feedlearn.common.errors import FeedlearnError

OPEN = [["seller", "This is a good balloon and its price is $20."], ["buyer", "Would you consider selling it for $10?"]]


def _round(price):
    deal = price is not None
    turns = OPEN + [["seller", f"I can do ${price}."], ["buyer", "Deal!"]] if deal else OPEN
    return {"success": deal, "deal": deal, "price": price, "feedback": None, "turns": len(turns),
            "reply_chars": {"seller": 16.0, "buyer": 5.0}, "game": {"turns": turns, "deal": deal, "price": price,
                                                                    "valid": deal}}


def _experiment(folder, prices_per_run, rounds, feedback):
    """A finished experiment written by hand: each run's prices, a run ending at its first None."""
    folder.mkdir()
    (folder / "config.json").write_text(ExperimentConfig(runs=len(prices_per_run), rounds=rounds,
                                                         feedback=feedback).model_dump_json())
    rows = [{"run": i, "seed": i, "rounds": [_round(p) for p in prices]} for i, prices in enumerate(prices_per_run)]
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def selfplay_dir(tmp_path):
    # untuned, with the critic's advice from round 2: success 0.75 -> 0.5 -> 0.25, price 15 -> 16.5 -> 18
    untuned = _experiment(tmp_path / "eval-0", [[15, 17, 18], [14, 16, None], [16, None], [None]], 3, "ai")
    tuned = _experiment(tmp_path / "eval-1", [[18], [18], [17], [None]], 1, "none")  # 0.75 at 17.67
    arms = [arm("untuned", "m0", "ai", untuned), arm("tuned round 1", "m1", "none", tuned)]
    (tmp_path / "selfplay.json").write_text(json.dumps({"method": "raft", "arms": arms,
                                                        "target": target(arms, 3)}))
    return tmp_path


def test_arms_and_the_target(selfplay_dir):
    arms = json.loads((selfplay_dir / "selfplay.json").read_text())["arms"]
    assert [(r["success"], r["mean_price"]) for r in arms[0]["rounds"]] == [(0.75, 15), (0.5, 16.5), (0.25, 18)]
    assert arms[1]["rounds"] == [{"round": 1, "success": 0.75, "mean_price": pytest.approx(53 / 3)}]
    # after two lessons the untuned seller gets $18 in a quarter of its runs: the tuned one, $17.67, not
    assert target(arms, 3) == {"arm": "tuned round 1", "price": pytest.approx(53 / 3), "success": 0.75, "round": 3,
                               "reference_price": 18, "reference_success": 0.25, "met": False}
    assert target(arms, 2)["met"] and target(arms, 1)["met"]  # $17.67 at 0.75 beats $16.50 at 0.5 and $15 at 0.75
    assert target(arms, 4) is None and target([arms[0]], 3) is None  # no such round; no tuned arm


def test_price_at_equal_success():
    assert price_at_success([15, 14, 16], 4, 0.25) == 16  # the best deal of four runs
    assert price_at_success([15, 14, 16], 4, 0.5) == 15.5
    assert price_at_success([18], 4, 0.5) is None  # fewer deals than the level asks for
    assert price_at_success([12], 3, 0.1) == 12  # at least one


def test_comparison_rows_and_markdown(selfplay_dir):
    result = comparison(selfplay_dir)
    assert result["level"] == 0.25  # the least successful row: untuned round 3
    assert [(r["arm"], r["round"], r["lessons"], r["success"], r["price_at_level"]) for r in result["rows"]] == [
        ("untuned", 1, 0, 0.75, 16), ("untuned", 2, 1, 0.5, 17), ("untuned", 3, 2, 0.25, 18),
        ("tuned round 1", 1, 0, 0.75, 18)]
    assert markdown(result).splitlines()[2:7] == [
        "| untuned, round 1 | none | 4 | 0.75 | 15.00 | 0.82 | 16.00 | 16 |",
        "| untuned, round 2 | AI feedback, 1 lesson | 4 | 0.50 | 16.50 | 0.50 | 17.00 | 16 |",
        "| untuned, round 3 | AI feedback, 2 lessons | 4 | 0.25 | 18.00 | 0.00 | 18.00 | 16 |",
        "| tuned round 1 | none | 4 | 0.75 | 17.67 | 0.47 | 18.00 | 16 |",
        ""]
    assert markdown(result).endswith("17.67 (0.75) vs 18.00 (0.25): NOT met\n")


def test_report_prints_a_selfplay_folder_as_plain_text(selfplay_dir, tmp_path):
    (selfplay_dir / "selfplay.json").write_text((selfplay_dir / "selfplay.json").read_text().replace(
        '"tuned round 1"', '"tuned round 1 \\u001b[31m[bold]x[/bold]"'))
    result = CliRunner().invoke(bargain_app, ["report", str(selfplay_dir), "--markdown", str(tmp_path / "c.md")])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "[bold]x[/bold]" in result.output  # no escape, markup shown as text
    assert "untuned, round 3" in result.output and "NOT met" in result.output
    assert (tmp_path / "c.md").read_text().startswith(f"## {selfplay_dir}\n\n| seller |")
    (selfplay_dir / "selfplay.json").write_text("{}")
    with pytest.raises(FeedlearnError, match=r"selfplay.json: not a self-play result \(KeyError"):
        comparison(selfplay_dir)
