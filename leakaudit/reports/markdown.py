"""A Markdown report (`.md`) for pull requests, job summaries and tickets.

A summary, then each finding with its reason, entities, exposure and evidence, then the run's
provenance. Every string that came from a log (ids, reasons, evidence values, file names) goes
through `md_text`: control characters are shown as `\\xNN`, each ASCII punctuation character is
backslash-escaped (CommonMark allows it for all of them), and `&`, `<`, `>` become entities. So
no log value can open a link, an autolink, an image, an HTML tag, emphasis, a heading or a
list, or break out of a table cell; escaping `:`, `.` and `@` also keeps GitHub's extended
autolinks (`www.`, `http://`, e-mail addresses) from firing. Long values are cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from leakaudit.findings import Finding, FindingsDocument, format_ts
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.terminal import safe_plain, truncate
from leakaudit.reports.textsafe import utf8_bytes
from leakaudit.wording import plural

TEXT_CHARS = 400  # a log-derived value is cut to this many characters
_PUNCTUATION = re.compile(r"[!\"#$%'()*+,\-./:;=?@\[\\\]^_`{|}~]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ENTITY_CHARS = re.compile("[&<>]")


def md_text(value: object, limit: int = TEXT_CHARS) -> str:
    """Log-derived text that Markdown shows literally and never interprets."""
    text = safe_plain(truncate(str(value), limit))
    text = _PUNCTUATION.sub(r"\\\g<0>", text)
    return _ENTITY_CHARS.sub(lambda m: _ENTITIES[m[0]], text)


def _md_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(md_text(v) for v in value)
    if isinstance(value, (dict, bool, int, float)):
        return md_text(json.dumps(value, sort_keys=True, ensure_ascii=False))
    return md_text(value)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _summary(doc: FindingsDocument) -> list[str]:
    summary = doc.summary()
    run = doc.run
    window = f"{format_ts(run.window_start) or '…'} to {format_ts(run.window_end) or '…'}"
    lines = [
        "# leakaudit findings",
        "",
        f"Run started {format_ts(run.started_at)}; leakaudit {md_text(run.leakaudit_version)}, "
        f"DuckDB {md_text(run.duckdb_version)}; events from {window}.",
        "",
        "## Summary",
        "",
        f"**{summary['findings']}** {plural(summary['findings'], 'finding')}; "
        f"{summary['rules_run']} {plural(summary['rules_run'], 'rule')} ran, "
        f"{summary['rules_skipped']} skipped; {summary['quarantined_rows']} input "
        f"{plural(summary['quarantined_rows'], 'row')} quarantined.",
        "",
    ]
    lines += _table(
        ["severity", "findings"],
        ([s, str(n)] for s, n in summary["by_severity"].items()),
    )
    if summary["by_category"]:
        lines += _table(
            ["category", "findings"],
            ([md_text(c), str(n)] for c, n in summary["by_category"].items()),
        )
    skipped = [r for r in run.rules if r.status == "skipped"]
    if skipped:
        lines += ["Skipped rules:", ""]
        lines += [f"- {md_text(r.rule_id)}: {md_text(r.skipped_reason or '')}" for r in skipped]
        lines += [""]
    return lines


def _finding(number: int, f: Finding) -> list[str]:
    lines = [
        f"### {number}. {f.severity.upper()}: {md_text(f.title)}",
        "",
        f"**Reason:** {md_text(f.reason)}",
        "",
        f"- Rule: {md_text(f.rule_id)} ({md_text(f.pack)} pack, {md_text(f.category)})",
        f"- Status: {md_text(f.status)}",
        f"- Events: {f.event_count}, first seen {format_ts(f.first_seen) or '…'}, "
        f"last seen {format_ts(f.last_seen) or '…'}",
        f"- Fingerprint: {md_text(f.fingerprint)}",
        "",
        "**Entities**",
        "",
    ]
    lines += _table(
        ["entity", "value"],
        ([md_text(k), _md_value(v)] for k, v in sorted(f.entities.items())),
    )
    exposure = f.exposure.to_dict()
    if exposure:
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in exposure.items()]
        lines += [f"**Exposure:** {', '.join(parts)}", ""]
    if f.evidence:
        columns = sorted({k for e in f.evidence for k in e.row})
        n = len(f.evidence)
        lines += [f"**Evidence** ({n} {plural(n, 'row')})", ""]
        lines += _table(
            ["source", "line", *(md_text(c) for c in columns)],
            (
                [
                    md_text(e.source_file),
                    str(e.source_line),
                    *(_md_value(e.row.get(c)) for c in columns),
                ]
                for e in f.evidence
            ),
        )
    return lines


def _provenance(doc: FindingsDocument) -> list[str]:
    run = doc.run
    lines = ["## Provenance", "", "Rule packs:", ""]
    lines += _table(
        ["pack", "version", "sha256"],
        ([md_text(p.name), md_text(p.version), md_text(p.sha256)] for p in run.packs),
    )
    lines += ["Inputs:", ""]
    lines += _table(
        ["path", "table", "rows", "rejected", "sha256"],
        (
            [md_text(i.path), md_text(i.table), str(i.rows), str(i.rejected), md_text(i.sha256)]
            for i in sorted(run.inputs, key=lambda i: (i.path, i.table))
        ),
    )
    lines += ["Rules:", ""]
    lines += _table(
        ["rule", "pack", "severity", "status", "findings", "parameters"],
        (
            [
                md_text(r.rule_id),
                md_text(r.pack),
                md_text(r.severity),
                md_text(r.status),
                str(r.findings),
                _md_value(r.params) if r.params else "",
            ]
            for r in sorted(run.rules, key=lambda r: r.rule_id)
        ),
    )
    return lines


@register("markdown", (".md",), "a Markdown report: summary, findings, provenance")
def render_markdown(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """The report as UTF-8 Markdown (GitHub-flavoured tables), ending with a newline."""
    lines = _summary(doc)
    if doc.findings:
        lines += ["## Findings", ""]
        for number, f in enumerate(doc.findings, 1):
            lines += _finding(number, f)
    lines += _provenance(doc)
    return utf8_bytes("\n".join(lines).rstrip("\n") + "\n")
