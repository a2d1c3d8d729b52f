"""The game loop, the rounds of feedback and the metrics, with scripted players and exact price paths."""

from __future__ import annotations

import asyncio

import pytest

from feedlearn.bargain.backends.scripted import RuleModerator, ScriptedCritic, ScriptedNegotiator
from feedlearn.bargain.feedback import run_rounds
from feedlearn.bargain.game import play
from feedlearn.bargain.metrics import per_round
from feedlearn.bargain.scenario import Scenario, load_scenario
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import folder

BALLOON = Scenario()


def players(seller_step=2.0, buyer_step=2.0):
    return {"seller": ScriptedNegotiator("seller", start=20, step=seller_step, limit=9),
            "buyer": ScriptedNegotiator("buyer", start=10, step=buyer_step, limit=18)}


def test_one_game_turn_by_turn():
    result = asyncio.run(play(BALLOON, players(), RuleModerator()))
    assert [(t.role, t.text) for t in result.turns] == [
        ("seller", "This is a good balloon and its price is $20."),
        ("buyer", "Would you consider selling it for $10?"),
        ("seller", "I can do $18."), ("buyer", "How about $12?"),
        ("seller", "I can do $16."), ("buyer", "How about $14?"),
        ("seller", "Deal! $14 it is."),
    ]
    assert result.deal and result.price == 14 and result.valid and result.success
    # each role's own history: its lines as assistant, the other's as user, after its instructions
    seller = result.histories["seller"]
    assert seller[0]["role"] == "system" and "$8" in seller[0]["content"] and "$20" in seller[0]["content"]
    assert [m["role"] for m in seller[1:4]] == ["assistant", "user", "assistant"]


def test_no_deal_within_the_exchanges():
    stubborn = {"seller": ScriptedNegotiator("seller", start=20, step=0.1, limit=19),
                "buyer": ScriptedNegotiator("buyer", start=10, step=0.1, limit=11)}
    result = asyncio.run(play(BALLOON, stubborn, RuleModerator()))
    assert not result.deal and result.price is None and not result.success
    assert len(result.turns) == 2 + 2 * BALLOON.max_exchanges


def test_a_deal_outside_the_range_is_not_valid():
    assert BALLOON.valid_price(15) and not BALLOON.valid_price(20) and not BALLOON.valid_price(10)
    assert Scenario(strict_range=False).valid_price(20) and not BALLOON.valid_price(None)


def test_ai_feedback_moves_the_price_exactly():
    """Advice halves the scripted seller's concession step: 14 -> 16 -> 18 -> 18, then no deal (hand-worked)."""
    records = asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), rounds=5, feedback="ai",
                                     critic=ScriptedCritic()))
    assert [r.price for r in records] == [14, 16, 18, 18, None]
    assert [r.success for r in records] == [True, True, True, True, False]
    assert all("smaller steps" in r.feedback for r in records[:4]) and records[4].feedback is None


def test_without_feedback_the_price_stays():
    records = asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), rounds=5, feedback="none"))
    assert [r.price for r in records] == [14] * 5 and all(r.feedback is None for r in records)


def test_random_tips_are_seeded():
    runs = [asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), rounds=5, feedback="random", seed=s))
            for s in (3, 3, 4)]
    assert [r.feedback for r in runs[0]] == [r.feedback for r in runs[1]]
    assert [r.price for r in runs[0]] == [r.price for r in runs[1]]


def test_ai_feedback_needs_a_critic():
    with pytest.raises(ValueError, match="needs a critic"):
        asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), feedback="ai"))


def test_metrics_on_hand_made_runs():
    def rec(price):
        return {"success": price is not None, "price": price, "reply_chars": {"seller": 10.0, "buyer": 20.0}}

    runs = [[rec(14), rec(16), rec(18)], [rec(12), rec(None)], [rec(None)], [rec(15), rec(15), rec(17)]]
    rows = per_round(runs, 3)
    assert [r["success_ratio"] for r in rows] == [0.75, 0.5, 0.5]
    assert rows[0]["mean_price"] == pytest.approx((14 + 12 + 15) / 3)
    assert rows[1]["mean_price"] == 15.5 and rows[1]["std_price"] == 0.5
    assert rows[1]["mean_change"] == pytest.approx(((16 - 14) + (15 - 15)) / 2)  # runs alive at rounds 1 and 2
    assert rows[2]["mean_change"] == pytest.approx(((18 - 16) + (17 - 15)) / 2)
    assert rows[0]["survivors"] == 3 and rows[2]["survivors"] == 2


