"""DPO stage (TRL's DPOTrainer inside the shared loop): loss log 2 at the start, preference learned."""

from __future__ import annotations

import json
import math

import pytest

from feedlearn.common.config import load_config
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.stages import STAGES, DPOStageConfig, run_stage
from feedlearn.tune.stages.dpo import trl_rows
from tests.tune.conftest import preference_pairs


def test_pairs_become_trl_conversational_rows():
    conv = preference_pairs(1)
    (row,) = trl_rows(conv)
    assert row["prompt"] == conv.instances[0]["chosen"]["messages"][:1]
    assert row["rejected"] == [{"role": "assistant", "content": "I do not know."}]
    (row,) = trl_rows(TuneDataset("paired_text_to_text", [{"prompt": "q", "chosen": "a", "rejected": "b"}]))
    assert row == {"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}],
                   "rejected": [{"role": "assistant", "content": "b"}]}


def test_dpo_starts_at_log2_and_learns_the_preference(tiny_dir, tmp_path, capfd):
    train = save_dataset(preference_pairs(32, seed=1), tmp_path / "train.json")
    held = save_dataset(preference_pairs(16, seed=2), tmp_path / "held.json")
    config = load_config(DPOStageConfig, None, {"model": str(tiny_dir), "data": str(train), "eval_data": str(held),
                                                "output_dir": str(tmp_path / "dpo"), "max_steps": 12, "batch_size": 8,
                                                "lr": 5e-3, "logging_steps": 1, "save_steps": 100})
    summary = run_stage(STAGES["dpo"](), config)
    log = [json.loads(line) for line in (tmp_path / "dpo" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[0] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference at step 1
    assert losses[-1] < losses[0]
    assert summary["eval"]["implicit_accuracy"] >= 0.9 and summary["eval"]["mean_margin"] > 0
    assert "examples/s" not in capfd.readouterr().err  # TRL's datasets.map draws no bars in a log


def test_dpo_with_lora_uses_the_adapter_free_model_as_reference(tiny_dir, tmp_path):
    train = save_dataset(preference_pairs(16, seed=1), tmp_path / "train.json")
    config = load_config(DPOStageConfig, None, {"model": str(tiny_dir), "data": str(train), "lora": True,
                                                "output_dir": str(tmp_path / "dpo"), "max_steps": 3, "batch_size": 8,
                                                "lr": 1e-2, "logging_steps": 1, "save_steps": 100})
    summary = run_stage(STAGES["dpo"](), config)
    first = json.loads((tmp_path / "dpo" / "log.jsonl").read_text().splitlines()[0])
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-4)  # zero-initialised LoRA: policy == reference
    assert summary["model"].endswith("final-merged")
