"""Recipes: a YAML file that chains stages, each starting from the previous stage's model.

```yaml
name: tiny-4stage
output_dir: runs/tiny-4stage
base: {init_tiny: {}}            # or {model: Qwen/Qwen2.5-0.5B-Instruct}
prepare:                          # datasets made under OUTPUT_DIR/data (skipped when present)
  - {out: task-train.json, synthetic: {n: 4000, format: text2text, seed: 1}}
  - {out: domain-train.json, convert: wiki_demo.txt.gz, from: text, rows: "0:27"}
evals:                            # run on the base model and after every stage
  - {name: domain, kind: perplexity, data: domain-eval.json}
  - {name: task, kind: generation, data: task-eval.json}
stages:
  - {name: domain, stage: pretrain, options: {data: domain-train.json, max_steps: 200}}
  - {name: task, stage: sft, options: {data: task-train.json, max_steps: 300}}
```

A data path naming a ``prepare`` output refers to ``OUTPUT_DIR/data/<out>``; other paths are used
as given. A ``convert`` source is a file or a shipped dataset's name (``feedlearn list datasets``),
and the recipe itself a file or a shipped recipe's name (``run_recipe("tiny-4stage")``).
Stage ``i`` writes to ``OUTPUT_DIR/<name>`` with ``model`` = the latest policy (or
``from: <stage>``'s model); a ``reward`` stage makes a reward model and leaves the policy as it is,
and an option ``reward_model: <stage>`` (or ``critic_model: <stage>``) names it. ``rlhf`` evals (mean reward, win rate over a
baseline stage, KL to a reference stage) run once their reward model exists.
The whole recipe is checked before anything runs or is written (``check_recipe``): stage kinds,
every stage's options against its config class (a typo gets the close match), ``from:`` and model
references to earlier stages only, data files that exist or that a ``prepare`` step makes, model
paths that exist, and outputs that stay inside ``OUTPUT_DIR``. So a mistake in the last stage is
reported in a second, not after hours of training the first ones.
Rerunning a recipe skips finished stages (their summary.json records all their steps) and
resumes an interrupted one from its last checkpoint. The table of evals per stage goes to
``OUTPUT_DIR/recipe_summary.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError, did_you_mean, first_error
from feedlearn.common.io import atomic_write_text, read_text_file
from feedlearn.common.runlock import exclusive
from feedlearn.shipped import find, resolve
from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import IMPORTERS, convert, load_dataset, save_dataset
from feedlearn.tune.data.synthetic import TASKS, synthetic_dataset, synthetic_preferences
from feedlearn.tune.evaluate import KINDS, evaluate
from feedlearn.tune.features import prompts_of
from feedlearn.tune.infer import MAX_NEW_TOKENS
from feedlearn.tune.models import load_model, load_tokenizer, model_source
from feedlearn.tune.rewards import RewardScorer, replies
from feedlearn.tune.scorers import is_registered
from feedlearn.tune.stage import run_stage
from feedlearn.tune.stages import STAGES
from feedlearn.tune.tiny import TinyConfig, init_tiny

MAX_SYNTHETIC = 10_000_000  # instances one prepare step may make (they are held in memory)
# A stage's name is its folder under OUTPUT_DIR: one plain path component, not the data or base folder
_STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_RESERVED = ("base", "data")
# what each kind of eval reads
EVAL_TYPES = {kind: spec.data_types for kind, spec in KINDS.items()}
# the recipe table's column of a metric: its name with spaces, but for these (None: not shown)
COLUMNS = {"stops_at_eos": "stops at EOS", "mean_tokens": None}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Base(_Strict):
    model: str | None = Field(None, description="Hub id or local dir of the starting model.")
    init_tiny: dict[str, Any] | None = Field(None, description="Make the embedded tiny model (TinyConfig fields).")


class Synthetic(_Strict):
    n: int = Field(..., gt=0, le=MAX_SYNTHETIC)
    tasks: list[str] = Field(["sort", "reverse"])
    format: Literal["text2text", "conversation"] = "text2text"
    seed: int = 0


class Preferences(_Strict):
    n: int = Field(..., gt=0, le=MAX_SYNTHETIC)
    tasks: list[str] = Field(["sort"])
    seed: int = 0


class Prepare(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    out: str = Field(..., description="File name under OUTPUT_DIR/data.")
    synthetic: Synthetic | None = None
    synthetic_preferences: Preferences | None = Field(None, description="Correct vs wrong answers as pairs.")
    convert: str | None = Field(None, description="Source file to import (with from_format).")
    from_format: str | None = Field(None, alias="from")
    rows: str | None = Field(None, description="Python-style slice of the converted instances, e.g. '0:27'.")

    @field_validator("out")
    @classmethod
    def _inside_data(cls, out: str) -> str:
        parts = Path(out).parts
        if not out.strip() or Path(out).is_absolute() or not parts or ".." in parts:
            raise ValueError(f"{out!r} must be a relative file name inside OUTPUT_DIR/data (no '..', not absolute)")
        return out


class Eval(_Strict):
    name: str
    kind: Literal["perplexity", "generation", "rlhf"]
    data: str
    block_size: int = Field(256, gt=1, le=1 << 20)
    max_new_tokens: int = Field(32, gt=0, le=MAX_NEW_TOKENS)
    # rlhf: stage names (or model dirs) of the reward model, the baseline for win rates, the KL reference
    reward_model: str | None = None
    baseline: str | None = None
    reference: str | None = None


class StageSpec(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    name: str
    stage: str
    from_stage: str | None = Field(None, alias="from", description="Start from this stage's model (default: the "
                                   "latest policy), e.g. to compare alignment methods from one SFT model.")
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _STAGE_NAME.fullmatch(name) or name in _RESERVED:
            raise ValueError(f"{name!r}: a stage name is its folder under OUTPUT_DIR: letters, digits, '_.-', "
                             f"not {' or '.join(_RESERVED)}")
        return name


class Recipe(_Strict):
    name: str
    output_dir: str
    base: Base
    prepare: list[Prepare] = Field(default_factory=list)
    evals: list[Eval] = Field(default_factory=list)
    stages: list[StageSpec]
    steps_scale: float = Field(1.0, gt=0, description="Multiply every stage's max_steps (quick trial runs).")


def _slice(rows: str | None, n: int, where: str = "prepare") -> slice:
    if rows is None:
        return slice(None)
    try:
        parts = [int(p) if p.strip() else None for p in rows.split(":")]
        cut = slice(*parts)
        cut.indices(n)  # a zero step fails here
        return cut
    except (ValueError, TypeError):
        raise FeedlearnError(f"{where}: rows {rows!r} must look like '0:27'") from None


def _hint(name: str, known: list[str]) -> str:
    return did_you_mean(name, known, cutoff=0.5)  # short stage names: "rn" for "rm"


def _made_type(item: Prepare) -> str | None:
    """The dataset type a prepare step makes, where it is known without reading anything."""
    if item.synthetic is not None:
        return item.synthetic.format
    if item.synthetic_preferences is not None:
        return "paired_conversation"
    return {"alpaca": "conversation", "hh": "paired_conversation", "text": "text_only"}.get(item.from_format or "")


def _needs_type(value: Any, made: dict[str, str | None], types: tuple[str, ...], where: str) -> None:
    if isinstance(value, str) and made.get(value) and made[value] not in types:
        raise FeedlearnError(f"{where}: {value} is {made[value]} data (from its prepare step), "
                             f"where {' or '.join(types)} is needed")


def _needs_file(value: Any, prepared: set[str], where: str) -> None:
    if isinstance(value, str) and value not in prepared and not Path(value).exists():
        raise FeedlearnError(f"{where}: no such file {value!r}, and no prepare step writes it")


def _needs_model(value: Any, stages: list[str], earlier: set[str], where: str) -> None:
    """``value``: the name of an earlier stage (or base), or a model that exists (or a hub id)."""
    if not isinstance(value, str) or value in earlier or is_registered(value):  # game:seller is no model
        return
    if value in stages:
        raise FeedlearnError(f"{where}: stage {value!r} comes later; only an earlier stage's model can be used")
    try:
        model_source(value)
    except FeedlearnError as exc:
        raise FeedlearnError(f"{where}: not a stage of this recipe{_hint(value, stages)} ({exc})") from None


def _stage_config(recipe: Recipe, spec: StageSpec, config_class: type[TrainConfig], start: str, out: Path,
                  models: dict[str, str], resolve: Callable[[str], str], where: str) -> TrainConfig:
    """The stage's config: its options, the model it starts from, its folder, data and models resolved."""
    options = {**spec.options, "model": start, "output_dir": str(out / spec.name)}
    for key in ("data", "eval_data"):
        if isinstance(options.get(key), str) and options[key]:
            options[key] = resolve(options[key])
    for key in ("reward_model", "critic_model"):
        if isinstance(options.get(key), str) and options[key] in models:  # a stage name
            options[key] = models[options[key]]
    try:
        config = config_class.model_validate(options)
    except ValidationError as exc:
        field, message = first_error(exc, config_class)
        raise FeedlearnError(f"{where}: option {field}: {message}") from None
    if "max_steps" in spec.options:
        config = config.model_copy(update={"max_steps": max(1, round(config.max_steps * recipe.steps_scale))})
    return config


