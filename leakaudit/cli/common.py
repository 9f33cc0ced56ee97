"""What every command shares: flag decorators, the error edge, safe console output."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NoReturn, TextIO, TypeVar

import click
from rich.console import Console
from rich.table import Table

from leakaudit.errors import (
    ExitCode,
    LeakauditError,
    OutputError,
    is_interrupt,
    stop_message_and_code,
)

# Re-exported: every command escapes log-derived text with these.
from leakaudit.reports.terminal import safe as safe
from leakaudit.reports.terminal import safe_plain as safe_plain
from leakaudit.reports.terminal import terminal_text
from leakaudit.reports.terminal import truncate as truncate
from leakaudit.reports.writer import write_whole

F = TypeVar("F", bound=Callable[..., Any])


DB_HELP = (
    "DuckDB database file [default: $LEAKAUDIT_DB, else ./leakaudit.duckdb]; "
    "':memory:' for a throw-away one."
)
# query and status read what an ingest stored: a fresh ':memory:' database would hold nothing.
READ_DB_HELP = (
    "DuckDB database file written by `leakaudit ingest`; it must exist "
    "[default: $LEAKAUDIT_DB, else ./leakaudit.duckdb]."
)
AUDIT_DB_HELP = (
    "Ingest into this DuckDB file and audit everything it holds, to keep data between "
    "nightly runs [default: a throw-away database]."
)


def db_option(f: F | None = None, *, help: str = DB_HELP) -> Any:
    """`--db PATH`; `@db_option` for the store commands, `@db_option(help=…)` to reword."""

    def wrap(g: F) -> F:
        return click.option("--db", "db", metavar="PATH", default=None, help=help)(g)

    return wrap(f) if f is not None else wrap


def rule_dir_options(f: F) -> F:
    """--rules DIR (repeatable) and --override: where custom packs come from."""
    f = click.option(
        "--override", is_flag=True, help="Let a custom rule replace a built-in rule of the same id."
    )(f)
    return click.option(
        "--rules",
        "rule_dirs",
        multiple=True,
        metavar="DIR",
        type=click.Path(file_okay=False),
        help="Add custom rule packs from DIR (repeatable).",
    )(f)


def quiet_option(f: F) -> F:
    return click.option(
        "--quiet", "-q", is_flag=True, help="No progress bar and no summary table."
    )(f)


def titled_table(title: str, *columns: str) -> Table:
    """A summary table; a column named with a leading `>` is right-aligned (numbers).

    Text too wide for the console (80 columns in a pipe or a CI log) wraps instead of ending
    in `…`: a file path or a quarantine reason cut short is evidence lost.
    """
    table = Table(title=title, title_justify="left")
    for column in columns:
        if column.startswith(">"):
            table.add_column(column[1:], justify="right")
        else:
            table.add_column(column, overflow="fold")
    return table


class _ResultConsole(Console):
    """rich exits 1 when its reader goes away (`| head`); hand that to `LeakauditGroup`."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


# A pipe or a CI log has no width of its own; rich would assume 80 columns and fold every
# file path of a summary table. Wider paths still fold (see `titled_table`), never cut.
_PIPE_WIDTH = 200
# Narrower than this, rich cuts the summary's counts and names to "…" (COLUMNS=20), and at
# COLUMNS=0 (some CI runners export it) it prints nothing at all while the exit code stays.
# A narrower terminal folds the longer lines instead: nothing is hidden.
MIN_WIDTH = 80


