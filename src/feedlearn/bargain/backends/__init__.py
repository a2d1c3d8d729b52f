"""LLM backends by name (the extension point of ``bargain``): one file each, ``BACKENDS`` maps a spec's kind to its class.

``make_backend("openai:MODEL@BASE_URL")`` (OpenAI or any compatible server), ``"anthropic:MODEL"``
(Messages API), ``"local:MODEL_DIR"`` (a transformers chat model, e.g. tuned with ``feedlearn tune``),
``"scripted:seller"`` / ``"scripted:buyer"`` (the deterministic negotiator), ``"scripted:critic"``.
Adding a backend = one file with a ``base.BaseBackend`` subclass (``from_spec`` and ``async
complete``) + one line in ``BACKENDS`` (the package README, "Adding a backend").

Options (``make_backend(spec, timeout=30)``, an experiment's ``llm_options`` and ``seller_options``)
are checked by the backend's ``from_spec``, each mistake one line naming the option: the HTTP
backends take ``retry.ClientOptions`` and ``api_key``, the scripted players ``ScriptedSpec``'s fields.
"""

from __future__ import annotations

from typing import Any

from feedlearn.bargain.backends.anthropic import AnthropicMessages
from feedlearn.bargain.backends.base import Backend, BaseBackend, Message, Params
from feedlearn.bargain.backends.openai_compat import OpenAICompatible
from feedlearn.bargain.backends.scripted import ScriptedPlayer
from feedlearn.bargain.backends.transformers_local import TransformersChat
from feedlearn.common.errors import FeedlearnError

BACKENDS: dict[str, type[BaseBackend]] = {
    "openai": OpenAICompatible,
    "anthropic": AnthropicMessages,
    "local": TransformersChat,
    "scripted": ScriptedPlayer,
}


def backend_class(spec: str) -> type[BaseBackend]:
    """The class that parses ``spec`` (``kind:details``), or a one-line error listing the kinds."""
    kind = spec.partition(":")[0]
    if kind not in BACKENDS:
        raise FeedlearnError(f"unknown backend {spec!r}; kinds: {', '.join(BACKENDS)} (e.g. openai:gpt-4o, "
                             "openai:llama3@http://localhost:8000/v1, scripted:seller)")
    return BACKENDS[kind]


def is_llm(spec: str) -> bool:
    """Whether ``spec`` names a language model (``BaseBackend.llm``); an unknown kind counts as one and
    fails where it is built, with the error above."""
    return getattr(BACKENDS.get(spec.partition(":")[0]), "llm", True)


def make_backend(spec: str, **options: Any) -> BaseBackend:
    """A backend from ``kind:details`` (module docstring)."""
    return backend_class(spec).from_spec(spec, **options)


__all__ = ["BACKENDS", "Backend", "BaseBackend", "Message", "Params", "backend_class", "is_llm", "make_backend"]
