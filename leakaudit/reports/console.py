"""The terminal summary: findings by severity and category, then each finding's reason.

`print_summary(doc, console)` prints to a rich `Console` (what the CLI shows on a terminal);
the registered `console` renderer (`.txt`) returns the same summary as plain text, without
colour, for files and pipes. Every log-derived string reaches rich as an `inert` `Text`: never
parsed for markup or emoji codes, control characters shown as `\\xNN`, long values cut with an
ellipsis.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from leakaudit.findings import FindingsDocument, format_ts
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.terminal import inert
from leakaudit.reports.textsafe import utf8_bytes
from leakaudit.wording import plural

REASON_CHARS = 240  # a reason is cut to this many characters
VALUE_CHARS = 40  # an id, version or name in a summary line
MAX_LISTED = 100  # findings listed one by one; the counts always cover them all
TEXT_WIDTH = 100  # columns of the plain-text rendering

SEVERITY_STYLES: dict[str, str] = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def _line(*parts: str | Text) -> Text:
    return Text.assemble(*parts)


def _header(doc: FindingsDocument) -> Text:
    run = doc.run
    summary = doc.summary()
    packs = ", ".join(f"{p.name} {p.version}" for p in sorted(run.packs, key=lambda p: p.name))
    rows = sum(i.rows for i in run.inputs)
    window = f"{format_ts(run.window_start) or '…'} to {format_ts(run.window_end) or '…'}"
    return _line(
        ("leakaudit ", "bold"),
        inert(run.leakaudit_version, VALUE_CHARS),
        ", DuckDB ",
        inert(run.duckdb_version, VALUE_CHARS),
        "; packs: ",
        inert(packs or "none", 4 * VALUE_CHARS),
        f"\n{len(run.inputs)} input {plural(len(run.inputs), 'file')} "
        f"({rows:,} {plural(rows, 'row')}, {run.quarantined_rows:,} quarantined); "
        f"events from {window}\n",
        (f"{summary['findings']} {plural(summary['findings'], 'finding')}", "bold"),
        f"; {summary['rules_run']} {plural(summary['rules_run'], 'rule')} ran, "
        f"{summary['rules_skipped']} skipped",
    )


def _counts(doc: FindingsDocument) -> Table:
    summary = doc.summary()
    table = Table(title="Findings", title_justify="left", show_edge=False)
    table.add_column("severity")
    table.add_column("findings", justify="right")
    for severity, n in summary["by_severity"].items():
        if n:
            table.add_row(Text(severity, SEVERITY_STYLES[severity]), str(n))
    by_category = Table(title="By category", title_justify="left", show_edge=False)
    by_category.add_column("category")
    by_category.add_column("findings", justify="right")
    for category, n in summary["by_category"].items():
        by_category.add_row(inert(category, VALUE_CHARS), str(n))
    grid = Table.grid(padding=(0, 4))
    grid.add_row(table, by_category)
    return grid


def _findings(doc: FindingsDocument) -> Table:
    table = Table(show_edge=False, show_lines=False, expand=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for f in doc.findings[:MAX_LISTED]:
        table.add_row(
            Text(f.severity, SEVERITY_STYLES.get(f.severity, "")),
            inert(f.rule_id, VALUE_CHARS),
            inert(f.status, VALUE_CHARS),
            inert(f.reason, REASON_CHARS),
        )
    return table


def summary_renderable(doc: FindingsDocument) -> Group:
    """The whole summary as one rich renderable."""
    parts: list[Table | Text] = [_header(doc)]
    skipped = [r for r in doc.run.rules if r.status == "skipped"]
    for r in skipped:
        parts.append(
            _line(
                "skipped ",
                inert(r.rule_id, VALUE_CHARS),
                ": ",
                inert(r.skipped_reason or "", REASON_CHARS),
            )
        )
    if doc.findings:
        parts += [Text(""), _counts(doc), Text(""), _findings(doc)]
        hidden = len(doc.findings) - MAX_LISTED
        if hidden > 0:
            more = f"… and {hidden:,} more {plural(hidden, 'finding')}; write a report with -o."
            parts.append(Text(more))
    return Group(*parts)


def print_summary(doc: FindingsDocument, console: Console) -> None:
    """Print the summary to `console` (colours if it is a terminal)."""
    console.print(summary_renderable(doc))


@register("console", (".txt",), "the terminal summary as plain text")
def render_console(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """The summary as plain UTF-8 text at a fixed width: no colour, no control sequences."""
    out = io.StringIO()
    console = Console(
        file=out,
        width=TEXT_WIDTH,
        force_terminal=False,
        color_system=None,
        highlight=False,
        emoji=False,
        markup=False,
        legacy_windows=False,
    )
    print_summary(doc, console)
    return utf8_bytes(out.getvalue())
