"""Self-play RLHF for a negotiator: play -> export -> train -> evaluate without advice, in rounds.

``run_selfplay(config, out)`` (``feedlearn bargain selfplay selfplay``):

1. ``base``: a model directory, or the embedded tiny Llama made offline (``tune.tiny.init_tiny``);
2. ``teach``: scripted games (the scripted seller under AI feedback, so its prices rise over the
   rounds) exported as the seller's best games and taught by ``sft`` — the model learns to speak
   the game's language; this is the *untuned* seller the rounds start from;
3. each round: the latest seller plays ``play_runs`` games against the scripted buyer (sampled at
   ``temperature``, no feedback), they are exported (``export.export_runs``), and ``method`` trains
   on them (``dpo`` on ``paired.json``; ``raft`` / ``grpo`` / ``iterative_dpo`` on ``prompts.json``
   with the ``game:`` reward) into the next seller;
4. every seller (after ``teach`` and after each round) is evaluated by an experiment of
   ``eval_runs`` one-round runs with *no* feedback in its context, greedy: deal success and mean
   deal price (``metrics.per_round``), written to ``OUT/selfplay.json``.

Every step writes into its own folder under ``out``; a finished step (its result file is there) is
not redone, so an interrupted loop continues where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
from feedlearn.bargain.export import FILES, export_runs
from feedlearn.bargain.metrics import per_round
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text

# what each training method learns from (a file ``export`` writes) and the options it gets with it
METHOD_DATA: dict[str, tuple[str, dict[str, Any]]] = {
    "dpo": (FILES["paired_conversation"], {}),
    "raft": (FILES["prompts"], {"reward_model": "game:seller"}),
    "grpo": (FILES["prompts"], {"reward_model": "game:seller"}),
    "iterative_dpo": (FILES["prompts"], {"reward_model": "game:seller"}),
}


class SelfPlayConfig(BaseModel):
    """One self-play recipe (module docstring); every field has a default that runs on a laptop."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base: str | None = Field(None, description="Model directory to start from (default: a tiny Llama made offline).")
    tiny: dict[str, Any] = Field(default_factory=dict, description="tune.tiny.TinyConfig fields of that tiny model.")
    scenario: str | None = Field(None, description="Scenario YAML (default: the paper's balloon game).")
    seed: int = Field(0, ge=0, le=2**31, description="Seed of every experiment (run i: seed + i) and stage.")
    buyer: str = Field("scripted:buyer", description="Backend spec of the fixed opponent (e.g. "
                                                     "openai:MODEL@URL for a served chat model).")
    moderator: str = Field("rules", description="rules, or a backend spec of an LLM moderator.")
    teach_runs: int = Field(64, ge=0, le=100_000, description="Scripted runs whose games teach the model to speak "
                                                              "(0: no teaching, for a chat model that already can).")
    teach_rounds: int = Field(3, gt=0, le=100, description="Rounds of AI feedback in those scripted runs.")
    teach: dict[str, Any] = Field(default_factory=dict, description="sft options of the teaching stage.")
    rounds: int = Field(1, ge=0, le=100, description="Play -> export -> train rounds.")
    play_runs: int = Field(32, gt=0, le=100_000, description="Games the seller plays per round.")
    temperature: float = Field(1.0, ge=0, le=2, description="The seller's sampling temperature while playing.")
    max_tokens: int = Field(24, gt=0, le=4096, description="Longest reply of the seller (tokens).")
    method: Literal["dpo", "raft", "grpo", "iterative_dpo"] = Field("dpo", description="Training stage per round.")
    train: dict[str, Any] = Field(default_factory=dict, description="Options of that stage.")
    eval_runs: int = Field(32, gt=0, le=100_000, description="One-round runs, no feedback, per evaluation.")


def _games(config: SelfPlayConfig, out: Path, seller: str, runs: int, rounds: int = 1,
           feedback: str = "none", temperature: float = 0.0) -> Path:
    """An experiment of ``seller`` against the scripted buyer in ``out`` (kept if already finished)."""
    if not (out / "runs.jsonl").exists():
        run_experiment(ExperimentConfig(scenario=config.scenario, runs=runs, rounds=rounds, feedback=feedback,
                                        seed=config.seed, seller=seller, buyer=config.buyer,
                                        moderator=config.moderator, temperature=temperature,
                                        max_tokens=config.max_tokens, concurrency=8), out)
    return out


def evaluate(config: SelfPlayConfig, model: str, out: Path) -> dict[str, Any]:
    """Deal success and mean deal price of ``model`` as the seller, greedy, no feedback in its context."""
    from feedlearn.bargain.runlog import finished_runs

    runs = finished_runs(_games(config, out, f"local:{model}", config.eval_runs) / "runs.jsonl")
    row = per_round([r["rounds"] for r in runs.values()], 1)[0]
    return {"model": model, "success": row["success_ratio"], "mean_price": row["mean_price"]}


def _train(stage: str, options: dict[str, Any], out: Path) -> str:
    """A tune stage's final model (trained now unless ``out`` holds a finished run)."""
    from feedlearn.common.config import load_config
    from feedlearn.tune.stages import STAGES, run_stage

    cls = STAGES[stage]
    return run_stage(cls(), load_config(cls.config_class, None, {**options, "output_dir": str(out)}))["model"]


def run_selfplay(config: SelfPlayConfig, out: str | Path) -> dict[str, Any]:
    """The loop of the module docstring; returns (and writes to ``OUT/selfplay.json``) every evaluation."""
    root = Path(out)
    base = config.base
    if base is None:
        from feedlearn.tune.tiny import TinyConfig, init_tiny

        base = str(root / "base")
        if not (root / "base" / "config.json").exists():
            init_tiny(base, TinyConfig(**{"seed": config.seed, **config.tiny}))
    model = base
    if config.teach_runs:
        scripted = _games(config, root / "teach-games", "scripted:seller", config.teach_runs, config.teach_rounds,
                          feedback="ai", temperature=1.0)
        export_runs([scripted], root / "teach-data", "seller")
        model = _train("sft", {"seed": config.seed, **config.teach, "model": base,
                               "data": str(root / "teach-data" / FILES["conversation"])}, root / "teach")
    results = {"untuned": evaluate(config, model, root / "eval-0"), "rounds": []}
    data_file, extra = METHOD_DATA[config.method]
    for r in range(1, config.rounds + 1):
        played = _games(config, root / f"round-{r}" / "play", f"local:{model}", config.play_runs,
                        temperature=config.temperature)
        made = export_runs([played], root / f"round-{r}" / "data", "seller")
        if not (root / f"round-{r}" / "data" / data_file).exists():
            raise FeedlearnError(f"{played}: round {r}'s {made['games']} games gave no {data_file} to train "
                                 f"{config.method} on (raise play_runs or temperature)")
        model = _train(config.method, {"seed": config.seed, **extra, **config.train, "model": model,
                                       "data": str(root / f"round-{r}" / "data" / data_file)},
                       root / f"round-{r}" / config.method)
        results["rounds"].append({"round": r, **evaluate(config, model, root / f"eval-{r}")})
    atomic_write_text(root / "selfplay.json", json.dumps(results, indent=1) + "\n")
    return results
