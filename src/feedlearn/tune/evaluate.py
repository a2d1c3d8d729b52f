"""Evaluation: perplexity on text, loss on labelled tokens, exact match of generated answers, RLHF metrics.

``evaluate(model, tokenizer, data, kind)`` is the one evaluation that ``feedlearn tune eval``, recipes'
``evals`` and the stages' ``evaluate`` hooks share; ``KINDS`` maps each kind to the data it reads and
the function that measures it:

* ``perplexity`` (``text_only``): ``perplexity``, the text packed into ``block_size`` blocks as
  ``pretrain`` trains;
* ``generation`` (``text2text``, ``conversation``): ``exact_match``, ``stops_at_eos``, ``mean_tokens``
  of greedy replies, and ``loss`` on the reference replies (as ``sft`` trains);
* ``rlhf`` (prompts of ``text2text``, ``conversation``): ``mean_reward``, ``mean_length`` of greedy
  replies; ``win_rate`` over baseline replies, ``kl_to_reference`` when given them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.features import IGNORE, pack, prompts_of, references, sft_features
from feedlearn.tune.infer import GenerationOptions, generate
from feedlearn.tune.rewards import RewardScorer, rlhf_metrics
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



@dataclass(frozen=True)
class EvalOptions:
    """How ``evaluate`` measures; each kind reads the options it needs."""

    block_size: int = 256  # perplexity: tokens per packed block
    max_new_tokens: int = 64  # generation, rlhf: longest greedy reply
    loss_on: str = "assistant"  # generation: which reference tokens the label loss covers (sft's loss_on)
    max_length: int = 4096  # generation: longest labelled sequence (tokens)
    label_loss: bool = True  # generation: also the label loss (needs {% generation %} marks on conversations)
    scorer: RewardScorer | None = None  # rlhf: the reward model that judges replies
    reference: Any = None  # rlhf: KL of the model's replies to this model
    baseline_replies: list[str] | None = None  # rlhf: win rate over these replies (one per prompt)


def _perplexity(model: Any, tokenizer: Any, data: TuneDataset, o: EvalOptions) -> dict[str, float]:
    return {"perplexity": perplexity(model, tokenizer, [i["text"] for i in data.instances], o.block_size)}


def _generation(model: Any, tokenizer: Any, data: TuneDataset, o: EvalOptions) -> dict[str, float]:
    metrics = generation_metrics(model, tokenizer, data, max_new_tokens=o.max_new_tokens)
    if o.label_loss:
        rows, _ = sft_features(data, tokenizer, o.loss_on, o.max_length)
        metrics["loss"] = label_loss(model, rows, tokenizer.pad_token_id)
    return metrics


def _rlhf(model: Any, tokenizer: Any, data: TuneDataset, o: EvalOptions) -> dict[str, float]:
    if o.scorer is None:
        raise FeedlearnError(f"{data.source or 'data'}: rlhf evaluation needs a reward model to judge the replies")
    return rlhf_metrics(model, tokenizer, prompts_of(data), o.scorer, reference=o.reference,
                        baseline_replies=o.baseline_replies, max_new_tokens=o.max_new_tokens)


@dataclass(frozen=True)
class EvalKind:
    data_types: tuple[str, ...]  # dataset types it reads
    measure: Callable[[Any, Any, TuneDataset, EvalOptions], dict[str, float]]


KINDS: dict[str, EvalKind] = {
    "perplexity": EvalKind(("text_only",), _perplexity),
    "generation": EvalKind(("text2text", "conversation"), _generation),
    "rlhf": EvalKind(("text2text", "conversation"), _rlhf),
}
# the kind a dataset type gets when none is named (rlhf needs a reward model: it is always asked for)
DEFAULT_KIND = {"text_only": "perplexity", "text2text": "generation", "conversation": "generation"}


def evaluate(model: Any, tokenizer: Any, data: TuneDataset, kind: str | None = None, **options: Any) -> dict[str, float]:
    """Metrics of ``model`` on held-out ``data`` (the module docstring's table); ``options``: ``EvalOptions`` fields.

    ``kind`` defaults to ``DEFAULT_KIND`` of the data's type; data of another type is a one-line error.
    """
    kind = kind or DEFAULT_KIND.get(data.type, "")
    if kind not in KINDS:
        raise FeedlearnError(f"{data.source or 'data'}: evaluation handles {', '.join(DEFAULT_KIND)} data "
                             f"(or a kind: {', '.join(KINDS)}), not {data.type}")
    spec = KINDS[kind]
    if data.type not in spec.data_types:
        raise FeedlearnError(f"{data.source or 'data'}: {kind} needs {' or '.join(spec.data_types)} data, not {data.type}")
    return spec.measure(model, tokenizer, data, EvalOptions(**options))
