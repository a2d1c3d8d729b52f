"""Sampling stages' shared pieces: prompts and a reward scorer, a round of sampled and scored replies,
and resumable rounds of "sample → score → train an inner stage".

``SamplingStage`` is the base of every stage that samples from the policy (``raft``,
``iterative_dpo``, ``ppo``, ``grpo``/``rloo``), and ``SamplingConfig`` the options they share;
``RoundsStage`` (RAFT, iterative DPO) runs ``run_rounds``, the outer loop of resumable rounds, each
round a whole inner stage run from the previous round's model (the stage's ``one_round`` hook).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text
from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.features import Messages, prompts_of
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.models import default_device, load_model, load_tokenizer
from feedlearn.tune.records import build_summary, write_summary
from feedlearn.tune.rewards import RewardScorer
from feedlearn.tune.scorers import make_scorer
from feedlearn.tune.sharding import barrier, gather_in_order, rank_and_world
from feedlearn.tune.stage import Stage
from feedlearn.tune.trainer import peak_memory_bytes


class SamplingConfig(TrainConfig):
    """What every sampling stage's config has: the reward model that scores replies, and how replies are sampled."""

    reward_model: str = Field(..., description="Reward model directory (the reward stage's output), or a "
                                               "registered reward, e.g. game:seller (tune.scorers).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    max_new_tokens: int = Field(32, gt=0, description="Longest sampled reply.")


def sample_and_score(model_dir: str, prompts: list[Messages], k: int, options: Any, scorer: Any, rank: int = 0,
                     world: int = 1):
    """``k`` sampled replies per prompt from the model at ``model_dir``, and their rewards.

    Returns ``(repeated prompts, replies, rewards)``, sample ``i`` answering prompt ``i // k``. With
    ``world > 1`` each rank samples every ``world``-th prompt and all ranks get everything back.
    """
    model, tokenizer = load_model(model_dir, device=default_device()), load_tokenizer(model_dir)
    mine = prompts[rank::world]
    repeated = [p for p in mine for _ in range(k)]
    samples = [c.text.strip() for c in generate(model, tokenizer, repeated, options)]
    rewards = scorer.score([p + [{"role": "assistant", "content": s}] for p, s in zip(repeated, samples)])
    per_prompt = gather_in_order([(samples[i * k:(i + 1) * k], rewards[i * k:(i + 1) * k]) for i in range(len(mine))],
                                 rank, world)
    return ([p for p in prompts for _ in range(k)], [s for ss, _ in per_prompt for s in ss],
            [r for _, rs in per_prompt for r in rs])


class SamplingStage(Stage):
    """A stage that samples replies to prompts and scores them with a reward model, in rounds."""

    data_types = ("conversation", "text2text")

    def prompts_and_scorer(self, config: SamplingConfig) -> tuple[list[Messages], RewardScorer]:
        prompts = prompts_of(self.load(config.data))
        if not prompts or any(not p or p[-1]["role"] != "user" for p in prompts):
            raise FeedlearnError(f"{config.data}: {self.name} needs prompts that end with a user turn")
        return prompts, make_scorer(config.reward_model, max_length=config.max_length)

    def sample_round(self, config: SamplingConfig, prompts: list[Messages], scorer: Any, it: int, model_dir: str, k: int):
        """Round ``it``: ``k`` sampled replies per prompt from ``model_dir`` and their rewards (split over ranks
        under a strategy, each rank with its own seed); see ``sample_and_score``."""
        rank, world = rank_and_world(config.strategy)
        options = GenerationOptions(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                    seed=config.seed + it + 1000 * rank)
        return sample_and_score(model_dir, prompts, k, options, scorer, rank, world)


class RoundsConfig(SamplingConfig):
    iterations: int = Field(2, gt=0, description="Sample -> score -> train rounds.")


class RoundsStage(SamplingStage):
    """A sampling stage trained in rounds: sample from the latest model, score, train an inner stage on the result."""

    config_class = RoundsConfig

    def one_round(self, config: RoundsConfig, prompts: list[Messages], scorer: RewardScorer, it: int, model_dir: str,
                  round_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """Round ``it`` from the model at ``model_dir``, trained into ``round_dir``: (the inner run's summary,
        what the round measured)."""
        raise NotImplementedError

    def total_steps(self, config: RoundsConfig) -> int:
        return config.max_steps * config.iterations

    def run(self, config: RoundsConfig) -> dict[str, Any]:
        prompts, scorer = self.prompts_and_scorer(config)
        return run_rounds(self.name, config, config.iterations,
                          lambda it, model_dir, round_dir: self.one_round(config, prompts, scorer, it, model_dir,
                                                                          round_dir), self.total_steps(config))


def save_round_data(data: TuneDataset, path: Path, strategy: str) -> Path:
    """Rank 0 writes a round's training data; every rank returns its path once it is there."""
    rank, world = rank_and_world(strategy)
    if rank == 0:
        save_dataset(data, path)
    barrier(world)
    return path


def stage_options(config: TrainConfig, target: type[TrainConfig], model: str, data: Path, out: Path) -> dict[str, Any]:
    """The shared training options of ``config`` for an inner ``target`` stage run."""
    shared = config.model_dump(include=set(target.model_fields) & set(type(config).model_fields))
    return {**shared, "model": model, "data": str(data), "output_dir": str(out), "eval_data": None}


def run_rounds(name: str, config: TrainConfig, iterations: int, one_round, steps: int) -> dict[str, Any]:
    """Rounds ``round-0 .. round-{n-1}`` under ``output_dir``, each from the previous round's model.

    ``one_round(i, model_dir, round_dir)`` trains one round and returns ``(its train summary, a
    record of what it measured)``. A finished round (its record file exists) is not redone, so an
    interrupted run continues where it stopped. ``steps``: the optimizer steps of all rounds, for the summary.
    """
    started = time.perf_counter()
    out = Path(config.output_dir)
    model_dir, rounds = config.model, []
    for it in range(iterations):
        record_path = out / f"round-{it}.json"
        if record_path.exists():
            record = json.loads(record_path.read_text())
        else:
            summary, measured = one_round(it, model_dir, out / f"round-{it}")
            if summary.get("main_rank") is False:  # sharded: rank 0 keeps the records
                record = {"round": it, "model": summary["model"]}
            else:
                record = {"round": it, **measured, "model": summary["model"], "train_loss": summary["train_loss"],
                          "tokens": summary["tokens"], "seconds": summary["seconds"]}
                atomic_write_text(record_path, json.dumps(record) + "\n")
        rounds.append(record)
        model_dir = record["model"]
    if any("train_loss" not in r for r in rounds):
        return {"stage": name, "model": model_dir, "main_rank": False}
    summary = build_summary(name, config, model_dir, steps=steps,
                            train_loss=rounds[-1]["train_loss"], tokens=sum(r["tokens"] for r in rounds),
                            seconds=sum(r["seconds"] for r in rounds), resumed_from=None,
                            peak_memory_bytes=peak_memory_bytes(), started=started, rounds=rounds)
    write_summary(out, summary)
    return summary
