"""Checks on output paths, made before the work that fills them starts.

A sweep or a training can run for hours; finding at the end that ``--json`` names a folder, or that ``--plot``
would land on the input trace, loses the run. So every output is checked first: it must not be an
existing folder or special file (``/dev/null`` would be replaced by the atomic rename), must not be
one of the inputs (``convert t.csv t.csv`` would replace the trace with its own conversion), must
not be named twice, and the nearest existing folder above it must be a writable folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from feedlearn.common.errors import FeedlearnError


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (also through symlinks or hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _check_folder(folder: Path, option: str, out: Path) -> None:
    """The nearest existing folder at or above ``folder`` must be a folder we may write in
    (``out``, the output itself, names it in messages)."""
    ancestor = folder.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        if ancestor.is_symlink():  # a dangling link: mkdir would fail on it
            raise FeedlearnError(f"{option} {out}: {ancestor} is a broken symbolic link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise FeedlearnError(f"{option} {out}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise FeedlearnError(f"{option} {out}: cannot write in {ancestor} (permission denied)")


def check_output_file(path: str | os.PathLike[str], option: str, inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Refuse an output file that cannot be written, or whose writing would destroy something.

    ``option`` names the output in messages (``--json``); ``inputs`` are files the command reads.
    An existing regular file is replaced (atomically) unless it is one of ``inputs``.
    """
    out = Path(path)
    if out.is_dir():
        raise FeedlearnError(f"{option} {out}: is a folder; give a file name")
    if out.exists() and not out.is_file():
        raise FeedlearnError(f"{option} {out}: not a regular file; refusing to replace it")
    if out.is_symlink() and not out.exists():
        raise FeedlearnError(f"{option} {out}: is a broken symbolic link; refusing to replace it")
    for source in inputs:
        if _same_file(Path(source), out):
            raise FeedlearnError(f"{option} {out}: is the input {source}; refusing to overwrite it")
    _check_folder(out.parent, option, out)
    return out


def check_output_folder(path: str | os.PathLike[str], option: str) -> Path:
    """Refuse an output folder that is an existing file or cannot be created or written."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FeedlearnError(f"{option} {out}: is not a folder")
    _check_folder(out, option, out)
    return out


def check_outputs(files: Mapping[str, str | os.PathLike[str] | None], inputs: Iterable[str | os.PathLike[str]] = (),
                  folders: Mapping[str, str | os.PathLike[str] | None] | None = None) -> None:
    """Check every given output (``{"--json": path or None, ...}``), and that no two are the same."""
    inputs = list(inputs)
    seen: dict[Path, str] = {}
    for option, path in files.items():
        if path is None:
            continue
        out = check_output_file(path, option, inputs)
        key = Path(os.path.realpath(out))  # one key per file, whatever the spelling or symlinks
        if key in seen:
            raise FeedlearnError(f"{option} {out}: already the output of {seen[key]}; give each output its own file")
        seen[key] = option
    for option, path in (folders or {}).items():
        if path is not None:
            check_output_folder(path, option)
