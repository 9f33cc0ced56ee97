"""The one root exception and the exit codes.

The library raises `LeakauditError` (or a subclass) carrying the source location; only the CLI
turns it into a one-line message and its `exit_code` (`ExitCode.ERROR`, or `BUSY` for a
database another process holds).
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


def is_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is, or was caused by, a Ctrl-C.

    DuckDB turns a SIGINT during a query into `RuntimeError("Query interrupted")` (or its own
    `InterruptException`, which a reader may have wrapped in an `InputError`).
    """
    import duckdb  # here, not at the top: the console-script entry imports this module first

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt | duckdb.InterruptException):
            return True
        if type(seen) is RuntimeError and str(seen) == "Query interrupted":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def one_line(message: object) -> str:
    """A library's multi-line message (DuckDB's caret diagram) as one clear line."""
    kept = []
    for line in str(message).strip().splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            kept.append(line.strip())
    return " ".join(kept)


class ExitCode(IntEnum):
    """Process exit codes of every leakaudit command (SPEC §5)."""

    OK = 0
    FINDINGS = 1
    ERROR = 2
    # Ctrl-C: the conventional 128 + SIGINT, never 1, which a CI job reads as "findings exist".
    INTERRUPTED = 130
    # The reader of standard output went away (`| head`): 128 + SIGPIPE, as a shell reports a
    # program killed by it, and again never 1.
    OUTPUT_CLOSED = 141
    # A bug in leakaudit (or memory running out): sysexits' EX_SOFTWARE, again never 1.
    INTERNAL = 70
    # SIGTERM (a CI job's timeout, `kill`): 128 + SIGTERM, after the same orderly stop as a
    # Ctrl-C, so no spill folder, half-made database or open transaction is left behind.
    TERMINATED = 143
    # The --db file is in use by another process (a nightly run still going): sysexits'
    # EX_TEMPFAIL, so a scheduler can tell "try again later" from a mistake (2).
    BUSY = 75


INTERRUPTED = "interrupted; nothing half-done was saved (an unfinished ingest is rolled back)."
TERMINATED = (
    "terminated (SIGTERM); nothing half-done was saved (an unfinished ingest is rolled back)."
)


class StopSignal:
    """Which signal stopped the run, if one did: SIGTERM is turned into the Ctrl-C path
    (a KeyboardInterrupt, which DuckDB also honours mid-query), and this tells the CLI to
    say so and exit 143 instead of 130."""

    terminated = False


def stop_message_and_code() -> tuple[str, ExitCode]:
    """The line and exit code of a run stopped by Ctrl-C or SIGTERM."""
    if StopSignal.terminated:
        return TERMINATED, ExitCode.TERMINATED
    return INTERRUPTED, ExitCode.INTERRUPTED


class LeakauditError(Exception):
    """Root of every error a user can cause; carries `path:line` when one is known."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    @property
    def location(self) -> str | None:
        """`path:line`, `path`, or None."""
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class InputError(LeakauditError):
    """An input file cannot be ingested (missing required column, unreadable file, …)."""


class StoreError(LeakauditError):
    """The database cannot be opened, migrated or queried."""


class StoreBusyError(StoreError):
    """Another process holds the database file's lock; nothing was done, so a retry is safe."""

    exit_code = ExitCode.BUSY


class QueryError(StoreError):
    """An ad-hoc SQL query failed; the message is DuckDB's."""


class ConfigError(LeakauditError):
    """Bad flags, parameters or configuration."""


class RuleError(LeakauditError):
    """A rule or rule pack is invalid."""


class OutputError(LeakauditError):
    """Standard output cannot be written: a full disk, an I/O error (not a reader gone away,
    which is exit 141)."""


class StrictModeError(InputError):
    """`--strict` was given and rows were quarantined; the ingest was rolled back."""
