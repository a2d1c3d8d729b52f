"""LLM backends by name (the extension point of ``bargain``): one file each, ``scripted`` is the template.

``make_backend("openai:MODEL@BASE_URL")`` (OpenAI or any compatible server), ``"anthropic:MODEL"``
(Messages API), ``"local:MODEL_DIR"`` (a transformers chat model, e.g. tuned with ``feedlearn tune``),
``"scripted:seller"`` /
``"scripted:buyer"`` (the deterministic negotiator), ``"scripted:critic"``. Adding a backend = one
file with ``async complete(messages, params) -> str`` + one line in ``BACKENDS``.
"""

from __future__ import annotations

from typing import Any

from feedlearn.bargain.backends.base import Backend, Message, Params
from feedlearn.common.errors import FeedlearnError


def _openai(rest: str, **options: Any) -> Any:
    from feedlearn.bargain.backends.openai_compat import OpenAICompatible

    model, _, base_url = rest.partition("@")
    return OpenAICompatible(model, base_url=base_url or None, **options)


def _anthropic(rest: str, **options: Any) -> Any:
    from feedlearn.bargain.backends.anthropic import AnthropicMessages

    model, _, base_url = rest.partition("@")
    return AnthropicMessages(model, **({"base_url": base_url} if base_url else {}), **options)


def _local(rest: str, **options: Any) -> Any:
    from feedlearn.bargain.backends.transformers_local import TransformersChat

    return TransformersChat(rest, **options)


def _scripted(rest: str, **options: Any) -> Any:
    from feedlearn.bargain.backends.scripted import ScriptedCritic, ScriptedNegotiator

    if rest == "critic":
        return ScriptedCritic()
    if rest not in ("seller", "buyer"):
        raise FeedlearnError(f"scripted backend: say scripted:seller, scripted:buyer or scripted:critic, not {rest!r}")
    start = options.pop("start", 20.0 if rest == "seller" else 10.0)
    return ScriptedNegotiator(rest, start=start, **options)


BACKENDS = {"openai": _openai, "anthropic": _anthropic, "local": _local, "scripted": _scripted}


def make_backend(spec: str, **options: Any) -> Any:
    """A backend from ``kind:details`` (module docstring)."""
    kind, _, rest = spec.partition(":")
    if kind not in BACKENDS:
        raise FeedlearnError(f"unknown backend {spec!r}; kinds: {', '.join(BACKENDS)} (e.g. openai:gpt-4o, "
                             "openai:llama3@http://localhost:8000/v1, scripted:seller)")
    return BACKENDS[kind](rest, **options)


__all__ = ["BACKENDS", "Backend", "Message", "Params", "make_backend"]
