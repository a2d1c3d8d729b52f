"""Multi-issue deals: terms parsed from the closing utterances, private notes, utilities by hand."""

from __future__ import annotations

import asyncio

import pytest

from feedlearn.bargain.game import play, system_message
from feedlearn.bargain.scenario import load_scenario
from feedlearn.bargain.terms import agreed_terms, utilities
from feedlearn.shipped import folder

LAPTOP = load_scenario(folder("scenarios") / "laptop-multi-issue.yaml")


def test_terms_from_the_closing_utterances():
    closing = ["Could you do $500 with delivery in 7 days?",
               "I can do $520 with delivery in 5 days and a 6-month warranty.", "Deal!"]
    assert agreed_terms(LAPTOP.terms, closing) == {"delivery": 5.0, "warranty": 6.0}  # newest mention wins
    assert agreed_terms(LAPTOP.terms, ["$480, deal."]) == {"delivery": 10.0, "warranty": 3.0}  # defaults


def test_utilities_by_hand():
    # seller: 520 - 300 + 5 * (5 - 10) - 10 * (6 - 3) = 165; buyer: 650 - 520 - 8 * (5 - 10) + 15 * (6 - 3) = 215
    assert utilities(LAPTOP, 520, {"delivery": 5, "warranty": 6}) == {"seller": 165, "buyer": 215}
    assert utilities(LAPTOP, 520, {"delivery": 10, "warranty": 3}) == {"seller": 220, "buyer": 130}


def test_each_side_sees_only_its_own_values():
    seller, buyer = system_message(LAPTOP, "seller")["content"], system_message(LAPTOP, "buyer")["content"]
    assert "$5 to you" in seller and "$10 to you" in seller and "$8" not in seller and "$15" not in seller
    assert "$8 to you" in buyer and "$15 to you" in buyer and "$5 to you" not in buyer


class Says:
    """A player that says its lines in order (a hand-written dialogue)."""

    name = "says"

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)

    async def complete(self, messages, params):
        return self.lines.pop(0)


def test_a_multi_issue_game_records_terms_and_utilities():
    from feedlearn.bargain.backends.scripted import RuleModerator

    players = {"seller": Says("I can do $520 with delivery in 5 days and a 6-month warranty."),
               "buyer": Says("Deal!")}
    result = asyncio.run(play(LAPTOP, players, RuleModerator()))
    assert result.success and result.price == 520
    assert result.terms == {"delivery": 5.0, "warranty": 6.0} and result.utility == pytest.approx(
        {"seller": 165, "buyer": 215})
    assert result.to_json()["utility"]["buyer"] == 215


def test_metrics_average_utilities_of_successful_deals():
    from feedlearn.bargain.metrics import per_round

    def rec(price, seller, buyer):
        return {"success": True, "price": price, "reply_chars": {"seller": 1.0, "buyer": 1.0},
                "game": {"utility": {"seller": seller, "buyer": buyer}}}

    rows = per_round([[rec(520, 165, 215)], [rec(500, 200, 150)], [{"success": False, "price": None,
                                                                    "reply_chars": {"seller": 1.0, "buyer": 1.0}}]], 1)
    assert rows[0]["mean_seller_utility"] == 182.5 and rows[0]["mean_buyer_utility"] == 182.5


def scripted_pair(scenario=LAPTOP):
    from feedlearn.bargain.backends.scripted import ScriptedSpec

    return {role: ScriptedSpec(jitter=0).build(role, scenario) for role in ("seller", "buyer")}


