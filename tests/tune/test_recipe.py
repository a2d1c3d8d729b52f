"""Recipes: prepared data, stages chained from the previous model, evals per stage, rerun skips."""

from __future__ import annotations

import json

import pytest
import yaml

from feedlearn.cli import main
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.recipe import run_recipe


def write_recipe(tmp_path, tiny_dir, **changes):
    recipe = {
        "name": "t", "output_dir": str(tmp_path / "run"), "base": {"model": str(tiny_dir)},
        "prepare": [{"out": "tr.json", "synthetic": {"n": 40, "format": "text2text", "seed": 1}},
                    {"out": "ev.json", "synthetic": {"n": 5, "format": "text2text", "seed": 2}},
                    {"out": "text.json", "convert": "wiki_demo.txt.gz", "from": "text", "rows": "0:1"}],
        "evals": [{"name": "task", "kind": "generation", "data": "ev.json", "max_new_tokens": 4},
                  {"name": "text", "kind": "perplexity", "data": "text.json", "block_size": 32}],
        "stages": [{"name": "a", "stage": "sft", "options": {"data": "tr.json", "max_steps": 2, "batch_size": 4}},
                   {"name": "b", "stage": "sft", "options": {"data": "tr.json", "max_steps": 2, "batch_size": 4}}],
        **changes,
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_recipe_chains_stages_and_rerun_skips_finished_ones(tmp_path, tiny_dir):
    path = write_recipe(tmp_path, tiny_dir)
    result = run_recipe(path, log=lambda row: None)
    rows = result["rows"]
    assert [r["stage"] for r in rows] == ["base", "a", "b"]
    assert rows[1]["model"].endswith("run/a/final") and rows[2]["model"].endswith("run/b/final")
    b_config = json.loads((tmp_path / "run" / "b" / "summary.json").read_text())["config"]
    assert b_config["model"] == rows[1]["model"]  # b starts from a's output
    assert b_config["data"] == str(tmp_path / "run" / "data" / "tr.json")
    assert set(rows[0]) >= {"task exact match", "task stops at EOS", "text perplexity"}
    assert len(json.loads((tmp_path / "run" / "data" / "text.json").read_text())["instances"]) == 1
    log_a = (tmp_path / "run" / "a" / "log.jsonl").read_text()
    again = run_recipe(path, log=lambda row: None)
    assert (tmp_path / "run" / "a" / "log.jsonl").read_text() == log_a  # finished: not trained again
    assert again["rows"][1]["train_loss"] == rows[1]["train_loss"]
    assert json.loads((tmp_path / "run" / "recipe_summary.json").read_text())["recipe"] == "t"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stages": [{"name": "x", "stage": "kto", "options": {}}]}, "stage x: unknown stage 'kto'"),
        ({"base": {}}, "base needs model or init_tiny"),
        ({"prepare": [{"out": "x.json"}]}, "prepare x.json: give synthetic, synthetic_preferences or convert"),
        ({"stagez": []}, r"r\.yaml: stagez: unknown option"),
    ],
)
def test_bad_recipes(tmp_path, tiny_dir, changes, message):
    with pytest.raises(FeedlearnError, match=message):
        run_recipe(write_recipe(tmp_path, tiny_dir, **changes), log=lambda row: None)


def test_run_cli_prints_the_table(tmp_path, tiny_dir, capsys):
    path = write_recipe(tmp_path, tiny_dir, stages=[{"name": "a", "stage": "sft",
                                                     "options": {"data": "tr.json", "max_steps": 1}}])
    assert main(["tune", "run", str(path)]) == 0
    assert "t: held-out metrics after each stage" in capsys.readouterr().out
