"""Batched generation: prompts in, completions out, stopping at the model's EOS.

Prompts are either plain strings (used as given) or chat messages (rendered with the tokenizer's
chat template plus the assistant generation prompt). Batches are left-padded so every prompt ends
where generation starts. Greedy by default; ``temperature > 0`` samples, seeded.

Speculative decoding: with a small ``draft`` model (same tokenizer), transformers' assisted
generation lets the draft propose tokens that the model verifies in one forward pass; greedy
output is unchanged (tested), only faster when the draft guesses well. It runs one prompt at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError

MAX_NEW_TOKENS = 1 << 16  # per reply: more than any use here needs; bounds what generate() allocates
MAX_BATCH_SIZE = 1 << 12  # prompts per generate() call: beyond this only memory runs out
MAX_SEED = 2**63 - 1  # torch.manual_seed takes up to 64 bits


@dataclass(frozen=True)
class GenerationOptions:
    """How to generate; every caller (generate, chat, eval, RAFT sampling) builds one, so the
    checks in ``__post_init__`` guard them all before a model is touched."""

    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    batch_size: int = 16
    seed: int = 0
    draft: Any = None  # a small model for speculative (assisted) decoding; forces batch size 1
    on_text: Any = None  # callable(str): receives the text as it is generated; forces batch size 1

    def __post_init__(self) -> None:
        _whole(self.max_new_tokens, "max_new_tokens", 1, MAX_NEW_TOKENS)
        _whole(self.batch_size, "batch_size", 1, MAX_BATCH_SIZE)
        _whole(self.seed, "seed", 0, MAX_SEED)
        _number(self.temperature, "temperature", "a finite number >= 0 (0: greedy)", lambda t: t >= 0)
        _number(self.top_p, "top_p", "a number in (0, 1]", lambda p: 0 < p <= 1)


def _option(name: str) -> str:
    """``max_new_tokens (--max-new-tokens)``: the option as the API and the command line spell it."""
    return f"generation option {name} (--{name.replace('_', '-')})"


def _whole(value: Any, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FeedlearnError(f"{_option(name)}: must be a whole number from {low:,} to {high:,}, got {value!r}")


def _number(value: Any, name: str, what: str, ok: Callable[[float], bool]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise FeedlearnError(f"{_option(name)}: must be {what}, got {value!r}")


def render_prompt(prompt: str | list[dict[str, str]], tokenizer: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def stop_ids(tokenizer: Any, model: Any) -> list[int]:
    """Token ids that end generation: the generation config's EOS and the tokenizer's."""
    ids = model.generation_config.eos_token_id
    ids = list(ids) if isinstance(ids, (list, tuple)) else ([ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


@dataclass(frozen=True)
class Completion:
    text: str  # special tokens removed
    stopped: bool  # ended with an EOS token (not cut by max_new_tokens)
    tokens: int  # generated tokens, EOS included


@torch.no_grad()
def generate_batches(model: Any, tokenizer: Any, prompts: list[str | list[dict[str, str]]],
                     options: GenerationOptions = GenerationOptions()) -> Iterator[list[Completion]]:
    """Yield the completions of each batch of ``prompts``."""
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    eos = stop_ids(tokenizer, model)
    torch.manual_seed(options.seed)
    try:
        step = 1 if options.draft is not None or options.on_text is not None else options.batch_size
        extra: dict[str, Any] = {"assistant_model": options.draft} if options.draft is not None else {}
        if options.on_text is not None:
            extra["streamer"] = _CallbackStreamer(tokenizer, options.on_text)
        for start in range(0, len(prompts), step):
            texts = [render_prompt(p, tokenizer) for p in prompts[start:start + step]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            sample = options.temperature > 0
            out = model.generate(**enc, max_new_tokens=options.max_new_tokens, do_sample=sample,
                                 temperature=options.temperature if sample else None,
                                 top_p=options.top_p if sample else None, eos_token_id=eos,
                                 pad_token_id=tokenizer.pad_token_id, **extra)
            batch = []
            for row in out[:, enc["input_ids"].shape[1]:].tolist():
                end = next((j for j, t in enumerate(row) if t in eos), None)
                kept = row if end is None else row[:end + 1]
                batch.append(Completion(tokenizer.decode(kept, skip_special_tokens=True), end is not None, len(kept)))
            yield batch
    finally:
        tokenizer.padding_side = side


class _CallbackStreamer:
    """transformers' ``TextStreamer`` (prompt skipped, special tokens dropped) sending text to a callback."""

    def __new__(cls, tokenizer: Any, on_text: Any):
        from transformers import TextStreamer

        class Streamer(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                on_text(text + ("\n" if stream_end else ""))

        return Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def generate(model: Any, tokenizer: Any, prompts: list[str | list[dict[str, str]]],
             options: GenerationOptions = GenerationOptions()) -> list[Completion]:
    """All completions, in prompt order."""
    return [c for batch in generate_batches(model, tokenizer, prompts, options) for c in batch]