def _width(stream: TextIO | None) -> int | None:
    """$COLUMNS, else the terminal's width, else `_PIPE_WIDTH` off a terminal; never below
    `MIN_WIDTH`. None leaves it to rich (a terminal whose size cannot be read: 80)."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit():  # as rich reads it; anything else rich ignores too
        return max(int(columns), MIN_WIDTH)
    try:
        if stream is None or not stream.isatty():
            return _PIPE_WIDTH
        return max(os.get_terminal_size(stream.fileno()).columns, MIN_WIDTH)
    except (ValueError, AttributeError):  # closed, or replaced by one without isatty
        return _PIPE_WIDTH
    except OSError:  # a terminal that does not say its size
        return None


def stdout_console() -> Console:
    """A console for results; no colour or markup surprises when not a terminal."""
    return _ResultConsole(highlight=False, soft_wrap=True, emoji=False, width=_width(sys.stdout))


def stderr_console() -> Console:
    return Console(
        stderr=True, highlight=False, soft_wrap=True, emoji=False, width=_width(sys.stderr)
    )


def write_machine_output(text: str, terminal: bool) -> None:
    """Exact bytes into a pipe (evidence must not be altered: click.echo would strip ANSI
    sequences); on a terminal, control characters from logs are shown as \\xNN, not obeyed,
    and only the line ends (CSV's CRLF too) stay as they are."""
    if terminal:
        text = terminal_text(text)
    write_whole(sys.stdout, text.encode("utf-8", errors="surrogateescape"))


@contextlib.contextmanager
def _output_errors() -> Iterator[None]:
    """A failed write to standard output as an `OutputError`; a reader that went away stays
    a BrokenPipeError (exit 141)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"Cannot write to standard output: {exc.strerror or exc}.") from exc


class _ResultBytes:
    """The bytes under `_ResultStream` (`write_whole` writes there), failing the same way."""

    def __init__(self, buffer: BinaryIO) -> None:
        self._buffer = buffer

    def write(self, data: bytes) -> int | None:
        with _output_errors():
            return self._buffer.write(data)

    def flush(self) -> None:
        with _output_errors():
            self._buffer.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._buffer, name)


class _ResultStream:
    """Standard output while a command runs. Every writer (rich, click.echo, `write_whole`)
    reaches it through `sys.stdout`, so a full disk or an I/O error under `> out.csv` is one
    `OutputError` line and exit 2 for all of them, not a traceback and "internal error"."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with _output_errors():
            return self._stream.write(text)

    def flush(self) -> None:
        with _output_errors():
            self._stream.flush()

    @property
    def buffer(self) -> _ResultBytes:
        return _ResultBytes(self._stream.buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def result_stdout() -> Iterator[None]:
    """`sys.stdout` as a `_ResultStream` for the length of a command (then as it was)."""
    original = sys.stdout
    if original is None or isinstance(original, _ResultStream):
        yield
        return
    sys.stdout = _ResultStream(original)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = original


class LeakauditGroup(click.Group):
    """A click group that turns every `LeakauditError` into one line and exit code 2, a
    Ctrl-C into one line and exit code 130 (SIGTERM 143), and a closed standard output into
    141.

    Done here rather than in `main()` so that `CliRunner` tests see exactly what users see.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with result_stdout():
                return super().invoke(ctx)
        except LeakauditError as exc:
            if is_interrupt(exc):
                _interrupted(ctx)
            if isinstance(exc, OutputError):
                hold_stdout_on_devnull()  # Python's last flush there would fail again
            click.echo(f"error: {safe_plain(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            _output_closed(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # click's own: --help, usage errors (2), a prompt's Ctrl-C
        except BaseException as exc:
            if is_interrupt(exc):
                _interrupted(ctx)
            if not isinstance(exc, Exception):  # SystemExit and the like keep their code
                raise
            _internal_error(ctx, exc)


def _output_closed(ctx: click.Context) -> NoReturn:
    """`leakaudit status | head -1`: click would exit 1, which CI reads as "findings exist".
    Nothing more can be written there, and Python's last flush must not fail either."""
    hold_stdout_on_devnull()
    ctx.exit(ExitCode.OUTPUT_CLOSED)


def hold_stdout_on_devnull() -> None:
    """Standard output that failed goes to the null device, so Python's flush of what is left
    at exit cannot fail (that would make the exit code 120)."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        out = sys.stdout.fileno()  # before opening anything: CliRunner's has none
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, out)
        finally:
            os.close(devnull)


def _internal_error(ctx: click.Context, exc: Exception) -> NoReturn:
    """A bug (or memory running out): the traceback for the report, then one line and 70,
    never 1, which a CI job would read as "findings exist". Log text that may be in the
    message is shown, not obeyed."""
    trace = "".join(traceback.format_exception(exc)).rstrip("\n").split("\n")
    click.echo("\n".join(safe_plain(line) for line in trace), err=True)
    click.echo(
        f"error: internal error, a bug in leakaudit rather than in the input "
        f"({safe_plain(type(exc).__name__)}); please report it with the traceback above.",
        err=True,
    )
    ctx.exit(ExitCode.INTERNAL)


def _interrupted(ctx: click.Context) -> NoReturn:
    """Ctrl-C (or SIGTERM): one line and 130 (143), not a traceback and 1, which CI reads as
    "findings exist"."""
    message, code = stop_message_and_code()
    click.echo(message, err=True)
    ctx.exit(code)
