"""``dpo``: Direct Preference Optimization on preference pairs, via TRL's ``DPOTrainer``.

Data: ``paired_conversation`` (the prompt is everything before the last message; chosen/rejected
are the two final assistant replies) or ``paired_text_to_text`` (a user turn and two replies),
given to TRL in its conversational format, so the tokenizer's chat template renders them. DPO
compares two replies to one prompt, so a pair whose conversations differ before the last message
(valid data: reward modelling takes it) is refused here, naming the file and row.

Loss (``loss_type``, TRL's names: sigmoid = DPO, ipo, hinge, ...). For sigmoid, with
``h = β·[(log π(y_c|x) − log π_ref(y_c|x)) − (log π(y_r|x) − log π_ref(y_r|x))]``,
``L = −log σ(h)``. At the first step the policy *is* the reference, so h = 0 and
L = log 2 = 0.69315 exactly (tested).

Reference model: ``ref_model`` when given (iterative DPO's fixed reference); else with LoRA the
same network with the adapters switched off (no second copy in memory), without LoRA TRL's frozen
copy of the starting model. Everything else
(resume, logs, summary, merge) is the shared loop's. Evaluation: the implicit-reward accuracy on
held-out pairs (how often the policy prefers the chosen reply more than the reference does).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from feedlearn.tune.config import TrainConfig
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.data.schema import same_prompt
from feedlearn.tune.models import fit_embeddings, load_model
from feedlearn.tune.precision import resolve_precision
from feedlearn.tune.rewards import reply_logprob
from feedlearn.tune.stage import Stage
from feedlearn.tune.templates import to_messages


class DPOStageConfig(TrainConfig):
    lr: float = Field(5e-5, gt=0, description="Peak learning rate.")
    beta: float = Field(0.1, gt=0, description="Strength of the KL-like pull to the reference (β).")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust", "bco_pair"] = Field("sigmoid", description="TRL loss.")
    ref_model: str | None = Field(None, description="Reference model (default: the starting model; with LoRA the "
                                  "adapter-free network). Iterative DPO sets it to keep one reference across rounds.")


def trl_rows(data: TuneDataset) -> list[dict[str, Any]]:
    """Our pairs in TRL's conversational preference format: prompt / chosen / rejected message lists."""
    rows = []
    for inst in data.instances:
        if data.type == "paired_conversation":
            chosen, rejected = to_messages(inst["chosen"]), to_messages(inst["rejected"])
            rows.append({"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]})
        else:
            rows.append({"prompt": [{"role": "user", "content": inst["prompt"]}],
                         "chosen": [{"role": "assistant", "content": inst["chosen"]}],
                         "rejected": [{"role": "assistant", "content": inst["rejected"]}]})
    return rows


class DPO(Stage):
    name = "dpo"
    config_class = DPOStageConfig
    data_types = ("paired_conversation", "paired_text_to_text")

    def require(self, dtype: str, instance: dict[str, Any]) -> None:
        if dtype == "paired_conversation" and not same_prompt(instance):
            raise ValueError("field rejected.messages: dpo needs chosen and rejected to share the prompt (every "
                             "message before the last); reward modelling takes pairs whose prompts differ")

    def features(self, config: DPOStageConfig, tokenizer: Any, data: TuneDataset):
        from datasets import Dataset  # heavy: only when the stage runs

        return Dataset.from_list(trl_rows(data))

    def train_kwargs(self, config: DPOStageConfig, tokenizer: Any) -> dict[str, Any]:
        from trl import DPOConfig, DPOTrainer  # heavy: only when the stage runs

        extra: dict[str, Any] = {"processing_class": tokenizer}
        if config.ref_model is not None:  # frozen, in the policy's weights dtype (TRL's own copy is made so too)
            extra["ref_model"] = fit_embeddings(load_model(config.ref_model, dtype=_weights(config)), tokenizer)
        return {"collator": False, "trainer_class": DPOTrainer, "args_class": DPOConfig,
                "args_extra": {"beta": config.beta, "loss_type": [config.loss_type], "max_length": config.max_length},
                "trainer_extra": extra}

    @torch.no_grad()
    def evaluate(self, model: Any, tokenizer: Any, config: DPOStageConfig, data: TuneDataset) -> dict[str, float]:
        reference = load_model(config.ref_model or config.model, dtype=_weights(config))
        wins, margins = 0, []
        for row in trl_rows(data):
            gap = _logp_gap(model, tokenizer, row) - _logp_gap(reference, tokenizer, row)
            wins += gap > 0
            margins.append(config.beta * gap)
        return {"implicit_accuracy": wins / max(len(margins), 1), "mean_margin": sum(margins) / max(len(margins), 1)}


def _weights(config: DPOStageConfig) -> str:
    return resolve_precision(config.precision).weights_name


def _logp_gap(model: Any, tokenizer: Any, row: dict[str, Any]) -> float:
    """log π(chosen | prompt) − log π(rejected | prompt), summed over the reply tokens."""
    model.eval()
    chosen = reply_logprob(model, tokenizer, row["prompt"], row["chosen"][0]["content"])[0]
    return chosen - reply_logprob(model, tokenizer, row["prompt"], row["rejected"][0]["content"])[0]
