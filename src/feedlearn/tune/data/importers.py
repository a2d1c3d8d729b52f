"""Importers: what users actually have → LMFlow datasets.

One function per source format, registered by name in ``IMPORTERS`` (the extension point: a new
format is one function and one line). Each reads a file and returns ``(type, rows)``, where each
row is ``(where, instance)`` — ``where`` names the source record (``record 3``, ``line 12``) for
error messages; ``convert`` then validates every instance like ``load_dataset`` does.

* ``alpaca`` — a JSON list (or JSONL) of ``{instruction, input?, output, system?, history?}``
  → ``conversation`` (the user turn is the instruction, then a blank line and the input if any;
  ``history`` = ``[[user, assistant], ...]`` earlier turns), or ``text2text`` with ``to="text2text"``.
* ``sharegpt`` — ``{conversations: [{from, value}], system?, tools?}`` → ``conversation``; with
  ``chosen``/``rejected`` messages → ``paired_conversation`` (the conversations are the shared prompt).
  ``from``: human/user → user, gpt/assistant/function_call → assistant, observation/tool → tool,
  system → the system prompt.
* ``hh`` — Anthropic HH-RLHF JSONL(.gz) ``{chosen, rejected}``, each a whole dialogue
  ``"\\n\\nHuman: …\\n\\nAssistant: …"`` → ``paired_conversation``.
* ``text`` — plain text (documents separated by blank lines, or one per line if there are none)
  or JSONL ``{text}`` → ``text_only``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import find
from feedlearn.tune.data.io import BadRows, TuneDataset, _stem_suffix, read_json, read_jsonl, read_text

Rows = list[tuple[str, Any]]


def _read_records(path: Path) -> Rows:
    """A JSON list or a JSONL file, as ``(where, record)`` pairs."""
    if _stem_suffix(path) == ".jsonl":
        return [(f"line {line_no}", rec) for line_no, rec in read_jsonl(path)]
    doc = read_json(path)
    if not isinstance(doc, list):
        raise FeedlearnError(f"{path}: expected a JSON list of records (or a .jsonl file)")
    return [(f"record {i}", rec) for i, rec in enumerate(doc)]


class _Bad(ValueError):
    """A record that cannot be converted (the message names the field)."""


def _field(rec: Any, name: str, *, required: bool = True, default: Any = None) -> Any:
    if not isinstance(rec, dict):
        raise _Bad(f"a record must be a JSON object, got {type(rec).__name__}")
    if name not in rec or rec[name] is None:
        if required:
            raise _Bad(f"field {name}: missing")
        return default
    return rec[name]


def _string(rec: Any, name: str, *, required: bool = True) -> str:
    value = _field(rec, name, required=required, default="")
    if not isinstance(value, str):
        raise _Bad(f"field {name}: expected a string, got {type(value).__name__}")
    return value


def alpaca(path: Path, to: str = "") -> tuple[str, Rows]:
    to = to or "conversation"
    if to not in ("conversation", "text2text"):
        raise FeedlearnError(f"alpaca converts to conversation or text2text, not {to!r}")
    out: Rows = []
    for where, rec in _read_records(path):
        try:
            instruction, extra = _string(rec, "instruction"), _string(rec, "input", required=False)
            prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
            output = _string(rec, "output")
            if to == "text2text":
                out.append((where, {"input": prompt, "output": output}))
                continue
            messages = []
            history = _field(rec, "history", required=False, default=[])
            if not isinstance(history, list):
                raise _Bad("field history: expected a list of [user, assistant] pairs")
            for j, turn in enumerate(history):
                if not (isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn)):
                    raise _Bad(f"field history.{j}: expected [user, assistant] strings")
                messages += [{"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]}]
            messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
            conv: dict[str, Any] = {"messages": messages}
            system = _string(rec, "system", required=False)
            if system:
                conv["system"] = system
            out.append((where, conv))
        except _Bad as exc:
            out.append((where, exc))
    return to, out


_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "function_call": "assistant", "observation": "tool", "tool": "tool"}


def _sharegpt_message(msg: Any, name: str) -> dict[str, str]:
    if not isinstance(msg, dict):
        raise _Bad(f"field {name}: expected an object {{from, value}}")
    role = _field(msg, "from")
    if role not in _SHAREGPT_ROLES:
        raise _Bad(f"field {name}.from: unknown role {role!r}; expected one of {', '.join(_SHAREGPT_ROLES)}, system")
    value = msg.get("value")
    if not isinstance(value, str):
        raise _Bad(f"field {name}.value: expected a string")
    return {"role": _SHAREGPT_ROLES[role], "content": value}


def sharegpt(path: Path, to: str = "") -> tuple[str, Rows]:
    out: Rows = []
    dtype = None
    for where, rec in _read_records(path):
        try:
            turns = _field(rec, "conversations")
            if not isinstance(turns, list):
                raise _Bad("field conversations: expected a list")
            system = _string(rec, "system", required=False)
            messages = []
            for j, msg in enumerate(turns):
                if isinstance(msg, dict) and msg.get("from") == "system" and j == 0:
                    system = _string(msg, "value")
                    continue
                messages.append(_sharegpt_message(msg, f"conversations.{j}"))
            conv: dict[str, Any] = {"messages": messages}
            if system:
                conv["system"] = system
            tools = _field(rec, "tools", required=False)
            if tools:
                conv["tools"] = [tools] if isinstance(tools, str) else tools
            paired = isinstance(rec, dict) and ("chosen" in rec or "rejected" in rec)
            this = "paired_conversation" if paired else "conversation"
            if dtype is None:
                dtype = this
            elif this != dtype:
                raise _Bad(f"a {this} record in a file of {dtype} records")
            if paired:
                chosen = _sharegpt_message(_field(rec, "chosen"), "chosen")
                rejected = _sharegpt_message(_field(rec, "rejected"), "rejected")
                out.append((where, {"chosen": {**conv, "messages": messages + [chosen]},
                                    "rejected": {**conv, "messages": messages + [rejected]}}))
            else:
                out.append((where, conv))
        except _Bad as exc:
            out.append((where, exc))
    return dtype or "conversation", out


_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_hh_dialogue(text: str) -> list[dict[str, str]]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b"`` → messages (user a, assistant b)."""
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise _Bad("text before the first '\\n\\nHuman: ' turn")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts), 2)]


