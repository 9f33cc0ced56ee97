"""SARIF 2.1.0 for GitHub code scanning (`.sarif`).

One run: `tool.driver.rules[]` from the run's rule outcomes, one result per finding located
at the source file and physical line of its first evidence row. GitHub maps the numeric
`security-severity` to its buckets (≥ 9.0 critical, ≥ 7.0 high, ≥ 4.0 medium, else low); it
has no "info" bucket, so info findings show as low. GitHub keeps at most 25,000 results per
run: we keep the most severe (the document's order) and say what was cut.

Source paths: an absolute path inside `RenderOptions.base_dir` becomes a URI relative to it
(`uriBaseId` `%SRCROOT%`); a relative path is already relative to where the audit ran and is
kept; anything else becomes an absolute `file:` URI. Path segments are percent-encoded,
a backslash in a POSIX file name included (`%5C`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from leakaudit.findings import Evidence, Finding, FindingsDocument, RuleOutcome, format_ts
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.provenance import provenance
from leakaudit.reports.textsafe import json_inert, utf8_bytes

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
GITHUB_MAX_RESULTS = 25_000
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "leakauditFingerprint/v1"
MAX_RELATED_LOCATIONS = 10

# GitHub's security-severity score per leakaudit severity (CVSS-like 0.0-10.0, as a string).
SECURITY_SEVERITY: dict[str, str] = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
    "info": "1.0",
}
LEVEL: dict[str, str] = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
}
BASELINE_STATE: dict[str, str] = {"new": "new", "recurring": "unchanged", "suppressed": "unchanged"}

# Entity keys that name a thing a reader can look up, in the order they become logical
# locations: the device first, then the accounts and people involved.
LOGICAL_KINDS: tuple[tuple[str, str], ...] = (
    ("device_id", "device"),
    ("account_id", "account"),
    ("owner_account_id", "account"),
    ("accounts", "account"),
    ("staff_id", "staff"),
    ("session_id", "session"),
    ("partner", "partner"),
    ("serial", "serial"),
)


def artifact_location(source_file: str, base_dir: Path | None) -> dict[str, str]:
    """The SARIF artifactLocation of a source file (see the module docstring)."""
    path = Path(source_file)
    if path.is_absolute():
        for base in (base_dir, base_dir.resolve()) if base_dir is not None else ():
            if path.is_relative_to(base):
                return {"uri": _encode(path.relative_to(base).as_posix()), "uriBaseId": SRCROOT}
        return {"uri": path.as_uri()}
    # as_posix, not a replace of backslashes: on POSIX a backslash is a character of the name,
    # so `..\..\x.csv` is one file here (%5C), not a path out of the input folder
    return {"uri": _encode(path.as_posix())}


# RFC 3986's characters only: a reference like `https://x/"><script>` is no URI, and a
# viewer that links helpUri must not be handed one (it stays in the rule's references).
_URI = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _is_web_uri(text: str) -> bool:
    if _URI.fullmatch(text) is None:
        return False
    try:
        return bool(urlsplit(text).netloc)
    except ValueError:  # `https://[tracker/1`: an unclosed IPv6 bracket
        return False


def _encode(posix_path: str) -> str:
    return quote(posix_path, safe="/")


def _physical_location(evidence: Evidence, base_dir: Path | None) -> dict[str, Any]:
    return {
        "artifactLocation": artifact_location(evidence.source_file, base_dir),
        "region": {"startLine": max(1, int(evidence.source_line))},
    }


def _logical_locations(finding: Finding) -> list[dict[str, str]]:
    locations: dict[str, dict[str, str]] = {}  # by qualified name: SARIF wants them unique
    for key, kind in LOGICAL_KINDS:
        value = finding.entities.get(key)
        for name in value if isinstance(value, list) else [value]:
            if name:
                qualified = f"{kind}:{name}"
                locations.setdefault(
                    qualified, {"name": name, "fullyQualifiedName": qualified, "kind": kind}
                )
    return list(locations.values())


def plain_message(text: str) -> str:
    """A SARIF plain-text message that shows `text` literally.

    In a plain-text message `[text](N)` is an embedded link (SARIF 2.1.0 §3.11.6), which
    viewers render; literal brackets must be escaped with a backslash, and so the backslash
    itself. A finding's reason quotes values from the logs, so a log line holding
    `[see fix](1)` would otherwise become a link in the reader's code-scanning view.
    """
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _rule_descriptor(rule: RuleOutcome) -> dict[str, Any]:
    references = "\n".join(f"- {r}" for r in rule.references)
    help_text = (
        f"{rule.description}\n\nWhy it matters: {rule.rationale}\n\n"
        f"Remediation: {rule.remediation}"
        + (f"\n\nReferences:\n{references}" if references else "")
    )
    help_markdown = (
        f"{rule.description}\n\n## Why it matters\n\n{rule.rationale}\n\n"
        f"## Remediation\n\n{rule.remediation}"
        + (f"\n\n## References\n\n{references}" if references else "")
    )
    tags = ["security", rule.pack, rule.category]
    tags += [t for t in rule.tags if t not in tags]
    descriptor: dict[str, Any] = {
        "id": rule.rule_id,
        "name": rule.category,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description or rule.title},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "tags": tags,
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "high",
            "problem.severity": "error" if LEVEL[rule.severity] == "error" else "warning",
            "pack": rule.pack,
            "category": rule.category,
            "severity": rule.severity,
            "status": rule.status,
            "params": rule.params,
        },
    }
    urls = [r for r in rule.references if _is_web_uri(r)]
    if urls:
        descriptor["helpUri"] = urls[0]
    if rule.skipped_reason:
        descriptor["properties"]["skipped_reason"] = rule.skipped_reason
    return descriptor


def _outcome_from_finding(finding: Finding) -> RuleOutcome:
    """A stand-in rule for a finding whose rule the document does not describe."""
    return RuleOutcome(
        rule_id=finding.rule_id,
        pack=finding.pack,
        category=finding.category,
        severity=finding.severity,
        title=finding.title,
        description=finding.title,
        rationale="",
        remediation="",
        findings=1,
    )


def _result(
    finding: Finding, rule_index: int, security_severity: str, base_dir: Path | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[finding.severity],
        "kind": "fail",
        "message": {"text": plain_message(finding.reason)},
        "locations": [],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "baselineState": BASELINE_STATE[finding.status],
        "properties": {
            "security-severity": security_severity,
            "severity": finding.severity,
            "category": finding.category,
            "pack": finding.pack,
            "title": finding.title,
            "status": finding.status,
            "first_seen": format_ts(finding.first_seen),
            "last_seen": format_ts(finding.last_seen),
            "event_count": finding.event_count,
            "entities": finding.entities,
            "exposure": finding.exposure.to_dict(),
        },
    }
    location: dict[str, Any] = {}
    if finding.evidence:
        location["physicalLocation"] = _physical_location(finding.evidence[0], base_dir)
    logical = _logical_locations(finding)
    if logical:
        location["logicalLocations"] = logical
    if location:
        result["locations"].append(location)
    related = finding.evidence[1 : 1 + MAX_RELATED_LOCATIONS]
    if related:
        result["relatedLocations"] = [
            {
                "id": i,
                "physicalLocation": _physical_location(e, base_dir),
                "message": {"text": "Further evidence row."},
            }
            for i, e in enumerate(related, start=1)
        ]
    if finding.status == "suppressed":
        result["suppressions"] = [{"kind": "external", "status": "accepted"}]
    return result


def build_sarif(doc: FindingsDocument, options: RenderOptions) -> dict[str, Any]:
    """The SARIF log as a dict; appends a warning to `options.warnings` when results are cut."""
    outcomes = {r.rule_id: r for r in doc.run.rules}
    for finding in doc.findings:
        outcomes.setdefault(finding.rule_id, _outcome_from_finding(finding))
    rule_ids = sorted(outcomes)
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}

    cap = GITHUB_MAX_RESULTS if options.max_results is None else options.max_results
    cap = min(cap, GITHUB_MAX_RESULTS)
    kept = doc.findings[:cap]  # the document is sorted most severe first
    if len(doc.findings) > cap:
        options.warnings.append(
            f"The SARIF report holds the {cap:,} most severe of {len(doc.findings):,} findings: "
            f"GitHub code scanning accepts at most {GITHUB_MAX_RESULTS:,} results per run. "
            "The JSON report has them all."
        )

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "leakaudit",
                "version": doc.run.leakaudit_version,
                "semanticVersion": doc.run.leakaudit_version,
                "rules": [_rule_descriptor(outcomes[r]) for r in rule_ids],
            }
        },
        "invocations": [
            {
                "executionSuccessful": True,
                "startTimeUtc": format_ts(doc.run.started_at),
            }
        ],
        "results": [
            _result(f, index[f.rule_id], SECURITY_SEVERITY[f.severity], options.base_dir)
            for f in kept
        ],
        "columnKind": "unicodeCodePoints",
        "properties": {
            "provenance": provenance(doc.run),
            "findings_total": len(doc.findings),
            "results_truncated": len(doc.findings) > cap,
        },
    }
    if options.base_dir is not None:
        run["originalUriBaseIds"] = {
            SRCROOT: {"uri": options.base_dir.resolve().as_uri().rstrip("/") + "/"}
        }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


@register("sarif", (".sarif",), "SARIF 2.1.0 for GitHub code scanning")
def render_sarif(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """The SARIF log as UTF-8 JSON, keys in a fixed order, so equal inputs give equal bytes."""
    text = json_inert(json.dumps(build_sarif(doc, options), indent=2, ensure_ascii=False)) + "\n"
    return utf8_bytes(text)
