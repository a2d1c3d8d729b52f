"""Sampling stages' shared pieces: prompts and a reward scorer, a round of sampled and scored replies,
and resumable rounds of "sample → score → train an inner stage".

``SamplingStage`` is the base of every stage that samples from the policy (``raft``,
``iterative_dpo``, ``ppo``, ``grpo``/``rloo``), and ``SamplingConfig`` the options they share;
``run_rounds`` is the outer loop of the round-based
ones (RAFT, iterative DPO), each round a whole inner stage run from the previous round's model.
"""

from __future__ import annotations

import json
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
from feedlearn.tune.rewards import RewardScorer
from feedlearn.tune.sharding import barrier, gather_in_order, rank_and_world
from feedlearn.tune.stage import Stage
from feedlearn.tune.trainer import peak_memory_bytes


class SamplingConfig(TrainConfig):
    """What every sampling stage's config has: the reward model that scores replies, and how replies are sampled."""

    reward_model: str = Field(..., description="Reward model directory (the reward stage's output).")
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
        return prompts, RewardScorer(config.reward_model, max_length=config.max_length)

    def sample_round(self, config: SamplingConfig, prompts: list[Messages], scorer: Any, it: int, model_dir: str, k: int):
        """Round ``it``: ``k`` sampled replies per prompt from ``model_dir`` and their rewards (split over ranks
        under a strategy, each rank with its own seed); see ``sample_and_score``."""
        rank, world = rank_and_world(config.strategy)
        options = GenerationOptions(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                    seed=config.seed + it + 1000 * rank)
        return sample_and_score(model_dir, prompts, k, options, scorer, rank, world)


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


def run_rounds(name: str, config: TrainConfig, iterations: int, one_round) -> dict[str, Any]:
    """Rounds ``round-0 .. round-{n-1}`` under ``output_dir``, each from the previous round's model.

    ``one_round(i, model_dir, round_dir)`` trains one round and returns ``(its train summary, a
    record of what it measured)``. A finished round (its record file exists) is not redone, so an
    interrupted run continues where it stopped.
    """
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
    result = {"stage": name, "model": model_dir, "rounds": rounds, "steps": config.max_steps * iterations,
              "train_loss": rounds[-1]["train_loss"], "tokens": sum(r["tokens"] for r in rounds),
              "seconds": sum(r["seconds"] for r in rounds), "resumed_from": None, "eval": {},
              "peak_memory_bytes": peak_memory_bytes(), "config": config.model_dump()}
    result["tokens_per_second"] = result["tokens"] / max(result["seconds"], 1e-9)
    atomic_write_text(out / "summary.json", json.dumps(result, indent=1) + "\n")
    return result
