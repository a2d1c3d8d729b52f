"""LMFlow's dataset types as pydantic models: what one instance of each type must look like.

A dataset file is ``{"type": T, "instances": [...]}``. The instance shapes (LMFlow's names):

| type | instance |
|---|---|
| ``text_only`` | ``{text}`` |
| ``text2text`` | ``{input, output}`` |
| ``conversation`` | ``{system?, tools?, messages: [{role, content}]}`` |
| ``paired_conversation`` | ``{chosen: conversation, rejected: conversation}`` |
| ``paired_text_to_text`` | ``{prompt, chosen, rejected, margin?}`` |
| ``text_to_scored_textlist`` | ``{input, output: [{score, text}]}`` |

Why pydantic: strict types (no silent ``1`` → ``"1"``; numbers finite), and every error comes with the path of
the offending field (``messages.2.content``) for the one-line messages of ``io.py``. Fields other
than these are kept as they are (many files carry an ``id``) and reported by ``validate``.

Conversation rules: roles are ``user``, ``assistant``, ``tool`` or ``system``; without the tool and
system messages, the turns alternate user → assistant starting with the user; a tool message
follows an assistant message (the call) and is followed by one (the answer that uses it). Content
is never empty or blank. A conversation may end with the user: a *prompt-only* conversation, the
prompts of generation and RL (raft, ppo, grpo, rloo, iterative_dpo); stages that learn from the
replies (sft) refuse it themselves. A leading system message and a ``system`` field are not both
given. An assistant turn may carry OpenAI's ``tool_calls`` and a tool turn its ``tool_call_id``.
The two conversations of a pair each end with the assistant reply being compared; their prompts
may differ (reward modelling scores each side whole) — DPO, which needs one prompt, checks
``same_prompt`` itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty or blank")
    return text


Text = Annotated[str, AfterValidator(_not_blank)]


class _Instance(BaseModel):
    # scores and margins come from files: NaN or inf (JSON's NaN/Infinity, or 1e999) would poison a loss
    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)


class TextOnly(_Instance):
    text: Text


class Text2Text(_Instance):
    input: str  # may be empty: some tasks have only an output to learn
    output: Text


class Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    role: Literal["user", "assistant", "tool", "system"]
    content: Text
    tool_calls: list[dict[str, Any]] | None = None  # OpenAI's, kept; the content has them as JSON (normalize.py)
    tool_call_id: str | None = None


class Conversation(_Instance):
    system: str | None = None
    tools: list[str] | None = None
    messages: list[Message] = Field(min_length=1)

    @model_validator(mode="after")
    def _turns_alternate(self) -> Conversation:
        if self.system is not None and self.messages[0].role == "system":
            raise ValueError("messages.0: a system message and a system field: keep one")
        check_turns([m.role for m in self.messages])
        return self


def check_turns(roles: list[str]) -> None:
    """Raise ``ValueError`` naming the first message that breaks the turn rules (module docstring)."""
    turns = [(i, role) for i, role in enumerate(roles) if role != "system"]  # system messages sit anywhere
    if not turns:
        raise ValueError(f"messages.{len(roles) - 1}: only system messages; a conversation needs a user message")
    expected = "user"
    for k, (i, role) in enumerate(turns):
        before, after = turns[k - 1][1] if k else None, turns[k + 1][1] if k + 1 < len(turns) else None
        if role == "tool":
            if before not in ("assistant", "tool"):
                raise ValueError(f"messages.{i}: a tool message must follow an assistant message")
            if after not in ("assistant", "tool"):
                raise ValueError(f"messages.{i}: a tool message must be followed by an assistant message")
            continue
        if role != expected and not (role == "assistant" and before == "tool"):
            raise ValueError(f"messages.{i}: role {role!r} where {expected!r} was expected "
                             "(turns alternate user, assistant, starting with the user)")
        expected = "assistant" if role == "user" else "user"


KTO_FIELDS = ("label", "kto_tag")  # TRL's unpaired-preference label, LLaMA-Factory's: true/false per reply


def undesirable(instance: dict[str, Any]) -> str | None:
    """The field that marks ``instance`` as a KTO-style undesirable reply (``label: false``), or None."""
    return next((k for k in KTO_FIELDS if instance.get(k) is False), None)


def ends_with_reply(conversation: dict[str, Any]) -> bool:
    """Whether a (valid) conversation ends with the assistant — else it is prompt-only."""
    return conversation["messages"][-1]["role"] == "assistant"


def same_prompt(pair: dict[str, Any]) -> bool:
    """Whether a (valid) pair's two conversations agree on everything before their last message."""
    def prompt(conv: dict[str, Any]) -> tuple[Any, ...]:
        messages = conv["messages"]
        system = conv.get("system") or (messages[0]["content"] if messages[0]["role"] == "system" else None)
        rest = messages[1:-1] if messages[0]["role"] == "system" else messages[:-1]
        return system, [(m["role"], m["content"]) for m in rest]
    return prompt(pair["chosen"]) == prompt(pair["rejected"])


class PairedConversation(_Instance):
    chosen: Conversation
    rejected: Conversation

    @model_validator(mode="after")
    def _replies_last(self) -> PairedConversation:
        for side in ("chosen", "rejected"):
            messages = getattr(self, side).messages
            if messages[-1].role != "assistant":
                raise ValueError(f"field {side}.messages.{len(messages) - 1}: a pair's conversations end with "
                                 "the assistant replies being compared")
        return self


class PairedTextToText(_Instance):
    prompt: Text
    chosen: Text
    rejected: Text
    margin: float | None = None


class ScoredText(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    score: float
    text: Text


class TextToScoredTextList(_Instance):
    input: str
    output: list[ScoredText] = Field(min_length=1)


# The extension point: a dataset type is a name and an instance model.
DATASET_TYPES: dict[str, type[_Instance]] = {
    "text_only": TextOnly,
    "text2text": Text2Text,
    "conversation": Conversation,
    "paired_conversation": PairedConversation,
    "paired_text_to_text": PairedTextToText,
    "text_to_scored_textlist": TextToScoredTextList,
}


def infer_type(instance: object) -> str | None:
    """The dataset type an instance's keys suggest (for JSONL files without a type), or None."""
    if not isinstance(instance, dict):
        return None
    keys = set(instance)
    if "messages" in keys:
        return "conversation"
    if {"chosen", "rejected"} <= keys:
        return "paired_text_to_text" if "prompt" in keys else "paired_conversation"
    if {"input", "output"} <= keys:
        return "text_to_scored_textlist" if isinstance(instance["output"], list) else "text2text"
    if "text" in keys:
        return "text_only"
    return None
