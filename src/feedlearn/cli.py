"""The ``feedlearn`` command line: a thin Typer layer over the public APIs, one sub-app per part."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from feedlearn import __version__
from feedlearn.bargain.cli import bargain_app
from feedlearn.cache.cli import cache_app
from feedlearn.common.errors import FeedlearnError, validation_error
from feedlearn.common.text import plain
from feedlearn.dist.cli import dist_app
from feedlearn.shipped import KINDS, file_names, folder
from feedlearn.tune.cli import tune_app

app = typer.Typer(
    name="feedlearn",
    help="Learning from feedback: learned cache eviction, LLM fine-tuning, ZeRO++, LLM bargaining.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(cache_app, name="cache")
app.add_typer(tune_app, name="tune")
app.add_typer(dist_app, name="dist")
app.add_typer(bargain_app, name="bargain")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"feedlearn {__version__}")
        raise typer.Exit()


_DEBUG = {"on": False}


def _debug(value: bool) -> None:
    _DEBUG["on"] = value
    if value:  # seen by worker processes too (dist's launcher keeps their logs)
        os.environ["FEEDLEARN_DEBUG"] = "1"


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", callback=_debug, is_eager=True,
                               help="Show the Python traceback behind an error (for bug reports)."),
) -> None:
    """feedlearn: four proven ideas about learning from feedback, as tested software."""


@app.command("demo")
def demo_command(
    quick: bool = typer.Option(False, "--quick", help="All four parts at toy scale: a check that the "
                               "installation works, not results."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the demo's files (default: runs/demo, "
                                    "runs/demo-quick with --quick)."),
    parts: str | None = typer.Option(None, "--parts", help="Comma-separated parts to run (default: all): cache, "
                                     "learned, tune, dist, bargain, selfplay."),
) -> None:
    """The four parts on the shipped data, with short readable tables (the same as make demo)."""
    from feedlearn.demo import FULL, OUT, PARTS, QUICK, run_demo  # torch and numba: not at start-up

    chosen = PARTS if parts is None else tuple(p.strip() for p in parts.split(",") if p.strip())
    run_demo(out or (OUT.with_name("demo-quick") if quick else OUT), QUICK if quick else FULL, parts=chosen)


@app.command("list")
def list_command(kind: str = typer.Argument(..., help=f"What to list: {', '.join(KINDS)}.")) -> None:
    """What ships inside the package: each name (usable wherever a file is asked for) and its file."""
    entries = file_names(kind)  # an unknown kind is a one-line error naming the known ones
    width = max(map(len, entries), default=0)
    typer.echo(f"shipped {KINDS[kind]}:")
    for name, file_name in entries.items():
        typer.echo(f"  {name:<{width}}  {file_name}")
    readme = folder(kind) / "README.md"
    if readme.is_file():
        typer.echo(f"provenance and licences: {readme}")


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, without terminal control sequences."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return " ".join(plain(f"{where}{exc.strerror}").split())
    return " ".join(plain(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: user mistakes print one line on stderr and exit 2, no traceback.

    Typer's standalone mode already handles usage errors (exit 2) and ``--help``; it lets other
    exceptions through. ``FeedlearnError`` (a user mistake) and ``OSError`` (a path that cannot be
    read or written) are one line, exit 2 (so is a pydantic error from options put straight into a
    config model); anything else is a bug, reported in one line with a
    pointer to ``--debug``, exit 1. The message is printed as plain text: it may quote file
    contents, file names or a server's words, which must not be read as rich markup.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    _DEBUG["on"] = False
    try:
        app(args=argv, prog_name="feedlearn")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        if _DEBUG["on"]:
            raise
        if isinstance(exc, ValidationError):  # options that went straight into a config model
            exc = validation_error("options", exc)
        user_mistake = isinstance(exc, FeedlearnError | OSError)
        label = "error:" if user_mistake else f"internal error ({type(exc).__name__}):"
        hint = "" if user_mistake else " (rerun with --debug for the traceback, and please report it)"
        err.print(Text.assemble((label, "bold red"), " ", _one_line(exc) + hint))
        return 2 if user_mistake else 1
    return 0


def run() -> None:
    sys.exit(main())
