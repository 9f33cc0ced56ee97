"""The one progress interface: core code reports progress here and never prints.

The CLI installs a rich-backed implementation on a terminal; tests and `--quiet` get the
silent default.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress from long-running stages."""

    def start(self, task: str, total: int | None = None) -> None:
        """A task begins; `total` is in the units later passed to `advance` (often bytes)."""

    def advance(self, amount: int) -> None:
        """Some of the current task is done."""

    def finish(self) -> None:
        """The current task ended."""


class SilentProgress:
    """Progress that shows nothing: the default for the library and for tests."""

    def start(self, task: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass
