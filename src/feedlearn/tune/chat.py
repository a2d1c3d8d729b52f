"""A chat session with a model: history in the model's chat template, streamed replies.

``ChatSession.send`` appends the user turn, generates the assistant reply (streamed token by token
to ``on_text`` when given) until the end-of-turn token, and keeps it in the history. The terminal
chat (``feedlearn tune chat``) is a thin loop over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.infer import GenerationOptions, stop_ids


@dataclass
class ChatSession:
    model: Any
    tokenizer: Any
    system: str | None = None
    options: GenerationOptions = GenerationOptions(max_new_tokens=256)
    history: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not getattr(self.tokenizer, "chat_template", None):
            raise FeedlearnError("this tokenizer has no chat template: pass --template chatml (or llama3, ...)")

    def reset(self) -> None:
        self.history.clear()

    def messages(self) -> list[dict[str, str]]:
        return ([{"role": "system", "content": self.system}] if self.system else []) + self.history

    @torch.no_grad()
    def send(self, text: str, on_text: Callable[[str], None] | None = None) -> str:
        """The model's reply to ``text`` (streamed to ``on_text`` as it is generated)."""
        from transformers.generation.streamers import BaseStreamer

        self.history.append({"role": "user", "content": text})
        prompt = self.tokenizer.apply_chat_template(self.messages(), tokenize=False, add_generation_prompt=True)
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        tokenizer = self.tokenizer

        class Stream(BaseStreamer):
            """Decodes the growing reply and hands on only the new characters."""

            def __init__(self) -> None:
                self.ids: list[int] = []
                self.shown = 0
                self.prompt_seen = False

            def put(self, value):
                if not self.prompt_seen:  # generate() first passes the prompt
                    self.prompt_seen = True
                    return
                self.ids += value.reshape(-1).tolist()
                text = tokenizer.decode(self.ids, skip_special_tokens=True)
                if on_text is not None and len(text) > self.shown and not text.endswith("\ufffd"):
                    on_text(text[self.shown:])  # \ufffd: a multi-byte character still incomplete
                    self.shown = len(text)

            def end(self):
                pass

        sample = self.options.temperature > 0
        torch.manual_seed(self.options.seed + len(self.history))
        out = self.model.generate(**enc, max_new_tokens=self.options.max_new_tokens, do_sample=sample,
                                  temperature=self.options.temperature if sample else None,
                                  top_p=self.options.top_p if sample else None,
                                  eos_token_id=stop_ids(self.tokenizer, self.model),
                                  pad_token_id=self.tokenizer.pad_token_id, streamer=Stream())
        reply = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        self.history.append({"role": "assistant", "content": reply})
        return reply
