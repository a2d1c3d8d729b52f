"""Read and write LMFlow-format datasets: a JSON file, a JSONL file, or a folder of them.

* ``.json``: ``{"type": T, "instances": [...]}`` (LMFlow's layout).
* ``.jsonl``: one instance per line; the type is ``type=`` or inferred from the first line's keys
  (``schema.infer_type``). A first line ``{"type": T}`` alone is read as the header.
* a folder: every ``.json``/``.jsonl`` file in it (sorted by name), all of one type.
* any of these gzip-compressed (``.gz``).

Bad instances raise one ``FeedlearnError`` naming the file, the instance (JSON: its index in
``instances``; JSONL: its line) and the field — or, with ``skip_bad=True``, are dropped and counted
in ``TuneDataset.skipped`` (the first few messages kept in ``skipped_examples``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write_bytes, atomic_write_text
from feedlearn.tune.data.schema import DATASET_TYPES, infer_type

MAX_EXAMPLES = 5  # skipped-row messages kept for the report


@dataclass
class TuneDataset:
    """One dataset: its type and its instances (plain dicts, already validated)."""

    type: str
    instances: list[dict[str, Any]]
    source: str = ""
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.instances)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "instances": self.instances}


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def _stem_suffix(path: Path) -> str:
    """``.json`` or ``.jsonl`` (or another suffix), looking through a ``.gz``."""
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def field_error(exc: ValidationError) -> str:
    """The first pydantic error as ``field a.b.2: message``, one line."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
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


def _check_type(path: Path, dtype: object) -> str:
    if dtype not in DATASET_TYPES:
        raise FeedlearnError(f"{path}: field type: {dtype!r} is not one of {', '.join(DATASET_TYPES)}")
    return str(dtype)


def _json_instances(path: Path, dtype: str | None) -> tuple[str, Iterator[tuple[str, Any]]]:
    with _open_text(path) as handle:
        try:
            doc = json.load(handle)
        except json.JSONDecodeError as exc:
            raise FeedlearnError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise FeedlearnError(f"{path}: cannot read: {exc}") from None
    if isinstance(doc, list):
        raise FeedlearnError(f"{path}: a JSON list, not an LMFlow dataset ({{\"type\", \"instances\"}}); "
                             "import it with `feedlearn tune data convert --from alpaca|sharegpt`")
    if not isinstance(doc, dict) or "instances" not in doc or "type" not in doc:
        raise FeedlearnError(f"{path}: expected an object with fields type and instances")
    file_type = _check_type(path, doc["type"])
    if dtype is not None and dtype != file_type:
        raise FeedlearnError(f"{path}: field type: {file_type!r}, but {dtype!r} was expected")
    if not isinstance(doc["instances"], list):
        raise FeedlearnError(f"{path}: field instances: must be a list")
    return file_type, ((f"instance {i}", inst) for i, inst in enumerate(doc["instances"]))


def _jsonl_instances(path: Path, dtype: str | None) -> tuple[str, Iterator[tuple[str, Any]]]:
    rows: list[tuple[str, Any]] = []
    try:
        with _open_text(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((f"line {line_no}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise FeedlearnError(f"{path}:{line_no}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise FeedlearnError(f"{path}: cannot read: {exc}") from None
    if rows and isinstance(rows[0][1], dict) and set(rows[0][1]) == {"type"}:
        header_type = _check_type(path, rows.pop(0)[1]["type"])
        if dtype is not None and dtype != header_type:
            raise FeedlearnError(f"{path}: field type: {header_type!r}, but {dtype!r} was expected")
        dtype = header_type
    if dtype is None:
        dtype = infer_type(rows[0][1]) if rows else None
        if dtype is None:
            raise FeedlearnError(f"{path}: cannot tell the dataset type from the first line; pass type=")
    return _check_type(path, dtype), iter(rows)


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise FeedlearnError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if _stem_suffix(p) in (".json", ".jsonl") and p.is_file())
        if not files:
            raise FeedlearnError(f"{path}: the folder has no .json or .jsonl files")
        return files
    return [path]


class BadRows:
    """Validates rows one by one: keeps the good ones; a bad one stops (or, with ``skip_bad``, is counted)."""

    def __init__(self, skip_bad: bool) -> None:
        self.skip_bad = skip_bad
        self.kept: list[dict[str, Any]] = []
        self.skipped = 0
        self.examples: list[str] = []

    def add(self, source: Path, dtype: str, rows) -> None:
        """``rows``: ``(where, instance)``; an instance may be an exception an importer raised for it."""
        for where, instance in rows:
            try:
                if isinstance(instance, Exception):
                    raise ValueError(str(instance))
                check_instance(dtype, instance)
            except ValueError as exc:
                message = f"{source}: {where}: {exc}"
                if not self.skip_bad:
                    raise FeedlearnError(message + " (pass --skip-bad to drop such rows)") from None
                self.skipped += 1
                if len(self.examples) < MAX_EXAMPLES:
                    self.examples.append(message)
                continue
            self.kept.append(instance)

    def dataset(self, dtype: str, source: Path, empty: str) -> TuneDataset:
        if not self.kept:
            raise FeedlearnError(f"{source}: {empty}" + (f" ({self.skipped} bad rows dropped)" if self.skipped else ""))
        return TuneDataset(dtype, self.kept, str(source), self.skipped, self.examples)


def load_dataset(path: str | Path, *, type: str | None = None, skip_bad: bool = False) -> TuneDataset:  # noqa: A002
    """Read an LMFlow dataset (file or folder), validating every instance."""
    root = Path(path)
    if type is not None:
        _check_type(root, type)
    dtype = type
    rows = BadRows(skip_bad)
    for file in _files(root):
        reader = _jsonl_instances if _stem_suffix(file) == ".jsonl" else _json_instances
        dtype, instances = reader(file, dtype)  # every further file must have this type
        rows.add(file, dtype, instances)
    assert dtype is not None
    return rows.dataset(dtype, root, "no valid instances")


def save_dataset(dataset: TuneDataset, path: str | Path) -> Path:
    """Write ``dataset`` in LMFlow's JSON layout (or JSONL, one instance per line), atomically."""
    out = Path(path)
    if _stem_suffix(out) == ".jsonl":
        lines = [json.dumps({"type": dataset.type}, ensure_ascii=False)]
        lines += [json.dumps(inst, ensure_ascii=False) for inst in dataset.instances]
        text = "\n".join(lines) + "\n"
    else:
        text = json.dumps(dataset.to_json(), ensure_ascii=False, indent=1) + "\n"
    if out.suffix == ".gz":
        atomic_write_bytes(out, gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        atomic_write_text(out, text)
    return out
