"""Which tokens of a rendered conversation are the assistant's replies, under any chat template.

Our templates (``templates.py``) wrap each reply and its end-of-turn token in ``{% generation %}``,
and transformers marks those tokens itself (``return_assistant_tokens_mask``). A model's own
template (``tokenizer.chat_template`` as the model ships it: Qwen, Llama 3, Mistral...) has no such
blocks, so the mask is derived from the template instead: the reply to turn ``i`` is what rendering
``messages[:i + 1]`` adds after rendering ``messages[:i]`` with the generation prompt, cut after
the end-of-turn token (the tokenizer's EOS) when it is there — the part a model must learn to
produce, stop included; a template's trailing newline after the stop is never generated. This
needs a template that renders earlier turns the same whatever follows (true of the common ones);
one that does not (e.g. dropping earlier turns' reasoning) is refused with a one-line error.
No torch here: the CLI imports features at start-up.
"""

from __future__ import annotations

import re
from typing import Any

from feedlearn.common.errors import FeedlearnError

Messages = list[dict[str, str]]
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def marks_generation(template: str | None) -> bool:
    """Whether ``template`` marks the replies itself (``{% generation %}`` blocks)."""
    return bool(template) and _GENERATION.search(template) is not None


def assistant_mask(tokenizer: Any, messages: Messages) -> tuple[list[int], list[int]]:
    """``(input_ids, mask)`` of ``messages`` under the tokenizer's chat template; mask 1 on reply tokens."""
    if marks_generation(tokenizer.chat_template):
        enc = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                            return_assistant_tokens_mask=True)
        return list(enc["input_ids"]), list(enc["assistant_masks"])
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = [reply_span(tokenizer, messages, i, text) for i, m in enumerate(messages) if m["role"] == "assistant"]
    # the template writes its special tokens itself: no BOS/EOS added by tokenizing (as apply_chat_template does)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= a < end for start, end in spans)) for a, _ in enc["offset_mapping"]]
    return list(enc["input_ids"]), mask


def reply_span(tokenizer: Any, messages: Messages, i: int, text: str) -> tuple[int, int]:
    """Character span in ``text`` (the whole rendering) of the reply ``messages[i]`` and its end-of-turn token."""
    before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
    through = tokenizer.apply_chat_template(messages[:i + 1], tokenize=False)
    if not (through.startswith(before) and text.startswith(through)):
        raise FeedlearnError("the model's chat template renders a turn differently once later turns follow, so its "
                             "replies cannot be told apart; set template (chatml, llama3, ...) to use one of ours")
    reply = through[len(before):]
    eos = tokenizer.eos_token or ""
    stop = reply.rfind(eos) if eos else -1
    end = stop + len(eos) if stop >= 0 else len(reply.rstrip())
    return len(before), len(before) + end
