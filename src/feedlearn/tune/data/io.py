"""Read and write LMFlow-format datasets: a JSON file, a JSONL file, or a folder of them.

* ``.json``: ``{"type": T, "instances": [...]}`` (LMFlow's layout).
* ``.jsonl``: one instance per line; the type is ``type=`` or inferred from the first line's keys
  (``schema.infer_type``). A first line ``{"type": T}`` alone is read as the header.
* a folder: every ``.json``/``.jsonl`` file in it (sorted by name), all of one type.
* any of these gzip-compressed (``.gz``).

Bad instances raise one ``FeedlearnError`` naming the file, the instance (JSON: its index in
``instances``; JSONL: its line) and the field — or, with ``skip_bad=True``, are dropped and counted
in ``TuneDataset.skipped`` (the first few messages kept in ``skipped_examples``). A file that cannot
be read — corrupt gzip, not UTF-8, JSON nested too deeply — is one such error too, naming the file
(and the line where known).

Size limits, checked while reading (so a gzip bomb stops there too): a ``.json`` document is read
whole and may hold at most ``MAX_FILE_BYTES`` (1 GiB, uncompressed); a ``.jsonl`` file is read a
line at a time, each line at most ``MAX_LINE_BYTES`` (64 MiB) and all of them at most
``MAX_FILE_BYTES`` too. Bigger datasets go in a folder of files.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedlearn.common.errors import FeedlearnError, located
from feedlearn.common.io import atomic_write_bytes, atomic_write_text, decode_utf8
from feedlearn.tune.data.rows import BAD, Checked, FileReport, Require, check_instance, field_error
from feedlearn.tune.data.schema import DATASET_TYPES, infer_type

__all__ = ["MAX_FILE_BYTES", "MAX_LINE_BYTES", "TuneDataset", "check_instance", "field_error", "load_dataset",
           "save_dataset"]
MAX_FILE_BYTES = 1 << 30  # one file, uncompressed (module docstring)
MAX_LINE_BYTES = 1 << 26  # one JSONL line


@dataclass
class TuneDataset:
    """One dataset: its type and its instances (plain dicts, already validated)."""

    type: str
    instances: list[dict[str, Any]]
    source: str = ""
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)  # per source file: kept, dropped (why), inferred

    def __len__(self) -> int:
        return len(self.instances)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "instances": self.instances}


@contextmanager
def reading(path: Path, line: int | None = None) -> Iterator[None]:
    """Turn what can go wrong reading ``path`` (at ``line``) into one-line errors naming it."""
    try:
        yield
    except FeedlearnError:
        raise
    except FileNotFoundError:
        raise located(path, None, "no such file") from None
    except (zlib.error, gzip.BadGzipFile, EOFError) as exc:  # before OSError: BadGzipFile is one
        raise located(path, None, f"corrupt or truncated gzip data ({exc or type(exc).__name__})") from None
    except OSError as exc:
        raise located(path, None, f"cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise located(path, f"{where}:{exc.colno}", f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise located(path, line, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise located(path, line, f"invalid JSON: {exc}") from None


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _too_big(path: Path, what: str, limit: int) -> FeedlearnError:
    return located(path, None, f"{what} is larger than {limit / 2**20:,.0f} MiB, the limit; "
                               "split the data into a folder of .jsonl files")



def read_text(path: str | Path, limit: int | None = None) -> str:
    """The whole UTF-8 text of ``path`` (gunzipped for ``.gz``), at most ``limit`` bytes of it."""
    path, limit = Path(path), MAX_FILE_BYTES if limit is None else limit
    with reading(path), _open_binary(path) as handle:
        data = handle.read(limit + 1)  # bounded: never more than the limit in memory
    if len(data) > limit:
        raise _too_big(path, "the file", limit)
    text = decode_utf8(path, data)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text  # as text mode reads


def read_json(path: str | Path) -> Any:
    """The JSON document in ``path`` (``.gz`` too); errors name the file, line and column."""
    text = read_text(path)
    with reading(Path(path)):
        return json.loads(text)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a JSONL file, read one line at a time."""
    path = Path(path)
    total = 0
    with reading(path), _open_binary(path) as handle:
        for line_no, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), start=1):
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise _too_big(path, f"line {line_no}", MAX_LINE_BYTES)
            total += len(raw)
            if total > MAX_FILE_BYTES:
                raise _too_big(path, "the file", MAX_FILE_BYTES)
            text = decode_utf8(path, raw, line_no)
            if text.strip():
                with reading(path, line_no):
                    value = json.loads(text)
                yield line_no, value


