"""JUnit XML (`.junit.xml`) for CI test views: each rule is a test that fails when it finds.

One `<testsuite>` per pack, one `<testcase>` per rule (classname = pack, name = "RULE title",
stable across runs). A rule with unsuppressed findings gets one `<failure>` listing the most
severe of them; a skipped rule gets `<skipped>` with the reason. Suppressed findings never
fail a test. Built with ElementTree. It is a view for people, so log-derived text has its
control characters shown as `\\xNN` (a newline in an id cannot forge another finding's line,
U+202E cannot reorder it); what XML 1.0 still cannot hold (lone surrogates) becomes U+FFFD.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

from leakaudit.findings import Finding, FindingsDocument, RuleOutcome, format_ts, severity_rank
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.provenance import provenance
from leakaudit.reports.terminal import safe_plain
from leakaudit.reports.textsafe import xml_safe
from leakaudit.wording import plural

MAX_LISTED = 10  # findings listed in one failure body
MAX_FIELD = 500  # characters of one log-derived value in a failure body


def _clip(text: str) -> str:
    """One log-derived value of a failure body: cut to MAX_FIELD, its control characters (a
    newline that would forge another finding's line, CSI, bidi overrides) shown as \\xNN."""
    return safe_plain(text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "…")


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    # Attributes are one line each (names, messages, paths): shown, never obeyed.
    child = ET.SubElement(parent, tag, {k: xml_safe(safe_plain(v)) for k, v in attrs.items()})
    if text is not None:
        child.text = xml_safe(text)
    return child


def _failure_text(findings: list[Finding]) -> str:
    lines = []
    for f in findings[:MAX_LISTED]:
        where = f" at {f.evidence[0].source_file}:{f.evidence[0].source_line}" if f.evidence else ""
        lines.append(
            f"[{f.severity}] {_clip(f.reason)} "
            f"({f.event_count} {plural(f.event_count, 'event')}, "
            f"{format_ts(f.first_seen)} to {format_ts(f.last_seen)}"
            f"{_clip(where)}; fingerprint {f.fingerprint})"
        )
    if len(findings) > MAX_LISTED:
        hidden = len(findings) - MAX_LISTED
        lines.append(f"… and {hidden} more {plural(hidden, 'finding')} in the full report.")
    return "\n".join(lines) + "\n"


def _properties(parent: ET.Element, values: dict[str, Any]) -> None:
    props = _element(parent, "properties")
    for name, value in values.items():
        _element(props, "property", name=name, value=str(value))


def _run_properties(doc: FindingsDocument) -> dict[str, Any]:
    prov = provenance(doc.run)
    values: dict[str, Any] = {
        "leakaudit_version": prov["leakaudit_version"],
        "duckdb_version": prov["duckdb_version"],
        "started_at": prov["started_at"],
        "window_start": prov["window"]["start"] or "",
        "window_end": prov["window"]["end"] or "",
        "quarantined_rows": prov["quarantined_rows"],
    }
    for p in prov["packs"]:
        values[f"pack.{p['name']}"] = f"{p['version']} sha256:{p['sha256']}"
    for i in prov["inputs"]:
        values[f"input.{i['path']}"] = (
            f"sha256:{i['sha256']} table={i['table']} rows={i['rows']} rejected={i['rejected']}"
        )
    return values


def _testcase(suite: ET.Element, rule: RuleOutcome, findings: list[Finding]) -> None:
    case = _element(
        suite,
        "testcase",
        classname=rule.pack,
        name=f"{rule.rule_id} {rule.title}",
        time=_seconds(rule.duration_s),
    )
    failing = [f for f in findings if f.status != "suppressed"]
    if rule.status == "skipped":
        _element(case, "skipped", message=rule.skipped_reason or "skipped")
    elif failing:
        worst = max(failing, key=lambda f: severity_rank(f.severity)).severity
        _element(
            case,
            "failure",
            _failure_text(failing),
            type=worst,
            message=(
                f"{len(failing)} {rule.category} {plural(len(failing), 'finding')}, "
                f"worst severity {worst}."
            ),
        )
    suppressed = len(findings) - len(failing)
    out = f"params: {safe_plain(rule.params)}\n" if rule.params else ""
    if suppressed:
        out += f"{suppressed} suppressed {plural(suppressed, 'finding')} not counted.\n"
    if out:
        _element(case, "system-out", out)


def build_junit(doc: FindingsDocument) -> ET.Element:
    """The `<testsuites>` tree: packs by name, rules by id."""
    outcomes = {r.rule_id: r for r in doc.run.rules}
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in doc.findings:  # already most severe first
        by_rule[f.rule_id].append(f)
        outcomes.setdefault(
            f.rule_id,
            RuleOutcome(f.rule_id, f.pack, f.category, f.severity, f.title, "", "", ""),
        )
    by_pack: dict[str, list[RuleOutcome]] = defaultdict(list)
    for rule in outcomes.values():
        by_pack[rule.pack].append(rule)

    root = ET.Element("testsuites", {"name": "leakaudit"})
    totals = {"tests": 0, "failures": 0, "time": 0.0}
    run_props = _run_properties(doc)
    for pack in sorted(by_pack):
        rules = sorted(by_pack[pack], key=lambda r: r.rule_id)
        failures = sum(
            r.status != "skipped" and any(f.status != "suppressed" for f in by_rule[r.rule_id])
            for r in rules
        )
        elapsed = sum(r.duration_s or 0.0 for r in rules)
        suite = _element(
            root,
            "testsuite",
            name=pack,
            tests=str(len(rules)),
            failures=str(failures),
            errors="0",
            skipped=str(sum(r.status == "skipped" for r in rules)),
            time=_seconds(elapsed),
            timestamp=format_ts(doc.run.started_at) or "",
        )
        _properties(suite, run_props)
        for rule in rules:
            _testcase(suite, rule, by_rule[rule.rule_id])
        totals["tests"] += len(rules)
        totals["failures"] += failures
        totals["time"] += elapsed
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("time", _seconds(totals["time"]))
    return root


@register("junit", (".junit.xml",), "JUnit XML: one test per rule, failing when it finds")
def render_junit(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """The JUnit document as UTF-8 XML with a declaration."""
    root = build_junit(doc)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
