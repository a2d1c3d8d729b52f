"""Text from files and servers, made safe to show on a terminal.

Server replies, file names and file contents reach the console in error messages, streamed games
and tables. Two things must never happen to them: be read as rich markup (``[link=...]``, ``[/x]``
crashing the printer) or drive the terminal (ANSI/OSC escapes that recolour, retitle, hide text or
plant hyperlinks). ``plain`` removes the control sequences; callers print with ``markup=False`` or
embed ``markup_safe`` text in their own markup.
"""

from __future__ import annotations

import re

from rich.markup import escape

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, then any C0/C1
# control character except newline and tab, and the bidi overrides that reorder what is shown.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)


def plain(text: object) -> str:
    """``str(text)`` without terminal control sequences (newlines and tabs are kept)."""
    return _CONTROL.sub("", str(text))


def markup_safe(text: object) -> str:
    """``plain(text)`` escaped so rich shows it literally inside a markup string."""
    return escape(plain(text))


def strip_suffixes(name: str, suffixes: tuple[str, ...]) -> str:
    """``name`` without any of ``suffixes`` at its end, repeatedly, never down to nothing
    (``tencentBlock.ns2706.sample.csv`` -> ``tencentBlock.ns2706`` with ``.sample`` and ``.csv``)."""
    stripped = True
    while stripped:
        stripped = False
        for suffix in suffixes:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, stripped = name[: -len(suffix)], True
    return name