def check_recipe(recipe: Recipe, path: str | Path) -> None:
    """Check everything that can be checked before anything runs or is written (module docstring)."""
    _check_base(recipe, path)
    prepared = _check_prepare(recipe, path)
    made = {item.out: _made_type(item) for item in recipe.prepare}
    _check_evals(recipe, path, prepared, made)
    _check_stages(recipe, path, prepared, made)


def _check_base(recipe: Recipe, path: str | Path) -> None:
    if (recipe.base.model is None) == (recipe.base.init_tiny is None):
        raise FeedlearnError(f"{path}: base needs model or init_tiny" + (" (one of them, not both)"
                                                                         if recipe.base.model else ""))
    if recipe.base.init_tiny is None:
        try:
            model_source(recipe.base.model)
        except FeedlearnError as exc:
            raise FeedlearnError(f"{path}: base.model: {exc}") from None
        return
    TinyConfig.from_options(recipe.base.init_tiny, f"{path}: base.init_tiny")
    base = Path(recipe.output_dir) / "base"  # made there unless a model is there already
    if base.exists() and not (base / "config.json").exists() and (not base.is_dir() or any(base.iterdir())):
        raise FeedlearnError(f"{path}: base.init_tiny: {base} exists and is not a model; refusing to replace "
                             "files init_tiny did not write (move them, or set another output_dir)")


