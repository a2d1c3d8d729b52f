"""The self-play recipes: every shipped one loads, and each method's data and options fit its tune stage."""

from __future__ import annotations

import pytest

from feedlearn.bargain.selfplay import METHOD_DATA, SelfPlayConfig
from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import folder
from feedlearn.tune.stages import STAGES

RECIPES = sorted(folder("selfplay").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_selfplay_recipes_fit_their_stages(path):
    config = load_config(SelfPlayConfig, path)
    data_file, extra = METHOD_DATA[config.method]
    options = {**extra, **config.train, "model": "m", "data": data_file, "output_dir": "o"}
    STAGES[config.method].config_class.model_validate(options)  # every option is one the stage has
    STAGES["sft"].config_class.model_validate({**config.teach, "model": "m", "data": "d", "output_dir": "o"})


def test_every_method_is_a_tune_stage_that_takes_its_exported_data(tmp_path):
    assert set(METHOD_DATA) <= set(STAGES)
    for method, (data_file, _) in METHOD_DATA.items():
        kind = "paired_conversation" if data_file == "paired.json" else "conversation"
        assert kind in STAGES[method].data_types, method
    (tmp_path / "bad.yaml").write_text("method: ppo\n")
    with pytest.raises(FeedlearnError, match="bad.yaml.*method"):
        load_config(SelfPlayConfig, tmp_path / "bad.yaml")
