"""``bargain export``: hand-made games -> exactly the right conversations and chosen/rejected pairs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from feedlearn.bargain.backends.base import OPENING_TURN
from feedlearn.bargain.cli import bargain_app
from feedlearn.bargain.experiment import ExperimentConfig
from feedlearn.bargain.export import Game, export_runs, pairs
from feedlearn.bargain.game import system_message
from feedlearn.bargain.outcome import NO_DEAL, outcome_value, role_view, turns_of
from feedlearn.bargain.scenario import Scenario
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import load_dataset

BALLOON = Scenario()
OPEN = [("seller", "This is a good balloon and its price is $20."), ("buyer", "Would you consider selling it for $10?")]
SELLER_SYSTEM = system_message(BALLOON, "seller")["content"]
BUYER_SYSTEM = system_message(BALLOON, "buyer")["content"]

# (turns after the opening, deal price or None): runs 0 (two rounds), 1 and 2
GAME_A = ([("seller", "I can do $18."), ("buyer", "Deal! $18 it is.")], 18.0)  # seller 0.8, buyer 0.2
GAME_D = ([("seller", "I can do $18."), ("buyer", "How about $12?"), ("seller", "I can do $16."),
           ("buyer", "Deal! $16 it is.")], 16.0)  # seller 0.6, buyer 0.4
GAME_B = ([("seller", "I can do $15."), ("buyer", "Deal! $15 it is.")], 15.0)  # seller 0.5
GAME_C = ([("seller", "I can do $19."), ("buyer", "No, too much."), ("seller", "I can do $19.")], None)  # no deal


def _round(turns, price, advice=None):
    deal = price is not None
    return {"success": deal, "deal": deal, "price": price, "feedback": advice, "turns": len(turns) + 2,
            "reply_chars": {"seller": 10.0, "buyer": 10.0},
            "game": {"turns": [list(t) for t in OPEN + turns], "deal": deal, "price": price, "valid": deal}}


@pytest.fixture
def run_dir(tmp_path):
    """A finished experiment folder written by hand: run 0 has two rounds (the second after the critic's advice)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "config.json").write_text(ExperimentConfig(runs=3, rounds=2).model_dump_json())
    rows = [{"run": 0, "seed": 0, "rounds": [_round(*GAME_A, advice="Concede in smaller steps."), _round(*GAME_D)]},
            {"run": 1, "seed": 1, "rounds": [_round(*GAME_B)]},
            {"run": 2, "seed": 2, "rounds": [_round(*GAME_C)]}]
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _seller_chat(*lines):
    """The seller's messages of the opening and then ``lines`` (its own and the buyer's, alternating)."""
    said = [OPEN[0][1], OPEN[1][1], *lines]
    return [{"role": "user", "content": OPENING_TURN}] + [
        {"role": "assistant" if i % 2 == 0 else "user", "content": text} for i, text in enumerate(said)]


def test_outcome_values_a_deal_above_no_deal_in_each_sides_favour():
    assert outcome_value(BALLOON, "seller", 18.0, True) == pytest.approx(0.8)
    assert outcome_value(BALLOON, "buyer", 18.0, True) == pytest.approx(0.2)
    assert outcome_value(BALLOON, "seller", 18.0, False) == NO_DEAL == outcome_value(BALLOON, "buyer", None, False)
    turns = OPEN + GAME_D[0]
    for role in ("seller", "buyer"):  # role_view and turns_of are inverses
        system, messages = role_view(BALLOON, role, turns)
        assert turns_of(messages, role) == turns and system == system_message(BALLOON, role)["content"]


def test_export_writes_the_right_pairs_conversations_and_prompts(run_dir, tmp_path):
    summary = export_runs([run_dir], tmp_path / "out", "seller", best_of=2)
    assert summary == {"role": "seller", "games": 4, "successful": 3, "conversation": 2, "paired_conversation": 1,
                       "prompts": 3}
    # after the opening the seller said $18 (games A, D: mean 0.7), $15 (0.5) and $19 (no deal): best vs worst
    [pair] = load_dataset(tmp_path / "out" / "paired.json", type="paired_conversation").instances
    assert pair["chosen"] == {"system": SELLER_SYSTEM, "messages": _seller_chat("I can do $18.")}
    assert pair["rejected"] == {"system": SELLER_SYSTEM, "messages": _seller_chat("I can do $19.")}
    # the two best successful games (A 0.8, D 0.6), each up to the seller's last line; no advice in any prompt
    convs = load_dataset(tmp_path / "out" / "conversation.json", type="conversation").instances
    assert [c["messages"] for c in convs] == [_seller_chat("I can do $18."),
                                              _seller_chat("I can do $18.", "How about $12?", "I can do $16.")]
    text = "".join((tmp_path / "out" / name).read_text() for name in ("conversation.json", "paired.json",
                                                                       "prompts.json"))
    assert "smaller steps" not in text and "Feedback" not in text
    prompts = load_dataset(tmp_path / "out" / "prompts.json", type="conversation").instances
    assert [p["messages"][-1]["content"] for p in prompts] == ["I can do $18.", "I can do $16.", "I can do $19."]


def test_export_of_the_first_rounds_only(run_dir, tmp_path):
    # rounds=1: the games played before any advice (run 0's second game, D, is left out)
    summary = export_runs([run_dir], tmp_path / "out", "seller", rounds=1)
    assert (summary["games"], summary["successful"], summary["prompts"]) == (3, 2, 2)
    [pair] = load_dataset(tmp_path / "out" / "paired.json", type="paired_conversation").instances
    assert pair["chosen"]["messages"] == _seller_chat("I can do $18.")  # $18 led to 0.8 now, not 0.7
    with pytest.raises(FeedlearnError, match="rounds: a whole number >= 1"):
        export_runs([run_dir], tmp_path / "x", "seller", rounds=0)


def test_the_buyer_prefers_the_lower_price_and_a_deal_to_none(run_dir, tmp_path):
    export_runs([run_dir], tmp_path / "out", "buyer")
    [pair] = load_dataset(tmp_path / "out" / "paired.json").instances  # after "$18": "$12?" led to $16, "Deal" to $18
    prompt = [{"role": "user", "content": OPEN[0][1]}, {"role": "assistant", "content": OPEN[1][1]},
              {"role": "user", "content": "I can do $18."}]
    assert pair["chosen"] == {"system": BUYER_SYSTEM,
                              "messages": prompt + [{"role": "assistant", "content": "How about $12?"}]}
    assert pair["rejected"]["messages"] == prompt + [{"role": "assistant", "content": "Deal! $18 it is."}]
    games = [Game(BALLOON, OPEN + [("seller", f"I can do ${p}."), ("buyer", "Deal!")], v, "hand")
             for p, v in ((14, 0.9), (15, 0.5), (16, 0.5), (17, NO_DEAL))]  # one prefix, four seller replies
    folded = [(p["chosen"]["messages"][-1]["content"], p["rejected"]["messages"][-1]["content"])
              for p in pairs(games, "seller")]
    assert folded == [("I can do $14.", "I can do $17.")]  # best vs worst; 0.5 vs 0.5 is no preference


def test_export_command_and_its_one_line_errors(run_dir, tmp_path):
    result = CliRunner().invoke(bargain_app, ["export", str(run_dir), "--out", str(tmp_path / "e"), "--role", "seller"])
    assert result.exit_code == 0, result.output
    assert f"4 games (3 successful) as the seller:\n  {tmp_path / 'e' / 'conversation.json'}: 3 instances\n" \
        in result.output
    with pytest.raises(FeedlearnError, match="role: say seller or buyer"):
        export_runs([run_dir], tmp_path / "x", "critic")
    with pytest.raises(FeedlearnError, match=r"not a bargain experiment folder \(no config.json\)"):
        export_runs([tmp_path], tmp_path / "x", "seller")
    with (run_dir / "runs.jsonl").open("a") as f:
        f.write(json.dumps({"run": 3, "rounds": [{**_round(*GAME_B), "game": {"turns": [["critic", "hi"]]}}]}) + "\n")
    with pytest.raises(FeedlearnError, match=r"runs.jsonl run 3 round 1: game.turns must be a list"):
        export_runs([run_dir], tmp_path / "x", "seller")
