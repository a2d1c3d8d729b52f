"""CSV/TSV traces with a column spec, in the spirit of libCacheSim's ``-t "time-col=1,..."``.

Spec string keys (1-based columns, 0 = column absent)::

    time-col=1,obj-id-col=2,obj-size-col=3,delimiter=tab,has-header=false,obj-id-is-num=true

``feature-cols=5,6,7`` (the columns after ``=`` up to the next ``key=`` item) names numeric
request-supplied features — content type, client class, TTL… — that learned policies (HALP, LRB)
append to their per-object features (``Trace.features``).

``delimiter`` accepts ``tab``, ``comma``, ``space`` (any run of whitespace), ``semicolon``, ``pipe``
or a single character (``delimiter=,`` works too). When the delimiter or the header flag is not
given, it is inferred from the first line: the first of tab, comma, semicolon, pipe it contains,
else whitespace; a header
if the id or time column of the first line is not numeric.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from feedlearn.cache.traces.model import Request, Trace, TraceChunk
from feedlearn.cache.traces.text import open_text
from feedlearn.common.errors import FeedlearnError, located

_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "space": " ", "semicolon": ";", "pipe": "|"}
_U64_MAX = 2**64 - 1
_SIZE_MAX = 2**62 - 1  # bytes; sums of sizes are checked against 2**62 too (traces.model)


@dataclass(frozen=True)
class CsvSpec:
    """Which columns hold time, object id and size, and how the file is laid out."""

    time_col: int = 1  # 0: no time column, the request index is the time
    obj_id_col: int = 2
    obj_size_col: int = 3  # 0: no size column, every request has size 1
    delimiter: str | None = None  # None: infer from the first line
    has_header: bool | None = None  # None: infer from the first line
    obj_id_is_num: bool = True  # False: ids are strings, mapped to integers in first-seen order
    feature_cols: tuple[int, ...] = ()  # request-supplied numeric features

    @classmethod
    def parse(cls, text: str | None) -> CsvSpec:
        """Parse ``key=value`` pairs separated by commas; unknown keys are a user error."""
        spec = cls()
        if not text:
            return spec
        names = {f.name.replace("_", "-"): f.name for f in fields(cls)}
        items = text.split(",")
        i = 0
        while i < len(items):
            item = items[i].strip()
            i += 1
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip().lower()
            if not sep or key not in names:
                raise FeedlearnError(
                    f"csv spec: unknown item {item!r}; expected keys {', '.join(sorted(names))}"
                )
            if key == "delimiter" and value == "" and i < len(items) and items[i] == "":
                value, i = ",", i + 1  # "delimiter=," was split on its own comma
            if key == "feature-cols":
                cols = [_spec_value("feature_cols", value)]
                while i < len(items) and items[i].strip() and "=" not in items[i]:
                    cols.append(_spec_value("feature_cols", items[i]))  # the list's own commas
                    i += 1
                if 0 in cols or len(set(cols)) != len(cols):
                    raise FeedlearnError(f"csv spec: feature-cols must be distinct 1-based columns, got {cols}")
                spec = replace(spec, feature_cols=tuple(cols))
                continue
            spec = replace(spec, **{names[key]: _spec_value(names[key], value)})
        if spec.obj_id_col < 1:
            raise FeedlearnError("csv spec: obj-id-col must be a 1-based column number")
        return spec


def _spec_value(name: str, value: str) -> object:
    value = value.strip() if name != "delimiter" else value
    if name == "delimiter":
        delim = _DELIMITER_NAMES.get(value.lower(), value)
        if len(delim) != 1:
            raise FeedlearnError(f"csv spec: delimiter {value!r} must be one character or a name")
        return delim
    if name in ("has_header", "obj_id_is_num"):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise FeedlearnError(f"csv spec: {name.replace('_', '-')} must be true or false, got {value!r}")
    try:
        col = int(value)
    except ValueError:
        raise FeedlearnError(f"csv spec: {name.replace('_', '-')} must be a column number, got {value!r}") from None
    if col < 0:
        raise FeedlearnError(f"csv spec: {name.replace('_', '-')} must be >= 0, got {col}")
    return col


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class CsvReader:
    """Reader for delimited text traces (optionally ``.zst``-compressed)."""

    def __init__(self, path: str | Path, spec: CsvSpec | str | None = None) -> None:
        self.path = Path(path)
        self.spec = spec if isinstance(spec, CsvSpec) else CsvSpec.parse(spec)

    def _resolved_spec(self, first_line: str) -> CsvSpec:
        spec = self.spec
        if spec.delimiter is None:
            delim = next((d for d in "\t,;|" if d in first_line), " ")
            spec = replace(spec, delimiter=delim)
        if spec.has_header is None:
            cells = _split(first_line, spec.delimiter)
            probe = [spec.time_col] if spec.obj_id_is_num is False else [spec.obj_id_col, spec.time_col]
            header = any(0 < c <= len(cells) and not _is_number(cells[c - 1]) for c in probe)
            spec = replace(spec, has_header=header)
        return spec

    def _rows(self) -> Iterator[tuple[int, float, int, int, list[float]]]:
        """Yield ``(line_number, time, obj_id, size, features)``; line numbers are 1-based file lines."""
        string_ids: dict[str, int] = {}
        with open_text(self.path) as handle:
            lines = iter(handle)
            first = next(lines, None)
            if first is None:
                raise FeedlearnError(f"{self.path}: the trace has no requests")
            spec = self._resolved_spec(first)
            delim = spec.delimiter
            assert delim is not None
            need = max(spec.time_col, spec.obj_id_col, spec.obj_size_col, *spec.feature_cols)
            body = lines if spec.has_header else _prepend(first, lines)
            first_number = 2 if spec.has_header else 1
            cells_of = csv.reader(body, delimiter=delim) if delim not in (" ",) else (line.split() for line in body)
            index = 0
            for line_no, cells in enumerate(_guarded(self.path, cells_of, first_number), start=first_number):
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # blank line
                if len(cells) < need:
                    raise located(
                        self.path, line_no,
                        f"expected at least {need} fields, got {len(cells)} ({delim!r}-separated)",
                    )
                time = float(index)
                if spec.time_col:
                    time = _float(self.path, line_no, "time", cells[spec.time_col - 1], spec.time_col)
                    if time < 0:
                        raise located(self.path, line_no, f"field time: {time:g} is negative (column {spec.time_col})")
                raw_id = cells[spec.obj_id_col - 1].strip()
                if spec.obj_id_is_num:
                    obj_id = _int(self.path, line_no, "obj_id", raw_id, _U64_MAX, spec.obj_id_col)
                else:
                    obj_id = string_ids.setdefault(raw_id, len(string_ids))
                size = 1
                if spec.obj_size_col:
                    size = _int(self.path, line_no, "obj_size", cells[spec.obj_size_col - 1], _SIZE_MAX,
                                spec.obj_size_col)
                features = [_float(self.path, line_no, f"feature (column {c})", cells[c - 1]) for c in spec.feature_cols]
                yield line_no, time, obj_id, size, features
                index += 1

    def __iter__(self) -> Iterator[Request]:
        for _, time, obj_id, size, _ in self._rows():
            yield Request(time, obj_id, size)

    @property
    def has_sizes(self) -> bool:
        return self.spec.obj_size_col != 0

    def chunks(self, n: int) -> Iterator[TraceChunk]:
        """Consecutive chunks of ``n`` requests, parsed as the file streams by."""
        assert n >= 1
        rows = self._rows()
        start = 0
        while batch := list(itertools.islice(rows, n)):
            _, times, ids, sizes, features = zip(*batch)
            yield TraceChunk(
                start, np.asarray(times, dtype=np.float64), np.asarray(ids, dtype=np.uint64),
                np.asarray(sizes, dtype=np.int64), None,
                np.asarray(features, dtype=np.float32) if self.spec.feature_cols else None,
            )
            start += len(batch)
        if start == 0:
            raise FeedlearnError(f"{self.path}: the trace has no requests")

    def read(self) -> Trace:
        times: list[float] = []
        ids: list[int] = []
        sizes: list[int] = []
        features: list[list[float]] = []
        for _, time, obj_id, size, row in self._rows():
            times.append(time)
            ids.append(obj_id)
            sizes.append(size)
            features.append(row)
        if not ids:
            raise FeedlearnError(f"{self.path}: the trace has no requests")
        return Trace(
            name=self.path.name,
            time=np.asarray(times, dtype=np.float64),
            obj_id=np.asarray(ids, dtype=np.uint64),
            size=np.asarray(sizes, dtype=np.int64),
            has_sizes=self.has_sizes,
            features=np.asarray(features, dtype=np.float32) if self.spec.feature_cols else None,
        )


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _split(line: str, delim: str) -> list[str]:
    line = line.rstrip("\r\n")
    return line.split() if delim == " " else line.split(delim)


def _guarded(path: Path, rows: Iterator[list[str]], first_number: int) -> Iterator[list[str]]:
    """``rows``, with the csv module's own errors (a NUL byte, an oversized or badly quoted field)
    as one-line errors naming the line."""
    line_no = first_number
    try:
        for row in rows:
            yield row
            line_no += 1
    except csv.Error as exc:
        raise located(path, line_no, f"not a valid CSV line ({exc})") from None


def _short(text: str) -> str:
    """A field as quoted in a message: long ones cut in the middle, so the message stays one short line."""
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"


def _where(column: int | None) -> str:
    return f" (column {column})" if column else ""


def _float(path: Path, line_no: int, field: str, text: str, column: int | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        raise located(path, line_no, f"field {field}: {_short(text.strip())!r} is not a number{_where(column)}") from None
    if not math.isfinite(value):
        raise located(path, line_no, f"field {field}: {_short(text.strip())!r} is not a finite number{_where(column)}")
    return value


def _int(path: Path, line_no: int, field: str, text: str, upper: int, column: int | None = None) -> int:
    text = text.strip()
    # Plain ASCII digits only: int() would also take "1_000" or other scripts' digits, and spend
    # quadratic time on a field of a million digits (so the length is checked first).
    if text[:1] == "-" and text[1:].isascii() and text[1:].isdigit():
        raise located(path, line_no, f"field {field}: {_short(text)} is out of range [0, {upper}]{_where(column)}")
    if not (text.isascii() and text.isdigit()):
        raise located(path, line_no, f"field {field}: {_short(text)!r} is not a non-negative integer{_where(column)}")
    if len(text.lstrip("0")) > len(str(upper)) or int(text) > upper:
        raise located(path, line_no, f"field {field}: {_short(text)} is out of range [0, {upper}]{_where(column)}")
    return int(text)
