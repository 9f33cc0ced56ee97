"""Log-derived text made inert for a terminal and for rich.

Every string in a finding may come from a log an attacker writes (user agents, device names,
lookup keys). On a terminal it must never be obeyed: control characters (ESC, CR, bidi
overrides) are shown as `\\xNN`, and rich markup (`[bold red]`) is escaped or, better, the
text is handed to rich as a `Text`, which rich never parses for markup or emoji codes.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text


def safe_plain(text: object) -> str:
    """Log-derived text with terminal control characters escaped (`\\x1b` stays visible)."""
    raw = str(text)
    if raw.isprintable():  # nearly every value: one C-level scan instead of a Python loop
        return raw
    return "".join(ch if ch.isprintable() or ch == "\t" else f"\\x{ord(ch):02x}" for ch in raw)


_LINE_END = re.compile("(\r?\n)")


def terminal_text(text: str) -> str:
    """A whole result (a report, a query's CSV) for a terminal: control characters from logs
    shown as \\xNN, not obeyed; only the line ends (CSV's CRLF too) stay as they are."""
    parts = _LINE_END.split(text)
    return "".join(p if _LINE_END.fullmatch(p) else safe_plain(p) for p in parts)


def truncate(text: str, width: int) -> str:
    """Cut long values to `width` characters, ending with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def safe(text: object) -> str:
    """Make log-derived text inert for rich markup strings: no markup, no control characters."""
    return escape(safe_plain(text))


def inert(text: object, width: int | None = None) -> Text:
    """Log-derived text as a rich `Text`: never read as markup or emoji, control characters
    shown, cut to `width` characters (before escaping, so no escape is cut in half)."""
    raw = str(text)
    if width is not None:
        raw = truncate(raw, width)
    return Text(safe_plain(raw))
