"""RAFT: exactly the top-scored samples are kept; a round of fine-tuning on them raises the reward."""

from __future__ import annotations

import json
import math

import pytest

from feedlearn.cli import main
from feedlearn.common.config import load_config
from feedlearn.tune.data import load_dataset
from feedlearn.tune.models import load_model, load_tokenizer
from feedlearn.tune.rewards import RewardScorer, replies, reply_logprob, rlhf_metrics
from feedlearn.tune.stages import STAGES, IterativeDPOConfig, RaftConfig, run_stage
from feedlearn.tune.stages.iterative_dpo import best_worst_pairs, round_prompts
from feedlearn.tune.stages.raft import select
from tests.tune.conftest import preference_pairs, sort_prompts


def test_select_keeps_exactly_the_top_samples():
    prompt_ids = [0, 0, 0, 1, 1, 1]
    rewards = [0.1, 0.9, 0.9, -2.0, -1.0, -3.0]
    assert select(prompt_ids, rewards, "best") == [1, 4]  # per prompt; the first of tied bests
    assert select(prompt_ids, rewards, "top_fraction", 0.5) == [0, 1, 2]  # 3 highest overall
    assert select(prompt_ids, rewards, "top_fraction", 0.25) == [1, 2]  # ceil(1.5) = 2
    assert select(prompt_ids, rewards, "top_fraction", 0.01) == [1]  # at least one


def test_raft_rounds_raise_the_mean_reward(tiny_dir, reward_dir, tmp_path):
    data = sort_prompts(tmp_path)
    config = load_config(RaftConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": reward_dir,
                                            "output_dir": str(tmp_path / "raft"), "iterations": 3, "k": 4,
                                            "max_steps": 15, "batch_size": 8, "lr": 3e-3, "max_new_tokens": 8,
                                            "save_steps": 100})
    summary = run_stage(STAGES["raft"](), config)
    rounds = summary["rounds"]
    assert [r["kept"] for r in rounds] == [16, 16, 16]  # best-of-4 for each of 16 prompts
    assert all(r["kept_mean_reward"] >= r["mean_reward"] for r in rounds)
    assert rounds[-1]["mean_reward"] > rounds[0]["mean_reward"]
    # resume: a rerun finds the finished rounds and does not redo them
    before = (tmp_path / "raft" / "round-0.json").read_text()
    again = run_stage(STAGES["raft"](), config)
    assert again["rounds"] == rounds and (tmp_path / "raft" / "round-0.json").read_text() == before
    assert json.loads((tmp_path / "raft" / "summary.json").read_text())["model"] == summary["model"]


def test_rlhf_metrics_against_itself(tiny_dir, reward_dir):
    model, tok = load_model(tiny_dir), load_tokenizer(tiny_dir)
    prompts = [inst["chosen"]["messages"][:1] for inst in preference_pairs(6, seed=4).instances]
    scorer = RewardScorer(reward_dir)
    own = replies(model, tok, prompts, 6)
    metrics = rlhf_metrics(model, tok, prompts, scorer, reference=load_model(tiny_dir), baseline_replies=own,
                           max_new_tokens=6)
    assert metrics["win_rate"] == 0.5  # ties against its own replies count half
    assert metrics["kl_to_reference"] == pytest.approx(0.0, abs=1e-5)  # same weights
    assert metrics["mean_reward"] == pytest.approx(sum(scorer.score(
        [p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, own)])) / 6)
    logp, n = reply_logprob(model, tok, prompts[0], own[0])
    assert logp < 0 and n == len(tok(own[0], add_special_tokens=False)["input_ids"]) + 1  # reply + <|im_end|>


def test_best_worst_pairs_by_hand():
    p0, p1 = [{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]
    pairs = best_worst_pairs([p0, p0, p0, p1, p1, p1], ["x", "y", "z", "u", "v", "w"], [1.0, 3.0, 2.0, 5.0, 5.0, 5.0], 3)
    assert len(pairs) == 1  # prompt b: all tied, no pair
    assert pairs[0]["chosen"]["messages"][-1]["content"] == "y" and pairs[0]["rejected"]["messages"][-1]["content"] == "x"


def test_iterative_dpo_rounds_raise_the_mean_reward(tiny_dir, reward_dir, tmp_path):
    data = sort_prompts(tmp_path)
    config = load_config(IterativeDPOConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": reward_dir,
                                                    "output_dir": str(tmp_path / "idpo"), "iterations": 3, "n": 4,
                                                    "max_steps": 10, "batch_size": 8, "lr": 1e-2, "beta": 0.1,
                                                    "max_new_tokens": 8, "save_steps": 100,
                                                    # each round's start as its reference, all prompts each round
                                                    "reference": "previous", "fresh_prompts": False})
    rounds = run_stage(STAGES["iterative_dpo"](), config)["rounds"]
    assert all(r["pairs"] > 0 for r in rounds)
    assert rounds[-1]["mean_reward"] > rounds[0]["mean_reward"]


