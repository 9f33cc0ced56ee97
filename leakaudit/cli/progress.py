"""A rich progress bar behind the library's `Progress` interface; silent off a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress

from leakaudit.cli.common import safe
from leakaudit.progress import Progress, SilentProgress

LABEL_CHARS = 40  # of a bar's label: beside the bar and its numbers in 80 columns


def bar_label(task: str) -> str:
    """A bar's label: a long one (a file path) keeps its end, the file's name, and is cut
    before its control characters are escaped, never through an escape (`\\x1…`), as
    rich's own cut to the column's width did."""
    if len(task) > LABEL_CHARS:
        task = "…" + task[-(LABEL_CHARS - 1) :]
    return safe(task)


class BarProgress:
    """One bar per file, in bytes; removed when the file is done."""

    def __init__(self, console: Console):
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: int | None = None

    def start(self, task: str, total: int | None = None) -> None:
        self._bar.start()
        self._task = self._bar.add_task(bar_label(task), total=total)  # type: ignore[assignment]

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)  # type: ignore[arg-type]

    def finish(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)  # type: ignore[arg-type]
            self._task = None
            self._bar.stop()


def progress_for(console: Console, quiet: bool) -> Progress:
    """A bar on an interactive terminal, nothing otherwise or with --quiet."""
    if quiet or not console.is_terminal:
        return SilentProgress()
    return BarProgress(console)
