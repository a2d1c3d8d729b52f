"""``iterative_dpo``: online DPO rounds — sample N replies, score them, pair best with worst, DPO.

Each round the current model samples ``n`` replies per prompt; the reward model scores them; the
best and the worst reply of each prompt (when their rewards differ) form a preference pair; one
``dpo`` run on those pairs gives the next round's model, which is also that run's reference (the
usual online iterative DPO of RLHFlow/LMFlow). Rounds are resumable like RAFT's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
        repeated, samples, rewards = self.sample_round(config, prompts, scorer, it, model_dir, config.n)
        pairs = best_worst_pairs(repeated, samples, rewards, config.n)
        if not pairs:
            raise FeedlearnError(f"iterative_dpo round {it}: no prompt had replies of different rewards")
        data_path = save_round_data(TuneDataset("paired_conversation", pairs),
                                    round_dir.parent / f"{round_dir.name}-pairs.json", config.strategy)
        options_ = {**stage_options(config, DPOStageConfig, model_dir, data_path, round_dir),
                    "beta": config.beta, "loss_type": config.loss_type}
        summary = run_stage(DPO(), load_config(DPOStageConfig, None, options_))
        return summary, {"samples": len(samples), "pairs": len(pairs), "mean_reward": sum(rewards) / len(rewards)}
