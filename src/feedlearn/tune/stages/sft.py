"""``sft``: task adaptation on ``text2text`` and instruction tuning on ``conversation`` data.

* ``conversation``: rendered with the tokenizer's chat template; with ``loss_on="assistant"``
  (default) only the assistant replies and their end-of-turn tokens carry loss — the template's
  ``{% generation %}`` spans (``templates.py``), so the model learns to answer and to stop.
* ``text2text``: ``input`` then ``output`` + EOS, no template (LMFlow's convention); with
  ``loss_on="assistant"`` only the output and EOS carry loss.

``loss_on="all"`` trains on every token. Examples longer than ``max_length`` are truncated;
one left without any loss token is dropped (counted in the summary). Evaluation: exact match of
greedy generations against the reference reply, and the mean loss on the held-out labels.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.evaluate import generation_metrics, label_loss
from feedlearn.tune.stages.base import Stage
from feedlearn.tune.templates import to_messages
from feedlearn.tune.trainer import IGNORE, Features


class SFTConfig(TrainConfig):
    loss_on: Literal["assistant", "all"] = Field("assistant", description="Which tokens carry loss.")
    eval_max_new_tokens: int = Field(64, gt=0, description="Generation budget for exact-match evaluation.")


def conversation_features(inst: dict, tokenizer: Any, loss_on: str, max_length: int) -> dict[str, list[int]]:
    if not getattr(tokenizer, "chat_template", None):
        raise FeedlearnError("sft on conversations needs a chat template: set template (chatml, llama3, ...)")
    enc = tokenizer.apply_chat_template(to_messages(inst), tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    ids, mask = list(enc["input_ids"]), list(enc["assistant_masks"])
    if loss_on == "assistant" and not any(mask):
        raise FeedlearnError("the chat template marks no assistant tokens: it needs {% generation %} blocks "
                             "(use a feedlearn template: template=chatml, ...)")
    labels = [t if (m or loss_on == "all") else IGNORE for t, m in zip(ids, mask)]
    return {"input_ids": ids[:max_length], "labels": labels[:max_length]}


def text2text_features(inst: dict, tokenizer: Any, loss_on: str, max_length: int) -> dict[str, list[int]]:
    prompt = tokenizer(inst["input"], add_special_tokens=False)["input_ids"] if inst["input"] else []
    answer = tokenizer(inst["output"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    labels = (list(prompt) if loss_on == "all" else [IGNORE] * len(prompt)) + answer
    return {"input_ids": (prompt + answer)[:max_length], "labels": labels[:max_length]}


def sft_features(data: TuneDataset, tokenizer: Any, loss_on: str, max_length: int) -> tuple[list[dict], int]:
    """Features of every instance, and how many were dropped for having no loss token left."""
    make = conversation_features if data.type == "conversation" else text2text_features
    rows, dropped = [], 0
    for inst in data.instances:
        row = make(inst, tokenizer, loss_on, max_length)
        if all(label == IGNORE for label in row["labels"]):
            dropped += 1
            continue
        rows.append(row)
    return rows, dropped


class SFT(Stage):
    name = "sft"
    config_class = SFTConfig
    data_types = ("conversation", "text2text")

    def features(self, config: SFTConfig, tokenizer: Any, data: TuneDataset) -> Features:
        rows, self.dropped = sft_features(data, tokenizer, config.loss_on, config.max_length)
        return Features(rows)

    def evaluate(self, model: Any, tokenizer: Any, config: SFTConfig, data: TuneDataset) -> dict[str, float]:
        rows, _ = sft_features(data, tokenizer, config.loss_on, config.max_length)
        return {**generation_metrics(model, tokenizer, data, max_new_tokens=config.eval_max_new_tokens),
                "loss": label_loss(model, rows, tokenizer.pad_token_id)}
