"""``bargain play``, the LLM moderator, and a local transformers model as a player."""

from __future__ import annotations

import asyncio

from feedlearn.bargain.backends.base import Params
from feedlearn.bargain.backends.scripted import ScriptedNegotiator
from feedlearn.bargain.game import play
from feedlearn.bargain.moderator import LLMModerator
from feedlearn.bargain.scenario import Scenario
from feedlearn.cli import main
from feedlearn.shipped import folder


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
    moderator = LLMModerator(judge)
    result = asyncio.run(play(Scenario(), players, moderator))
    assert result.success and result.price == 14
    system, user = judge.prompts[-1]
    # the paper's moderator: worked examples, the last three utterances with their speakers
    assert "Examples:" in system["content"] and system["content"].count("Deal reached?") >= 25
    assert user["content"] == "Seller: I can do $16.\nBuyer: How about $14?\nSeller: Deal! $14 it is.\nDeal reached?"
    # asked only after utterances that could close a deal: the buyer's questions are not
    said = [t.text for t in result.turns[2:]]
    assert len(judge.prompts) == moderator.asked == sum(not t.endswith("?") for t in said) < len(said)


def test_play_cli_streams_the_game(capsys):
    assert main(["bargain", "play"]) == 0
    out = capsys.readouterr().out
    assert "seller: This is a good balloon and its price is $20." in out and out.strip().endswith("deal at $14")


def test_play_cli_scripted_players_follow_the_scenario(capsys):

    laptop = folder("scenarios") / "laptop-multi-issue.yaml"
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


# ---- the paper's moderator: when it is asked, what it sees, how its answer is read ------------------

def _closings():
    import json
    from pathlib import Path

    path = Path(__file__).parent / "closing_corpus.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_moderator_is_asked_after_every_closing_of_the_corpus():
    from feedlearn.bargain.moderator import could_close

    cases = _closings()
    assert all(could_close(c["dialogue"][-1]) for c in cases if c["deal"])  # no deal is lost to the filter
    assert not could_close("How about $14?") and not could_close("Deal at $15?") and not could_close("**$15?** 🙂")
    assert could_close("Deal! When can you pick it up?") and could_close("Okay, $16 then.")


def test_moderator_answers_are_read_yes_only_when_yes_comes_first():
    from feedlearn.bargain.moderator import read_answer

    assert read_answer("Yes.") and read_answer("**yes**") and read_answer("Answer: yes")
    assert not read_answer("No.") and not read_answer("no, not yet (yes would be wrong)")
    assert not read_answer("") and not read_answer("Deal! $16 it is.") and not read_answer("yesterday")


def test_moderator_agreement_on_the_corpus_through_a_stand_in_model():
    """The measurement plumbing (labels, prompts, answers, per-category counts) with a stand-in model
    that answers from the rule judge; a real server gives the real number (bench/bargain_prices.py)."""
    from feedlearn.bargain.moderator import agreement, labelled
    from feedlearn.bargain.prices import deal_price

    class RuleStandIn:
        name = "rule-stand-in"

        async def complete(self, messages, params):
            lines = messages[-1]["content"].splitlines()[:-1]  # "Speaker: text" ..., then the question
            assert all(line.split(":", 1)[0] in ("Seller", "Buyer") for line in lines)
            return "yes" if deal_price([line.split(": ", 1)[1] for line in lines]) is not None else "no"

    cases = _closings()
    table = asyncio.run(agreement(LLMModerator(RuleStandIn()), cases))
    assert sum(row["cases"] for row in table.values()) == len(cases)
    assert all(row["right"] + row["false_yes"] + row["false_no"] == row["cases"] for row in table.values())
    assert table["no_deal"]["false_no"] == 0 and table["plain_accept"]["false_yes"] == 0
    assert labelled(["a", "b", "c"]) == [("buyer", "a"), ("seller", "b"), ("buyer", "c")]


def test_the_default_moderator_is_an_llm_when_a_player_is_one():
    from feedlearn.bargain.experiment import ExperimentConfig

    assert ExperimentConfig().moderator == "rules"
    assert ExperimentConfig(seller="openai:gpt-4o").moderator == "openai:gpt-4o"
    assert ExperimentConfig(buyer="anthropic:claude").moderator == "anthropic:claude"
    assert ExperimentConfig(seller="openai:a", moderator="rules").moderator == "rules"


STRICT_TEMPLATE = (  # what Mistral-, Gemma- and Llama-2-family templates do: refuse any other order
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% if not loop.first %}{{ raise_exception('system first only') }}{% endif %}"
    "{% elif (m['role'] == 'user') != ((loop.index0 - (1 if messages[0]['role'] == 'system' else 0)) % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)


def test_a_local_model_with_a_strict_chat_template_gets_alternating_turns(tmp_path):
    """The local backend renders with the model's own template: a strict one must never see our raw
    histories (an assistant opening, the other side's line then a lesson: two user turns)."""
    import pytest
    from transformers import AutoTokenizer

    from feedlearn.bargain.backends import make_backend
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    corpus = ["I can do $15 for the balloon. Deal! How about $12? No, $18 is my price."] * 40
    model = init_tiny(tmp_path / "m", TinyConfig(vocab_size=300, hidden_size=32, layers=1, heads=2,
                                                 intermediate_size=64, max_positions=512), texts=iter(corpus))
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = STRICT_TEMPLATE
    tokenizer.save_pretrained(model)
    history = [{"role": "system", "content": "You sell a balloon."},
               {"role": "assistant", "content": "This is a good balloon and its price is $20."},
               {"role": "user", "content": "Would you consider $10?"},
               {"role": "assistant", "content": "I can do $16."},
               {"role": "user", "content": "Deal!"},
               {"role": "user", "content": "That game ended at $16. Feedback from a coach: hold firm. A new game starts now."}]
    with pytest.raises(Exception, match="must alternate"):  # the template is strict indeed
        AutoTokenizer.from_pretrained(model).apply_chat_template(history, tokenize=False)
    reply = asyncio.run(make_backend(f"local:{model}").complete(history, Params(max_tokens=4, seed=1)))
    assert isinstance(reply, str)
