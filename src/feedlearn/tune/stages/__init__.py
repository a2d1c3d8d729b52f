"""Training stages by name: the extension point of the pipeline (one file per stage).

A stage is a ``Stage`` subclass (``feedlearn.tune.stage``): its config class, the dataset types it trains on,
how it turns instances into token features, and what it evaluates. ``pretrain`` is the template.
"""

from feedlearn.tune.stage import Stage, run_stage
from feedlearn.tune.stages.dpo import DPO, DPOStageConfig
from feedlearn.tune.stages.grpo import GRPO, RLOO, GRPOStageConfig, RLOOStageConfig
from feedlearn.tune.stages.iterative_dpo import IterativeDPO, IterativeDPOConfig
from feedlearn.tune.stages.ppo import PPO, PPOConfig
from feedlearn.tune.stages.pretrain import Pretrain, PretrainConfig
from feedlearn.tune.stages.raft import Raft, RaftConfig
from feedlearn.tune.stages.reward import Reward, RewardConfig
from feedlearn.tune.stages.sft import SFT, SFTConfig

STAGES: dict[str, type[Stage]] = {"pretrain": Pretrain, "sft": SFT, "reward": Reward, "raft": Raft, "dpo": DPO,
                                 "iterative_dpo": IterativeDPO, "ppo": PPO, "grpo": GRPO, "rloo": RLOO}

__all__ = ["DPO", "GRPO", "PPO", "RLOO", "SFT", "STAGES", "DPOStageConfig", "GRPOStageConfig", "IterativeDPO",
           "IterativeDPOConfig", "PPOConfig", "Pretrain", "PretrainConfig", "RLOOStageConfig", "Raft", "RaftConfig",
           "Reward", "RewardConfig", "SFTConfig", "Stage", "run_stage"]
