"""Every shipped recipe parses, and every stage's options are valid for its stage (no GPU needed)."""

from __future__ import annotations

import pytest
import yaml

from feedlearn.shipped import folder
from feedlearn.tune.recipe import Recipe, prepare
from feedlearn.tune.stages import STAGES

RECIPES = sorted(folder("recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipe_is_valid(path):
    recipe = Recipe.model_validate(yaml.safe_load(path.read_text()))
    names = {stage.name for stage in recipe.stages}
    for spec in recipe.stages:
        assert spec.stage in STAGES, spec.name
        options = {**spec.options, "model": "m", "output_dir": "o"}
        for key in ("reward_model", "critic_model"):
            if key in options:
                assert options[key] in names, f"{spec.name}: {key} {options[key]!r} is not a stage"
        STAGES[spec.stage].config_class.model_validate(options)
    for ev in recipe.evals:
        assert ev.reward_model is None or ev.reward_model in names


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipe_data_prepares_and_fits_its_stages(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # recipes name shipped data by name: found from any directory
    recipe = Recipe.model_validate(yaml.safe_load(path.read_text()))
    prepare(recipe, tmp_path)
    for spec in recipe.stages:
        for key in ("data", "eval_data"):
            if spec.options.get(key):
                STAGES[spec.stage]().load(str(tmp_path / spec.options[key]))  # raises on a wrong data type
