"""``raft``: Reward rAnked FineTuning (Dong et al. 2023, LMFlow's alignment method).

Each of ``iterations`` rounds: the current model samples ``k`` replies per prompt (temperature
``temperature``, seeded per round), the reward model scores every (prompt, reply), the best are
kept — ``keep="best"``: the top reply of each prompt (best-of-K); ``keep="top_fraction"``: the top
``fraction`` of all samples; with ``min_reward`` only those scoring at least that — and the model is
fine-tuned on them with the ``sft`` stage (loss on the reply). The next round starts from that
model — with a fresh AdamW, or (``carry_optimizer``) with the previous round's optimizer state, so
the rounds make one optimization. Our own short loop over transformers and the ``sft`` stage
(LMFlow's copy is broken on current transformers).

Data: prompts from ``conversation`` (all messages but the last) or ``text2text`` (the input as a
user turn). Summary: per round the mean reward of all samples and of the kept ones — the quantity
RAFT pushes up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from feedlearn.common.config import load_config
from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.features import Messages
from feedlearn.tune.rewards import RewardScorer
from feedlearn.tune.sampling import RoundsConfig, RoundsStage, save_round_data, stage_options
from feedlearn.tune.stage import run_stage
from feedlearn.tune.stages.sft import SFT, SFTConfig
from feedlearn.tune.trainer import last_checkpoint


class RaftConfig(RoundsConfig):
    k: int = Field(4, gt=0, description="Samples per prompt.")
    keep: Literal["best", "top_fraction"] = Field("best", description="Best-of-K per prompt, or a global top fraction.")
    fraction: float = Field(0.25, gt=0, le=1, description="keep=top_fraction: the share of samples kept.")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate of each round's fine-tuning.")
    min_reward: float | None = Field(None, description="Keep only samples scoring at least this (e.g. 0 with the "
                                     "game reward: replies that lead to a valid deal); default: no floor.")
    carry_optimizer: bool = Field(False, description="One AdamW across rounds: each round starts from the previous "
                                  "round's optimizer state (moments, step count) instead of a fresh one.")


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


def _optimizer_of(previous: Path, config: RaftConfig) -> str:
    """The optimizer state the previous round ended with (its last checkpoint's optimizer.pt)."""
    checkpoint = last_checkpoint(previous) if config.strategy == "none" else None
    if checkpoint is None or not (Path(checkpoint) / "optimizer.pt").exists():
        raise FeedlearnError(f"raft carry_optimizer: {previous} has no checkpoint with optimizer.pt "
                             "(sharded rounds keep it in DCP shards, not carried: use carry_optimizer=false with a strategy)")
    return str(Path(checkpoint) / "optimizer.pt")


class Raft(RoundsStage):
    name = "raft"
    config_class = RaftConfig

    def one_round(self, config: RaftConfig, prompts: list[Messages], scorer: RewardScorer, it: int, model_dir: str,
                  round_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """Sample ``k`` replies per prompt, keep the best (``keep``), fine-tune on them with ``sft``."""
        repeated, samples, rewards = self.sample_round(config, prompts, scorer, it, model_dir, config.k)
        # an empty reply teaches nothing: it can only be kept when a prompt got nothing else
        eligible = [r if samples[i] else -math.inf for i, r in enumerate(rewards)]
        kept = [i for i in select([i // config.k for i in range(len(repeated))], eligible, config.keep,
                                  config.fraction) if samples[i]]
        if not kept:
            raise FeedlearnError(f"raft round {it}: every kept sample is empty; raise max_new_tokens")
        if config.min_reward is not None:
            kept = [i for i in kept if rewards[i] >= config.min_reward]
            if not kept:
                raise FeedlearnError(f"raft round {it}: no sample scored min_reward ({config.min_reward:g}) or more; "
                                     "lower it or raise k")
        data = TuneDataset("conversation", [{"messages": repeated[i] + [{"role": "assistant", "content": samples[i]}]}
                                            for i in kept])
        data_path = save_round_data(data, round_dir.parent / f"{round_dir.name}-kept.json", config.strategy)
        options = stage_options(config, SFTConfig, model_dir, data_path, round_dir)
        if config.carry_optimizer and it > 0:
            options["optimizer_state"] = _optimizer_of(round_dir.parent / f"round-{it - 1}", config)
        summary = run_stage(SFT(), load_config(SFTConfig, None, options))
        return summary, {"samples": len(samples), "kept": len(kept), "mean_reward": sum(rewards) / len(rewards),
                         "kept_mean_reward": sum(rewards[i] for i in kept) / len(kept)}
