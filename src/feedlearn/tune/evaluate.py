"""Evaluation: perplexity on text, loss on labelled tokens, exact match of generated answers."""

from __future__ import annotations

import math
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.features import IGNORE, pack, references
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.trainer import PadCollator

MAX_BLOCK = 1 << 20  # tokens in one perplexity block


@torch.no_grad()
def label_loss(model: Any, rows: list[dict[str, list[int]]], pad_id: int, batch_size: int = 16) -> float:
    """Mean cross-entropy per labelled token (labels != -100) over ``rows``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise FeedlearnError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
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


def check_block_size(block_size: int) -> int:
    """``block_size`` if it is a usable perplexity block length (2 .. ``MAX_BLOCK`` tokens)."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or not 2 <= block_size <= MAX_BLOCK:
        raise FeedlearnError(f"block_size (--block-size) must be a whole number from 2 to {MAX_BLOCK:,}, "
                             f"got {block_size!r}")
    return block_size


def perplexity(model: Any, tokenizer: Any, texts: list[str], block_size: int) -> float:
    """exp(mean NLL per token) of ``texts`` packed into ``block_size`` blocks, as ``pretrain`` trains."""
    rows = [{"input_ids": b, "labels": list(b)} for b in pack(texts, tokenizer, check_block_size(block_size))]
    loss = label_loss(model, rows, tokenizer.pad_token_id)
    return math.exp(loss) if loss < 700 else math.inf  # exp overflows a float past ~709


def generation_metrics(model: Any, tokenizer: Any, data: TuneDataset, *, max_new_tokens: int = 64) -> dict[str, float]:
    """Greedy generations vs references: exact match (whitespace-stripped), and how many stopped at EOS."""
    prompts, refs = references(data)
    outs = generate(model, tokenizer, prompts, GenerationOptions(max_new_tokens=max_new_tokens))
    n = max(len(refs), 1)
    return {"exact_match": sum(o.text.strip() == r.strip() for o, r in zip(outs, refs)) / n,
            "stops_at_eos": sum(o.stopped for o in outs) / n,
            "mean_tokens": sum(o.tokens for o in outs) / n}

