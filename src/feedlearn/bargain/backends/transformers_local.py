"""A local ``transformers`` chat model as a player — e.g. one fine-tuned with ``feedlearn tune``.

The model's own chat template renders the messages; generation runs in a worker thread (so the
event loop keeps serving other games) behind a lock (one model, one generation at a time), with
the call's temperature, max_tokens and seed. Loading is lazy and happens once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedlearn.bargain.backends.base import BaseBackend, Message, Params, alternating
from feedlearn.bargain.backends.retry import client_options


@dataclass
class TransformersChat(BaseBackend):
    """``local:MODEL_DIR``: a transformers chat model on this machine."""

    model_dir: str
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"local:{self.model_dir}"
        self.identity = f"local:{Path(self.model_dir).resolve()}"  # the reply cache keys on it
        self._loaded: tuple[Any, Any] | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_spec(cls, spec: str, **options: Any) -> TransformersChat:
        # an experiment gives all its backends the same llm_options: checked, but HTTP-only here
        client_options(spec, options)
        return cls(spec.partition(":")[2])

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from feedlearn.tune.models import default_device, load_model, load_tokenizer

            self._loaded = (load_model(self.model_dir, device=default_device()), load_tokenizer(self.model_dir))
        return self._loaded

    def _generate(self, messages: list[Message], params: Params) -> str:
        from feedlearn.tune.infer import GenerationOptions, generate

        model, tokenizer = self._load()
        options = GenerationOptions(max_new_tokens=params.max_tokens, temperature=params.temperature,
                                    seed=params.seed or 0)
        # a local model's own chat template may be strict too (Mistral's, Gemma's raise on other orders)
        text = generate(model, tokenizer, [alternating(messages)], options)[0].text
        for stop in params.stop:
            text = text.split(stop)[0]
        return text.strip()

    async def complete(self, messages: list[Message], params: Params) -> str:
        async with self._lock:
            return await asyncio.to_thread(self._generate, messages, params)
