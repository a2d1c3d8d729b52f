"""Run on every rank by the sharded-training tests (importable by spawned processes)."""

from __future__ import annotations

from feedlearn.common.config import load_config
from feedlearn.tune.stages import (
    STAGES,
    DPOStageConfig,
    IterativeDPOConfig,
    PPOConfig,
    RaftConfig,
    RewardConfig,
    SFTConfig,
    run_stage,
)


def sft_with_strategies(model: str, data: str, out: str) -> dict:
    """The same SFT run under zero3 and zeropp, 2 nodes x 2 ranks, then ``lora_resume`` (one launch for both);
    rank 0's summaries."""
    summaries: dict = {"lora": lora_resume(model, data, f"{out}/lora")}
    for strategy in ("zero3", "zeropp"):
        config = load_config(SFTConfig, None, {"model": model, "data": data, "eval_data": data,
                                               "output_dir": f"{out}/{strategy}", "max_steps": 20, "batch_size": 4,
                                               "lr": 3e-3, "strategy": strategy, "ranks_per_node": 2,
                                               "logging_steps": 5})
        summaries[strategy] = run_stage(STAGES["sft"](), config)
    return summaries


def pair_stages(model: str, pairs: str, out: str) -> dict:
    """``reward`` (score head) and ``dpo`` (TRL) under zeropp, 2 nodes x 2 ranks; rank 0's summaries."""
    common = {"model": model, "data": pairs, "eval_data": pairs, "max_steps": 8, "batch_size": 4,
              "strategy": "zeropp", "ranks_per_node": 2}
    reward = run_stage(STAGES["reward"](), load_config(RewardConfig, None, {**common, "lr": 3e-3,
                                                                            "output_dir": f"{out}/reward"}))
    dpo = run_stage(STAGES["dpo"](), load_config(DPOStageConfig, None, {**common, "lr": 1e-3,
                                                                         "output_dir": f"{out}/dpo"}))
    return {"reward": reward, "dpo": dpo}


def ppo_sharded(model: str, reward_model: str, data: str, out: str) -> dict:
    """PPO with actor and critic sharded under zeropp (2 nodes x 2 ranks); rank 0's summary."""
    config = load_config(PPOConfig, None, {"model": model, "data": data, "reward_model": reward_model,
                                           "output_dir": out, "max_steps": 20, "batch_size": 4, "lr": 1e-2,
                                           "critic_lr": 1e-3, "max_new_tokens": 8, "kl_coef": 0.05,
                                           "ppo_epochs": 1, "mini_batch_size": 4,  # one update per rollout
                                           "logging_steps": 1, "strategy": "zeropp", "ranks_per_node": 2})
    return run_stage(STAGES["ppo"](), config)


def raft_sharded(model: str, reward_model: str, data: str, out: str) -> dict:
    """RAFT rounds with sampling split over ranks and the inner SFT sharded (zero3, 2 nodes x 2)."""
    config = load_config(RaftConfig, None, {"model": model, "data": data, "reward_model": reward_model,
                                            "output_dir": out, "iterations": 2, "k": 4, "max_steps": 15,
                                            "batch_size": 2, "lr": 3e-3, "max_new_tokens": 8, "strategy": "zero3",
                                            "ranks_per_node": 2})
    raft = run_stage(STAGES["raft"](), config)

    config = load_config(IterativeDPOConfig, None, {"model": model, "data": data, "reward_model": reward_model,
                                                    "output_dir": out + "-idpo", "iterations": 2, "n": 4,
                                                    "max_steps": 5, "batch_size": 2, "lr": 1e-2, "max_new_tokens": 8,
                                                    "strategy": "zeropp", "ranks_per_node": 2})
    return {"raft": raft, "iterative_dpo": run_stage(STAGES["iterative_dpo"](), config)}


class Interrupted(Exception):
    """Raised on every rank at the same step: a run killed between two checkpoints."""


def lora_resume(model: str, data: str, out: str) -> dict:
    """LoRA SFT under zeropp (2 nodes x 2 ranks), checkpointing every 2 steps: once straight through, once
    interrupted after step 3 and rerun (resumes from checkpoint-2); rank 0's summaries and what it saw."""
    import os

    from transformers import TrainerCallback

    from feedlearn.tune import trainer

    def config(name: str) -> SFTConfig:
        return load_config(SFTConfig, None, {"model": model, "data": data, "output_dir": f"{out}/{name}", "max_steps": 4,
                                             "batch_size": 4, "lr": 1e-2, "lora": True, "strategy": "zeropp",
                                             "ranks_per_node": 2, "save_steps": 2, "save_total_limit": 1,
                                             "logging_steps": 1})

    class Interrupt(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 3:  # step 3 done but not saved: the resumed run must take it again
                raise Interrupted()

    full = run_stage(STAGES["sft"](), config("full"))
    plain_callbacks = trainer._callbacks
    trainer._callbacks = lambda *a: [*plain_callbacks(*a), Interrupt()]
    try:
        run_stage(STAGES["sft"](), config("resumed"))
        raise AssertionError("not interrupted")
    except Interrupted:
        left = sorted(os.listdir(f"{out}/resumed"))
    finally:
        trainer._callbacks = plain_callbacks
    return {"full": full, "resumed": run_stage(STAGES["sft"](), config("resumed")), "left_after_interrupt": left}


def every_stage(model: str, reward_model: str, chat: str, pairs: str, prompts: str, out: str) -> dict:
    """Every sharded run of ``test_sharded`` in one launch (4 processes cost ~20 s to start on 2 cores);
    rank 0's summaries by part."""
    return {"sft": sft_with_strategies(model, chat, out), "pairs": pair_stages(model, pairs, out),
            "raft": raft_sharded(model, reward_model, prompts, f"{out}/raft"),
            "ppo": ppo_sharded(model, reward_model, prompts, f"{out}/ppo")}
