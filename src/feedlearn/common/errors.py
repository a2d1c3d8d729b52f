"""The one error type for user mistakes.

The CLI catches it, prints its one-line message and exits with status 2 — no traceback. Internal
invariants use ``assert``; anything the user can get wrong (a file, a field, an option) raises this.
"""

from __future__ import annotations

import difflib
from os import PathLike
from typing import get_args


class FeedlearnError(ValueError):
    """A user mistake, described in one line that names the file, line/record and field."""

    def __init__(self, message: str) -> None:
        # Keep the message on one line whatever callers pass, so the CLI output stays one line.
        super().__init__(" ".join(str(message).split()))


def located(path: str | PathLike[str], where: str | int | None, message: str) -> FeedlearnError:
    """Build an error prefixed with ``file:where:`` in the compiler style editors understand."""
    prefix = f"{path}:{where}: " if where is not None else f"{path}: "
    return FeedlearnError(prefix + message)


def first_error(exc: Exception, model: type | None = None, unknown: str | None = "unknown option") -> tuple[str, str]:
    """``(field, message)`` of a pydantic ``ValidationError``'s first error, each on one line.

    The field is dotted (``a.b.2``). An unknown key's message is ``unknown`` (``None``: pydantic's own)
    and, given the ``model`` that was validated, the close match among the fields of the (nested)
    model that holds it.
    """
    err = exc.errors()[0]  # type: ignore[attr-defined]
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] != "extra_forbidden" or unknown is None:
        return field, err["msg"].removeprefix("Value error, ")
    holder = _model_at(model, err["loc"]) if model is not None else None
    return field, unknown + (did_you_mean(err["loc"][-1], list(holder.model_fields)) if holder else "")


def _model_at(model: type, loc: tuple) -> type | None:
    """The (nested) pydantic model class that holds the field at ``loc``, through lists and optionals."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))  # type: ignore[attr-defined]
        if field is None:
            return None
        inner = [a for a in _flatten(field.annotation) if isinstance(a, type) and hasattr(a, "model_fields")]
        if not inner:
            return None
        model = inner[0]
    return model


def _flatten(annotation: object) -> list[object]:
    args = get_args(annotation)
    return [annotation] if not args else [x for a in args for x in _flatten(a)]


def validation_error(source: str | None, exc: Exception, names: dict[str, str] | None = None,
                     model: type | None = None, *, show_input: bool = False,
                     unknown: str | None = "unknown option") -> FeedlearnError:
    """One line for a pydantic ``ValidationError``: ``source: field: message`` (first error only).

    ``names`` maps a model field to what the user typed (``{"steps": "--steps"}``) so a CLI error
    names the option, not the attribute (``""``: the whole input, for an error of no one field);
    ``model`` (the class validated) adds the close match of a mistyped key (``first_error``).
    ``source`` None leaves the prefix to a caller that places the message itself (``runs.jsonl:3:
    not a run record (field: message)``); ``show_input`` ends a field's message with ``(got VALUE)``,
    for values given in code; ``unknown`` is said of a key the model does not have (None: pydantic's words).
    """
    field, message = first_error(exc, model, unknown)
    field = (names or {}).get(field, field)
    err = exc.errors()[0]  # type: ignore[attr-defined]
    if show_input and err["loc"]:  # a field's value, not the whole input
        message += f" (got {err['input']!r})"
    text = f"{field}: {message}" if field else message
    return FeedlearnError(f"{source}: {text}" if source is not None else text)


def did_you_mean(name: object, known: list[str], *, list_known: bool = False, cutoff: float = 0.6) -> str:
    """The tail of an "unknown name" error: ``; did you mean 'x'?`` for a typo.

    Without a close match: ``; known: a, b`` when ``list_known`` (short lists), else nothing.
    ``cutoff`` is difflib's similarity threshold; short names need a lower one ("rn" for "rm").
    """
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=cutoff)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(known)}" if list_known else ""
