"""Token features from LMFlow instances: what stages train on and what evaluation and scoring read.

One place for each rendering, so a stage trains on exactly what its evaluation and the reward
scorer see: ``pack`` (text_only → blocks, pretrain and perplexity), ``sft_features`` (replies and
their end-of-turn tokens as labels, sft and label loss), ``render`` / ``pair_features`` (whole
conversations, reward training and scoring), ``prompts_of`` / ``references`` (prompts for sampling
and generation). No torch here: the CLI imports it at start-up.
"""

from __future__ import annotations

from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.assistant_mask import assistant_mask
from feedlearn.tune.data import TuneDataset
from feedlearn.tune.data.schema import ends_with_reply
from feedlearn.tune.templates import to_messages

IGNORE = -100  # label of tokens that carry no loss (torch's cross-entropy ignore_index)
Messages = list[dict[str, str]]


def pack(texts: list[str], tokenizer: Any, block_size: int) -> list[list[int]]:
    """Token blocks of exactly ``block_size``: documents joined by EOS, concatenated and cut.

    Packing puts no compute into padding; the last partial block is dropped unless it is the only one.
    """
    stream: list[int] = []
    for text in texts:
        # whole documents, longer than the model's context: verbose=False drops the length warning
        stream += tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"] + [tokenizer.eos_token_id]
    blocks = [stream[i:i + block_size] for i in range(0, len(stream) - block_size + 1, block_size)]
    return blocks or ([stream] if stream else [])


def conversation_features(inst: dict, tokenizer: Any, loss_on: str, max_length: int) -> dict[str, list[int]]:
    """Labels on the replies and their end-of-turn tokens, under the tokenizer's template (ours, or the
    model's own: ``assistant_mask``)."""
    if not getattr(tokenizer, "chat_template", None):
        raise FeedlearnError("sft on conversations needs a chat template: set template (chatml, llama3, ...)")
    ids, mask = assistant_mask(tokenizer, to_messages(inst))
    if loss_on == "assistant" and not any(mask):
        raise FeedlearnError("the chat template marks no assistant tokens (a conversation without an assistant "
                             "reply, or a template with empty {% generation %} blocks); set template=chatml, ...")
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


def render(conversation: dict[str, Any], tokenizer: Any) -> list[int]:
    """Token ids of a whole conversation (chat template, or contents joined by newlines)."""
    messages = to_messages(conversation)
    if getattr(tokenizer, "chat_template", None):
        return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    return tokenizer("\n".join(m["content"] for m in messages), add_special_tokens=False)["input_ids"]


def pair_features(data: TuneDataset, tokenizer: Any, max_length: int, use_margin: bool) -> list[dict[str, Any]]:
    """``{chosen, rejected, margin}`` token rows of ``paired_*`` data (a text pair as a user turn and reply)."""
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


def prompt_messages(conversation: dict[str, Any]) -> Messages:
    """A conversation's prompt: all of a prompt-only one, else every message but the final reply."""
    messages = to_messages(conversation)
    return messages[:-1] if ends_with_reply(conversation) else messages


def prompts_of(data: TuneDataset) -> list[Messages]:
    """The prompts to sample replies to: a conversation's prompt (``prompt_messages``), a text2text input as a
    user turn."""
    if data.type == "conversation":
        return [prompt_messages(inst) for inst in data.instances]
    return [[{"role": "user", "content": inst["input"]}] for inst in data.instances]


def generation_prompts(data: TuneDataset) -> list[Any]:
    """What ``generate`` answers: text2text inputs as raw text, conversations' prompts as messages."""
    return prompts_of(data) if data.type == "conversation" else references(data)[0]


def references(data: TuneDataset) -> tuple[list[Any], list[str]]:
    """Prompts and reference answers: text2text input/output; a conversation's last reply."""
    if data.type not in ("text2text", "conversation"):
        raise FeedlearnError(f"{data.source or 'data'}: prompts come from text2text or conversation data, "
                             f"not {data.type}")
    if data.type == "text2text":
        return [i["input"] for i in data.instances], [i["output"] for i in data.instances]
    for i, inst in enumerate(data.instances):
        if not ends_with_reply(inst):
            raise FeedlearnError(f"{data.source or 'data'}: instance {i} is prompt-only (it ends with the user): "
                                 "comparing generations needs a reference reply")
    prompts = [to_messages(i)[:-1] for i in data.instances]
    return prompts, [i["messages"][-1]["content"] for i in data.instances]
