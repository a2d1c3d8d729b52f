"""Recipes: a YAML file that chains stages, each starting from the previous stage's model.

```yaml
name: tiny-4stage
output_dir: runs/tiny-4stage
base: {init_tiny: {}}            # or {model: Qwen/Qwen2.5-0.5B-Instruct}
prepare:                          # datasets made under OUTPUT_DIR/data (skipped when present)
  - {out: task-train.json, synthetic: {n: 4000, format: text2text, seed: 1}}
  - {out: domain-train.json, convert: data/llm/wiki_demo.txt.gz, from: text, rows: "0:27"}
evals:                            # run on the base model and after every stage
  - {name: domain, kind: perplexity, data: domain-eval.json}
  - {name: task, kind: generation, data: task-eval.json}
stages:
  - {name: domain, stage: pretrain, options: {data: domain-train.json, max_steps: 200}}
  - {name: task, stage: sft, options: {data: task-train.json, max_steps: 300}}
```

A data path naming a ``prepare`` output refers to ``OUTPUT_DIR/data/<out>``; other paths are used
as given. Stage ``i`` writes to ``OUTPUT_DIR/<name>`` with ``model`` = the latest policy (or
``from: <stage>``'s model); a ``reward`` stage makes a reward model and leaves the policy as it is,
and an option ``reward_model: <stage>`` (or ``critic_model: <stage>``) names it. ``rlhf`` evals (mean reward, win rate over a
baseline stage, KL to a reference stage) run once their reward model exists.
Rerunning a recipe skips finished stages (their summary.json records all their steps) and
resumes an interrupted one from its last checkpoint. The table of evals per stage goes to
``OUTPUT_DIR/recipe_summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text
from feedlearn.tune.config import load_config
from feedlearn.tune.data import convert, load_dataset, save_dataset
from feedlearn.tune.data.synthetic import synthetic_dataset, synthetic_preferences


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Base(_Strict):
    model: str | None = Field(None, description="Hub id or local dir of the starting model.")
    init_tiny: dict[str, Any] | None = Field(None, description="Make the embedded tiny model (TinyConfig fields).")


class Synthetic(_Strict):
    n: int = Field(..., gt=0)
    tasks: list[str] = Field(["sort", "reverse"])
    format: Literal["text2text", "conversation"] = "text2text"
    seed: int = 0


class Preferences(_Strict):
    n: int = Field(..., gt=0)
    tasks: list[str] = Field(["sort"])
    seed: int = 0


class Prepare(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    out: str = Field(..., description="File name under OUTPUT_DIR/data.")
    synthetic: Synthetic | None = None
    synthetic_preferences: Preferences | None = Field(None, description="Correct vs wrong answers as pairs.")
    convert: str | None = Field(None, description="Source file to import (with from_format).")
    from_format: str | None = Field(None, alias="from")
    rows: str | None = Field(None, description="Python-style slice of the converted instances, e.g. '0:27'.")


class Eval(_Strict):
    name: str
    kind: Literal["perplexity", "generation", "rlhf"]
    data: str
    block_size: int = 256
    max_new_tokens: int = 32
    # rlhf: stage names (or model dirs) of the reward model, the baseline for win rates, the KL reference
    reward_model: str | None = None
    baseline: str | None = None
    reference: str | None = None


class StageSpec(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    stage: str
    from_stage: str | None = Field(None, alias="from", description="Start from this stage's model (default: the "
                                   "latest policy), e.g. to compare alignment methods from one SFT model.")
    options: dict[str, Any] = Field(default_factory=dict)


class Recipe(_Strict):
    name: str
    output_dir: str
    base: Base
    prepare: list[Prepare] = Field(default_factory=list)
    evals: list[Eval] = Field(default_factory=list)
    stages: list[StageSpec]
    steps_scale: float = Field(1.0, gt=0, description="Multiply every stage's max_steps (quick trial runs).")


def _slice(rows: str | None, n: int) -> slice:
    if rows is None:
        return slice(None)
    try:
        parts = [int(p) if p.strip() else None for p in rows.split(":")]
        return slice(*parts)
    except (ValueError, TypeError):
        raise FeedlearnError(f"prepare: rows {rows!r} must look like '0:27'") from None


def prepare(recipe: Recipe, data_dir: Path) -> None:
    for item in recipe.prepare:
        target = data_dir / item.out
        if target.exists():
            continue
        if item.synthetic is not None:
            s = item.synthetic
            data = synthetic_dataset(s.n, tasks=tuple(s.tasks), fmt=s.format, seed=s.seed)
        elif item.synthetic_preferences is not None:
            p = item.synthetic_preferences
            data = synthetic_preferences(p.n, tasks=tuple(p.tasks), seed=p.seed)
        elif item.convert is not None:
            data = convert(item.convert, item.from_format or "", skip_bad=True)
            data.instances = data.instances[_slice(item.rows, len(data))]
        else:
            raise FeedlearnError(f"prepare {item.out}: give synthetic, synthetic_preferences or convert")
        save_dataset(data, target)


def _evaluate(model_dir: str, recipe: Recipe, resolve, models: dict[str, str],
              kinds: tuple[str, ...] = ("perplexity", "generation", "rlhf")) -> dict[str, float]:
    """The recipe's evals of the policy at ``model_dir``; ``models``: finished stages' model dirs.

    ``rlhf`` evals run once their reward model (and baseline/reference) stages have finished.
    """
    from feedlearn.tune.evaluate import generation_metrics, perplexity
    from feedlearn.tune.models import load_model, load_tokenizer
    from feedlearn.tune.rewards import RewardScorer, replies, rlhf_metrics
    from feedlearn.tune.stages.raft import prompts_of

    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    out: dict[str, float] = {}
    for ev in recipe.evals:
        if ev.kind not in kinds:
            continue
        data = load_dataset(resolve(ev.data))
        if ev.kind == "rlhf":
            names = [n for n in (ev.reward_model, ev.baseline, ev.reference) if n]
            if ev.reward_model is None or any(n not in models and not Path(n).exists() for n in names):
                continue  # not trained yet
            prompts = prompts_of(data)
            baseline = None
            if ev.baseline:
                base_dir = models.get(ev.baseline, ev.baseline)
                baseline = replies(load_model(base_dir), load_tokenizer(base_dir), prompts, ev.max_new_tokens)
            reference = load_model(models.get(ev.reference, ev.reference)) if ev.reference else None
            metrics = rlhf_metrics(model, tokenizer, prompts, RewardScorer(models.get(ev.reward_model, ev.reward_model)),
                                   reference=reference, baseline_replies=baseline, max_new_tokens=ev.max_new_tokens)
            out.update({f"{ev.name} {k.replace('_', ' ')}": v for k, v in metrics.items()})
            continue
        if ev.kind == "perplexity":
            out[f"{ev.name} perplexity"] = perplexity(model, tokenizer, [i["text"] for i in data.instances],
                                                      ev.block_size)
        else:
            metrics = generation_metrics(model, tokenizer, data, max_new_tokens=ev.max_new_tokens)
            out[f"{ev.name} exact match"] = metrics["exact_match"]
            out[f"{ev.name} stops at EOS"] = metrics["stops_at_eos"]
    return out


def _finished(stage_dir: Path, max_steps: int) -> dict[str, Any] | None:
    """The summary of a stage that ran all its ``max_steps`` (all rounds for RAFT-like stages)."""
    path = stage_dir / "summary.json"
    if path.exists():
        summary = json.loads(path.read_text())
        if summary.get("steps") == max_steps:
            return summary
    return None


def run_recipe(path: str | Path, overrides: list[str] | None = None, *, log=print) -> dict[str, Any]:
    """Run (or continue) the recipe at ``path``; returns ``{"rows": [{stage, model, metrics...}]}``."""
    from feedlearn.tune.stages import STAGES, run_stage
    from feedlearn.tune.tiny import TinyConfig, init_tiny

    recipe = load_config(Recipe, path, overrides)
    out = Path(recipe.output_dir)
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    prepared = {p.out for p in recipe.prepare}

    def resolve(name: str) -> str:
        return str(data_dir / name) if name in prepared else name

    prepare(recipe, data_dir)
    if recipe.base.init_tiny is not None:
        model = str(out / "base")
        if not (out / "base" / "config.json").exists():
            init_tiny(model, TinyConfig(**recipe.base.init_tiny), overwrite=True)
    elif recipe.base.model:
        model = recipe.base.model
    else:
        raise FeedlearnError(f"{path}: base needs model or init_tiny")
    models: dict[str, str] = {"base": model}  # finished stage -> its model dir
    rows = [{"stage": "base", "model": model, **_evaluate(model, recipe, resolve, models)}]
    log(rows[-1])
    for spec in recipe.stages:
        if spec.stage not in STAGES:
            raise FeedlearnError(f"{path}: stage {spec.name}: unknown stage {spec.stage!r}; known: {', '.join(STAGES)}")
        if spec.from_stage is not None and spec.from_stage not in models:
            raise FeedlearnError(f"{path}: stage {spec.name}: from {spec.from_stage!r} is not an earlier stage")
        runner = STAGES[spec.stage]()
        start = models[spec.from_stage] if spec.from_stage else model
        options = {**spec.options, "model": start, "output_dir": str(out / spec.name)}
        for key in ("data", "eval_data"):
            if key in options and options[key]:
                options[key] = resolve(options[key])
        for key in ("reward_model", "critic_model"):
            if options.get(key) in models:  # a stage name
                options[key] = models[options[key]]
        if "max_steps" in options:
            options["max_steps"] = max(1, round(options["max_steps"] * recipe.steps_scale))
        config = load_config(runner.config_class, None, options)
        total = config.max_steps * getattr(config, "iterations", 1)
        summary = _finished(out / spec.name, total) or run_stage(runner, config)
        models[spec.name] = summary["model"]
        row = {"stage": spec.name, "model": summary["model"], "train_loss": summary["train_loss"],
               "tokens_per_second": summary["tokens_per_second"]}
        if spec.stage == "reward":  # a reward model, not a policy: its own held-out metrics, and the
            # current policy's rlhf metrics now that they can be computed (the baseline of what follows)
            row.update({f"reward model {k.replace('_', ' ')}": v for k, v in summary["eval"].items()})
            row.update(_evaluate(model, recipe, resolve, models, kinds=("rlhf",)))
        else:
            model = summary["model"]
            row.update(_evaluate(model, recipe, resolve, models))
        rows.append(row)
        log(rows[-1])
    result = {"recipe": recipe.name, "rows": rows}
    atomic_write_text(out / "recipe_summary.json", json.dumps(result, indent=1) + "\n")
    return result