def test_scripted_players_negotiate_the_terms_by_hand():
    """Laptop: span 200 → both concede $40 of utility per reply; the buyer insists on its best terms
    (delivery 5 days: +8·5 = 40 to it, −5·5 = −25 to the seller; warranty 6 months: +15·3 = 45 to it,
    −10·3 = −30 to the seller), the seller prices them in at its cost (55):

    seller 1: target 600 − 40 = 560 at the terms on the table (the defaults) → $560
    buyer 1: target −(400 + 40) = −440; $560 is worth −560 to it, too little; at its terms the price
             for −440 is 440 + 85 = $525
    seller 2: target 520 + 55 = $575 at the buyer's terms; $525 there is worth 525 − 55 = 470 < 520
    buyer 2: target −480 → $565; $575 is worth −575 + 85 = −490 < −480
    seller 3: target 480; $565 is worth 565 − 55 = 510 ≥ 480 → deal at $565, 5 days, 6 months.
    Utilities: seller 565 − 300 − 25 − 30 = 210, buyer 650 − 565 + 40 + 45 = 170.
    """
    from feedlearn.bargain.backends.scripted import RuleModerator

    result = asyncio.run(play(LAPTOP, scripted_pair(), RuleModerator()))
    assert [t.text for t in result.turns[2:]] == [
        "I can do $560 with delivery 10 days, warranty 3 months.",
        "How about $525 with delivery 5 days, warranty 6 months?",
        "I can do $575 with delivery 5 days, warranty 6 months.",
        "How about $565 with delivery 5 days, warranty 6 months?",
        "Deal! $565 with delivery 5 days, warranty 6 months.",
    ]
    assert result.success and result.price == 565 and result.terms == {"delivery": 5.0, "warranty": 6.0}
    assert result.utility == {"seller": 210.0, "buyer": 170.0}
    # integrative: the same price at the default terms leaves the pair 30 worse off (265 + 85 = 350)
    assert sum(utilities(LAPTOP, 565, {"delivery": 10, "warranty": 3}).values()) == 350 < 380


def test_ai_feedback_raises_the_seller_utility_in_a_multi_issue_deal():
    """Advice halves the seller's step (20, then 10): round 2 ends at $595 (seller 240); in round 3 the
    seller holds its ask, the buyer accepts $600 — not strictly below the ask, so the run ends."""
    from feedlearn.bargain.backends.scripted import RuleModerator, ScriptedCritic
    from feedlearn.bargain.feedback import run_rounds

    ai = asyncio.run(run_rounds(LAPTOP, scripted_pair(), RuleModerator(), rounds=5, feedback="ai",
                                critic=ScriptedCritic()))
    assert [(r.price, r.success) for r in ai] == [(565, True), (595, True), (600, False)]
    assert [r.game["utility"]["seller"] for r in ai] == [210, 240, 245]
    none = asyncio.run(run_rounds(LAPTOP, scripted_pair(), RuleModerator(), rounds=5, feedback="none"))
    assert [r.game["utility"] for r in none] == [{"seller": 210.0, "buyer": 170.0}] * 5


def test_scripted_defaults_scale_with_the_scenario():
    from feedlearn.bargain.backends.scripted import ScriptedSpec
    from feedlearn.bargain.scenario import Scenario

    seller, buyer = (ScriptedSpec().build(role, Scenario()) for role in ("seller", "buyer"))
    assert (seller.start, seller.step, seller.limit, seller.insist) == (20, 2, 9, False)  # the balloon's $2, $9, $18
    assert (buyer.start, buyer.step, buyer.limit, buyer.insist) == (10, 2, 18, True)
    laptop = ScriptedSpec().build("seller", LAPTOP)
    assert (laptop.step, laptop.limit) == (40, 320)
    import random

    steps = {ScriptedSpec().build("seller", Scenario(), random.Random(s)).step for s in range(50)}
    assert min(steps) >= 1 and max(steps) <= 3 and len(steps) > 10  # step 2 ± jitter 1, seeded


def test_a_term_whose_default_is_out_of_bounds_is_one_line(tmp_path):
    from feedlearn.common.errors import FeedlearnError

    bad = tmp_path / "bad.yaml"
    bad.write_text("terms:\n  - {name: delivery, unit: days, words: [days], default: 10, low: 12, seller_value: 1, "
                   "buyer_value: -1}\n")
    with pytest.raises(FeedlearnError, match=r"bad.yaml: terms.0: .*default \(10\) must lie within low..high"):
        load_scenario(bad)


def test_a_multi_issue_experiment_reports_utilities(tmp_path):
    from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
    from feedlearn.bargain.report import markdown, report

    path = str(folder("scenarios") / "laptop-multi-issue.yaml")
    for feedback in ("ai", "none"):
        run_experiment(ExperimentConfig(scenario=path, runs=20, rounds=3, feedback=feedback), tmp_path / feedback)
    rows = report([tmp_path / "ai", tmp_path / "none"])
    ai, none = rows["ai"], rows["none"]
    assert ai[1]["mean_seller_utility"] > ai[0]["mean_seller_utility"]  # feedback helps the coached seller
    assert none[1]["mean_seller_utility"] == none[0]["mean_seller_utility"]
    assert ai[0]["mean_seller_utility"] + ai[0]["mean_buyer_utility"] == pytest.approx(380)  # every deal at 5 d, 6 m
    table = markdown(rows)
    assert "seller utility | buyer utility |" in table.splitlines()[0]
