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
  system → the system prompt. Written with ``messages`` and/or ``{role, content}`` too.
* ``openai`` — OpenAI chat ``{messages: [{role, content, tool_calls?, tool_call_id?}], tools?}`` →
  ``conversation``; TRL's conversational preference ``{prompt?, chosen, rejected}`` (message lists) →
  ``paired_conversation``. Legacy ``function_call``/role ``function`` are read as ``tool_calls``/``tool``;
  other message fields (``name``, ``weight``) are left out and counted.

Every importer keeps a record's other top-level fields (``id``, ...). A KTO-style ``label`` (or
LLaMA-Factory's ``kto_tag``: true/false per reply) marks unpaired preference data, which no stage
trains on: it is refused unless ``to="conversation"`` asks for the label-true conversations as SFT
data (the label-false ones dropped and counted). An importer counts what it reads in another
spelling in ``notes`` (the file's report).
* ``hh`` — Anthropic HH-RLHF JSONL(.gz) ``{chosen, rejected}``, each a whole dialogue
  ``"\\n\\nHuman: …\\n\\nAssistant: …"`` → ``paired_conversation``.
* ``text`` — plain text (documents separated by blank lines, or one per line if there are none)
  or JSONL ``{text}`` → ``text_only``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from feedlearn.common.errors import FeedlearnError
from feedlearn.shipped import find
from feedlearn.tune.data.io import TuneDataset, _stem_suffix, read_json, read_jsonl, read_text, to_dataset
from feedlearn.tune.data.normalize import Drop
from feedlearn.tune.data.rows import Checked
from feedlearn.tune.data.schema import KTO_FIELDS

Rows = list[tuple[str, Any]]
Notes = Counter[str]  # what an importer read in another spelling → how often (the file's report)


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


def _extras(rec: dict[str, Any], used: set[str]) -> dict[str, Any]:
    """A record's other top-level fields, kept as they are (README: extra fields are kept)."""
    return {k: v for k, v in rec.items() if k not in used}


def _kto(path: Path, where: str, rec: dict[str, Any], to: str, notes: Notes) -> None:
    """Refuse KTO-labelled records unless ``to="conversation"``; then a label-false one is dropped (``Drop``)."""
    name = next((k for k in KTO_FIELDS if isinstance(rec.get(k), bool)), None)
    if name is None:
        return
    if to != "conversation":
        raise FeedlearnError(f"{path}: {where}: field {name}: a KTO-style label marks unpaired preference data, "
                             "which no stage trains on; pass --to conversation to keep the label-true "
                             "conversations as SFT data (label-false ones dropped and counted)")
    if not rec[name]:
        raise Drop(f"{name} false (KTO: an undesirable reply)")
    notes[f"{name} true kept as SFT data"] += 1


def alpaca(path: Path, to: str, notes: Notes) -> tuple[str, Rows]:
    to = to or "conversation"
    if to not in ("conversation", "text2text"):
        raise FeedlearnError(f"alpaca converts to conversation or text2text, not {to!r}")
    out: Rows = []
    for where, rec in _read_records(path):
        try:
            instruction, extra = _string(rec, "instruction"), _string(rec, "input", required=False)
            prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
            output = _string(rec, "output")
            extras = _extras(rec, {"instruction", "input", "output", "system", "history"})
            if to == "text2text":
                out.append((where, {"input": prompt, "output": output, **extras}))
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
            out.append((where, {**conv, **extras}))
        except _Bad as exc:
            out.append((where, exc))
    return to, out


_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "function_call": "assistant", "observation": "tool", "tool": "tool", "system": "system"}
_SHAREGPT_USED = {"conversations", "messages", "system", "tools", "chosen", "rejected"}


def _sharegpt_message(msg: Any, name: str, notes: Notes) -> dict[str, str]:
    if not isinstance(msg, dict):
        raise _Bad(f"field {name}: expected an object {{from, value}} or {{role, content}}")
    keys = ("from", "value") if "from" in msg or "role" not in msg else ("role", "content")
    if keys[0] == "role":
        notes["ShareGPT written with role/content"] += 1
    role = _field(msg, keys[0])
    if role not in _SHAREGPT_ROLES:
        raise _Bad(f"field {name}.{keys[0]}: unknown role {role!r}; expected one of {', '.join(_SHAREGPT_ROLES)}")
    value = msg.get(keys[1])
    if not isinstance(value, str):
        raise _Bad(f"field {name}.{keys[1]}: expected a string")
    return {"role": _SHAREGPT_ROLES[role], "content": value}


def _to_conversations(fmt: str, to: str) -> None:
    """Chat formats become conversations or pairs by their own fields: ``--to`` may only confirm that."""
    if to not in ("", "conversation"):
        raise FeedlearnError(f"{fmt} converts to conversation or paired_conversation (by its fields), not {to!r}")


def _record_kind(rec: dict, dtype: str | None) -> tuple[bool, str]:
    """Whether ``rec`` is a preference pair, and the file's type: every record of a file has the same."""
    paired = "chosen" in rec or "rejected" in rec
    this = "paired_conversation" if paired else "conversation"
    if dtype is not None and this != dtype:
        raise _Bad(f"a {this} record in a file of {dtype} records")
    return paired, this


