"""What every command shares: flag decorators, the error edge, safe console output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from leakaudit.errors import ExitCode, LeakauditError

F = TypeVar("F", bound=Callable[..., Any])


def db_option(f: F) -> F:
    """`--db PATH`: the database file (else $LEAKAUDIT_DB, else ./leakaudit.duckdb)."""
    return click.option(
        "--db",
        "db",
        metavar="PATH",
        default=None,
        help="DuckDB database file [default: $LEAKAUDIT_DB, else ./leakaudit.duckdb]; "
        "':memory:' for a throw-away one.",
    )(f)


def quiet_option(f: F) -> F:
    return click.option(
        "--quiet", "-q", is_flag=True, help="No progress bar and no summary table."
    )(f)


def stdout_console() -> Console:
    """A console for results; no colour or markup surprises when not a terminal."""
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def safe_plain(text: object) -> str:
    """Log-derived text with terminal control characters escaped (`\\x1b` stays visible)."""
    return "".join(
        ch if ch.isprintable() or ch == "\t" else f"\\x{ord(ch):02x}" for ch in str(text)
    )


def truncate(text: str, width: int) -> str:
    """Cut long values to `width` characters, ending with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def safe(text: object) -> str:
    """Make log-derived text inert for rich: no markup, no terminal control characters."""
    return escape(safe_plain(text))


class LeakauditGroup(click.Group):
    """A click group that turns every `LeakauditError` into one line and exit code 2.

    Done here rather than in `main()` so that `CliRunner` tests see exactly what users see.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LeakauditError as exc:
            click.echo(f"error: {safe_plain(exc)}", err=True)
            ctx.exit(ExitCode.ERROR)
