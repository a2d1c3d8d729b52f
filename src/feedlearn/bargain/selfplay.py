"""Self-play RLHF for a negotiator: play -> export -> train -> evaluate without advice, in rounds.

``run_selfplay(config, out)`` (``feedlearn bargain selfplay NAME --out OUT``):

1. ``base``: a model directory, or the embedded tiny Llama made offline (``tune.tiny.init_tiny``);
2. ``teach``: scripted games (the scripted seller under AI feedback, so its prices rise over the
   rounds: the teacher's own ICL-AIF arm) exported as the seller's successful games (of the first
   ``teach_from_rounds`` rounds, the ``teach_best_of`` best) and taught by ``sft`` — the model learns
   to speak the game; this is the *untuned* seller the rounds start from;
3. the untuned seller is evaluated (``eval-0``): ``eval_runs`` runs, greedy, against the scripted
   buyer, of ``icl_rounds`` rounds with the critic's advice in its context — round 1 has no advice
   (the untuned seller without advice), rounds 2.. are ICL-AIF (the paper's in-context arm);
4. each round ``r``: the latest seller plays ``play_runs`` games (sampled at ``temperature``, no
   feedback; run seeds ``seed + r * PLAY_SEEDS + i``, other buyers than the evaluation's), they are
   exported (``export.export_runs``, with the previous evaluation's round-1 greedy games when
   ``learn_from_eval``: the prefixes the seller meets without advice), and ``method`` trains on them (``raft`` /
   ``grpo`` / ``iterative_dpo`` on ``prompts.json`` with the ``game:seller`` reward, whose rollout holds
   the candidate's price; ``dpo`` on ``paired.json``) into the next seller, evaluated like the untuned
   one but with no advice (``eval-r``: one round per run).

``OUT/selfplay.json`` lists every arm (name, run folder, model, advice) with its per-round metrics,
and whether the target holds (``target``): the last tuned seller, with no advice, reaches a mean
deal price at least that of the untuned seller after ``target_round`` - 1 lessons, at a deal success
no lower. ``feedlearn bargain report OUT`` prints the comparison (``compare.py``).

Every step writes into its own folder under ``out``; a finished step (its result file is there) is
not redone, so an interrupted loop continues where it stopped. Same config and seed, same result.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feedlearn.bargain.experiment import ExperimentConfig, run_experiment
from feedlearn.bargain.export import FILES, export_runs
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text

# what each training method learns from (a file ``export`` writes) and the options it gets with it
METHOD_DATA: dict[str, tuple[str, dict[str, Any]]] = {
    "dpo": (FILES["paired_conversation"], {}),
    "raft": (FILES["prompts"], {"reward_model": "game:seller"}),
    "grpo": (FILES["prompts"], {"reward_model": "game:seller"}),
    "iterative_dpo": (FILES["prompts"], {"reward_model": "game:seller"}),
}
PLAY_SEEDS = 1_000_000  # round r's games use seeds seed + r * PLAY_SEEDS + i: never an evaluation's buyers


class SelfPlayConfig(BaseModel):
    """One self-play recipe (module docstring); every field has a default that runs on a laptop."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base: str | None = Field(None, description="Model directory to start from (default: a tiny Llama made offline).")
    tiny: dict[str, Any] = Field(default_factory=dict, description="tune.tiny.TinyConfig fields of that tiny model.")
    scenario: str | None = Field(None, description="Scenario YAML (default: the paper's balloon game).")
    seed: int = Field(0, ge=0, le=2**31, description="Seed of every experiment (run i: seed + i) and stage.")
    buyer: str = Field("scripted:buyer", description="Backend spec of the fixed opponent (e.g. "
                                                     "openai:MODEL@URL for a served chat model).")
    critic: str = Field("scripted:critic", description="Backend spec of the critic of the in-context arm.")
    moderator: str = Field("rules", description="rules, or a backend spec of an LLM moderator.")
    teach_runs: int = Field(64, ge=0, le=100_000, description="Scripted runs whose games teach the model to speak "
                                                              "(0: no teaching, for a chat model that already can).")
    teach_rounds: int = Field(3, gt=0, le=100, description="Rounds of AI feedback in those scripted runs.")
    teach_from_rounds: int | None = Field(None, gt=0, le=100, description="Teach on the first N rounds' games of "
                                          "each scripted run only (1: the games before any advice; default: all).")
    teach_best_of: int = Field(0, ge=0, le=100_000, description="Teach on the K best-priced successful games "
                                                               "(0: every successful game).")
    teach: dict[str, Any] = Field(default_factory=dict, description="sft options of the teaching stage.")
    rounds: int = Field(1, ge=0, le=100, description="Play -> export -> train rounds.")
    play_runs: int = Field(32, gt=0, le=100_000, description="Games the seller plays per round.")
    temperature: float = Field(1.0, ge=0, le=2, description="The seller's sampling temperature while playing.")
    learn_from_eval: bool = Field(True, description="Also export the previous evaluation's round-1 (no advice) "
                                                          "greedy games each round.")
    max_tokens: int = Field(24, gt=0, le=4096, description="Longest reply of the seller (tokens).")
    method: Literal["dpo", "raft", "grpo", "iterative_dpo"] = Field("raft", description="Training stage per round.")
    train: dict[str, Any] = Field(default_factory=dict, description="Options of that stage.")
    eval_runs: int = Field(32, gt=0, le=100_000, description="Runs per evaluation (greedy).")
    icl_rounds: int = Field(5, gt=0, le=100, description="Rounds of the untuned seller's evaluation: round 1 "
                                                         "without advice, then with the critic's in context.")
    target_round: int = Field(3, gt=0, le=100, description="The in-context round the tuned seller must match.")