def sharegpt(path: Path, to: str, notes: Notes) -> tuple[str, Rows]:
    _to_conversations("sharegpt", to)
    out: Rows = []
    dtype = None
    for where, rec in _read_records(path):
        try:
            key = "conversations" if not isinstance(rec, dict) or "messages" not in rec else "messages"
            turns = _field(rec, key)
            if not isinstance(turns, list):
                raise _Bad(f"field {key}: expected a list")
            system = _string(rec, "system", required=False)
            messages = []
            for j, msg in enumerate(turns):
                message = _sharegpt_message(msg, f"{key}.{j}", notes)
                if message["role"] == "system" and j == 0 and not system:
                    system = message["content"]
                    continue
                messages.append(message)
            conv: dict[str, Any] = {"messages": messages}
            if system:
                conv["system"] = system
            tools = _field(rec, "tools", required=False)
            if tools:
                conv["tools"] = [tools] if isinstance(tools, str) else tools
            paired, dtype = _record_kind(rec, dtype)
            _kto(path, where, rec, to, notes)
            extras = _extras(rec, _SHAREGPT_USED)
            if paired:
                chosen = _sharegpt_message(_field(rec, "chosen"), "chosen", notes)
                rejected = _sharegpt_message(_field(rec, "rejected"), "rejected", notes)
                out.append((where, {"chosen": {**conv, "messages": messages + [chosen]},
                                    "rejected": {**conv, "messages": messages + [rejected]}, **extras}))
            else:
                out.append((where, {**conv, **extras}))
        except (_Bad, Drop) as exc:
            out.append((where, exc))
    return dtype or "conversation", out


_OPENAI_MESSAGE = {"role", "content", "tool_calls", "tool_call_id"}


def _openai_messages(value: Any, name: str, notes: Notes) -> list[Any]:
    """OpenAI chat messages, legacy function calling read as tools; the rest is the schema's to check."""
    if not isinstance(value, list):
        raise _Bad(f"field {name}: expected a list of messages")
    out = []
    for msg in value:
        if not isinstance(msg, dict):
            out.append(msg)
            continue
        msg = dict(msg)
        if "function_call" in msg and "tool_calls" not in msg:  # OpenAI's legacy call, then role function
            msg["tool_calls"] = [{"type": "function", "function": msg.pop("function_call")}]
            notes["legacy function_call → tool_calls"] += 1
        if msg.get("role") == "function":
            msg["role"] = "tool"
            notes["legacy role function → tool"] += 1
        for key in sorted(set(msg) - _OPENAI_MESSAGE):
            del msg[key]
            notes[f"message field {key} left out"] += 1
        out.append(msg)
    return out


def openai(path: Path, to: str, notes: Notes) -> tuple[str, Rows]:
    _to_conversations("openai", to)
    out: Rows = []
    dtype = None
    for where, rec in _read_records(path):
        try:
            if not isinstance(rec, dict):
                raise _Bad(f"a record must be a JSON object, got {type(rec).__name__}")
            paired, dtype = _record_kind(rec, dtype)
            _kto(path, where, rec, to, notes)
            if paired:  # TRL's conversational preference: an optional shared prompt, then each side's turns
                prompt = _openai_messages(rec.get("prompt", []), "prompt", notes)
                sides = {s: {"messages": prompt + _openai_messages(_field(rec, s), s, notes)}
                         for s in ("chosen", "rejected")}
                out.append((where, {**sides, **_extras(rec, {"prompt", "chosen", "rejected"})}))
            elif "prompt" not in rec and "completion" not in rec:
                out.append((where, {**rec, "messages": _openai_messages(_field(rec, "messages"), "messages", notes)}))
            else:  # TRL's prompt/completion (KTO's shape)
                messages = (_openai_messages(_field(rec, "prompt"), "prompt", notes)
                            + _openai_messages(_field(rec, "completion"), "completion", notes))
                out.append((where, {"messages": messages, **_extras(rec, {"prompt", "completion"})}))
        except (_Bad, Drop) as exc:
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


def hh(path: Path, to: str, notes: Notes) -> tuple[str, Rows]:
    out: Rows = []
    for where, rec in _read_records(path):
        try:
            chosen = parse_hh_dialogue(_string(rec, "chosen"))
            rejected = parse_hh_dialogue(_string(rec, "rejected"))
            out.append((where, {"chosen": {"messages": chosen}, "rejected": {"messages": rejected},
                                **_extras(rec, {"chosen", "rejected"})}))
        except _Bad as exc:
            out.append((where, exc))
    return "paired_conversation", out


def text(path: Path, to: str, notes: Notes) -> tuple[str, Rows]:
    if _stem_suffix(path) == ".jsonl":
        rows: Rows = []
        for where, rec in _read_records(path):
            try:
                rows.append((where, {"text": _string(rec, "text"), **_extras(rec, {"text"})}))
            except _Bad as exc:
                rows.append((where, exc))
        return "text_only", rows
    body = read_text(path)
    # documents are separated by blank lines; a file without any has one document per line
    chunks = re.split(r"\n\s*\n", body) if re.search(r"\n\s*\n", body.strip()) else body.splitlines()
    docs = [d.strip() for d in chunks if d.strip()]
    return "text_only", [(f"document {i}", {"text": d}) for i, d in enumerate(docs)]


IMPORTERS: dict[str, Callable[[Path, str, Notes], tuple[str, Rows]]] = {
    "alpaca": alpaca,
    "sharegpt": sharegpt,
    "hh": hh,
    "text": text,
    "openai": openai,
}


def convert(path: str | Path, source: str, *, to: str = "", skip_bad: bool = False) -> TuneDataset:
    """Import ``path`` (or a shipped dataset's name) from the ``source`` format (``IMPORTERS``) into a
    validated LMFlow dataset."""
    if source not in IMPORTERS:
        raise FeedlearnError(f"unknown source format {source!r}; choose from {', '.join(IMPORTERS)}")
    src = find("datasets", path)
    importer = IMPORTERS[source]
    notes: Notes = Counter()
    dtype, rows = importer(src, to, notes)
    checked = Checked(skip_bad)
    checked.add(src, dtype, rows, notes)
    return to_dataset(checked, dtype, src, "nothing to convert")
