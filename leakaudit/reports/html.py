"""A self-contained HTML report (`.html`) that opens offline and runs nothing.

Jinja2 with autoescape on renders every log-derived string as text; the page has inline CSS,
no JavaScript and a Content-Security-Policy that forbids scripts, remote loads and forms.
Charts are SVG drawn by matplotlib (text kept as `<text>` elements, which matplotlib escapes)
and inlined after a check that they hold no script, foreign object, event handler or
external reference: defence in depth behind the CSP.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from leakaudit.findings import SEVERITIES, Finding, FindingsDocument, format_ts
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.provenance import provenance
from leakaudit.reports.terminal import safe_plain
from leakaudit.reports.textsafe import utf8_bytes

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
SEVERITY_COLOURS: dict[str, str] = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#f59e0b",
    "low": "#3b82f6",
    "info": "#9ca3af",
}
LABEL_CHARS = 32  # a log-derived chart label is cut to this many characters
TEXT_CHARS = 400  # a log-derived value in the findings list is cut to this many characters
TOP_N = 10
MAX_INCIDENT_SPANS = 60  # shaded incident spans on the timeline
MAX_LISTED_FINDINGS = 1_000  # finding cards on the page; charts and counts still use them all
MEDIA_PACK_RECIPIENT = "account_id"  # in the media pack, account_id is who received media

_SVG_NS = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_SURROGATE = re.compile("[\ud800-\udfff]")
_RC = {
    "svg.fonttype": "none",  # text as <text> elements, not glyph paths: smaller, selectable
    "svg.hashsalt": "leakaudit",  # stable element ids, so equal inputs give equal SVG
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


class UnsafeSvgError(ValueError):
    """A chart's SVG held something that could execute or load; never expected."""


def visible(value: object) -> str:
    """`value` as text with lone surrogates (undecodable input bytes) as U+FFFD and every other
    character that is not printable written as `\\xNN` (shown, never obeyed), as on the
    terminal: control characters, and bidi overrides and invisible characters, which a
    browser obeys too (`cam-\\u202etxt.exe` would read "cam-exe.txt")."""
    return safe_plain(_SURROGATE.sub("\ufffd", str(value)))


def chart_label(value: object) -> str:
    """A log-derived string made safe to hand to matplotlib as plain text: control characters
    made visible, `$` escaped so it is never read as mathtext, long values cut."""
    text = visible(value)
    text = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def clip(value: object, limit: int = TEXT_CHARS) -> str:
    """`visible(value)` cut to `limit` characters with an ellipsis: the template's filter."""
    text = visible(value)
    return text if len(text) <= limit else text[: limit - 1] + f"… ({len(text):,} characters)"


def checked_svg(svg: str) -> Markup:
    """The SVG element of a matplotlib file, verified inert, ready to inline."""
    start = svg.index("<svg")
    body = svg[start:]
    for element in ET.fromstring(body).iter():
        tag = element.tag.removeprefix(_SVG_NS)
        if tag in ("script", "foreignObject", "iframe", "object", "embed", "a"):
            raise UnsafeSvgError(f"chart SVG holds a <{tag}> element")
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                raise UnsafeSvgError(f"chart SVG holds an event handler {local}")
            if (name == _XLINK_HREF or local == "href") and not value.startswith("#"):
                raise UnsafeSvgError("chart SVG holds an external reference")
    return Markup(body)  # verified above; matplotlib escapes its text


