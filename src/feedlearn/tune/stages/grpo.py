"""``grpo`` and ``rloo``: critic-free online RL via TRL, with our reward model as the reward function.

Both sample ``num_generations`` replies per prompt and use the group itself as the baseline —
GRPO (Shao et al. 2024): advantage = (r − mean of the group) / its std (``scale_rewards``);
RLOO (Ahmadian et al. 2024): advantage = r − mean of the *other* replies. TRL's ``GRPOTrainer`` /
``RLOOTrainer`` do the sampling, the clipped loss (``epsilon``) and the KL term (``beta`` times
KL to the starting model; with LoRA the reference is the adapter-free network). Our part: the
prompts from LMFlow data, the reward function — ``RewardScorer`` on the whole conversation, so
the reward model may use another tokenizer and chat template — and the shared loop's resume,
logs and summary.

``batch_size`` counts replies, so it must be a multiple of ``num_generations`` (each step trains on
``batch_size / num_generations`` prompts). The summary's ``train_loss`` is TRL's surrogate loss;
the reward it raises is logged per step as ``reward`` in ``log.jsonl``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from feedlearn.tune.data import TuneDataset
from feedlearn.tune.evaluate import evaluate
from feedlearn.tune.features import Messages, prompts_of
from feedlearn.tune.models import load_model
from feedlearn.tune.sampling import SamplingConfig, SamplingStage
from feedlearn.tune.scorers import make_scorer


class OnlineRLConfig(SamplingConfig):
    num_generations: int = Field(4, gt=1, description="Replies sampled per prompt (the group).")
    epsilon: float = Field(0.2, gt=0, description="Clip range of the probability ratio.")
    lr: float = Field(1e-5, gt=0, description="Peak learning rate.")

    @model_validator(mode="after")
    def _whole_groups(self):
        if self.batch_size % self.num_generations:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of num_generations "
                             f"({self.num_generations}): a batch holds whole groups of replies")
        return self


class GRPOStageConfig(OnlineRLConfig):
    beta: float = Field(0.04, ge=0, description="KL coefficient to the reference (DeepSeekMath's 0.04; 0: none).")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = Field("grpo", description="TRL's loss normalisation.")
    scale_rewards: Literal["group", "batch", "none"] = Field("group", description="Divide advantages by this std.")


class RLOOStageConfig(OnlineRLConfig):
    beta: float = Field(0.05, ge=0, description="KL coefficient to the reference.")


class RewardFunction:
    """TRL's reward-function interface over ``RewardScorer``: (prompts, completions) → scores."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self.__name__ = "reward"  # TRL names the logged column after the function

    def __call__(self, prompts: list[Messages], completions: list[Messages], **_: Any) -> list[float]:
        return self.scorer.score([p + [{"role": "assistant", "content": c[-1]["content"].strip()}]
                                  for p, c in zip(prompts, completions)])


class _TRLOnline(SamplingStage):
    trl_names: ClassVar[tuple[str, str]]  # (trainer, config) class names in trl
    own_args: ClassVar[tuple[str, ...]]  # our config fields passed to TRL's config under the same name

    def features(self, config: OnlineRLConfig, tokenizer: Any, data: TuneDataset):
        from datasets import Dataset  # heavy: only when the stage runs

        return Dataset.from_list([{"prompt": p} for p in prompts_of(data)])

    def train_kwargs(self, config: OnlineRLConfig, tokenizer: Any) -> dict[str, Any]:
        import trl  # heavy: only when the stage runs

        scorer = make_scorer(config.reward_model, max_length=config.max_length)
        trainer_class, args_class = (getattr(trl, n) for n in self.trl_names)
        return {"collator": False, "trainer_class": trainer_class, "args_class": args_class,
                "args_extra": {"num_generations": config.num_generations,
                               "max_completion_length": config.max_new_tokens, "temperature": config.temperature,
                               "include_num_input_tokens_seen": "no",  # TRL logs num_tokens itself
                               **{k: getattr(config, k) for k in ("epsilon", "beta", *self.own_args)}},
                "trainer_extra": {"processing_class": tokenizer, "reward_funcs": RewardFunction(scorer)}}

    def evaluate(self, model: Any, tokenizer: Any, config: OnlineRLConfig, data: TuneDataset) -> dict[str, float]:
        scorer = make_scorer(config.reward_model, max_length=config.max_length)  # the trainer's went with it
        return evaluate(model, tokenizer, data, "rlhf", scorer=scorer, reference=load_model(config.model),
                        max_new_tokens=config.max_new_tokens)


class GRPO(_TRLOnline):
    name = "grpo"
    config_class = GRPOStageConfig
    trl_names = ("GRPOTrainer", "GRPOConfig")
    own_args = ("loss_type", "scale_rewards")


class RLOO(_TRLOnline):
    name = "rloo"
    config_class = RLOOStageConfig
    trl_names = ("RLOOTrainer", "RLOOConfig")
    own_args = ()
