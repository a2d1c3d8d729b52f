"""``iterative_dpo``: online DPO rounds — sample N replies, score them, pair best with worst, DPO.

Each round the current model samples ``n`` replies per prompt; the reward model scores them; the
best and the worst reply of each prompt (when their rewards differ) form a preference pair; one
``dpo`` run on those pairs gives the next round's model. As in RLHFlow's online iterative DPO (and
LMFlow's copy of it):

* the reference of every round is the stage's starting model (``reference="initial"``), so the KL
  pull is to one fixed model; ``"previous"`` makes each round's start its reference instead;
* each round samples its own share of the prompts (``fresh_prompts``: the data split into
  ``iterations`` consecutive parts), when there are at least ``iterations`` of them; with fewer,
  every round uses them all.

Rounds are resumable like RAFT's.
"""

from __future__ import annotations

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
from feedlearn.tune.stages.dpo import DPO, DPOStageConfig


class IterativeDPOConfig(DPOStageConfig, RoundsConfig):
    n: int = Field(4, gt=1, description="Samples per prompt (the best and the worst make the pair).")
    reference: Literal["initial", "previous"] = Field("initial", description="Every round's DPO reference: the "
                                                     "stage's starting model, or the round's own starting model.")
    fresh_prompts: bool = Field(True, description="Each round samples its own 1/iterations of the prompts (when "
                                "there are at least iterations prompts); false: all prompts every round.")


def round_prompts(prompts: list[Messages], it: int, iterations: int, fresh: bool) -> list[Messages]:
    """Round ``it``'s prompts: its consecutive share of ``prompts`` (sizes differing by at most one), or all."""
    if not fresh or len(prompts) < iterations:
        return prompts
    size, extra = divmod(len(prompts), iterations)
    start = it * size + min(it, extra)
    return prompts[start:start + size + (it < extra)]


def best_worst_pairs(prompts: list, replies: list[str], rewards: list[float], n: int) -> list[dict[str, Any]]:
    """One ``paired_conversation`` per prompt: its highest- vs lowest-reward reply (skipped on a tie)."""
    pairs = []
    for p in range(len(replies) // n):
        idx = range(p * n, (p + 1) * n)
        best = max(idx, key=lambda i: (rewards[i], -i))
        worst = min(idx, key=lambda i: (rewards[i], i))
        if rewards[best] > rewards[worst] and replies[best] and replies[worst] and replies[best] != replies[worst]:
            prompt = {"messages": prompts[p * n]}
            pairs.append({"chosen": {"messages": prompt["messages"] + [{"role": "assistant", "content": replies[best]}]},
                          "rejected": {"messages": prompt["messages"] + [{"role": "assistant",
                                                                          "content": replies[worst]}]}})
    return pairs


class IterativeDPO(RoundsStage):
    name = "iterative_dpo"
    config_class = IterativeDPOConfig

    def one_round(self, config: IterativeDPOConfig, prompts: list[Messages], scorer: RewardScorer, it: int,
                  model_dir: str, round_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """Sample ``n`` replies per prompt, pair the best with the worst, train ``dpo`` on the pairs."""
        mine = round_prompts(prompts, it, config.iterations, config.fresh_prompts)
        repeated, samples, rewards = self.sample_round(config, mine, scorer, it, model_dir, config.n)
        pairs = best_worst_pairs(repeated, samples, rewards, config.n)
        if not pairs:
            raise FeedlearnError(f"iterative_dpo round {it}: no prompt had replies of different rewards")
        data_path = save_round_data(TuneDataset("paired_conversation", pairs),
                                    round_dir.parent / f"{round_dir.name}-pairs.json", config.strategy)
        # round 0 starts from the initial model: its own reference (with LoRA, the adapter-free network)
        fixed = config.reference == "initial" and model_dir != config.model
        options_ = {**stage_options(config, DPOStageConfig, model_dir, data_path, round_dir),
                    "beta": config.beta, "loss_type": config.loss_type, "ref_model": config.model if fixed else None}
        summary = run_stage(DPO(), load_config(DPOStageConfig, None, options_))
        return summary, {"samples": len(samples), "pairs": len(pairs), "mean_reward": sum(rewards) / len(rewards)}
