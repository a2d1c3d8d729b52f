"""Stage configs from YAML and key=value overrides, with one-line errors naming file and key."""

from __future__ import annotations

import pytest

from feedlearn.common.config import load_config, parse_overrides
from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.zeropp import STRATEGIES
from feedlearn.tune.stages import PretrainConfig, SFTConfig


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndata: d.json\noutput_dir: out\nlr: 0.01\nlora: true\n")
    config = load_config(SFTConfig, path, ["lr=3e-4", "max-steps=7", "lora_target_modules=[q_proj, v_proj]"])
    assert (config.lr, config.max_steps, config.lora) == (3e-4, 7, True)
    assert config.lora_target_modules == ["q_proj", "v_proj"] and config.loss_on == "assistant"
    assert load_config(PretrainConfig, path).block_size == 256
    assert parse_overrides(["eval_data="]) == {"eval_data": None}


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("model: m\ndata: d\noutput_dir: o\nlearning_rate: 1\n", [], r"c\.yaml: learning_rate: unknown option"),
        ("model: m\ndata: d\n", [], r"c\.yaml: output_dir: Field required"),
        ("model: m\ndata: d\noutput_dir: o\n", ["max_steps=0"], "max_steps: Input should be greater than 0"),
        ("model: m\ndata: d\noutput_dir: o\n", ["loss_on=prompt"], "loss_on: Input should be 'assistant' or 'all'"),
        ("- a\n- b\n", [], "expected a mapping of options"),
        ("model: [\n", [], "invalid YAML"),
        ("model: m\ndata: d\noutput_dir: o\n", ["lr"], "override 'lr': expected key=value"),
    ],
)
def test_bad_configs(tmp_path, text, overrides, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(FeedlearnError, match=message):
        load_config(SFTConfig, path, overrides)


def test_missing_config_file(tmp_path):
    with pytest.raises(FeedlearnError, match="no such config file"):
        load_config(SFTConfig, tmp_path / "none.yaml")


def test_strategy_names_are_the_dist_registry():
    base = {"model": "m", "data": "d", "output_dir": "o"}
    names = ["none", *STRATEGIES]
    assert [load_config(SFTConfig, None, {**base, "strategy": s}).strategy for s in names] == names
    with pytest.raises(FeedlearnError, match=r"^options: strategy: Input should be 'none' or one of 'zero3', 'qwz'"):
        load_config(SFTConfig, None, {**base, "strategy": "zero4"})
