"""Progress bars that show on a terminal and stay silent in logs, pipes and CI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


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


class _RateColumn(ProgressColumn):
    """Items per second, e.g. ``12.3M req/s`` (rich's own speed column speaks bytes)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"? {self.unit}/s")
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")):
            if speed >= scale or scale == 1.0:
                return Text(f"{speed / scale:.1f}{suffix} {self.unit}/s")
        raise AssertionError


@contextmanager
def progress_bar(description: str, total: float | None, *, enabled: bool | None = None,
                 unit: str | None = None) -> Iterator:
    """Yield an object with ``advance(n)``; draws a rich bar only when stderr is a TTY.

    ``enabled`` forces the bar on or off (tests force it on to check it does not crash); ``unit``
    adds a rate column (``unit``/s). The time remaining shows when ``total`` is known.
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
        *([_RateColumn(unit)] if unit else []),
    )
    with Progress(*columns, transient=True) as progress:
        yield _Task(progress, progress.add_task(description, total=total))
