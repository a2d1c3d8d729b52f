"""LLM backends by name (the extension point of ``bargain``): one file each, ``scripted`` is the template.

``make_backend("openai:MODEL@BASE_URL")`` (OpenAI or any compatible server), ``"anthropic:MODEL"``
(Messages API), ``"local:MODEL_DIR"`` (a transformers chat model, e.g. tuned with ``feedlearn tune``),
``"scripted:seller"`` /
``"scripted:buyer"`` (the deterministic negotiator), ``"scripted:critic"``. Adding a backend = one
file with ``async complete(messages, params) -> str`` + one line in ``BACKENDS``.

Options (``make_backend(spec, timeout=30)``, an experiment's ``llm_options``) are checked here, each
mistake one line naming the option: the HTTP backends take ``retry.ClientOptions`` and ``api_key``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from feedlearn.bargain.backends.base import Backend, Message, Params
from feedlearn.common.errors import FeedlearnError, did_you_mean


def _server(kind: str, rest: str) -> tuple[str, str]:
    """``MODEL@URL`` split, the URL checked now rather than after minutes of connection retries."""
    model, _, url = rest.partition("@")
    if not model:
        raise FeedlearnError(f"{kind}:{rest}: no model name (say {kind}:MODEL or {kind}:MODEL@URL)")
    if url:
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        except ValueError:  # e.g. "http://[::1" or a port that is not a number
            ok = False
        if not ok:
            raise FeedlearnError(f"{kind}:{rest}: not a server URL {url!r} (say http://HOST:PORT/v1 or https://...)")
    return model, url


def _openai(rest: str, api_key: str | None = None, **options: Any) -> Any:
    from feedlearn.bargain.backends.openai_compat import OpenAICompatible
    from feedlearn.bargain.backends.retry import client_options

    model, base_url = _server("openai", rest)
    return OpenAICompatible(model, base_url=base_url or None, api_key=api_key,
                            options=client_options(f"openai:{rest}", options))


def _anthropic(rest: str, api_key: str | None = None, **options: Any) -> Any:
    from feedlearn.bargain.backends.anthropic import AnthropicMessages
    from feedlearn.bargain.backends.retry import client_options

    model, base_url = _server("anthropic", rest)
    return AnthropicMessages(model, **({"base_url": base_url} if base_url else {}), api_key=api_key,
                             options=client_options(f"anthropic:{rest}", options))


def _local(rest: str, **options: Any) -> Any:
    from feedlearn.bargain.backends.retry import client_options
    from feedlearn.bargain.backends.transformers_local import TransformersChat

    # an experiment gives all its LLM backends the same llm_options: checked, but HTTP-only here
    client_options(f"local:{rest}", options)
    return TransformersChat(rest)


SCRIPTED_OPTIONS = ("start", "step", "limit", "insist")


def _scripted(rest: str, **options: Any) -> Any:
    from feedlearn.bargain.backends.scripted import ScriptedCritic, ScriptedNegotiator

    if rest == "critic":
        return ScriptedCritic()
    if rest not in ("seller", "buyer"):
        raise FeedlearnError(f"scripted backend: say scripted:seller, scripted:buyer or scripted:critic, not {rest!r}")
    unknown = [k for k in options if k not in SCRIPTED_OPTIONS]
    if unknown:
        raise FeedlearnError(f"scripted:{rest}: unknown option {unknown[0]!r}"
                              f"{did_you_mean(unknown[0], list(SCRIPTED_OPTIONS), list_known=True)}")
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