def test_scenario_files(tmp_path):
    good = tmp_path / "s.yaml"
    good.write_text("name: lamp\nproduct: lamp\nseller_cost: 30\nseller_ask: 80\nbuyer_open: 40\n")
    assert load_scenario(good).fill("{product} at ${ask:g}") == "lamp at $80"
    bad = tmp_path / "b.yaml"
    bad.write_text("seller_ask: 10\nbuyer_open: 12\n")
    with pytest.raises(FeedlearnError, match="b.yaml: .*buyer_open .12. must be below seller_ask"):
        load_scenario(bad)
    bad.write_text("seler_ask: 10\n")
    with pytest.raises(FeedlearnError, match="b.yaml: seler_ask: Extra inputs"):
        load_scenario(bad)


@pytest.mark.parametrize("name", ["balloon", "used-bike"])
def test_shipped_scenarios_play(name):

    scenario = load_scenario(folder("scenarios") / f"{name}.yaml")
    step = (scenario.seller_ask - scenario.buyer_open) / 5
    players = {"seller": ScriptedNegotiator("seller", start=scenario.seller_ask, step=step),
               "buyer": ScriptedNegotiator("buyer", start=scenario.buyer_open, step=step)}
    result = asyncio.run(play(scenario, players, RuleModerator()))
    assert result.success and scenario.buyer_open < result.price < scenario.seller_ask


def test_coaching_both_players_keeps_both_histories():
    """Both get the advice, so both steps halve: they meet at the midpoint, later each round (hand-worked:
    round 2 seller 19, 18, ... 15 vs buyer 11, 12, ... 15; round 3 steps 0.5, the buyer takes 15 at exchange 10)."""
    records = asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), rounds=3, coach="both", feedback="ai",
                                     critic=ScriptedCritic()))
    assert [r.price for r in records] == [14, 15, 15]
    assert [r.turns for r in records] == [7, 12, 22]
    assert records[0].feedback.count("smaller steps") == 2  # one advice per coached player
    assert [t[0] for t in records[1].game["turns"][:2]] == ["seller", "buyer"]


def test_rule_moderator():
    moderator = RuleModerator()
    assert asyncio.run(moderator.deal_reached([("seller", "I can do $16."), ("buyer", "Deal! $16 it is.")]))
    assert asyncio.run(moderator.deal_reached([("buyer", "OK, agreed.")]))
    # "Deal!" at a price the other side did not offer is a counter-offer, not a deal
    assert not asyncio.run(moderator.deal_reached([("buyer", "How about $18?"), ("seller", "Deal! $19.18.")]))
    assert asyncio.run(moderator.deal_reached([("buyer", "How about $17.5?"), ("seller", "Deal! $17.50 it is.")]))
    # a number no scenario could hold is no price: "Deal!" stands (the game then reads the price on the table)
    assert asyncio.run(moderator.deal_reached([("buyer", "How about $18?"), ("seller", f"Deal! ${'9' * 16} it is.")]))
    assert not asyncio.run(moderator.deal_reached([("buyer", "How about $14?")]))
    assert not asyncio.run(moderator.deal_reached([("seller", "No deal, sorry.")]))


@pytest.mark.parametrize("advice, kept, removed", [
    ("1. Hold firm at $18. 2. Mention the quality.\n3. Don't go below fifteen dollars.",
     "2. Mention the quality.", ["1. Hold firm at $18.", "3. Don't go below fifteen dollars."]),
    ("Concede in smaller steps. Ask what they can offer!", "Concede in smaller steps. Ask what they can offer!", []),
    ("- Open at 19 bucks", "", ["- Open at 19 bucks"]),
    ("Wait 2 turns before you move. Offer 3 options.", "Wait 2 turns before you move. Offer 3 options.", []),
])
def test_critic_advice_is_kept_generic(advice, kept, removed):
    from feedlearn.bargain.feedback import generic_advice

    assert generic_advice(advice) == (kept, removed)


