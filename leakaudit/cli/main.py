"""The console-script entry point: make the standard streams safe, then run the commands.

Kept light on purpose (no DuckDB, pandas or rich at import): a Ctrl-C while those load still
ends as one line and exit 130, which CI does not mistake for "findings exist" (exit 1).
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from types import FrameType
from typing import BinaryIO, TextIO

from leakaudit.errors import StopSignal, stop_message_and_code


class TolerantWriter(io.TextIOBase):
    """Standard error that never fails the run: a message that cannot be written
    (`2>/dev/full`, a log volume that filled up) is dropped, and the exit code stays the
    one the run earned. Without this, the failed write became a traceback and exit 1
    ("findings exist"), or Python's final flush made it 120."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._broken = False

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                self._broken = True
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._broken = True

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return not self._broken and self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def buffer(self) -> BinaryIO:
        """The bytes underneath, for a report written to standard error on purpose
        (`-o /dev/stderr`): that one must fail loudly, so it is not tolerated."""
        return self._stream.buffer

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors


CLOSED_AT_START = "it was closed when leakaudit started (>&-)"


def _refuse(data: str | bytes) -> int:
    if data:
        raise OSError(errno.EBADF, CLOSED_AT_START)
    return 0


class _ClosedBytes:
    write = staticmethod(_refuse)

    def flush(self) -> None:
        pass


class ClosedStdout(io.TextIOBase):
    """Standard output closed at start (`>&-`): a result written there would be lost while
    the exit code said all went well, so a write fails as on a full disk (one line, exit 2).
    Its descriptor stays held on the null device."""

    closed_at_start = True  # the report writer's sign: `-o /dev/null` is not this stream

    def write(self, text: str) -> int:
        return _refuse(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1

    @property
    def buffer(self) -> _ClosedBytes:
        return _ClosedBytes()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def hold_closed_streams() -> None:
    """Standard streams closed at start (`2>&-`) are held open on the null device.

    Otherwise the next file opened (the database, a report) would get descriptor 1 or 2, and
    text meant for the terminal would be written into it. Standard output closed at start
    refuses writes (`ClosedStdout`); standard error just drops them.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            held = os.open(os.devnull, os.O_RDWR)
            if held != fd:
                os.dup2(held, fd)
                os.close(held)
    # Python saw them closed and set them to None; give it streams to the null device.
    if sys.stdout is None:
        sys.stdout = ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the run like a Ctrl-C: the ingest rolls back, a database this run made
    and an in-memory store's spill folder (gigabytes, at scale) are removed. Python's default
    would end the process on the spot and leave them."""
    StopSignal.terminated = True
    raise KeyboardInterrupt


def tolerate_narrow_encodings() -> None:
    """Under `LC_ALL=C` with `PYTHONUTF8=0`, standard output is ASCII and strict: the first
    `…` or box line of a summary was a UnicodeEncodeError and exit 70. Characters it cannot
    hold are written as `\\u2026` escapes instead (reports written as bytes are untouched)."""
    stream = sys.stdout
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="backslashreplace")


def main() -> None:
    """Console-script entry point."""
    hold_closed_streams()
    tolerate_narrow_encodings()
    sys.stderr = TolerantWriter(sys.stderr)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        # Imported here, where a Ctrl-C while DuckDB loads is caught (no traceback).
        from leakaudit import interrupts

        interrupts.enable()
        from leakaudit.cli.commands import cli
    except KeyboardInterrupt:
        message, code = stop_message_and_code()
        sys.stderr.write(f"{message}\n")
        raise SystemExit(code) from None
    from leakaudit.cli.common import hold_stdout_on_devnull, result_stdout
    from leakaudit.errors import ExitCode, OutputError

    # Commands handle their own output errors (LeakauditGroup); this is for click's own
    # output before any command runs: `--help` or `--version` into a full disk, a closed
    # standard output or a pipe whose reader went away was a traceback and exit 1.
    try:
        with result_stdout():
            cli()
    except OutputError as exc:
        hold_stdout_on_devnull()
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(ExitCode.ERROR) from None
    except BrokenPipeError:
        hold_stdout_on_devnull()
        raise SystemExit(ExitCode.OUTPUT_CLOSED) from None
