"""``reward``: a reward model — a scalar score head on the LM — trained on preference pairs.

Data: ``paired_conversation`` (chosen/rejected conversations with a shared prompt) or
``paired_text_to_text`` (prompt, chosen, rejected, optional margin; rendered as a user turn and an
assistant reply with the chat template when the tokenizer has one). The score of a sequence is the
head's output at its last token (transformers' ``*ForSequenceClassification``).

Loss (Bradley–Terry, with InstructGPT's/Llama 2's optional margin m):
``L = -log σ(r_chosen - r_rejected - m)``. Worked example: r_c = 2, r_r = 1, m = 0 →
``-log σ(1) = log(1 + e^-1) = 0.31326``; with m = 1 → ``-log σ(0) = log 2 = 0.69315``.

Chosen and rejected sequences go through the model in one batch (chosen rows first). With LoRA,
peft trains and saves the new score head with the adapters (``modules_to_save``), and the merged
model keeps it — the head LMFlow loses on merge. Evaluation: pairwise accuracy (r_c > r_r) on
held-out pairs and the mean reward gap.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from transformers import Trainer

from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.features import pair_features
from feedlearn.tune.rewards import PairCollator, pairwise_accuracy, score_batch
from feedlearn.tune.stage import Stage
from feedlearn.tune.trainer import Features


class RewardConfig(TrainConfig):
    lr: float = Field(1e-4, gt=0, description="Peak learning rate.")
    use_margin: bool = Field(True, description="Subtract paired_text_to_text's margin inside the loss.")


def pairwise_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``-log σ(r_c - r_r - m)`` (module docstring for a worked example)."""
    gap = chosen - rejected - (margin if margin is not None else 0.0)
    return -torch.nn.functional.logsigmoid(gap).mean()


class PairwiseTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        rewards = score_batch(model, inputs["input_ids"], inputs["attention_mask"])
        half = rewards.shape[0] // 2
        loss = pairwise_loss(rewards[:half], rewards[half:], inputs["margin"].to(rewards))
        return (loss, {"rewards": rewards}) if return_outputs else loss


class Reward(Stage):
    name = "reward"
    config_class = RewardConfig
    data_types = ("paired_conversation", "paired_text_to_text")
    makes_policy = False

    def features(self, config: RewardConfig, tokenizer: Any, data: TuneDataset) -> Features:
        return Features(pair_features(data, tokenizer, config.max_length, config.use_margin))

    def train_kwargs(self, config: RewardConfig, tokenizer: Any) -> dict[str, Any]:
        return {"head": "score", "collator": PairCollator(tokenizer.pad_token_id), "trainer_class": PairwiseTrainer}

    def evaluate(self, model: Any, tokenizer: Any, config: RewardConfig, data: TuneDataset) -> dict[str, float]:
        return pairwise_accuracy(model, pair_features(data, tokenizer, config.max_length, config.use_margin),
                                 tokenizer.pad_token_id)