def test_raft_can_carry_one_optimizer_across_rounds(tiny_dir, reward_dir, tmp_path):
    import torch

    data = sort_prompts(tmp_path, n=4)
    out = tmp_path / "carry"
    run_stage(STAGES["raft"](), load_config(RaftConfig, None, {
        "model": str(tiny_dir), "data": str(data), "reward_model": reward_dir, "output_dir": str(out), "iterations": 2,
        "k": 2, "max_steps": 1, "batch_size": 4, "max_new_tokens": 4, "carry_optimizer": True}))
    state = torch.load(out / "round-1" / "checkpoint-1" / "optimizer.pt", weights_only=True)["state"]
    # round 1's AdamW continues round 0's: 2 steps in all (a fresh one would have taken 1)
    assert {float(s["step"]) for s in state.values()} == {2.0}
    # and its one step moved the weights: the lr is the round's own schedule, not the saved one (cosine's end, 0)
    a, b = (load_model(out / f"round-{it}" / "final").state_dict() for it in (0, 1))
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_round_prompts_split_the_data_into_consecutive_shares():
    prompts = [[{"role": "user", "content": str(i)}] for i in range(7)]
    shares = [[int(p[0]["content"]) for p in round_prompts(prompts, it, 3, fresh=True)] for it in range(3)]
    assert shares == [[0, 1, 2], [3, 4], [5, 6]]
    assert round_prompts(prompts, 1, 3, fresh=False) == prompts == round_prompts(prompts, 1, 8, fresh=True)


def test_iterative_dpo_keeps_the_initial_reference_and_takes_new_prompts_each_round(tiny_dir, reward_dir, tmp_path):
    data = sort_prompts(tmp_path, n=8)
    config = load_config(IterativeDPOConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": reward_dir,
                                                    "output_dir": str(tmp_path / "idpo"), "iterations": 2, "n": 4,
                                                    "max_steps": 1, "batch_size": 4, "lr": 1e-2, "max_new_tokens": 4,
                                                    "save_steps": 100, "logging_steps": 1})
    assert (config.reference, config.fresh_prompts) == ("initial", True)  # the defaults
    run_stage(STAGES["iterative_dpo"](), config)
    prompts = [load_dataset(str(data)).instances[i]["messages"][0]["content"] for i in range(8)]
    asked = [{inst["chosen"]["messages"][0]["content"] for inst in
              load_dataset(str(tmp_path / "idpo" / f"round-{it}-pairs.json")).instances} for it in range(2)]
    assert asked[0] <= set(prompts[:4]) and asked[1] <= set(prompts[4:]) and asked[0] and asked[1]
    first_loss = [json.loads((tmp_path / "idpo" / f"round-{it}" / "log.jsonl").read_text().splitlines()[0])["loss"]
                  for it in range(2)]
    # round 0 starts from its reference: DPO's first loss is log 2 exactly; round 1 starts from round 0's
    # model but keeps the initial reference, so policy != reference at its first step
    assert first_loss[0] == pytest.approx(math.log(2), abs=1e-5)
    assert abs(first_loss[1] - math.log(2)) > 1e-4


def test_eval_cli_rlhf_metrics(tiny_dir, reward_dir, tmp_path, capsys):
    data = sort_prompts(tmp_path, 4)
    out = tmp_path / "m.json"
    assert main(["tune", "eval", str(tiny_dir), "--data", str(data), "--reward-model", reward_dir, "--baseline",
                 str(tiny_dir), "--reference", str(tiny_dir), "--max-new-tokens", "4", "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["win_rate"] == 0.5 and metrics["kl_to_reference"] == pytest.approx(0.0, abs=1e-5)
    assert "mean_reward" in capsys.readouterr().out
