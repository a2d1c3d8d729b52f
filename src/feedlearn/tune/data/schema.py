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

Conversation rules: roles are ``user``, ``assistant`` or ``tool``; without the tool messages, the
turns alternate user → assistant starting with the user and ending with the assistant (so that
every user turn has the answer a model learns from); a tool message follows an assistant message
(the call) and is followed by one (the answer that uses it). Content is never empty or blank.
Paired conversations share their prompt: everything before the final assistant message.
"""

from __future__ import annotations

from typing import Annotated, Literal

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
    role: Literal["user", "assistant", "tool"]
    content: Text


class Conversation(_Instance):
    system: str | None = None
    tools: list[str] | None = None
    messages: list[Message] = Field(min_length=1)

    @model_validator(mode="after")
    def _turns_alternate(self) -> Conversation:
        check_turns([m.role for m in self.messages])
        return self

    def prompt(self) -> list[Message]:
        """Everything before the final assistant message."""
        return self.messages[:-1]


def check_turns(roles: list[str]) -> None:
    """Raise ``ValueError`` naming the first message that breaks the turn rules (module docstring)."""
    expected = "user"
    for i, role in enumerate(roles):
        if role == "tool":
            if i == 0 or roles[i - 1] not in ("assistant", "tool"):
                raise ValueError(f"messages.{i}: a tool message must follow an assistant message")
            if i == len(roles) - 1 or roles[i + 1] not in ("assistant", "tool"):
                raise ValueError(f"messages.{i}: a tool message must be followed by an assistant message")
            continue
        if role != expected and not (role == "assistant" and i > 0 and roles[i - 1] == "tool"):
            raise ValueError(f"messages.{i}: role {role!r} where {expected!r} was expected "
                             "(turns alternate user, assistant, starting with the user)")
        expected = "assistant" if role == "user" else "user"
    if roles[-1] != "assistant":
        raise ValueError(f"messages.{len(roles) - 1}: the conversation must end with an assistant message")


class PairedConversation(_Instance):
    chosen: Conversation
    rejected: Conversation

    @model_validator(mode="after")
    def _same_prompt(self) -> PairedConversation:
        if self.chosen.system != self.rejected.system or self.chosen.prompt() != self.rejected.prompt():
            raise ValueError("chosen and rejected must share the prompt (all messages before the last)")
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
