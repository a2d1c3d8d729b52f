"""Rows → validated instances, and the account of each file: what was kept, dropped (why) and inferred.

Every reader (``load_dataset``, ``convert``) sends its rows through ``Checked``: each row is first
normalised (``normalize.prepare``: other spellings of our shapes, counted as *inferred*), then checked
against its type (``schema``) and, where a stage asks for more, the stage's rule (``require``), then
settled (``normalize.settle``). A row the reader or normaliser *drops* (``Drop``: an empty text) is
counted by reason; a bad row stops the read with one line naming file, row and field — or, with
``skip_bad``, is counted too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from feedlearn.common.errors import FeedlearnError, first_error
from feedlearn.tune.data.normalize import Drop, prepare, settle
from feedlearn.tune.data.schema import DATASET_TYPES

MAX_EXAMPLES = 5  # skipped-row messages kept for the report
BAD = "bad rows (--skip-bad)"  # the drop reason of rows that fail validation
Require = Callable[[str, dict[str, Any]], None]  # a stage's own rule: raises ValueError("field …: …")


@dataclass
class FileReport:
    """One source file's account: rows kept, rows dropped by reason, and what was inferred (note → count)."""

    path: str
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    inferred: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """One line: ``FILE: kept 3; dropped 2 (empty text 2); inferred: role function → assistant (4)``."""
        parts = [f"kept {self.kept}"]
        if self.dropped:
            reasons = ", ".join(f"{why} {n}" for why, n in self.dropped.items())
            parts.append(f"dropped {sum(self.dropped.values())} ({reasons})")
        if self.inferred:
            parts.append("inferred: " + ", ".join(f"{note} ({n})" for note, n in self.inferred.items()))
        return f"{self.path}: " + "; ".join(parts)


def field_error(exc: ValidationError) -> str:
    """The first pydantic error as ``field a.b.2: message``, one line."""
    loc, msg = first_error(exc, unknown=None)  # a data field, not an option: pydantic's words
    if msg.startswith("messages."):  # our turn check names the message itself
        loc, _, msg = (f"{loc}.{msg}" if loc else msg).partition(": ")
    return f"field {loc}: {msg}" if loc else msg


def check_instance(dtype: str, instance: Any) -> None:
    """Raise ``ValueError`` with a one-line ``field …: …`` message if ``instance`` is not a valid ``dtype``."""
    if not isinstance(instance, dict):
        raise ValueError(f"an instance must be a JSON object, got {type(instance).__name__}")
    try:
        DATASET_TYPES[dtype].model_validate(instance)
    except ValidationError as exc:
        raise ValueError(field_error(exc)) from None


class Checked:
    """Validates rows one by one, file by file: keeps the good ones; a bad one stops (or, with
    ``skip_bad``, is counted); ``require`` is a stage's extra rule (no ``--skip-bad`` hint then)."""

    def __init__(self, skip_bad: bool, require: Require | None = None) -> None:
        self.skip_bad, self.require = skip_bad, require
        self.kept: list[dict[str, Any]] = []
        self.skipped = 0
        self.examples: list[str] = []
        self.files: list[FileReport] = []

    def add(self, source: Path, dtype: str, rows: Iterable[tuple[str, Any]], inferred: Iterable[str] = ()) -> None:
        """``rows``: ``(where, instance)``; an instance may be an exception (``Drop`` or a bad row's) an importer
        raised for it. ``inferred``: notes about the whole file (its type taken from the keys)."""
        report = FileReport(str(source), inferred=Counter(inferred))
        self.files.append(report)
        for where, instance in rows:
            try:
                if isinstance(instance, Exception):
                    raise instance
                instance = prepare(dtype, instance, report.inferred)
                check_instance(dtype, instance)
                if self.require is not None:
                    self.require(dtype, instance)
            except Drop as why:
                report.dropped[str(why)] += 1
                continue
            except ValueError as exc:
                message = f"{source}: {where}: {exc}"
                if not self.skip_bad:
                    hint = "" if self.require is not None else " (pass --skip-bad to drop such rows)"
                    raise FeedlearnError(message + hint) from None
                self.skipped += 1
                report.dropped[BAD] += 1
                if len(self.examples) < MAX_EXAMPLES:
                    self.examples.append(message)
                continue
            self.kept.append(settle(dtype, instance, report.inferred))
            report.kept += 1
