"""Multi-issue deals: terms parsed from the closing utterances, private notes, utilities by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from feedlearn.bargain.game import play, system_message
from feedlearn.bargain.scenario import load_scenario
from feedlearn.bargain.terms import agreed_terms, utilities

LAPTOP = load_scenario(Path(__file__).resolve().parents[2] / "data" / "bargain" / "laptop-multi-issue.yaml")


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
