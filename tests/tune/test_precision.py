"""Precision: bf16-mixed keeps the small updates bf16-true rounds away, and tracks fp32's loss curve."""

from __future__ import annotations

import json
import math

import pytest
import torch

from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import save_dataset
from feedlearn.tune.features import pack
from feedlearn.tune.models import load_model, load_tokenizer
from feedlearn.tune.precision import resolve_precision
from feedlearn.tune.stages import PretrainConfig, RewardConfig
from feedlearn.tune.trainer import Features, prepare_model, train
from tests.tune.conftest import CORPUS

WEIGHT = "model.layers.0.mlp.gate_proj.weight"  # (64, 32): a typical matrix, init std 0.02


def test_auto_is_fp32_on_cpu_and_bf16_mixed_on_a_bf16_gpu():
    assert resolve_precision("auto", cuda=False).name == "fp32"
    assert resolve_precision("auto", cuda=True, bf16=True).name == "bf16-mixed"
    assert resolve_precision("auto", cuda=True, bf16=False).name == "fp16-mixed"
    mixed = resolve_precision("bf16-mixed", cuda=False)
    assert (mixed.weights, mixed.compute, mixed.load_dtype(lora=True), mixed.load_dtype(lora=False)) == (
        torch.float32, torch.bfloat16, "bfloat16", "float32")
    with pytest.raises(FeedlearnError, match="fp16-mixed: loss-scaled fp16 needs a CUDA GPU"):
        resolve_precision("fp16-mixed", cuda=False)


def test_the_old_dtype_option_names_a_precision():
    base = {"model": "m", "data": "d", "output_dir": "o"}
    assert load_config(PretrainConfig, None, base).precision == "auto"
    assert load_config(PretrainConfig, None, {**base, "dtype": "bfloat16"}).precision == "bf16-true"
    assert load_config(PretrainConfig, None, {**base, "dtype": "float32", "precision": "fp32"}).precision == "fp32"
    with pytest.raises(FeedlearnError, match="dtype bfloat16 means precision bf16-true, not bf16-mixed"):
        load_config(PretrainConfig, None, {**base, "dtype": "bfloat16", "precision": "bf16-mixed"})


def _one_run(tiny_dir, tmp_path, precision, steps, lr):
    tok = load_tokenizer(tiny_dir)
    feats = Features([{"input_ids": b, "labels": list(b)} for b in pack(CORPUS[:6], tok, 32)])
    config = load_config(PretrainConfig, None, {"model": str(tiny_dir), "data": "unused", "max_steps": steps,
                                                "output_dir": str(tmp_path / precision), "batch_size": 4, "lr": lr,
                                                "warmup_ratio": 0, "logging_steps": 1, "save_steps": 100,
                                                "precision": precision})
    model, _ = train(config, tok, feats)
    log = [json.loads(line) for line in (tmp_path / precision / "log.jsonl").read_text().splitlines()]
    return model, [r["loss"] for r in log if "loss" in r]


def test_bf16_mixed_keeps_small_lr_updates_that_bf16_true_rounds_away(tiny_dir, tmp_path):
    start = load_model(tiny_dir).state_dict()[WEIGHT]
    changed = {}
    for precision in ("bf16-mixed", "bf16-true"):
        model, _ = _one_run(tiny_dir, tmp_path, precision, steps=1, lr=1e-5)
        after = model.state_dict()[WEIGHT]
        assert after.dtype == resolve_precision(precision).weights  # fp32 masters under -mixed
        changed[precision] = float((after != start.to(after.dtype)).float().mean())
    # Adam's first step moves every weight by ~lr = 1e-5: fp32 keeps all of it; bf16's spacing near
    # |w| ~ 0.02 is ~1.2e-4, so only the smallest weights (|w| < ~2.5e-3) can move at all
    assert changed["bf16-mixed"] > 0.95, changed
    assert changed["bf16-true"] < 0.25, changed


def test_fp32_and_bf16_mixed_loss_curves_stay_close(tiny_dir, tmp_path):
    _, fp32 = _one_run(tiny_dir, tmp_path, "fp32", steps=4, lr=3e-3)
    _, mixed = _one_run(tiny_dir, tmp_path, "bf16-mixed", steps=4, lr=3e-3)
    assert len(fp32) == len(mixed) == 4 and fp32[-1] < fp32[0]
    assert fp32 != mixed  # autocast did change the arithmetic
    assert mixed == pytest.approx(fp32, rel=1e-3)  # measured: within 2e-5


def test_mixed_lora_keeps_a_bf16_base_and_fp32_trainable_tensors(tiny_dir, tmp_path):
    """The reward model's LoRA and its new score head (peft's modules_to_save) are fp32 masters."""
    config = load_config(RewardConfig, None, {"model": str(tiny_dir), "data": "d", "output_dir": str(tmp_path),
                                              "lora": True, "precision": "bf16-mixed"})
    model = prepare_model(config, load_tokenizer(tiny_dir), head="score")
    trainable = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert any("score" in n for n in trainable) and any("lora_A" in n for n in trainable)
    assert set(trainable.values()) == {torch.float32} and frozen == {torch.bfloat16}


def test_ppo_trains_in_bf16_mixed_with_fp32_actor_and_critic(tiny_dir, reward_dir, tmp_path):
    from feedlearn.tune.stages import PPOConfig, run_stage
    from feedlearn.tune.stages.ppo import PPO
    from tests.tune.conftest import sort_prompts

    data = sort_prompts(tmp_path, n=4)
    config = load_config(PPOConfig, None, {"model": str(tiny_dir), "data": str(data), "reward_model": reward_dir,
                                           "output_dir": str(tmp_path / "ppo"), "max_steps": 2, "batch_size": 4,
                                           "mini_batch_size": 2, "max_new_tokens": 4, "save_steps": 2,
                                           "logging_steps": 1, "precision": "bf16-mixed"})
    summary = run_stage(PPO(), config)
    rows = [json.loads(line) for line in (tmp_path / "ppo" / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(torch.isfinite(torch.tensor(r["policy_loss"])) for r in rows)
    state = torch.load(next((tmp_path / "ppo").glob("checkpoint-2/ppo_state.pt")), weights_only=True)
    assert {v.dtype for v in state["actor"].values()} == {v.dtype for v in state["critic"].values()} == {torch.float32}
    assert load_model(summary["model"]).state_dict()[WEIGHT].dtype == torch.float32


def test_a_lora_reward_model_trains_under_bf16_autocast(tiny_dir, tmp_path):
    """The Trainer path with autocast on (bf16=True) end to end, for a score head: loss is finite."""
    from feedlearn.tune.stages import STAGES, run_stage
    from tests.tune.conftest import preference_pairs

    data = save_dataset(preference_pairs(4, seed=2), tmp_path / "pairs.json")
    config = load_config(RewardConfig, None, {"model": str(tiny_dir), "data": str(data), "max_steps": 2,
                                              "output_dir": str(tmp_path / "rm"), "batch_size": 2, "save_steps": 100,
                                              "precision": "bf16-mixed", "lora": True})
    summary = run_stage(STAGES["reward"](), config)
    assert summary["steps"] == 2 and math.isfinite(summary["train_loss"])
    assert json.loads((tmp_path / "rm" / "summary.json").read_text())["config"]["precision"] == "bf16-mixed"