def _check_prepare(recipe: Recipe, path: str | Path) -> set[str]:
    """The files the prepare steps make."""
    prepared: set[str] = set()
    for item in recipe.prepare:
        where = f"{path}: prepare {item.out}"
        if item.out in prepared:
            raise FeedlearnError(f"{where}: another prepare step writes the same file")
        prepared.add(item.out)
        given = [k for k in ("synthetic", "synthetic_preferences", "convert") if getattr(item, k) is not None]
        if len(given) != 1:
            raise FeedlearnError(f"{where}: give synthetic, synthetic_preferences or convert"
                                 + (f" (one of them, not {' and '.join(given)})" if given else ""))
        tasks = (item.synthetic or item.synthetic_preferences).tasks if item.convert is None else []
        for task in tasks:
            if task not in TASKS:
                raise FeedlearnError(f"{where}: tasks: unknown synthetic task {task!r}; known: {', '.join(TASKS)}")
        if item.convert is not None:
            if item.from_format not in IMPORTERS:
                raise FeedlearnError(f"{where}: from: {item.from_format!r} is not one of {', '.join(IMPORTERS)}")
            if resolve("datasets", item.convert) is None:
                raise FeedlearnError(f"{where}: convert: no such file {item.convert!r}, and no shipped dataset "
                                     "of that name (feedlearn list datasets)")
            _slice(item.rows, 0, where)
        elif item.rows is not None:
            raise FeedlearnError(f"{where}: rows: only a convert step takes rows")
    return prepared