def test_a_critic_that_names_a_price_is_not_passed_on():
    class Leaky:
        name = "leaky"

        async def complete(self, messages, params):
            return "Concede in smaller steps. Insist on $19.50 next time."

    records = asyncio.run(run_rounds(Scenario(), players(), RuleModerator(), rounds=2, feedback="ai", critic=Leaky()))
    assert records[0].feedback == "Concede in smaller steps." and records[0].feedback_removed == ["Insist on $19.50 next time."]
    assert records[1].price == 16  # the generic half still halves the seller's step: 14 -> 16, as with the scripted critic


class _Lines:
    """A player that says the given lines in order (an LLM that closes in its own words)."""

    def __init__(self, *lines: str) -> None:
        self.lines, self.name = list(lines), "lines"

    async def complete(self, messages, params):
        return self.lines.pop(0)


class _YesAfter:
    """A moderator that says "deal" from the ``n``-th utterance it is asked about on."""

    def __init__(self, n: int) -> None:
        self.n, self.asked = n, 0

    async def deal_reached(self, turns):
        self.asked += 1
        return self.asked >= self.n


@pytest.mark.parametrize(("closing", "price", "reason", "valid"), [
    ("Okay, $16 then.", 16.0, "read", True),  # no acceptance phrase: the moderator decided
    ("Let me grab it at 16.5", 16.5, "read", True),
    ("You have yourself a balloon for sixteen fifty", 16.5, "read", True),
    ("Great, I'll take it.", 17.0, "read", True),  # the price on the table: the seller's $17
    ("Deal at $25!", 25.0, "out of range", False),  # read, but above the scenario's range
    ("Deal!", None, "no price", False),  # no price named anywhere (the seller's line names none here)
])
def test_the_moderator_decides_whether_and_the_table_says_at_what_price(closing, price, reason, valid):
    scenario = Scenario(opening=["Hello, I have a balloon for sale.", "Hi! What would you take for it?"])
    seller = _Lines("I can do $17." if closing != "Deal!" else "It is a fine balloon.")
    buyer = _Lines(closing)
    result = asyncio.run(play(scenario, {"seller": seller, "buyer": buyer}, _YesAfter(2)))
    assert result.deal and result.price == price and result.price_reason == reason and result.valid == valid
    assert result.to_json()["price_reason"] == reason


def test_report_tells_rejected_deals_from_lost_ones():
    from feedlearn.bargain.report import markdown

    def rec(success, deal, price, reason=None):
        game = {"price_reason": reason} if reason else {}
        return {"success": success, "deal": deal, "price": price, "reply_chars": {"seller": 1.0, "buyer": 1.0},
                "game": game}

    runs = [[rec(True, True, 15.0, "read")],
            [rec(False, True, 25.0, "out of range")],
            [rec(False, True, None, "withdrawn")],
            [rec(False, True, None)],  # written before price_reason existed: no price
            [rec(False, False, None)]]  # no deal at all: not a rejection
    row = per_round(runs, 1)[0]
    assert (row["deals_seen"], row["prices_read"]) == (4, 2)
    assert row["rejected"] == {"no price": 1, "out of range": 1, "withdrawn": 1}
    table = markdown({"x": [row]})
    assert "| 4 / 2 | no price 1, out of range 1, withdrawn 1 |" in table


def test_human_and_constant_feedback_baselines():
    from feedlearn.bargain.feedback import CONSTANT_FEEDBACK, HUMAN_TIPS, TIPS

    assert len(TIPS) == 10 and len(set(TIPS)) == 10
    human = asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), rounds=4, feedback="human", seed=5))
    given = [r.feedback for r in human[:-1]]
    for advice in given:  # three distinct tips of the pool, each round
        assert sum(tip in advice for tip in TIPS) == HUMAN_TIPS
    assert given == [r.feedback for r in asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), rounds=4,
                                                                   feedback="human", seed=5))[:-1]]  # seeded
    constant = asyncio.run(run_rounds(BALLOON, players(), RuleModerator(), rounds=3, feedback="constant"))
    assert [r.feedback for r in constant[:-1]] == [CONSTANT_FEEDBACK] * 2


def test_player_instructions_state_the_papers_constraints():
    from feedlearn.bargain.game import system_message

    for role in ("seller", "buyer"):
        text = system_message(BALLOON, role)["content"]
        assert "this one balloon only" in text and "one short sentence" in text and "{" not in text