def _figure(figsize: tuple[float, float]) -> Figure:
    """A matplotlib figure, imported only when an HTML report is drawn: every other audit
    would pay ~0.3 s for it, and a warning about an unwritable cache folder (HOME)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    return Figure(figsize=figsize)


def _svg(fig: Figure) -> Markup:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return checked_svg(buf.getvalue())


def _bucket(span: timedelta) -> timedelta:
    for size in (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=7)):
        if span / size <= 120:
            return size
    return max(timedelta(days=30), span / 120)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def incident_spans(
    spans: list[tuple[datetime, datetime, str, int]], gap: timedelta
) -> list[tuple[datetime, datetime, str, int]]:
    """High and critical finding spans merged per severity where they overlap or lie within
    `gap` of each other, the busiest `MAX_INCIDENT_SPANS` kept: a chart of thousands of
    findings marks a readable number of incidents."""
    merged: list[tuple[datetime, datetime, str, int]] = []
    for severity in ("critical", "high"):
        current: list[Any] | None = None
        for first, last, _, events in sorted(s for s in spans if s[2] == severity):
            if current is not None and first <= current[1] + gap:
                current[1] = max(current[1], last)
                current[3] += events
                continue
            if current is not None:
                merged.append((current[0], current[1], severity, current[3]))
            current = [first, last, severity, events]
        if current is not None:
            merged.append((current[0], current[1], severity, current[3]))
    busiest = sorted(merged, key=lambda m: (-m[3], m[0], m[2]))[:MAX_INCIDENT_SPANS]
    return sorted(busiest, key=lambda m: (m[0], m[2]))


def timeline_chart(doc: FindingsDocument) -> Markup | None:
    """Cross-account events per time bucket, stacked by severity, with the spans of
    unsuppressed high and critical findings (first to last seen) shaded and their starts
    marked. A finding's events are spread evenly over its span: the document holds counts and
    bounds, not event times."""
    spans = [
        (_utc(f.first_seen), _utc(f.last_seen), f.severity, f.event_count)
        for f in doc.findings
        if f.first_seen is not None and f.last_seen is not None
    ]
    if not spans:
        return None
    start = min(s[0] for s in spans)
    end = max(s[1] for s in spans)
    if doc.run.window_start is not None:
        start = min(start, _utc(doc.run.window_start))
    if doc.run.window_end is not None:
        end = max(end, _utc(doc.run.window_end))
    size = _bucket(max(end - start, timedelta(hours=1)))
    n = int((end - start) / size) + 1
    edges = [start + i * size for i in range(n + 1)]
    counts = {s: [0.0] * n for s in SEVERITIES}
    for first_seen, last_seen, severity, events in spans:
        first = int((first_seen - start) / size)
        last = int((last_seen - start) / size)
        share = events / (last - first + 1)
        for i in range(first, last + 1):
            counts[severity][i] += share

    fig = _figure(figsize=(11, 3.2))
    ax = fig.subplots()
    unsuppressed = [
        (_utc(f.first_seen), _utc(f.last_seen), f.severity, f.event_count)
        for f in doc.findings
        if f.first_seen is not None and f.last_seen is not None and f.status != "suppressed"
    ]
    incidents = incident_spans(unsuppressed, size)
    for first_seen, last_seen, severity, _ in incidents:
        colour = SEVERITY_COLOURS[severity]
        ax.axvspan(first_seen, last_seen + size / 4, color=colour, alpha=0.10, linewidth=0)
        ax.axvline(first_seen, color=colour, lw=0.8, ls="--")
    if incidents:
        ax.plot([], [], color="#555", lw=0.8, ls="--", label="incident start (shaded: span)")
    bottom = [0.0] * n
    for severity in SEVERITIES:
        if any(counts[severity]):
            ax.bar(
                edges[:-1],
                counts[severity],
                width=size * 0.9,
                bottom=bottom,
                align="edge",
                color=SEVERITY_COLOURS[severity],
                label=severity,
            )
            bottom = [b + c for b, c in zip(bottom, counts[severity], strict=True)]
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel(f"events per {_bucket_name(size)}")
    _legend_above(ax)
    fig.autofmt_xdate()
    return _svg(fig)


def _legend_above(ax: Any) -> None:
    """One legend row above the plot, most severe first."""
    handles, labels = ax.get_legend_handles_labels()
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    pairs = sorted(zip(handles, labels, strict=True), key=lambda p: order.get(p[1], len(order)))
    ax.legend(
        [h for h, _ in pairs],
        [label for _, label in pairs],
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        frameon=False,
        ncols=len(pairs),
    )


def _bucket_name(size: timedelta) -> str:
    names = {
        timedelta(hours=1): "hour",
        timedelta(hours=6): "6 hours",
        timedelta(days=1): "day",
        timedelta(days=7): "week",
    }
    return names.get(size, f"{size.days} days")


def category_chart(doc: FindingsDocument) -> Markup | None:
    """Findings per category, stacked by severity."""
    if not doc.findings:
        return None
    categories = sorted({chart_label(f.category) for f in doc.findings})
    counts = Counter((chart_label(f.category), f.severity) for f in doc.findings)
    fig = _figure(figsize=(11, 0.3 * len(categories) + 0.8))
    ax = fig.subplots()
    left = [0] * len(categories)
    for severity in reversed(SEVERITIES):
        values = [counts[(c, severity)] for c in categories]
        if any(values):
            ax.barh(
                categories,
                values,
                left=left,
                color=SEVERITY_COLOURS[severity],
                label=severity,
            )
            left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("findings")
    ax.xaxis.get_major_locator().set_params(integer=True)
    _legend_above(ax)
    return _svg(fig)


def exposure_tallies(doc: FindingsDocument) -> tuple[Counter[str], Counter[str]]:
    """Events per exposed owner account and per recipient (account or staff member)."""
    owners: Counter[str] = Counter()
    recipients: Counter[str] = Counter()
    for f in doc.findings:
        owner = f.entities.get("owner_account_id")
        if isinstance(owner, str):
            owners[owner] += f.event_count
        account = f.entities.get("account_id")
        if f.pack == "staff":
            if isinstance(account, str):
                owners[account] += f.event_count
            staff = f.entities.get("staff_id")
            if isinstance(staff, str):
                recipients[f"staff {staff}"] += f.event_count
        elif f.pack == "media":
            if isinstance(account, str):
                recipients[account] += f.event_count
            accounts = f.entities.get("accounts")
            for a in accounts if isinstance(accounts, list) else []:
                recipients[a] += f.event_count
    return owners, recipients


def ranking_chart(tally: Counter[str], colour: str, slots: int) -> Markup | None:
    """The top entries of a tally as horizontal bars, largest first, in `slots` rows (so two
    charts side by side have bars of one thickness)."""
    if not tally:
        return None
    top = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))[:slots]
    fig = _figure(figsize=(5.4, 0.3 * slots + 0.7))
    ax = fig.subplots()
    ax.barh(range(len(top)), [v for _, v in top], color=colour, height=0.7)
    ax.set_yticks(range(len(top)), labels=[chart_label(k) for k, _ in top])
    ax.set_ylim(slots - 0.5, -0.5)
    ax.set_xlabel("events")
    return _svg(fig)


def _finding_view(f: Finding) -> dict[str, Any]:
    columns = sorted({k for e in f.evidence for k in e.row})
    return {
        "f": f,
        "first_seen": format_ts(f.first_seen),
        "last_seen": format_ts(f.last_seen),
        "entities": [
            (k, ", ".join(v) if isinstance(v, list) else ("" if v is None else v))
            for k, v in sorted(f.entities.items())
        ],
        "exposure": f.exposure.to_dict(),
        "evidence_columns": columns,
        "evidence": [
            (
                e.source_file,
                e.source_line,
                ["" if e.row.get(c) is None else e.row[c] for c in columns],
            )
            for e in f.evidence
        ],
    }


def _shown(value: object) -> object:
    """What every `{{ … }}` of the template writes: text through `visible`, so no field can
    be left to obey ESC or a bidi override (autoescape covers only HTML); the verified SVG
    charts (`Markup`) and numbers as they are."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("leakaudit.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        finalize=_shown,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clip"] = clip
    return env


