"""Progress bars that show on a terminal and stay silent in logs, pipes and CI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _SilentTask:
    """Stands in for a rich task when output is not a terminal."""

    def advance(self, amount: float = 1) -> None:
        del amount


class _Task:
    def __init__(self, progress: Progress, task_id: int) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task_id, amount)


@contextmanager
def progress_bar(description: str, total: float | None, *, enabled: bool | None = None) -> Iterator:
    """Yield an object with ``advance(n)``; draws a rich bar only when stderr is a TTY.

    ``enabled`` forces the bar on or off (tests force it on to check it does not crash).
    """
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield _SilentTask()
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        yield _Task(progress, progress.add_task(description, total=total))
