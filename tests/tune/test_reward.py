"""Reward stage: the pairwise loss by hand, learning a preference, LoRA head kept after merge, real data."""

from __future__ import annotations

import math

import pytest
import torch

from feedlearn.cli import main
from feedlearn.common.config import load_config
from feedlearn.tune.data import TuneDataset, convert, save_dataset
from feedlearn.tune.features import pair_features
from feedlearn.tune.models import load_model, load_tokenizer
from feedlearn.tune.rewards import PairCollator, pairwise_accuracy, score_batch
from feedlearn.tune.stages import STAGES, DPOStageConfig, RewardConfig, run_stage
from feedlearn.tune.stages.reward import pairwise_loss
from tests.tune.conftest import DATA, preference_pairs


def test_pairwise_loss_worked_by_hand():
    assert float(pairwise_loss(torch.tensor([2.0]), torch.tensor([1.0]))) == pytest.approx(math.log1p(math.exp(-1)))
    assert float(pairwise_loss(torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([1.0]))) == pytest.approx(math.log(2))
    # mean over pairs: (log(1+e^-1) + log(1+e^1)) / 2
    value = pairwise_loss(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert float(value) == pytest.approx((math.log1p(math.exp(-1)) + math.log1p(math.exp(1))) / 2)


def reward_config(tiny_dir, data, out, **kw):
    return load_config(RewardConfig, None, {"model": str(tiny_dir), "data": str(data), "output_dir": str(out),
                                            "max_steps": 30, "batch_size": 8, "lr": 3e-3, "save_steps": 100, **kw})


def test_reward_model_learns_the_preference(tiny_dir, tmp_path):
    train = save_dataset(preference_pairs(64, seed=1), tmp_path / "train.json")
    held = save_dataset(preference_pairs(32, seed=2), tmp_path / "held.json")
    summary = run_stage(STAGES["reward"](), reward_config(tiny_dir, train, tmp_path / "rm", eval_data=str(held)))
    assert summary["eval"]["accuracy"] >= 0.9 and summary["eval"]["mean_gap"] > 0
    assert summary["tokens"] > 0
    # the saved model reloads as a score model with the trained head: same accuracy
    tok = load_tokenizer(summary["model"])
    rows = pair_features(preference_pairs(32, seed=2), tok, 512, True)
    assert pairwise_accuracy(load_model(summary["model"], head="score"), rows, tok.pad_token_id) == summary["eval"]


def test_lora_reward_model_keeps_its_score_head_after_merge(tiny_dir, tmp_path):
    from peft import PeftModel

    train = save_dataset(preference_pairs(32, seed=1), tmp_path / "train.json")
    summary = run_stage(STAGES["reward"](), reward_config(tiny_dir, train, tmp_path / "lora", lora=True, max_steps=10))
    assert summary["model"].endswith("final-merged")
    tok = load_tokenizer(summary["model"])
    batch = PairCollator(tok.pad_token_id)(pair_features(preference_pairs(4, seed=3), tok, 512, True))
    adapter = PeftModel.from_pretrained(load_model(tiny_dir, head="score"), str(tmp_path / "lora" / "final"))
    merged = load_model(summary["model"], head="score")
    with torch.no_grad():
        a = score_batch(adapter, batch["input_ids"], batch["attention_mask"])
        m = score_batch(merged, batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(a, m, atol=1e-5)


def test_real_preference_data_trains(tiny_dir, tmp_path):
    hh = convert(DATA / "hh-rlhf-harmless-base-test.jsonl.gz", "hh", skip_bad=True)
    hh.instances = hh.instances[:16]
    dpo = convert(DATA / "dpo_en_demo.json.gz", "sharegpt")
    dpo.instances = dpo.instances[:16]
    for name, data in (("hh", hh), ("dpo", dpo)):
        path = save_dataset(data, tmp_path / f"{name}.json")
        summary = run_stage(STAGES["reward"](), reward_config(tiny_dir, path, tmp_path / name, max_steps=2,
                                                              max_length=128, batch_size=4))
        assert summary["steps"] == 2 and math.isfinite(summary["train_loss"])
        # the same real pairs through DPO (TRL), a few steps
        dpo_config = load_config(DPOStageConfig, None, {"model": str(tiny_dir), "data": str(path), "max_steps": 2,
                                                        "output_dir": str(tmp_path / f"{name}-dpo"), "batch_size": 4,
                                                        "max_length": 128, "save_steps": 100})
        summary = run_stage(STAGES["dpo"](), dpo_config)
        assert summary["steps"] == 2 and math.isfinite(summary["train_loss"])
    pairs = save_dataset(TuneDataset("paired_text_to_text", [{"prompt": "q", "chosen": "good", "rejected": "bad",
                                                              "margin": 1.0}] * 4), tmp_path / "p.json")
    assert run_stage(STAGES["reward"](), reward_config(tiny_dir, pairs, tmp_path / "p", max_steps=1))["steps"] == 1


def test_score_cli(tiny_dir, tmp_path, capsys):
    import json


    train = save_dataset(preference_pairs(32, seed=1), tmp_path / "train.json")
    summary = run_stage(STAGES["reward"](), reward_config(tiny_dir, train, tmp_path / "rm", max_steps=20))
    held = save_dataset(preference_pairs(8, seed=2), tmp_path / "held.json")
    out = tmp_path / "scores.jsonl"
    assert main(["tune", "score", summary["model"], "--data", str(held), "--out", str(out)]) == 0
    assert "8 pairs, accuracy" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 8
    chosen = preference_pairs(1).instances[0]["chosen"]
    conv = save_dataset(TuneDataset("conversation", [chosen]), tmp_path / "c.json")
    assert main(["tune", "score", summary["model"], "--data", str(conv)]) == 0
    assert "1 conversations, mean reward" in capsys.readouterr().out
    text = save_dataset(TuneDataset("text_only", [{"text": "x"}]), tmp_path / "t.json")
    assert main(["tune", "score", summary["model"], "--data", str(text)]) == 2
    assert json.loads(out.read_text().splitlines()[0]).keys() == {"chosen", "rejected"}


def test_reward_training_does_not_depend_on_earlier_random_draws(tiny_dir, tmp_path):
    train = save_dataset(preference_pairs(16, seed=1), tmp_path / "train.json")
    losses = []
    for i in range(2):
        torch.rand(1000 * (i + 1))  # earlier work in the process consumed different amounts of randomness
        summary = run_stage(STAGES["reward"](), reward_config(tiny_dir, train, tmp_path / f"rm{i}", max_steps=3,
                                                              lora=True))
        losses.append(summary["train_loss"])
    assert losses[0] == losses[1]


def test_a_score_head_on_a_causal_checkpoint_loads_quietly_and_other_gaps_are_said(tiny_dir, tmp_path, capfd, caplog):
    model = load_model(tiny_dir, head="score")  # the new head is expected: no loading report table
    assert model.score.weight.shape[0] == 1
    assert "LOAD REPORT" not in capfd.readouterr().err and not caplog.records
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_dir.iterdir():
        if f.is_file() and f.suffix != ".safetensors":
            (broken / f.name).write_bytes(f.read_bytes())
    weights = load_file(tiny_dir / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "layers.0.mlp" not in k}, broken / "model.safetensors")
    load_model(broken, head="score")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "3 weights are not in the checkpoint and start random" in said[0], said
