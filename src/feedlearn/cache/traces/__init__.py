"""Trace readers, writers and generators.

``open_trace(path)`` picks the reader from the file name (``--format`` overrides); ``path`` may
also name a shipped trace (``tencentBlock.ns2706``, see ``feedlearn list traces``):

| format          | names                                   | reader                |
|-----------------|-----------------------------------------|-----------------------|
| ``oracle``      | ``*.oracleGeneral.bin``, ``*.oracleGeneral``, ``*.bin`` | :class:`OracleGeneralReader` |
| ``csv``         | ``*.csv``, ``*.tsv``, ``*.txt`` (also ``.zst``)        | :class:`CsvReader`    |
| ``lis``         | ``*.lis``, ``*.lis.zst``                                 | :class:`LisReader`    |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from feedlearn.cache.traces.csv_reader import CsvReader, CsvSpec
from feedlearn.cache.traces.lis import LisReader
from feedlearn.cache.traces.model import Request, Trace, TraceReader, next_access_indices
from feedlearn.cache.traces.oracle import OracleGeneralReader, write_oracle_general
from feedlearn.cache.traces.synthetic import CdnConfig, cdn_trace, zipf_trace
from feedlearn.common.errors import FeedlearnError
from feedlearn.common.outputs import check_output_file
from feedlearn.shipped import find

FORMATS: dict[str, Callable[[Path, str | CsvSpec | None], TraceReader]] = {
    "oracle": lambda path, spec: OracleGeneralReader(path),
    "csv": lambda path, spec: CsvReader(path, spec),
    "lis": lambda path, spec: LisReader(path),
}

_SUFFIX_FORMATS = {
    ".oraclegeneral.bin": "oracle", ".oraclegeneral": "oracle", ".bin": "oracle",
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".lis": "lis",
}


def infer_format(path: str | Path) -> str:
    """Guess the trace format from the file name, ignoring a trailing ``.zst``."""
    name = Path(path).name.lower()
    if name.endswith(".zst"):
        name = name[: -len(".zst")]
    for suffix, fmt in _SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise FeedlearnError(
        f"{path}: cannot infer the trace format from the file name; pass --format "
        f"({', '.join(FORMATS)})"
    )


def open_trace(path: str | Path, format: str | None = None, csv_spec: str | CsvSpec | None = None) -> TraceReader:
    """A reader for ``path`` (or a shipped trace's name); ``format``: ``oracle``, ``csv``, ``lis`` or None to infer."""
    path = find("traces", path)
    fmt = (format or infer_format(path)).lower()
    if fmt not in FORMATS:
        raise FeedlearnError(f"{path}: unknown trace format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt](Path(path), csv_spec)


def load_trace(path: str | Path, format: str | None = None, csv_spec: str | CsvSpec | None = None) -> Trace:
    """Read a whole trace into arrays (the fast path)."""
    return open_trace(path, format, csv_spec).read()


def convert_trace(path: str | Path, out: str | Path, format: str | None = None,
                  csv_spec: str | CsvSpec | None = None) -> Trace:
    """Read ``path`` and write it to ``out`` as oracleGeneral; returns the trace read.

    ``out`` is checked before the trace is read: it may not be ``path`` itself (under any spelling,
    symlink or hard link: writing would replace the input with its conversion), a folder or a
    special file. It is written atomically, so a failed conversion leaves no partial file.
    """
    check_output_file(out, "output", inputs=[path])
    trace = load_trace(path, format, csv_spec)
    write_oracle_general(trace, out)
    return trace


__all__ = [
    "FORMATS", "CdnConfig", "CsvReader", "CsvSpec", "LisReader", "OracleGeneralReader", "Request",
    "Trace", "TraceReader", "cdn_trace", "convert_trace", "infer_format", "load_trace",
    "next_access_indices", "open_trace", "write_oracle_general", "zipf_trace",
]
