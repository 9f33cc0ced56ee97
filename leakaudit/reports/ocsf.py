"""OCSF 1.5.0 Detection Finding events as JSON Lines (`.ocsf.jsonl`), one finding a line.

Class 2004 (Findings category 2), activity 1 "Create", so `type_uid` 200401. Times are epoch
milliseconds: `time` and `finding_info.created_time` are when the audit ran, `start_time` /
`end_time` and `finding_info.first_seen_time` / `last_seen_time` span the offending events.
The rule is the `finding_info.analytic`; entities become `resources`; each evidence row
becomes an `evidences[]` artifact. What OCSF has no attribute for (exposure, entities as
leakaudit names them, provenance) goes under `unmapped`, the schema's place for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from leakaudit.findings import Finding, FindingsDocument, RuleOutcome
from leakaudit.reports import RenderOptions, register
from leakaudit.reports.provenance import provenance
from leakaudit.reports.textsafe import json_inert, utf8_bytes

OCSF_VERSION = "1.5.0"
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
TYPE_UID = CLASS_UID * 100 + ACTIVITY_CREATE
ANALYTIC_RULE = 1  # analytic.type_id "Rule"
DEVICE_IOT = 7  # device.type_id "IOT"

# OCSF severity_id and its caption per leakaudit severity.
SEVERITY_ID: dict[str, tuple[int, str]] = {
    "info": (1, "Informational"),
    "low": (2, "Low"),
    "medium": (3, "Medium"),
    "high": (4, "High"),
    "critical": (5, "Critical"),
}
# OCSF status_id: 1 New, 3 Suppressed, 99 Other (with the caption in `status`).
STATUS_ID: dict[str, tuple[int, str]] = {
    "new": (1, "New"),
    "recurring": (99, "Recurring"),
    "suppressed": (3, "Suppressed"),
}
# Entity key -> resource type for `resources[]`; the entity key itself becomes the label, so a
# consumer can tell the owner account from the recipient.
RESOURCE_TYPES: dict[str, str] = {
    "device_id": "device",
    "serial": "device_serial",
    "account_id": "account",
    "owner_account_id": "account",
    "accounts": "account",
    "staff_id": "staff",
    "session_id": "session",
    "partner": "partner",
}


def epoch_ms(value: datetime | None) -> int | None:
    """Milliseconds since the epoch (UTC), the OCSF timestamp unit."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _resources(finding: Finding) -> list[dict[str, Any]]:
    resources = []
    for key, kind in RESOURCE_TYPES.items():
        value = finding.entities.get(key)
        for uid in value if isinstance(value, list) else [value]:
            if uid:
                resources.append({"uid": uid, "type": kind, "labels": [key]})
    return resources


def _evidences(finding: Finding) -> list[dict[str, Any]]:
    evidences = []
    device_id = finding.entities.get("device_id")
    for e in finding.evidence:
        artifact: dict[str, Any] = {
            "name": f"{e.source_file}:{e.source_line}",
            "data": {"source_file": e.source_file, "source_line": e.source_line, **e.row},
        }
        if isinstance(device_id, str) and device_id:
            artifact["device"] = {"uid": device_id, "type_id": DEVICE_IOT, "type": "IOT"}
        evidences.append(artifact)
    return evidences


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    """Drop None values: OCSF attributes are optional, never null."""
    return {k: v for k, v in d.items() if v is not None}


def build_event(
    finding: Finding,
    rule: RuleOutcome | None,
    pack_versions: dict[str, str],
    doc: FindingsDocument,
    run_provenance: dict[str, Any],
) -> dict[str, Any]:
    """One Detection Finding event for one finding."""
    severity_id, severity = SEVERITY_ID[finding.severity]
    status_id, status = STATUS_ID[finding.status]
    created = epoch_ms(doc.run.started_at)
    analytic = _compact(
        {
            "uid": finding.rule_id,
            "name": finding.title,
            "type_id": ANALYTIC_RULE,
            "type": "Rule",
            "category": finding.pack,
            "version": pack_versions.get(finding.pack),
            "desc": rule.description if rule else None,
        }
    )
    finding_info = _compact(
        {
            "uid": finding.fingerprint,
            "title": finding.title,
            "desc": finding.reason,
            "types": [finding.category],
            "analytic": analytic,
            "created_time": created,
            "first_seen_time": epoch_ms(finding.first_seen),
            "last_seen_time": epoch_ms(finding.last_seen),
            "related_events_count": finding.event_count,
            "data_sources": sorted({i.table for i in doc.run.inputs}) or None,
        }
    )
    event: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": TYPE_UID,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "time": created,
        "start_time": epoch_ms(finding.first_seen),
        "end_time": epoch_ms(finding.last_seen),
        "count": finding.event_count,
        "message": finding.reason,
        "finding_info": finding_info,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "leakaudit",
                "vendor_name": "leakaudit",
                "version": doc.run.leakaudit_version,
            },
            "log_name": finding.pack,
        },
        "resources": _resources(finding) or None,
        "evidences": _evidences(finding) or None,
        "remediation": (
            {"desc": rule.remediation, "references": rule.references}
            if rule and rule.remediation
            else None
        ),
        "unmapped": {
            "leakaudit": {
                "category": finding.category,
                "entities": finding.entities,
                "exposure": finding.exposure.to_dict(),
                "provenance": run_provenance,
            }
        },
    }
    return _compact(event)


@register("ocsf", (".ocsf.jsonl",), "OCSF 1.5.0 Detection Finding events, one JSON object a line")
def render_ocsf(doc: FindingsDocument, options: RenderOptions) -> bytes:
    """One event a line in the document's order; no clock is read, so equal inputs give equal
    bytes."""
    rules = {r.rule_id: r for r in doc.run.rules}
    pack_versions = {p.name: p.version for p in doc.run.packs}
    run_provenance = provenance(doc.run)
    lines = [
        json_inert(
            json.dumps(
                build_event(f, rules.get(f.rule_id), pack_versions, doc, run_provenance),
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
        for f in doc.findings
    ]
    return utf8_bytes("".join(line + "\n" for line in lines))
