"""Chat templates by name: how a conversation becomes the one string a model is trained on.

Each template is a Jinja string in the format transformers' ``apply_chat_template`` renders, with
``{% generation %}…{% endgeneration %}`` around every assistant reply *including its end-of-turn
token*: ``apply_chat_template(..., return_assistant_tokens_mask=True)`` then marks exactly the
tokens the model should learn to produce, so the loss can be on them only and the model learns to
emit the end token — and ``eos`` (the end-of-turn token, set as the tokenizer's and the generation
config's EOS) makes generation stop there. A mismatch between the two is the classic cause of
fine-tuned models that never stop talking.

The registry ``TEMPLATES`` is the extension point: a new template is one ``ChatTemplate`` entry.
Renderings follow the model families' published templates (ChatML as in Qwen/OpenAI, Llama 3's
header tokens, Zephyr's ``<|user|>`` tags); the tests pin each string exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedlearn.common.errors import FeedlearnError


@dataclass(frozen=True)
class ChatTemplate:
    """A chat format: its Jinja template, end-of-turn token and the special tokens it needs."""

    name: str
    jinja: str
    eos: str  # ends every assistant turn; generation stops on it
    special_tokens: tuple[str, ...]  # must be single tokens in the tokenizer
    bos: str | None = None  # prepended by the template itself (not by the tokenizer)


# Whitespace control strips newlines written literally next to ``{%- -%}``, so every newline
# is an explicit ``{{ NL }}`` (set below) and every tag strips the template's own layout.
_CHATML_BODY = (
    "{%- set NL = '\\n' -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message.role != 'system' and default_system -%}"
    "{{ '<|im_start|>system' + NL + default_system + '<|im_end|>' + NL }}"
    "{%- endif -%}"
    "{%- if message.role == 'assistant' -%}"
    "{{ '<|im_start|>assistant' + NL }}{% generation %}{{ message.content + '<|im_end|>' }}{% endgeneration %}{{ NL }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message.role + NL + message.content + '<|im_end|>' + NL }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant' + NL }}{%- endif -%}"
)


def _chatml(default_system: str = "") -> str:
    """ChatML; with ``default_system``, a conversation without a system message gets that one."""
    return "{%- set default_system = " + repr(default_system) + " -%}" + _CHATML_BODY


_LLAMA3 = (
    "{%- set NL = '\\n' -%}"
    "{{ '<|begin_of_text|>' }}"
    "{%- for message in messages -%}"
    "{%- set role = 'ipython' if message.role == 'tool' else message.role -%}"
    "{{ '<|start_header_id|>' + role + '<|end_header_id|>' + NL + NL }}"
    "{%- if message.role == 'assistant' -%}"
    "{% generation %}{{ message.content | trim }}{{ '<|eot_id|>' }}{% endgeneration %}"
    "{%- else -%}"
    "{{ message.content | trim }}{{ '<|eot_id|>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>' + NL + NL }}{%- endif -%}"
)

_ZEPHYR = (
    "{%- set NL = '\\n' -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'assistant' -%}"
    "{{ '<|assistant|>' + NL }}{% generation %}{{ message.content + '</s>' }}{% endgeneration %}{{ NL }}"
    "{%- else -%}"
    "{{ '<|' + message.role + '|>' + NL + message.content + '</s>' + NL }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>' + NL }}{%- endif -%}"
)

TEMPLATES: dict[str, ChatTemplate] = {
    "chatml": ChatTemplate("chatml", _chatml(), "<|im_end|>", ("<|im_start|>", "<|im_end|>")),
    # Qwen2/2.5: ChatML with a default system prompt when the conversation has none
    "qwen2": ChatTemplate("qwen2", _chatml("You are a helpful assistant."), "<|im_end|>", ("<|im_start|>", "<|im_end|>")),
    "llama3": ChatTemplate("llama3", _LLAMA3, "<|eot_id|>",
                           ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
                           bos="<|begin_of_text|>"),
    "zephyr": ChatTemplate("zephyr", _ZEPHYR, "</s>", ("<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", "</s>")),
}


# what a conversation stage uses when the model ships no chat template and none is named
DEFAULT_TEMPLATE = "chatml"


def get_template(name: str) -> ChatTemplate:
    """The registered template ``name`` (one-line error listing the known ones otherwise)."""
    if name not in TEMPLATES:
        raise FeedlearnError(f"unknown chat template {name!r}; known: {', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def to_messages(conversation: dict) -> list[dict[str, str]]:
    """An LMFlow ``conversation`` instance as chat messages (its system prompt first)."""
    system = [{"role": "system", "content": conversation["system"]}] if conversation.get("system") else []
    return system + [{"role": m["role"], "content": m["content"]} for m in conversation["messages"]]
