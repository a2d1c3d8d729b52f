"""``reward_model: game:...``: the sampling stages score sampled replies by playing them out (no reward model)."""

from __future__ import annotations

import json

import pytest

from feedlearn.bargain.game_reward import GameReward
from feedlearn.bargain.outcome import role_view
from feedlearn.bargain.scenario import Scenario
from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.recipe import Recipe, check_recipe
from feedlearn.tune.scorers import SCORERS, make_scorer
from feedlearn.tune.stages import STAGES, RaftConfig, run_stage


def test_a_registered_kind_builds_its_scorer_anything_else_is_a_reward_model(tmp_path):
    assert set(SCORERS) == {"game"} and isinstance(make_scorer("game:buyer"), GameReward)
    with pytest.raises(FeedlearnError, match="missing"):  # a directory that is not there: the model loader's error
        make_scorer(str(tmp_path / "missing"))


def test_raft_samples_are_scored_by_the_game(tiny_dir, tmp_path):
    # the seller's view of the balloon game's opening and a reply, as `bargain export` writes prompts
    system, messages = role_view(Scenario(), "seller", [("seller", "This is a good balloon and its price is $20."),
                                                        ("buyer", "Would you consider selling it for $10?"),
                                                        ("seller", "I can do $19.")])
    prompt = {"system": system, "messages": messages}
    data = save_dataset(TuneDataset("conversation", [prompt]), tmp_path / "prompts.json")
    config = load_config(RaftConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": "game:seller",
                                            "output_dir": str(tmp_path / "raft"), "max_new_tokens": 6})
    stage = STAGES["raft"]()
    prompts, scorer = stage.prompts_and_scorer(config)
    assert isinstance(scorer, GameReward)
    repeated, samples, rewards = stage.sample_round(config, prompts, scorer, 0, str(tiny_dir), 3)
    assert len(samples) == 3 and all(r == -1.0 or 0.0 <= r <= 1.0 for r in rewards)
    assert rewards == make_scorer("game:seller").score([p + [{"role": "assistant", "content": s}]
                                                        for p, s in zip(repeated, samples)])


def test_a_recipe_may_name_the_game_reward(tmp_path, tiny_dir):
    prompts = tmp_path / "prompts.json"
    prompts.write_text('{"type": "conversation", "instances": [{"messages": [{"role": "user", "content": "Hi"}, '
                       '{"role": "assistant", "content": "$15"}]}]}')
    recipe = {"name": "t", "output_dir": str(tmp_path / "run"), "base": {"model": str(tiny_dir)},
              "stages": [{"name": "raft", "stage": "raft", "options": {"data": str(prompts),
                                                                      "reward_model": "game:seller"}}]}
    check_recipe(Recipe.model_validate(recipe), tmp_path / "r.yaml")  # no error: a reward, not a model to find
    recipe["stages"][0]["options"]["reward_model"] = "games:seller"
    with pytest.raises(FeedlearnError, match="option reward_model: not a stage of this recipe"):
        check_recipe(Recipe.model_validate(recipe), tmp_path / "r.yaml")


def test_raft_min_reward_keeps_only_replies_that_score_it(tiny_dir, tmp_path):
    # the untrained model's replies make no deal (-1 each): with min_reward 0 nothing is left to train on
    system, messages = role_view(Scenario(), "seller", [("seller", "This is a good balloon and its price is $20."),
                                                        ("buyer", "Would you consider selling it for $10?"),
                                                        ("seller", "I can do $19.")])
    data = save_dataset(TuneDataset("conversation", [{"system": system, "messages": messages}]), tmp_path / "p.json")
    config = load_config(RaftConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": "game:seller",
                                            "output_dir": str(tmp_path / "raft"), "max_new_tokens": 6, "k": 2,
                                            "iterations": 1, "min_reward": 0.0})
    with pytest.raises(FeedlearnError, match=r"raft round 0: no sample scored min_reward \(0\) or more"):
        run_stage(STAGES["raft"](), config)


def test_grpo_trains_on_the_game_reward(tiny_dir, tmp_path):
    # GRPO's reward function is the game: each group's replies played out against the scripted buyer
    from feedlearn.tune.stages import GRPOStageConfig

    system, messages = role_view(Scenario(), "seller", [("seller", "This is a good balloon and its price is $20."),
                                                        ("buyer", "Would you consider selling it for $10?"),
                                                        ("seller", "I can do $19.")])
    data = save_dataset(TuneDataset("conversation", [{"system": system, "messages": messages}] * 4), tmp_path / "p.json")
    config = load_config(GRPOStageConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": "game:seller",
                                                 "output_dir": str(tmp_path / "g"), "max_steps": 2, "batch_size": 4,
                                                 "num_generations": 2, "max_new_tokens": 6, "logging_steps": 1,
                                                 "save_steps": 100})
    summary = run_stage(STAGES["grpo"](), config)
    rows = [r for r in map(json.loads, (tmp_path / "g" / "log.jsonl").read_text().splitlines()) if "reward" in r]
    assert summary["steps"] == 2 and len(rows) == 2
    assert all(-1.0 <= r["reward"] <= 1.0 for r in rows)  # the mean of game outcomes: -1 no deal, else 0..1