def _stem_suffix(path: Path) -> str:
    """``.json`` or ``.jsonl`` (or another suffix), looking through a ``.gz``."""
    return Path(path.stem).suffix if path.suffix == ".gz" else path.suffix


def _check_type(path: Path, dtype: object) -> str:
    if dtype not in DATASET_TYPES:
        raise FeedlearnError(f"{path}: field type: {dtype!r} is not one of {', '.join(DATASET_TYPES)}")
    return str(dtype)


Read = tuple[str, Iterator[tuple[str, Any]], list[str]]  # the file's type, its (where, instance) rows, notes


def _json_instances(path: Path, dtype: str | None) -> Read:
    doc = read_json(path)
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
    return file_type, ((f"instance {i}", inst) for i, inst in enumerate(doc["instances"])), []


def _jsonl_instances(path: Path, dtype: str | None) -> Read:
    rows = [(f"line {line_no}", value) for line_no, value in read_jsonl(path)]
    if rows and isinstance(rows[0][1], dict) and set(rows[0][1]) == {"type"}:
        header_type = _check_type(path, rows.pop(0)[1]["type"])
        if dtype is not None and dtype != header_type:
            raise FeedlearnError(f"{path}: field type: {header_type!r}, but {dtype!r} was expected")
        dtype = header_type
    notes = []
    if dtype is None:
        dtype = infer_type(rows[0][1]) if rows else None
        if dtype is None:
            raise FeedlearnError(f"{path}: cannot tell the dataset type from the first line; pass type=")
        notes.append(f"type {dtype} from the first line's keys")
    return _check_type(path, dtype), iter(rows), notes


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise FeedlearnError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if _stem_suffix(p) in (".json", ".jsonl") and p.is_file())
        if not files:
            raise FeedlearnError(f"{path}: the folder has no .json or .jsonl files")
        return files
    return [path]


def to_dataset(checked: Checked, dtype: str, source: Path, empty: str) -> TuneDataset:
    """The kept rows as a dataset (an error when none is left); rows dropped on purpose are logged as a warning."""
    for report in checked.files:
        on_purpose = {why: n for why, n in report.dropped.items() if why != BAD}
        if on_purpose:
            logging.getLogger(__name__).warning(
                f"{report.path}: dropped {sum(on_purpose.values())} rows ("
                + ", ".join(f"{why} {n}" for why, n in on_purpose.items()) + f"), kept {report.kept}")
    if not checked.kept:
        dropped = sum(sum(r.dropped.values()) for r in checked.files)
        raise FeedlearnError(f"{source}: {empty}" + (f" ({dropped} rows dropped)" if dropped else ""))
    return TuneDataset(dtype, checked.kept, str(source), checked.skipped, checked.examples, checked.files)


def load_dataset(path: str | Path, *, type: str | None = None, skip_bad: bool = False,  # noqa: A002
                 require: Require | None = None) -> TuneDataset:
    """Read an LMFlow dataset (file or folder), validating every instance (and ``require``: a stage's own rule)."""
    root = Path(path)
    if type is not None:
        _check_type(root, type)
    dtype = type
    rows = Checked(skip_bad, require)
    for file in _files(root):
        reader = _jsonl_instances if _stem_suffix(file) == ".jsonl" else _json_instances
        dtype, instances, inferred = reader(file, dtype)  # every further file must have this type
        rows.add(file, dtype, instances, inferred)
    assert dtype is not None
    return to_dataset(rows, dtype, root, "no valid instances")


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
