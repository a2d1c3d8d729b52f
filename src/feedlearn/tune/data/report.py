"""``feedlearn tune data validate``: what is in a dataset — counts, lengths, token statistics.

Lengths are per *text field* of the type (``text``; ``input``/``output``; a conversation's user and
assistant contents; …) in characters, and, given a tokenizer, in tokens of the text a model would
see (a conversation rendered by the tokenizer's chat template when it has one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from feedlearn.tune.data.io import TuneDataset
from feedlearn.tune.data.rows import FileReport
from feedlearn.tune.data.schema import DATASET_TYPES


def _conv_texts(conv: dict[str, Any], prefix: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {f"{prefix}user": [], f"{prefix}assistant": [], f"{prefix}tool": []}
    if conv.get("system"):
        out[f"{prefix}system"] = [conv["system"]]
    for m in conv["messages"]:  # a system message between turns counts with the system prompts
        out.setdefault(f"{prefix}{m['role']}", []).append(m["content"])
    return out


def text_fields(dtype: str, inst: dict[str, Any]) -> dict[str, list[str]]:
    """The texts of one instance, grouped by field name."""
    if dtype == "text_only":
        return {"text": [inst["text"]]}
    if dtype == "text2text":
        return {"input": [inst["input"]], "output": [inst["output"]]}
    if dtype == "conversation":
        return _conv_texts(inst, "")
    if dtype == "paired_conversation":
        return {**_conv_texts(inst["chosen"], "chosen."), **_conv_texts(inst["rejected"], "rejected.")}
    if dtype == "paired_text_to_text":
        return {"prompt": [inst["prompt"]], "chosen": [inst["chosen"]], "rejected": [inst["rejected"]]}
    return {"input": [inst["input"]], "output.text": [o["text"] for o in inst["output"]]}


def model_text(dtype: str, inst: dict[str, Any], tokenizer: Any) -> list[str]:
    """What a model is trained on for this instance (one string, two for pairs)."""
    def conv(c: dict[str, Any]) -> str:
        msgs = ([{"role": "system", "content": c["system"]}] if c.get("system") else []) + c["messages"]
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(msgs, tokenize=False)
        return "\n".join(m["content"] for m in msgs)

    if dtype == "conversation":
        return [conv(inst)]
    if dtype == "paired_conversation":
        return [conv(inst["chosen"]), conv(inst["rejected"])]
    return ["\n".join(t for texts in text_fields(dtype, inst).values() for t in texts)]


@dataclass
class LengthStats:
    count: int
    mean: float
    p50: float
    p95: float
    max: int

    @classmethod
    def of(cls, values: list[int]) -> LengthStats:
        arr = np.asarray(values if values else [0])
        return cls(len(values), float(arr.mean()), float(np.percentile(arr, 50)), float(np.percentile(arr, 95)),
                   int(arr.max()))


@dataclass
class DatasetReport:
    source: str
    type: str
    instances: int
    skipped: int
    skipped_examples: list[str]
    chars: dict[str, LengthStats]
    unknown_fields: dict[str, int] = field(default_factory=dict)
    tokens: LengthStats | None = None
    total_tokens: int = 0
    files: list[FileReport] = field(default_factory=list)  # per file: kept, dropped (why), inferred


def describe(dataset: TuneDataset, tokenizer: Any = None) -> DatasetReport:
    """Counts and length statistics of ``dataset`` (tokens too when a tokenizer is given)."""
    lengths: dict[str, list[int]] = {}
    unknown: Counter[str] = Counter()
    known = set(DATASET_TYPES[dataset.type].model_fields)
    token_lengths: list[int] = []
    for inst in dataset.instances:
        for name, texts in text_fields(dataset.type, inst).items():
            lengths.setdefault(name, []).extend(len(t) for t in texts)
        unknown.update(k for k in inst if k not in known)
        if tokenizer is not None:
            token_lengths += [len(tokenizer(t, add_special_tokens=False)["input_ids"])
                              for t in model_text(dataset.type, inst, tokenizer)]
    chars = {name: LengthStats.of(v) for name, v in lengths.items() if v}
    tokens = LengthStats.of(token_lengths) if tokenizer is not None else None
    return DatasetReport(dataset.source, dataset.type, len(dataset), dataset.skipped, dataset.skipped_examples,
                         chars, dict(unknown), tokens, sum(token_lengths), dataset.files)
