"""The game reward: a reply played out against a fixed opponent, the same game for the same seed."""

from __future__ import annotations

import asyncio

import pytest

from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
from feedlearn.bargain.game_reward import GameReward, GameRewardConfig
from feedlearn.bargain.outcome import role_view
from feedlearn.bargain.scenario import Scenario
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.scorers import make_scorer

OPENING = [("seller", "This is a good balloon and its price is $20."),
           ("buyer", "Would you consider selling it for $10?")]


def _with_reply(role, reply, turns=OPENING):
    system, messages = role_view(Scenario(), role, turns)
    return [{"role": "system", "content": system}, *messages, {"role": "assistant", "content": reply}]


def test_a_recorded_reply_plays_out_to_the_recorded_game(tmp_path):
    # an experiment's run with seed s, its seller's first reply given back: the same game, the same value
    runs = run_experiment(ExperimentConfig(runs=3, rounds=1, feedback="none", concurrency=1), tmp_path / "r")
    for run in runs:
        game = run["rounds"][0]["game"]
        turns = [tuple(t) for t in game["turns"]]
        reward = GameReward(GameRewardConfig(role="seller", seed=run["seed"], rollout="scripted:seller"))
        result = asyncio.run(reward.play_out(_with_reply("seller", turns[2][1])))
        assert [[t.role, t.text] for t in result.turns] == game["turns"]
        assert reward.value(result) == pytest.approx((game["price"] - 10) / 10)


def test_the_game_reward_is_deterministic_for_a_seed_and_ranks_replies_by_their_price():
    replies = ["I can do $19.", "I can do $18.", "I can do $17.5.", "I can do $12.", "Deal!", ""]
    conversations = [_with_reply("seller", r) for r in replies]
    scores = make_scorer("game:seller").score(conversations)
    # the rollout holds the candidate's price: the scripted buyer (limit $18) comes up to $18 and $17.5 and
    # takes $12 at once, never reaches $19; "Deal!" accepts the buyer's $10, outside the valid range: no deal,
    # and so is an empty reply
    assert scores == pytest.approx([-1.0, 0.8, 0.75, 0.2, -1.0, -1.0])
    assert make_scorer("game:seller").score(conversations) == scores  # a fresh scorer, the same games
    game = asyncio.run(make_scorer("game:seller").play_out(conversations[2]))
    assert [t.text for t in game.turns[2:]] == ["I can do $17.5.", "How about $12.52?", "I can do $17.50.",
                                                "How about $15.04?", "I can do $17.50.", "Deal! $17.50 it is."]
    # another seed draws another buyer: other offers on the way, the same deal at the held price
    other = asyncio.run(GameReward(GameRewardConfig(seed=1)).play_out(conversations[2]))
    assert [t.text for t in other.turns[3:]] != [t.text for t in game.turns[3:]] and other.price == 17.5
    # the old rollout (the scripted seller conceding on its schedule) ignores the price named: $19 scores like
    # $18 (its next offer, $14.62, is taken), and its games depend on the seed's seller too
    conceding = {s: GameReward(GameRewardConfig(rollout="scripted:seller", seed=s)).score(conversations[:2])
                 for s in (0, 5)}
    assert conceding[0] == pytest.approx([0.462, 0.462]) and conceding[5] != conceding[0]
    # the buyer's reward: after the seller's $18, asking $12 leads to a lower price than accepting
    buyer = make_scorer("game:buyer")
    after = [*OPENING, ("seller", "I can do $18.")]
    low, accept = buyer.score([_with_reply("buyer", "How about $12?", after),
                               _with_reply("buyer", "Deal! $18 it is.", after)])
    assert accept == pytest.approx(0.2) and low > accept


def test_game_reward_specs_and_bad_conversations(tmp_path):
    spec = tmp_path / "reward.yaml"
    spec.write_text("role: buyer\nseed: 3\nopponent_options: {step: 1.0, jitter: 0}\n")
    reward = make_scorer(f"game:{spec}")
    assert reward.config == GameRewardConfig(role="buyer", seed=3, opponent_options={"step": 1.0, "jitter": 0})
    with pytest.raises(FeedlearnError, match="say game:seller, game:buyer or game:FILE.yaml"):
        make_scorer("game:critic")
    with pytest.raises(FeedlearnError, match="conversation 0: does not start with the scenario's opening"):
        make_scorer("game:seller").score([[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "$15"}]])
    with pytest.raises(FeedlearnError, match="conversation 0: the conversation must end with the seller's reply"):
        make_scorer("game:seller").score([_with_reply("seller", "x")[:-1]])
