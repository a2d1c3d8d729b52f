"""Other spellings of our shapes, rewritten into them (and counted), so the files users have load as they are.

Two steps per dataset type, around validation (``rows.Checked``):

* ``prepare`` (before; keeps every message at its index, so errors still name the file's own
  ``messages.3``): ``text_only`` rows with an empty or blank text are dropped (LMFlow's own wikitext
  has a third of them; LMFlow skips them too); in conversations, LMFlow's tool roles ``function``
  (the assistant's call) → ``assistant`` and ``observation`` (its result) → ``tool``, OpenAI's
  ``developer`` → ``system``; an OpenAI tool-call turn (``tool_calls``, ``content`` null or text) gets
  the calls as JSON in its content — ``{"name", "arguments"}``, a list for several, as ShareGPT's
  ``function_call`` turns — so templates render and train on it (``tool_calls`` itself is kept);
  content given as OpenAI parts (``[{"type": "text", "text"}]``) is joined; ``tools`` given as
  JSON objects become JSON text.
* ``settle`` (after): a leading system message moves into the ``system`` field (LMFlow's place for it).

Each rewrite adds one to a note in the file's report (``FileReport.inferred``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

ROLE_ALIASES = {"function": "assistant", "observation": "tool", "developer": "system"}


class Drop(Exception):  # noqa: N818 - a row's fate, not an error
    """A row left out on purpose (its reason is counted), not a mistake in it."""


def _drop_empty_text(inst: Any, notes: Counter[str]) -> Any:
    if isinstance(inst, dict) and isinstance(inst.get("text"), str) and not inst["text"].strip():
        raise Drop("empty text")
    return inst


def call_text(calls: list[Any]) -> str:
    """OpenAI ``tool_calls`` as the JSON a model writes: ``{"name", "arguments"}`` (arguments parsed when JSON)."""
    out = []
    for call in calls:
        fn = call.get("function", call)
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass  # not JSON: kept as the string it is
        out.append({"name": fn.get("name"), "arguments": args})
    return json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False)


def _message(msg: Any, notes: Counter[str]) -> Any:
    if not isinstance(msg, dict):
        return msg
    msg = dict(msg)
    role = msg.get("role")
    if isinstance(role, str) and role in ROLE_ALIASES:
        msg["role"] = ROLE_ALIASES[role]
        notes[f"role {role} → {ROLE_ALIASES[role]}"] += 1
    content = msg.get("content")
    if isinstance(content, list) and content and all(isinstance(p, dict) and p.get("type") == "text"
                                                      and isinstance(p.get("text"), str) for p in content):
        msg["content"] = "\n".join(p["text"] for p in content)
        notes["content parts joined"] += 1
    calls, content = msg.get("tool_calls"), msg.get("content")
    well_formed = isinstance(calls, list) and calls and all(
        isinstance(c, dict) and isinstance(c.get("function", c), dict) for c in calls)
    if well_formed and (content is None or isinstance(content, str)):  # anything else: the schema's error
        text = call_text(calls)
        msg["content"] = f"{content}\n{text}" if (content or "").strip() else text
        notes["tool_calls written into the content as JSON"] += 1
    return msg


def _conversation(inst: Any, notes: Counter[str]) -> Any:
    if not isinstance(inst, dict):
        return inst
    out = dict(inst)
    if isinstance(inst.get("messages"), list):
        out["messages"] = [_message(m, notes) for m in inst["messages"]]
    tools = inst.get("tools")
    if isinstance(tools, list) and any(isinstance(t, dict) for t in tools):
        out["tools"] = [json.dumps(t, ensure_ascii=False) if isinstance(t, dict) else t for t in tools]
        notes["tools written as JSON text"] += 1
    return out


def _pair(step: Callable[[Any, Counter[str]], Any]) -> Callable[[Any, Counter[str]], Any]:
    """A step on both conversations of a ``paired_conversation``."""
    def both(inst: Any, notes: Counter[str]) -> Any:
        if not isinstance(inst, dict):
            return inst
        return {**inst, **{side: step(inst[side], notes) for side in ("chosen", "rejected") if side in inst}}
    return both


def _lift_system(conv: dict[str, Any], notes: Counter[str]) -> dict[str, Any]:
    messages = conv["messages"]
    if messages[0]["role"] != "system":  # the schema refuses a system field and a leading system message
        return conv
    notes["leading system message → system field"] += 1
    return {**conv, "system": messages[0]["content"], "messages": messages[1:]}


PREPARE: dict[str, Callable[[Any, Counter[str]], Any]] = {
    "text_only": _drop_empty_text,
    "conversation": _conversation,
    "paired_conversation": _pair(_conversation),
}
SETTLE: dict[str, Callable[[Any, Counter[str]], Any]] = {
    "conversation": _lift_system,
    "paired_conversation": _pair(_lift_system),
}


def prepare(dtype: str, instance: Any, notes: Counter[str]) -> Any:
    """``instance`` in our spelling (before validation; may raise ``rows.Drop``)."""
    step = PREPARE.get(dtype)
    return step(instance, notes) if step else instance


def settle(dtype: str, instance: dict[str, Any], notes: Counter[str]) -> dict[str, Any]:
    """A valid ``instance`` in LMFlow's canonical places (after validation)."""
    step = SETTLE.get(dtype)
    return step(instance, notes) if step else instance
