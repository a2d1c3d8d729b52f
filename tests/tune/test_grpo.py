"""GRPO and RLOO via TRL: our reward model as the reward function; each raises the reward it is given."""

from __future__ import annotations

import json

import pytest

from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.rewards import RewardScorer
from feedlearn.tune.stages import STAGES, GRPOStageConfig, run_stage
from feedlearn.tune.stages.grpo import RewardFunction
from tests.tune.conftest import sort_prompts


def options(tiny_dir, reward_dir, data, out, **kw):
    return {"model": str(tiny_dir), "data": str(data), "reward_model": reward_dir, "output_dir": str(out),
            "max_steps": 40, "batch_size": 16, "num_generations": 4, "lr": 1e-2, "max_new_tokens": 8,
            "save_steps": 100, "logging_steps": 1, **kw}


def log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if '"loss"' in line]


def test_reward_function_scores_the_whole_conversation(reward_dir):
    scorer = RewardScorer(reward_dir)
    prompts = [[{"role": "user", "content": "Please sort: 3 1 2"}]] * 2
    completions = [[{"role": "assistant", "content": " 1 2 3 "}], [{"role": "assistant", "content": "no idea"}]]
    assert RewardFunction(scorer)(prompts=prompts, completions=completions) == scorer.score(
        [prompts[0] + [{"role": "assistant", "content": "1 2 3"}], prompts[1] + [{"role": "assistant",
                                                                                  "content": "no idea"}]])


def test_batch_must_hold_whole_groups(tiny_dir, reward_dir, tmp_path):
    with pytest.raises(FeedlearnError, match="batch_size .10. must be a multiple of num_generations .4."):
        load_config(GRPOStageConfig, None, options(tiny_dir, reward_dir, "d.json", tmp_path, batch_size=10))


@pytest.mark.parametrize("stage", ["grpo", "rloo"])
def test_online_rl_raises_the_reward(stage, tiny_dir, reward_dir, tmp_path):
    data = sort_prompts(tmp_path)
    config = load_config(STAGES[stage].config_class, None, options(tiny_dir, reward_dir, data, tmp_path / stage,
                                                                   eval_data=str(data)))
    summary = run_stage(STAGES[stage](), config)
    rows = log(tmp_path / stage)
    assert len(rows) == 40
    first, last = (sum(r["reward"] for r in rows[s]) / 10 for s in (slice(0, 10), slice(-10, None)))
    assert last > first + 0.5, (first, last)
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6) and rows[-1]["kl"] > 0  # KL to the starting model
    assert summary["tokens"] > 40 * 16 and summary["eval"]["kl_to_reference"] > 0


def test_grpo_with_lora(tiny_dir, reward_dir, tmp_path):
    data = sort_prompts(tmp_path)
    config = load_config(GRPOStageConfig, None, options(tiny_dir, reward_dir, data, tmp_path / "g", max_steps=3,
                                                        lora=True, lora_r=4))
    summary = run_stage(STAGES["grpo"](), config)
    assert log(tmp_path / "g")[0]["kl"] == 0.0  # reference = the adapter-free network, equal at the start
    assert summary["model"].endswith("final-merged")
