"""``sft``: task adaptation on ``text2text`` and instruction tuning on ``conversation`` data.

* ``conversation``: rendered with the tokenizer's chat template; with ``loss_on="assistant"``
  (default) only the assistant replies and their end-of-turn tokens carry loss — the template's
  ``{% generation %}`` spans (``templates.py``), so the model learns to answer and to stop.
* ``text2text``: ``input`` then ``output`` + EOS, no template (LMFlow's convention); with
  ``loss_on="assistant"`` only the output and EOS carry loss.

A conversation must end with the assistant: a prompt-only one (ending with the user, the prompts
of RL and ``generate``) has no reply to learn and is refused, naming the file and row; so is a
KTO-style ``label: false`` row (an undesirable reply).

``loss_on="all"`` trains on every token. Examples longer than ``max_length`` are truncated;
one left without any loss token is dropped (counted in the summary: ``dropped``). Evaluation: exact match of
greedy generations against the reference reply, and the mean loss on the held-out labels.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.data.schema import ends_with_reply, undesirable
from feedlearn.tune.evaluate import evaluate
from feedlearn.tune.features import sft_features
from feedlearn.tune.stage import Stage
from feedlearn.tune.trainer import Features


class SFTConfig(TrainConfig):
    loss_on: Literal["assistant", "all"] = Field("assistant", description="Which tokens carry loss.")
    eval_max_new_tokens: int = Field(64, gt=0, description="Generation budget for exact-match evaluation.")


class SFT(Stage):
    name = "sft"
    config_class = SFTConfig
    data_types = ("conversation", "text2text")

    def require(self, dtype: str, instance: dict[str, Any]) -> None:
        if undesirable(instance):  # KTO data loaded as it is: its bad replies must not be learnt
            raise ValueError(f"field {undesirable(instance)}: false marks an undesirable reply (KTO-style), which sft "
                             "would learn; drop such rows (convert --from openai --to conversation does)")
        if dtype == "conversation" and not ends_with_reply(instance):
            raise ValueError(f"field messages.{len(instance['messages']) - 1}: a prompt-only conversation (it ends "
                             "with the user): sft learns from the assistant's replies; prompt-only data is for raft, "
                             "ppo, grpo, rloo, iterative_dpo and generate")

    def features(self, config: SFTConfig, tokenizer: Any, data: TuneDataset) -> Features:
        rows, dropped = sft_features(data, tokenizer, config.loss_on, config.max_length)
        return Features(rows, dropped=dropped)

    def evaluate(self, model: Any, tokenizer: Any, config: SFTConfig, data: TuneDataset) -> dict[str, float]:
        return evaluate(model, tokenizer, data, "generation", max_new_tokens=config.eval_max_new_tokens,
                        loss_on=config.loss_on, max_length=config.max_length)
