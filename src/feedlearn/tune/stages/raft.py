"""``raft``: Reward rAnked FineTuning (Dong et al. 2023, LMFlow's alignment method).

Each of ``iterations`` rounds: the current model samples ``k`` replies per prompt (temperature
``temperature``, seeded per round), the reward model scores every (prompt, reply), the best are
kept — ``keep="best"``: the top reply of each prompt (best-of-K); ``keep="top_fraction"``: the top
``fraction`` of all samples — and the model is fine-tuned on them with the ``sft`` stage (loss on
the reply). The next round starts from that model. Our own short loop over transformers and the
``sft`` stage (LMFlow's copy is broken on current transformers).

Data: prompts from ``conversation`` (all messages but the last) or ``text2text`` (the input as a
user turn). Summary: per round the mean reward of all samples and of the kept ones — the quantity
RAFT pushes up.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_text
from feedlearn.tune.config import TrainConfig, load_config
from feedlearn.tune.data import TuneDataset, save_dataset
from feedlearn.tune.sharding import rank_and_world
from feedlearn.tune.stages.base import Stage, run_stage
from feedlearn.tune.stages.sft import SFT, SFTConfig
from feedlearn.tune.templates import to_messages
from feedlearn.tune.trainer import peak_memory_bytes

Messages = list[dict[str, str]]


class RaftConfig(TrainConfig):
    reward_model: str = Field(..., description="Reward model directory (the reward stage's output).")
    iterations: int = Field(2, gt=0, description="Generate -> score -> fine-tune rounds.")
    k: int = Field(4, gt=0, description="Samples per prompt.")
    keep: Literal["best", "top_fraction"] = Field("best", description="Best-of-K per prompt, or a global top fraction.")
    fraction: float = Field(0.25, gt=0, le=1, description="keep=top_fraction: the share of samples kept.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    max_new_tokens: int = Field(32, gt=0, description="Longest sampled reply.")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate of each round's fine-tuning.")


def prompts_of(data: TuneDataset) -> list[Messages]:
    if data.type == "conversation":
        return [to_messages(inst)[:-1] for inst in data.instances]
    return [[{"role": "user", "content": inst["input"]}] for inst in data.instances]


def select(prompt_ids: list[int], rewards: list[float], keep: str, fraction: float = 0.25) -> list[int]:
    """Indices of the samples RAFT keeps, in sample order.

    ``best``: per prompt the highest reward (the first one on ties); ``top_fraction``: the
    ``ceil(fraction · n)`` highest rewards overall (earlier samples first on ties).
    """
    if keep == "best":
        best: dict[int, int] = {}
        for i, (p, r) in enumerate(zip(prompt_ids, rewards)):
            if p not in best or r > rewards[best[p]]:
                best[p] = i
        return sorted(best.values())
    n = max(1, math.ceil(fraction * len(rewards) - 1e-9))  # 0.25 * 8 is 2, not 3 after rounding noise
    order = sorted(range(len(rewards)), key=lambda i: (-rewards[i], i))
    return sorted(order[:n])


def sample_and_score(model_dir: str, prompts: list[Messages], k: int, options: Any, scorer: Any, rank: int = 0,
                     world: int = 1):
    """``k`` sampled replies per prompt from the model at ``model_dir``, and their rewards.

    Returns ``(repeated prompts, replies, rewards)``, sample ``i`` answering prompt ``i // k``. With
    ``world > 1`` each rank samples every ``world``-th prompt and all ranks get everything back.
    """
    from feedlearn.tune.infer import generate
    from feedlearn.tune.models import default_device, load_model, load_tokenizer
    from feedlearn.tune.sharding import gather_in_order

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

    def prompts_and_scorer(self, config: Any) -> tuple[list[Messages], Any]:
        from feedlearn.tune.rewards import RewardScorer

        prompts = prompts_of(self.load(config.data))
        if not prompts or any(not p or p[-1]["role"] != "user" for p in prompts):
            raise FeedlearnError(f"{config.data}: {self.name} needs prompts that end with a user turn")
        return prompts, RewardScorer(config.reward_model, max_length=config.max_length)

    def sample_round(self, config: Any, prompts: list[Messages], scorer: Any, it: int, model_dir: str, k: int):
        """Round ``it``: ``k`` sampled replies per prompt from ``model_dir`` and their rewards (split over ranks
        under a strategy, each rank with its own seed); see ``sample_and_score``."""
        from feedlearn.tune.infer import GenerationOptions

        rank, world = rank_and_world(config.strategy)
        options = GenerationOptions(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                    seed=config.seed + it + 1000 * rank)
        return sample_and_score(model_dir, prompts, k, options, scorer, rank, world)


class Raft(SamplingStage):
    name = "raft"
    config_class = RaftConfig

    def run(self, config: RaftConfig) -> dict[str, Any]:
        prompts, scorer = self.prompts_and_scorer(config)

        def one_round(it: int, model_dir: str, round_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
            repeated, samples, rewards = self.sample_round(config, prompts, scorer, it, model_dir, config.k)
            # an empty reply teaches nothing: it can only be kept when a prompt got nothing else
            eligible = [r if samples[i] else -math.inf for i, r in enumerate(rewards)]
            kept = [i for i in select([i // config.k for i in range(len(repeated))], eligible, config.keep,
                                      config.fraction) if samples[i]]
            if not kept:
                raise FeedlearnError(f"raft round {it}: every kept sample is empty; raise max_new_tokens")
            data = TuneDataset("conversation", [{"messages": repeated[i] + [{"role": "assistant", "content": samples[i]}]}
                                                for i in kept])
            data_path = save_round_data(data, round_dir.parent / f"{round_dir.name}-kept.json", config.strategy)
            summary = run_stage(SFT(), load_config(SFTConfig, None, stage_options(config, SFTConfig, model_dir,
                                                                                   data_path, round_dir)))
            return summary, {"samples": len(samples), "kept": len(kept), "mean_reward": sum(rewards) / len(rewards),
                             "kept_mean_reward": sum(rewards[i] for i in kept) / len(kept)}

        return run_rounds(self.name, config, config.iterations, one_round)


def save_round_data(data: TuneDataset, path: Path, strategy: str) -> Path:
    """Rank 0 writes a round's training data; every rank returns its path once it is there."""
    from feedlearn.tune.sharding import barrier

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
