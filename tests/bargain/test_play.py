"""``bargain play``, the LLM moderator, and a local transformers model as a player."""

from __future__ import annotations

import asyncio

from feedlearn.bargain.backends.base import Params
from feedlearn.bargain.backends.scripted import ScriptedNegotiator
from feedlearn.bargain.game import play
from feedlearn.bargain.moderator import LLMModerator
from feedlearn.bargain.scenario import Scenario
from feedlearn.cli import main


class Judge:
    """A stand-in model for the moderator: says yes when the last line accepts."""

    name = "judge"

    def __init__(self) -> None:
        self.prompts: list[list[dict]] = []

    async def complete(self, messages, params):
        self.prompts.append(messages)
        last = messages[-1]["content"].splitlines()[-2]  # the line before "Deal reached?"
        return "Yes." if "Deal" in last else "no"


def test_llm_moderator_asks_with_examples_and_reads_yes():
    judge = Judge()
    players = {"seller": ScriptedNegotiator("seller", 20), "buyer": ScriptedNegotiator("buyer", 10)}
    result = asyncio.run(play(Scenario(), players, LLMModerator(judge)))
    assert result.success and result.price == 14
    system, user = judge.prompts[-1]
    assert "Examples:" in system["content"] and user["content"].endswith("- Deal! $14 it is.\nDeal reached?")
    assert len(judge.prompts) == len(result.turns) - 2  # asked after every non-scripted utterance


def test_play_cli_streams_the_game(capsys):
    assert main(["bargain", "play"]) == 0
    out = capsys.readouterr().out
    assert "seller: This is a good balloon and its price is $20." in out and out.strip().endswith("deal at $14")


def test_play_cli_scripted_players_follow_the_scenario(capsys):
    from pathlib import Path

    laptop = Path(__file__).resolve().parents[2] / "data" / "bargain" / "laptop-multi-issue.yaml"
    assert main(["bargain", "play", "--scenario", str(laptop)]) == 0
    out = capsys.readouterr().out
    assert "buyer: How about $525 with delivery 5 days, warranty 6 months?" in out
    assert out.strip().endswith("deal at $565, delivery 5, warranty 6 (utility: seller 210, buyer 170)")


def test_play_cli_unknown_backend(capsys):
    assert main(["bargain", "play", "--seller", "gpt:x"]) == 2
    assert "unknown backend 'gpt:x'" in capsys.readouterr().err


def test_a_local_transformers_model_plays(tmp_path):
    from feedlearn.bargain.backends import make_backend
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    corpus = ["I can do $15 for the balloon. Deal! How about $12? No, $18 is my price."] * 40
    model = init_tiny(tmp_path / "m", TinyConfig(vocab_size=300, hidden_size=32, layers=1, heads=2,
                                                 intermediate_size=64, max_positions=512), texts=iter(corpus))
    local = make_backend(f"local:{model}")
    players = {"seller": local, "buyer": ScriptedNegotiator("buyer", 10)}
    scenario = Scenario(max_exchanges=2)
    params = Params(temperature=1.0, max_tokens=12, seed=3)
    first = asyncio.run(play(scenario, players, LLMModerator(Judge()), params=params))
    again = asyncio.run(play(scenario, players, LLMModerator(Judge()), params=params))
    assert len(first.turns) >= 3 and all(isinstance(t.text, str) for t in first.turns)
    assert [t.text for t in first.turns] == [t.text for t in again.turns]  # seeded
