"""The ``feedlearn`` command line: a thin Typer layer over the public APIs, one sub-app per part."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from feedlearn import __version__
from feedlearn.bargain.cli import bargain_app
from feedlearn.cache.cli import cache_app
from feedlearn.common.errors import FeedlearnError
from feedlearn.dist.cli import dist_app
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


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """feedlearn: four proven ideas about learning from feedback, as tested software."""


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: user mistakes print one line on stderr and exit 2, no traceback.

    Typer's standalone mode already handles usage errors (exit 2) and ``--help``; it lets other
    exceptions through, so ``FeedlearnError`` is caught here.
    """
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        app(args=argv, prog_name="feedlearn")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except FeedlearnError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


def run() -> None:
    sys.exit(main())