def _games(config: SelfPlayConfig, out: Path, seller: str, runs: int, rounds: int = 1, feedback: str = "none",
           temperature: float = 0.0, seed: int | None = None) -> Path:
    """An experiment of ``seller`` against the buyer in ``out`` (kept if already finished)."""
    if not (out / "runs.jsonl").exists():
        run_experiment(ExperimentConfig(scenario=config.scenario, runs=runs, rounds=rounds, feedback=feedback,
                                        seed=config.seed if seed is None else seed, seller=seller, buyer=config.buyer,
                                        critic=config.critic, moderator=config.moderator, temperature=temperature,
                                        max_tokens=config.max_tokens, concurrency=8), out)
    return out


def _train(stage: str, options: dict[str, Any], out: Path) -> str:
    """A tune stage's final model (trained now unless ``out`` holds a finished run)."""
    from feedlearn.common.config import load_config
    from feedlearn.tune.stages import STAGES, run_stage

    cls = STAGES[stage]
    return run_stage(cls(), load_config(cls.config_class, None, {**options, "output_dir": str(out)}))["model"]


def teach(config: SelfPlayConfig, root: Path) -> str:
    """The untuned seller: ``base`` (or a tiny Llama made now), taught by SFT on scripted games if asked."""
    base = config.base
    if base is None:
        from feedlearn.tune.tiny import TinyConfig, init_tiny

        base = str(root / "base")
        if not (root / "base" / "config.json").exists():
            init_tiny(base, TinyConfig(**{"seed": config.seed, **config.tiny}))
    if not config.teach_runs:
        return base
    scripted = _games(config, root / "teach-games", "scripted:seller", config.teach_runs, config.teach_rounds,
                      feedback="ai", temperature=1.0)
    export_runs([scripted], root / "teach-data", "seller", best_of=config.teach_best_of,
                rounds=config.teach_from_rounds)
    return _train("sft", {"seed": config.seed, **config.teach, "model": base,
                          "data": str(root / "teach-data" / FILES["conversation"])}, root / "teach")


def one_round(config: SelfPlayConfig, root: Path, r: int, model: str, previous_eval: Path) -> str:
    """Round ``r``: ``model`` plays, its games are exported, ``method`` trains on them; the new model's folder."""
    here = root / f"round-{r}"
    played = _games(config, here / "play", f"local:{model}", config.play_runs, temperature=config.temperature,
                    seed=config.seed + r * PLAY_SEEDS)
    data_file, extra = METHOD_DATA[config.method]
    # with the evaluation's round-1 games: the states the seller meets without advice (played games have one round)
    made = export_runs([played, previous_eval] if config.learn_from_eval else [played], here / "data", "seller",
                       rounds=1)
    if not (here / "data" / data_file).exists():
        raise FeedlearnError(f"{played}: round {r}'s {made['games']} games gave no {data_file} to train "
                             f"{config.method} on (raise play_runs or temperature)")
    return _train(config.method, {"seed": config.seed, **extra, **config.train, "model": model,
                                  "data": str(here / "data" / data_file)}, here / config.method)


def run_selfplay(config: SelfPlayConfig, out: str | Path) -> dict[str, Any]:
    """The loop of the module docstring; returns (and writes to ``OUT/selfplay.json``) every arm."""
    from feedlearn.bargain.compare import arm, target

    root = Path(out)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    model = teach(config, root)
    seconds["teach"] = time.perf_counter() - started
    arms = []
    if config.teach_runs:
        arms.append(arm("scripted teacher", "scripted:seller", "ai", root / "teach-games"))
    clock = time.perf_counter()
    evaluated = _games(config, root / "eval-0", f"local:{model}", config.eval_runs, config.icl_rounds, feedback="ai")
    arms.append(arm("untuned", model, "ai", evaluated))
    seconds["eval-0"] = time.perf_counter() - clock
    for r in range(1, config.rounds + 1):
        clock = time.perf_counter()
        model = one_round(config, root, r, model, evaluated)
        seconds[f"round-{r}"] = time.perf_counter() - clock
        clock = time.perf_counter()
        evaluated = _games(config, root / f"eval-{r}", f"local:{model}", config.eval_runs)
        arms.append(arm(f"tuned round {r}", model, "none", evaluated))
        seconds[f"eval-{r}"] = time.perf_counter() - clock
    seconds["total"] = time.perf_counter() - started
    results = {"method": config.method, "arms": arms, "target": target(arms, config.target_round),
               "seconds": {k: round(v, 1) for k, v in seconds.items()}}
    atomic_write_text(root / "selfplay.json", json.dumps(results, indent=1) + "\n")
    return results
