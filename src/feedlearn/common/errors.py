"""The one error type for user mistakes.

The CLI catches it, prints its one-line message and exits with status 2 — no traceback. Internal
invariants use ``assert``; anything the user can get wrong (a file, a field, an option) raises this.
"""

from __future__ import annotations

from os import PathLike


class FeedlearnError(ValueError):
    """A user mistake, described in one line that names the file, line/record and field."""

    def __init__(self, message: str) -> None:
        # Keep the message on one line whatever callers pass, so the CLI output stays one line.
        super().__init__(" ".join(str(message).split()))


def located(path: str | PathLike[str], where: str | int | None, message: str) -> FeedlearnError:
    """Build an error prefixed with ``file:where:`` in the compiler style editors understand."""
    prefix = f"{path}:{where}: " if where is not None else f"{path}: "
    return FeedlearnError(prefix + message)


def validation_error(source: str, exc: Exception, names: dict[str, str] | None = None) -> FeedlearnError:
    """One line for a pydantic ``ValidationError``: ``source: field: message`` (first error only).

    ``names`` maps a model field to what the user typed (``{"steps": "--steps"}``) so a CLI error
    names the option, not the attribute.
    """
    err = exc.errors()[0]  # type: ignore[attr-defined]
    field = ".".join(str(p) for p in err["loc"])
    field = (names or {}).get(field, field)
    message = "unknown option" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return FeedlearnError(f"{source}: {field}: {message}" if field else f"{source}: {message}")
