"""``runs.jsonl``: one finished run per line — read back, checked, and made ready to append to.

A crash mid-write leaves at most the last line without its newline. If that line still holds a
whole run record (the crash came between the record and its newline) the run is finished and
kept: ``end_last_line`` adds the newline. Only a torn line — one that is not whole JSON — is
cut. Any other line that is not a run record (bad JSON, not UTF-8, a NaN price, a missing field,
a run id seen before) is an error naming ``file:line`` — never skipped silently, because the
report would then count other runs than the file holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from feedlearn.bargain.scenario import MAX_PRICE
from feedlearn.common.errors import located, validation_error


class BadRecord(ValueError):
    """A line that is whole JSON but not a run record the report can read."""


class _PerRole(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    seller: float
    buyer: float


class _Round(BaseModel):
    """What the report reads of a round (other fields are kept as written)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)

    success: bool
    price: float | None = Field(..., ge=0, le=MAX_PRICE)  # what the game's price parser can produce
    reply_chars: _PerRole
    game: dict[str, Any] = Field(default_factory=dict)

    @field_validator("game")
    @classmethod
    def _utility_of_both_sides(cls, game: dict[str, Any]) -> dict[str, Any]:
        utility = game.get("utility")
        if utility and not (isinstance(utility, dict) and {"seller", "buyer"} <= set(utility)
                            and all(_number(utility[r]) for r in ("seller", "buyer"))):
            raise ValueError("game.utility needs a finite number for seller and for buyer")
        return game


class _Run(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    run: int = Field(..., ge=0)
    rounds: list[_Round]


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def _refuse_constant(name: str) -> Any:
    raise BadRecord(f"{name} is not a number a run record may hold")


def _finite(text: str) -> float:
    value = float(text)
    if not _number(value):  # "1e999" parses to inf
        raise BadRecord(f"{text[:20]} is out of range")
    return value


def parse_record(raw: bytes) -> dict[str, Any]:
    """One line of ``runs.jsonl`` as a run record.

    Raises ``UnicodeDecodeError`` or ``json.JSONDecodeError`` for a line that is not whole JSON (a
    torn line, if it is the last), ``BadRecord`` for whole JSON that is no run record.
    """
    row = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite)
    try:
        _Run.model_validate(row)
    except ValidationError as exc:  # placed by the caller: "runs.jsonl:3: not a run record (field: message)"
        raise BadRecord(str(validation_error(None, exc, {"": "record"}))) from None
    if any(r["success"] and r["price"] is None for r in row["rounds"]):
        raise BadRecord("a successful round without a price")
    return row


def _torn(exc: ValueError, raw: bytes) -> bool:
    """Whether a line that failed ``parse_record`` is the half-written line of a crash."""
    return not raw.endswith(b"\n") and isinstance(exc, json.JSONDecodeError | UnicodeDecodeError)


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8: byte {exc.object[exc.start]:#04x} at column {exc.start + 1}"
    if isinstance(exc, json.JSONDecodeError):
        return f"JSONDecodeError: {exc}"
    return str(exc)


# A run record is a few KiB to a few MiB (every round's dialogue); a longer line is a corrupt file.
MAX_RECORD_BYTES = 64 * 2**20


def finished_runs(path: Path) -> dict[int, dict[str, Any]]:
    """Runs already in ``runs.jsonl``, by run id; a torn last line is left out (module docstring)."""
    done: dict[int, dict[str, Any]] = {}
    first_line: dict[int, int] = {}
    if not path.exists():
        return done
    with path.open("rb") as handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_RECORD_BYTES + 1), b""), 1):
            if len(raw) > MAX_RECORD_BYTES:  # bounded: a corrupt file must not fill memory with one line
                raise located(path, number, f"not a run record (longer than {MAX_RECORD_BYTES // 2**20} MiB)")
            try:
                row = parse_record(raw)
            except ValueError as exc:
                if _torn(exc, raw):
                    break  # only the last line can lack its newline
                raise located(path, number, f"not a run record ({_why(exc)})") from None
            run = row["run"]
            if run in done:
                raise located(path, number, f"run {run} again (first on line {first_line[run]}); two experiments "
                                            "wrote to this file")
            done[run], first_line[run] = row, number
    return done


def _last_line_start(handle: Any, end: int, chunk: int = 1 << 16) -> int:
    """Offset where the file's last line starts, reading backwards (never the whole file)."""
    pos = end
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        handle.seek(pos)
        newline = handle.read(step).rfind(b"\n")
        if newline >= 0:
            return pos + newline + 1
    return 0


def end_last_line(path: Path) -> None:
    """Make ``runs.jsonl`` end with a newline so the next run appended starts a line of its own.

    A complete last record gets its newline; a torn one is cut off. Only the last byte is read when
    the file already ends in a newline, only the last line when it does not.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("r+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        handle.seek(end - 1)
        if handle.read(1) == b"\n":
            return
        start = _last_line_start(handle, end)
        if end - start > MAX_RECORD_BYTES:
            raise located(path, "last line", f"not a run record (longer than {MAX_RECORD_BYTES // 2**20} MiB)")
        handle.seek(start)
        tail = handle.read()
        try:
            parse_record(tail)
        except ValueError as exc:
            if not _torn(exc, tail):
                raise located(path, "last line", f"not a run record ({_why(exc)})") from None
            handle.truncate(start)  # torn: the crash's half line
        else:
            handle.seek(end)
            handle.write(b"\n")  # whole: only its newline was lost
        handle.flush()
        os.fsync(handle.fileno())
