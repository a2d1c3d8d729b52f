"""The contract every member of ``STAGES`` keeps, on the cheapest run each allows (2 optimizer steps).

Each stage trains, saves a loadable final model, writes the shared summary, reports a rerun of a
finished run as finished (nothing trained), and finishes a run killed after its last checkpoint
without another step. A stage's own test file adds only what is special to it. The last test adds a
stage the way ``src/feedlearn/tune/README.md`` says and runs it through a recipe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from feedlearn.common.config import load_config
from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.features import pack
from feedlearn.tune.models import load_model
from feedlearn.tune.recipe import run_recipe
from feedlearn.tune.stage import Stage, run_stage
from feedlearn.tune.stages import STAGES
from feedlearn.tune.trainer import Features
from tests.tune.conftest import CORPUS, preference_pairs, sort_prompts

SUMMARY_KEYS = {"stage", "model", "steps", "resumed_from", "train_loss", "tokens", "seconds", "tokens_per_second",
                "peak_memory_bytes", "eval", "total_seconds", "config"}


def tiny_data(dtype: str, tmp_path: Path) -> Path:
    """A few instances of ``dtype``: enough for two steps of batch 2."""
    if dtype == "text_only":
        return save_dataset(TuneDataset("text_only", [{"text": t} for t in CORPUS[:3]]), tmp_path / "text.json")
    if dtype.startswith("paired"):
        return save_dataset(preference_pairs(4, seed=5), tmp_path / "pairs.json")
    return sort_prompts(tmp_path, n=4)  # conversations: sft learns them, sampling stages take their prompts


def tiny_options(stage: type[Stage], tiny_dir: Path, reward_dir: str, tmp_path: Path) -> dict[str, Any]:
    """The cheapest options: 2 steps of batch 2, short replies, one round, groups of 2."""
    options = {"model": str(tiny_dir), "data": str(tiny_data(stage.data_types[0], tmp_path)),
               "output_dir": str(tmp_path / "out"), "max_steps": 2, "batch_size": 2, "save_steps": 1,
               "logging_steps": 1, "max_length": 64}
    smallest = {"reward_model": reward_dir, "block_size": 16, "iterations": 1, "k": 2, "n": 2, "num_generations": 2,
                "max_new_tokens": 4, "eval_max_new_tokens": 2}
    options.update({k: v for k, v in smallest.items() if k in stage.config_class.model_fields})
    return options


def logs(out: Path) -> list[str]:
    """Every log.jsonl of a run (round-based stages log in their rounds' folders)."""
    return [p.read_text() for p in sorted(out.rglob("log.jsonl"))]


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_contract(name, tiny_dir, reward_dir, tmp_path):
    stage = STAGES[name]()
    config = load_config(stage.config_class, None, tiny_options(STAGES[name], tiny_dir, reward_dir, tmp_path))
    out = Path(config.output_dir)
    summary = run_stage(stage, config)
    # the shared summary, also in summary.json
    assert SUMMARY_KEYS <= set(summary) and summary["stage"] == name
    assert summary["steps"] == stage.total_steps(config) == 2
    assert summary["tokens"] > 0 and summary["tokens_per_second"] > 0
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary, default=str))
    # it trained: the saved model loads and its backbone moved from the start (a new score head would differ anyway)
    head = "causal_lm" if stage.makes_policy else "score"
    start, after = load_model(str(tiny_dir), head=head).state_dict(), load_model(summary["model"], head=head).state_dict()
    assert any(not torch.equal(start[k], after[k]) for k in start if k.startswith("model."))
    # a rerun of the finished run trains nothing
    log = logs(out)
    again = run_stage(stage, config)
    assert again["already_finished"] and again["model"] == summary["model"]
    # killed after its last checkpoint, before summary.json: finished without another step
    (out / "summary.json").unlink()
    resumed = run_stage(stage, config)
    assert resumed["steps"] == 2 and "already_finished" not in resumed
    assert logs(out) == log


class EveryOtherBlockConfig(TrainConfig):
    block_size: int = 16


class EveryOtherBlock(Stage):
    """A new stage, made as the README says: pretraining on every other packed block."""

    name = "every_other_block"
    config_class = EveryOtherBlockConfig
    data_types = ("text_only",)

    def features(self, config, tokenizer, data):
        blocks = pack([i["text"] for i in data.instances], tokenizer, config.block_size)[::2]
        return Features([{"input_ids": b, "labels": list(b)} for b in blocks])

    def evaluate(self, model, tokenizer, config, data):
        return {"blocks": float(len(pack([i["text"] for i in data.instances], tokenizer, config.block_size)))}


def test_a_new_stage_runs_through_a_recipe(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(STAGES, EveryOtherBlock.name, EveryOtherBlock)  # the one line in stages/__init__.py
    text = tiny_data("text_only", tmp_path)
    recipe = {"name": "new", "output_dir": str(tmp_path / "run"), "base": {"model": str(tiny_dir)},
              "stages": [{"name": "eob", "stage": "every_other_block",
                          "options": {"data": str(text), "eval_data": str(text), "max_steps": 2, "batch_size": 2}}]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    rows = run_recipe(path, log=lambda row: None)["rows"]
    assert [r["stage"] for r in rows] == ["base", "eob"] and rows[1]["model"].endswith("run/eob/final")
    summary = json.loads((tmp_path / "run" / "eob" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["eval"]["blocks"] > 1 and summary["examples"] >= 1
