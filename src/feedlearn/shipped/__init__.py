"""The small data that ships inside the package, found by name wherever feedlearn is installed.

One folder per kind (``traces/``, ``datasets/``, ``scenarios/``, ``recipes/``, ``selfplay/``), each with a README
giving its provenance. They are package data, read through ``importlib.resources``, so a wheel
installed anywhere finds them — no path is relative to the repository or the working directory.

A shipped thing's name is its file name without format suffixes (``tencentBlock.ns2706`` for
``tencentBlock.ns2706.sample.csv``, ``tiny-4stage`` for ``tiny-4stage.yaml``); the full file name
works too. ``find(kind, given)`` is how every command takes "a path or a shipped name": a file that
exists wins, so a user's own ``used-bike.yaml`` is never shadowed.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

from feedlearn.common.errors import FeedlearnError, did_you_mean
from feedlearn.common.text import strip_suffixes

# kind -> what it holds (shown by ``feedlearn list``); the kind is also its folder's name
KINDS = {
    "recipes": "tune recipes (feedlearn tune run NAME)",
    "scenarios": "bargaining scenarios (feedlearn bargain run --scenario NAME)",
    "traces": "cache traces (feedlearn cache sim NAME)",
    "datasets": "LLM data samples (feedlearn tune data convert NAME ...; a recipe's convert: NAME)",
    "selfplay": "bargain self-play configs (feedlearn bargain selfplay NAME)",
}
# dropped from a file name, repeatedly, to make its name
_SUFFIXES = (".gz", ".zst", ".yaml", ".yml", ".json", ".jsonl", ".csv", ".txt", ".bin", ".lis", ".oracleGeneral",
             ".sample")
# importlib.resources hands out real paths that live as long as the process (files inside a zip
# are extracted once, on demand): the pattern of the importlib.resources documentation
_FILES = ExitStack()
atexit.register(_FILES.close)


def short_name(file_name: str) -> str:
    """``tencentBlock.ns2706.sample.csv`` -> ``tencentBlock.ns2706``; ``tiny-4stage.yaml`` -> ``tiny-4stage``."""
    return strip_suffixes(file_name, _SUFFIXES)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise FeedlearnError(f"unknown kind of shipped data {kind!r}; known: {', '.join(KINDS)}{did_you_mean(kind, list(KINDS))}")


def _entries(kind: str) -> dict[str, Traversable]:
    """Name -> shipped file of one kind, sorted by name (READMEs are documentation, not entries)."""
    _check_kind(kind)
    found = {short_name(f.name): f for f in files(__name__).joinpath(kind).iterdir()
             if f.is_file() and f.name != "README.md" and not f.name.startswith(".")}
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def names(kind: str) -> list[str]:
    """The names of the shipped things of ``kind`` (``KINDS``)."""
    return list(_entries(kind))


def file_names(kind: str) -> dict[str, str]:
    """Name -> file name of the shipped things of ``kind``."""
    return {name: entry.name for name, entry in _entries(kind).items()}


def shipped(kind: str, name: str) -> Path | None:
    """The file of the shipped thing called ``name`` (or by its full file name), or None."""
    for short, entry in _entries(kind).items():
        if name in (short, entry.name):
            return _FILES.enter_context(as_file(entry))
    return None


def folder(kind: str) -> Path:
    """The folder of one kind of shipped data, with its provenance README."""
    _check_kind(kind)
    return _FILES.enter_context(as_file(files(__name__).joinpath(kind)))


def resolve(kind: str, given: str | Path) -> Path | None:
    """``given`` as a path when that file exists, else the shipped thing of that name, else None."""
    path = Path(given)
    return path if path.exists() else shipped(kind, str(given))


def find(kind: str, given: str | Path) -> Path:
    """``resolve``, for a command's "a path or a shipped name" argument.

    A bare name that is neither, and has no file suffix (``nothing``) or is close to a shipped name
    (``used-bik``, ``tencentBlock.ns270``), is a one-line error listing the shipped names or naming
    the close one; anything else (``no/such``, ``missing.csv``) is returned as it is, for the
    caller's own "no such file" or "unknown format" error.
    """
    found = resolve(kind, given)
    if found is not None:
        return found
    path = Path(given)
    close = did_you_mean(given, names(kind))
    if len(path.parts) == 1 and (close or not path.suffix) and str(given) not in (".", ".."):
        raise FeedlearnError(f"{given}: no such file, and no shipped {kind[:-1]} of that name "
                             f"(feedlearn list {kind}){close or did_you_mean(given, names(kind), list_known=True)}")
    return path
