"""An optional web chat (Gradio): the terminal chat's session behind ``gr.ChatInterface``.

Each reply is generated in a worker thread by ``ChatSession.send`` and streamed to the page as it
grows. The page keeps the history; every request rebuilds the session from it, so several browser
tabs can chat at once. Install with ``pip install 'feedlearn[web]'``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.tune.chat import ChatSession
from feedlearn.tune.infer import GenerationOptions


def _text(content: Any) -> str:
    """Gradio message content: a string, or a list of parts ``{"type": "text", "text": ...}``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def respond_stream(model: Any, tokenizer: Any, system: str | None, options: GenerationOptions,
                   message: str, history: list[dict[str, Any]]) -> Iterator[str]:
    """Yield the growing reply to ``message`` given the page's ``history`` (role/content dicts)."""
    session = ChatSession(model, tokenizer, system, options)
    session.history = [{"role": m["role"], "content": _text(m["content"])} for m in history
                       if m.get("role") in ("user", "assistant")]
    pieces: queue.Queue[str | None] = queue.Queue()

    def work() -> None:
        try:
            session.send(message, on_text=pieces.put)
        finally:
            pieces.put(None)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    reply = ""
    while (piece := pieces.get()) is not None:
        reply += piece
        yield reply
    thread.join()


def build_web_chat(model: Any, tokenizer: Any, *, system: str | None = None,
                   options: GenerationOptions = GenerationOptions(max_new_tokens=256), title: str = "feedlearn chat"):
    """The Gradio app (call ``.launch()`` on it)."""
    try:
        import gradio as gr
    except ImportError:
        raise FeedlearnError("the web chat needs Gradio: pip install 'feedlearn[web]' (or gradio)") from None
    ChatSession(model, tokenizer, system, options)  # fails early without a chat template

    def respond(message: str, history: list[dict[str, Any]]) -> Iterator[str]:
        yield from respond_stream(model, tokenizer, system, options, message, history)

    return gr.ChatInterface(respond, title=title)