def _check_evals(recipe: Recipe, path: str | Path, prepared: set[str], made: dict[str, str | None]) -> None:
    names = [spec.name for spec in recipe.stages]
    for ev in recipe.evals:
        where = f"{path}: eval {ev.name}"
        _needs_file(ev.data, prepared, f"{where}: data")
        _needs_type(ev.data, made, EVAL_TYPES[ev.kind], f"{where}: data")
        if ev.kind == "rlhf" and ev.reward_model is None:
            raise FeedlearnError(f"{where}: reward_model: an rlhf eval needs one (a reward stage's name)")
        for key in ("reward_model", "baseline", "reference"):
            value = getattr(ev, key)
            if value is not None and value not in names and value != "base" and not Path(value).exists():
                raise FeedlearnError(f"{where}: {key}: {value!r} is neither a stage of this recipe nor a model "
                                     f"directory{_hint(value, names)}")


def _check_stages(recipe: Recipe, path: str | Path, prepared: set[str], made: dict[str, str | None]) -> None:
    """Each stage in order, against the stages before it: the same checks and config as at run time."""
    out = Path(recipe.output_dir)
    names = [spec.name for spec in recipe.stages]
    earlier = {"base"}
    models = {"base": "base"}  # planned model dirs: enough to check the options
    for spec in recipe.stages:
        where = f"{path}: stage {spec.name}"
        if spec.name in earlier:
            raise FeedlearnError(f"{where}: another stage has this name (each stage has its own folder)")
        if spec.stage not in STAGES:
            raise FeedlearnError(f"{where}: unknown stage {spec.stage!r}; known: {', '.join(STAGES)}"
                                 + _hint(spec.stage, list(STAGES)))
        if spec.from_stage is not None and spec.from_stage not in earlier:
            later = (" (a stage cannot start from itself)" if spec.from_stage == spec.name
                     else " (it comes later)" if spec.from_stage in names else _hint(spec.from_stage, names))
            raise FeedlearnError(f"{where}: from {spec.from_stage!r} is not an earlier stage{later}")
        for key in ("model", "output_dir"):
            if key in spec.options:
                raise FeedlearnError(f"{where}: option {key}: set by the recipe (from:, base and output_dir)")
        _stage_config(recipe, spec, STAGES[spec.stage].config_class, "base", out, models, lambda name: name, where)
        for key in ("data", "eval_data"):
            _needs_file(spec.options.get(key), prepared, f"{where}: option {key}")
            _needs_type(spec.options.get(key), made, STAGES[spec.stage].data_types, f"{where}: option {key}")
        for key in ("reward_model", "critic_model"):
            _needs_model(spec.options.get(key), names, earlier, f"{where}: option {key}")
        earlier.add(spec.name)
        models[spec.name] = str(out / spec.name / "final")


def prepare(recipe: Recipe, data_dir: Path) -> None:
    root = data_dir.resolve()
    for item in recipe.prepare:
        target = data_dir / item.out
        if not target.resolve().is_relative_to(root):  # a symlink on the way out of the data folder
            raise FeedlearnError(f"prepare {item.out}: resolves to {target.resolve()}, outside {data_dir}")
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
            data.instances = data.instances[_slice(item.rows, len(data), f"prepare {item.out}")]
        else:
            raise FeedlearnError(f"prepare {item.out}: give synthetic, synthetic_preferences or convert")
        save_dataset(data, target)


