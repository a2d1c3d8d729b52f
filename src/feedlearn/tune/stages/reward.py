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
from feedlearn.tune.stages.base import Stage
from feedlearn.tune.templates import to_messages
from feedlearn.tune.trainer import Features


class RewardConfig(TrainConfig):
    lr: float = Field(1e-4, gt=0, description="Peak learning rate.")
    use_margin: bool = Field(True, description="Subtract paired_text_to_text's margin inside the loss.")


def pairwise_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``-log σ(r_c - r_r - m)`` (module docstring for a worked example)."""
    gap = chosen - rejected - (margin if margin is not None else 0.0)
    return -torch.nn.functional.logsigmoid(gap).mean()


def render(conversation: dict[str, Any], tokenizer: Any) -> list[int]:
    """Token ids of a whole conversation (chat template, or contents joined by newlines)."""
    messages = to_messages(conversation)
    if getattr(tokenizer, "chat_template", None):
        return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    return tokenizer("\n".join(m["content"] for m in messages), add_special_tokens=False)["input_ids"]


def pair_features(data: TuneDataset, tokenizer: Any, max_length: int, use_margin: bool) -> list[dict[str, Any]]:
    rows = []
    for inst in data.instances:
        if data.type == "paired_conversation":
            chosen, rejected, margin = inst["chosen"], inst["rejected"], 0.0
        else:
            prompt = {"role": "user", "content": inst["prompt"]}
            chosen = {"messages": [prompt, {"role": "assistant", "content": inst["chosen"]}]}
            rejected = {"messages": [prompt, {"role": "assistant", "content": inst["rejected"]}]}
            margin = float(inst.get("margin") or 0.0) if use_margin else 0.0
        # keep the end: truncating from the left would cut the prompt, from the right the answers
        rows.append({"chosen": render(chosen, tokenizer)[:max_length], "rejected": render(rejected, tokenizer)[:max_length],
                     "margin": margin})
    return rows


class PairCollator:
    """``input_ids``/``attention_mask`` of 2B right-padded rows (B chosen, then B rejected) + margins."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        seqs = [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask, "margin": torch.tensor([r["margin"] for r in rows])}


def score_batch(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """One scalar per row (the score head at the row's last token)."""
    return model(input_ids=input_ids, attention_mask=attention_mask).logits.squeeze(-1).float()


class PairwiseTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        rewards = score_batch(model, inputs["input_ids"], inputs["attention_mask"])
        half = rewards.shape[0] // 2
        loss = pairwise_loss(rewards[:half], rewards[half:], inputs["margin"].to(rewards))
        return (loss, {"rewards": rewards}) if return_outputs else loss


@torch.no_grad()
def pair_rewards(model: Any, rows: list[dict[str, Any]], pad_id: int, batch_size: int = 16) -> list[tuple[float, float]]:
    """``(r_chosen, r_rejected)`` of every pair of ``rows`` (``pair_features`` output)."""
    model.eval()
    collate, out = PairCollator(pad_id), []
    for start in range(0, len(rows), batch_size):
        batch = collate(rows[start:start + batch_size])
        r = score_batch(model, batch["input_ids"].to(model.device), batch["attention_mask"].to(model.device)).tolist()
        half = len(r) // 2
        out += list(zip(r[:half], r[half:]))
    return out


def pairwise_accuracy(model: Any, rows: list[dict[str, Any]], pad_id: int, batch_size: int = 16) -> dict[str, float]:
    pairs = pair_rewards(model, rows, pad_id, batch_size)
    n = max(len(pairs), 1)
    return {"accuracy": sum(c > r for c, r in pairs) / n, "mean_gap": sum(c - r for c, r in pairs) / n}


class Reward(Stage):
    name = "reward"
    config_class = RewardConfig
    data_types = ("paired_conversation", "paired_text_to_text")
    head = "score"

    def features(self, config: RewardConfig, tokenizer: Any, data: TuneDataset) -> Features:
        return Features(pair_features(data, tokenizer, config.max_length, config.use_margin))

    def train_kwargs(self, tokenizer: Any) -> dict[str, Any]:
        return {"head": "score", "collator": PairCollator(tokenizer.pad_token_id), "trainer_class": PairwiseTrainer}

    def evaluate(self, model: Any, tokenizer: Any, config: RewardConfig, data: TuneDataset) -> dict[str, float]:
        return pairwise_accuracy(model, pair_features(data, tokenizer, config.max_length, config.use_margin),
                                 tokenizer.pad_token_id)