@register("html", (".html", ".htm"), "A self-contained HTML report with charts; no JavaScript")
def render_html(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """The report page as UTF-8 HTML."""
    owners, recipients = exposure_tallies(doc)
    slots = max(3, min(TOP_N, max(len(owners), len(recipients))))
    import matplotlib

    with matplotlib.rc_context(_RC):
        charts = {
            "timeline": timeline_chart(doc),
            "categories": category_chart(doc),
            "owners": ranking_chart(owners, "#b45309", slots),
            "recipients": ranking_chart(recipients, "#1d4ed8", slots),
        }
    cap = MAX_LISTED_FINDINGS
    if options.max_results is not None:
        cap = min(cap, options.max_results)
    listed = doc.findings[:cap]  # most severe first
    if len(doc.findings) > cap:
        options.warnings.append(
            f"The HTML report lists the {cap:,} most severe of {len(doc.findings):,} findings "
            "(its charts and counts cover all of them); the JSON report has every finding."
        )
    page = (
        _environment()
        .get_template("report.html.j2")
        .render(
            doc=doc,
            csp=CSP,
            summary=doc.summary(),
            prov=provenance(doc.run),
            rules=sorted(doc.run.rules, key=lambda r: (r.pack, r.rule_id)),
            findings=[_finding_view(f) for f in listed],
            unlisted=len(doc.findings) - len(listed),
            charts=charts,
            colours=SEVERITY_COLOURS,
        )
    )
    return utf8_bytes(page)