def hh(path: Path, to: str = "") -> tuple[str, Rows]:
    out: Rows = []
    for where, rec in _read_records(path):
        try:
            chosen = parse_hh_dialogue(_string(rec, "chosen"))
            rejected = parse_hh_dialogue(_string(rec, "rejected"))
            out.append((where, {"chosen": {"messages": chosen}, "rejected": {"messages": rejected}}))
        except _Bad as exc:
            out.append((where, exc))
    return "paired_conversation", out


def text(path: Path, to: str = "") -> tuple[str, Rows]:
    if _stem_suffix(path) == ".jsonl":
        rows: Rows = []
        for where, rec in _read_records(path):
            try:
                rows.append((where, {"text": _string(rec, "text")}))
            except _Bad as exc:
                rows.append((where, exc))
        return "text_only", rows
    body = read_text(path)
    # documents are separated by blank lines; a file without any has one document per line
    chunks = re.split(r"\n\s*\n", body) if re.search(r"\n\s*\n", body.strip()) else body.splitlines()
    docs = [d.strip() for d in chunks if d.strip()]
    return "text_only", [(f"document {i}", {"text": d}) for i, d in enumerate(docs)]


IMPORTERS: dict[str, Callable[[Path, str], tuple[str, Rows]]] = {
    "alpaca": alpaca,
    "sharegpt": sharegpt,
    "hh": hh,
    "text": text,
}


def convert(path: str | Path, source: str, *, to: str = "", skip_bad: bool = False) -> TuneDataset:
    """Import ``path`` (or a shipped dataset's name) from the ``source`` format (``IMPORTERS``) into a
    validated LMFlow dataset."""
    if source not in IMPORTERS:
        raise FeedlearnError(f"unknown source format {source!r}; choose from {', '.join(IMPORTERS)}")
    src = find("datasets", path)
    importer = IMPORTERS[source]
    dtype, rows = importer(src, to)
    checked = BadRows(skip_bad)
    checked.add(src, dtype, rows)
    return checked.dataset(dtype, src, "nothing to convert")