def _evaluate(model_dir: str, recipe: Recipe, resolve, models: dict[str, str],
              kinds: tuple[str, ...] = ("perplexity", "generation", "rlhf")) -> dict[str, float]:
    """The recipe's evals of the policy at ``model_dir``; ``models``: finished stages' model dirs.

    ``rlhf`` evals run once their reward model (and baseline/reference) stages have finished.
    """
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    out: dict[str, float] = {}
    for ev in recipe.evals:
        if ev.kind not in kinds:
            continue
        data = load_dataset(resolve(ev.data))
        if data.type not in EVAL_TYPES[ev.kind]:
            raise FeedlearnError(f"{resolve(ev.data)}: eval {ev.name}: {ev.kind} needs "
                                 f"{' or '.join(EVAL_TYPES[ev.kind])} data, not {data.type}")
        # the table shows no label loss: a real model's own chat template may not mark the replies
        options: dict[str, Any] = {"block_size": ev.block_size, "max_new_tokens": ev.max_new_tokens, "label_loss": False}
        if ev.kind == "rlhf":  # it also needs the models it names
            names = [n for n in (ev.reward_model, ev.baseline, ev.reference) if n]
            if ev.reward_model is None or any(n not in models and not Path(n).exists() for n in names):
                continue  # not trained yet
            if ev.baseline:
                base_dir = models.get(ev.baseline, ev.baseline)
                options["baseline_replies"] = replies(load_model(base_dir), load_tokenizer(base_dir), prompts_of(data),
                                                      ev.max_new_tokens)
            options["reference"] = load_model(models.get(ev.reference, ev.reference)) if ev.reference else None
            options["scorer"] = RewardScorer(models.get(ev.reward_model, ev.reward_model))
        metrics = evaluate(model, tokenizer, data, ev.kind, **options)
        for key, value in metrics.items():
            column = COLUMNS.get(key, key.replace("_", " "))
            if column is not None:
                out[f"{ev.name} {column}"] = value
    return out


def _finished(stage_dir: Path, max_steps: int) -> dict[str, Any] | None:
    """The summary of a stage that ran all its ``max_steps`` (all rounds for RAFT-like stages)."""
    path = stage_dir / "summary.json"
    if path.exists():
        text = read_text_file(path, "stage summary")
        try:
            summary = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
            raise FeedlearnError(f"{path}: unreadable summary ({type(exc).__name__}); delete it to rerun "
                                 "the stage from its last checkpoint") from None
        if not isinstance(summary, dict) or not isinstance(summary.get("model"), str):
            raise FeedlearnError(f"{path}: not a stage summary (no model); delete it to rerun the stage")
        if summary.get("steps") == max_steps:
            return summary
    return None


def run_recipe(path: str | Path, overrides: list[str] | None = None, *, log=print) -> dict[str, Any]:
    """Run (or continue) the recipe at ``path`` or a shipped recipe's name; returns ``{"rows": [{stage, model, ...}]}``."""
    path = find("recipes", path)
    recipe = load_config(Recipe, path, overrides)
    check_recipe(recipe, path)  # before anything is written
    out = Path(recipe.output_dir)
    with exclusive(out, "recipe run", "use another output_dir"):  # two runs would train the same stages
        return _run_checked(recipe, path, out, log)


def _run_checked(recipe: Recipe, path: str | Path, out: Path, log) -> dict[str, Any]:
    """``run_recipe`` once the recipe is checked and ``out`` is ours alone."""
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    prepared = {p.out for p in recipe.prepare}

    def resolve(name: str) -> str:
        return str(data_dir / name) if name in prepared else name

    prepare(recipe, data_dir)
    if recipe.base.init_tiny is not None:
        model = str(out / "base")
        if not (out / "base" / "config.json").exists():  # missing or empty (check_recipe): made here
            init_tiny(model, TinyConfig.from_options(recipe.base.init_tiny, f"{path}: base.init_tiny"))
    else:
        model = recipe.base.model
    models: dict[str, str] = {"base": model}  # finished stage -> its model dir
    rows = [{"stage": "base", "model": model, **_evaluate(model, recipe, resolve, models)}]
    log(rows[-1])
    for spec in recipe.stages:
        runner = STAGES[spec.stage]()
        start = models[spec.from_stage] if spec.from_stage else model
        config = _stage_config(recipe, spec, runner.config_class, start, out, models, resolve,
                               f"{path}: stage {spec.name}")
        summary = _finished(out / spec.name, runner.total_steps(config)) or run_stage(runner, config)
        models[spec.name] = summary["model"]
        row = {"stage": spec.name, "model": summary["model"], "train_loss": summary["train_loss"],
               "tokens_per_second": summary["tokens_per_second"]}
        if not runner.makes_policy:  # a reward model: its own held-out metrics, and the current
            # policy's rlhf metrics now that they can be computed (the baseline of what follows)
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
