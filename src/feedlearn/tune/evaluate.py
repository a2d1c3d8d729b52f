"""Evaluation: perplexity on text, loss on labelled tokens, exact match of generated answers."""

from __future__ import annotations

import math
from typing import Any

import torch

from feedlearn.tune.data import TuneDataset
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.trainer import IGNORE, PadCollator


@torch.no_grad()
def label_loss(model: Any, rows: list[dict[str, list[int]]], pad_id: int, batch_size: int = 16) -> float:
    """Mean cross-entropy per labelled token (labels != -100) over ``rows``."""
    model.eval()
    collate = PadCollator(pad_id)
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = {k: v.to(model.device) for k, v in collate(rows[start:start + batch_size]).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        # token t predicts token t + 1
        target = batch["labels"][:, 1:]
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), target, ignore_index=IGNORE,
                                                reduction="sum")
        total += float(nll)
        count += int((target != IGNORE).sum())
    return total / max(count, 1)


def perplexity(model: Any, tokenizer: Any, texts: list[str], block_size: int) -> float:
    """exp(mean NLL per token) of ``texts`` packed into ``block_size`` blocks, as ``pretrain`` trains."""
    from feedlearn.tune.stages.pretrain import pack

    rows = [{"input_ids": b, "labels": list(b)} for b in pack(texts, tokenizer, block_size)]
    return math.exp(label_loss(model, rows, tokenizer.pad_token_id))


def references(data: TuneDataset) -> tuple[list[Any], list[str]]:
    """Prompts and reference answers: text2text input/output; a conversation's last reply."""
    if data.type == "text2text":
        return [i["input"] for i in data.instances], [i["output"] for i in data.instances]
    from feedlearn.tune.templates import to_messages

    prompts = [to_messages(i)[:-1] for i in data.instances]
    return prompts, [i["messages"][-1]["content"] for i in data.instances]


def generation_metrics(model: Any, tokenizer: Any, data: TuneDataset, *, max_new_tokens: int = 64) -> dict[str, float]:
    """Greedy generations vs references: exact match (whitespace-stripped), and how many stopped at EOS."""
    prompts, refs = references(data)
    outs = generate(model, tokenizer, prompts, GenerationOptions(max_new_tokens=max_new_tokens))
    n = max(len(refs), 1)
    return {"exact_match": sum(o.text.strip() == r.strip() for o, r in zip(outs, refs)) / n,
            "stops_at_eos": sum(o.stopped for o in outs) / n,
            "mean_tokens": sum(o.tokens for o in outs) / n}

