"""Findings documents for the JSON, JSONL, CSV, Markdown, console, redaction and `report` tests.

Built on `report_fixtures_b` (one realistic audit shared by every report test) with what these
tests need on top: personal data to redact (e-mail addresses, client IPs, lookup keys, in
columns and in free text) and the hostile strings of issue 5 in every log-derived place.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from report_fixtures_b import HOSTILE_STRINGS as BASE_HOSTILE
from report_fixtures_b import T0
from report_fixtures_b import realistic_document as base_document

from leakaudit.findings import (
    Evidence,
    Exposure,
    Finding,
    FindingsDocument,
    InputRecord,
    RuleOutcome,
    fingerprint,
)

ACCOUNT_IDS = ("A-05", "A-140", "A-17", "A-22", "A-58", "A-61", "A-93")
EMAILS = ("jane.doe@example.com", "ops+audit@corp.example.org", "bob@example.net")
IPS = ("203.0.113.7", "198.51.100.23", "2001:db8::7", "192.0.2.200")
LOOKUP_KEYS = ("+1 555 0100", "Jane Doe, Springfield")

HOSTILE: tuple[str, ...] = (
    *BASE_HOSTILE,
    "+cmd|'/c calc'!A1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "\x00=1+1",
    "lone \ud800 surrogates \udfff",
    "![x](http://evil.example/x.png) [click](javascript:alert(1)) www.evil.example",
    ":warning: ## heading | cell | `code` *em*",
    "\u202etxt.exe",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")


def _lookup_rule() -> RuleOutcome:
    return RuleOutcome(
        rule_id="LAS003",
        pack="staff",
        category="staff_lookup_then_access",
        severity="high",
        title="Customer looked up, then accessed without consent",
        description="Detects a staff lookup of a customer followed by unconsented access.",
        rationale="A lookup by e-mail or phone followed by media access is snooping.",
        remediation="Revoke the employee's portal access and review the ticket.",
        references=["INCIDENTS.md"],
        tags=["privacy", "staff"],
        params={"within": "1h"},
        findings=1,
        duration_s=0.004,
    )


def pii_document() -> FindingsDocument:
    """The realistic audit plus client IPs, e-mails and lookup keys in columns and free text."""
    doc = base_document()
    staff_file = next(i.path for i in doc.run.inputs if i.table == "staff_access")
    for n, f in enumerate(doc.findings):
        f.evidence = [
            replace(e, row={**e.row, "client_ip": IPS[(n + i) % 2]}) if "user_agent" in e.row else e
            for i, e in enumerate(f.evidence)
        ]
    rule = _lookup_rule()
    entities: dict[str, str | list[str] | None] = {"staff_id": "emp-311", "account_id": "A-17"}
    lookup = Finding(
        fingerprint=fingerprint(rule.rule_id, entities),
        rule_id=rule.rule_id,
        pack=rule.pack,
        category=rule.category,
        severity=rule.severity,
        title=rule.title,
        reason=f"Staff member emp-311 looked up {EMAILS[0]} (customer A-17) from {IPS[2]} "
        "and opened 5 media items of A-17 within 20 minutes.",
        first_seen=T0 + timedelta(days=12, hours=8),
        last_seen=T0 + timedelta(days=12, hours=8, minutes=20),
        event_count=6,
        entities=entities,
        exposure=Exposure(owner_accounts=1, items_viewed=5),
        evidence=[
            Evidence(
                staff_file,
                5,
                {
                    "staff_id": "emp-311",
                    "action": "lookup",
                    "lookup_key": EMAILS[0],
                    "email": EMAILS[1],
                    "client_ip": IPS[2],
                },
            ),
            Evidence(staff_file, 6, {"staff_id": "emp-311", "lookup_key": LOOKUP_KEYS[0]}),
            Evidence(
                staff_file,
                7,
                {
                    "staff_id": "emp-311",
                    "account_id": "A-17",
                    "lookup_key": LOOKUP_KEYS[1],
                    "raw": f"GET /customers/A-17 from {IPS[3]} by {EMAILS[2]}",
                },
            ),
        ],
    )
    doc.run.rules.append(rule)
    return FindingsDocument(run=doc.run, findings=[*doc.findings, lookup])


def hostile_document() -> FindingsDocument:
    """`pii_document()` with a hostile string in every log-derived place: entity values, titles,
    reasons, user agents, lookup keys, evidence values, file names, skip reasons."""
    doc = pii_document()
    n = len(HOSTILE)
    for i, f in enumerate(doc.findings):
        h = HOSTILE[i % n]
        # Each entity of each finding a different string, so every one is a whole value.
        f.entities = {
            k: ([h, *v] if isinstance(v, list) else HOSTILE[(3 * i + k_index) % n])
            for k_index, (k, v) in enumerate(f.entities.items())
        }
        f.fingerprint = fingerprint(f.rule_id, f.entities)
        f.title = f"{f.title} {HOSTILE[(i + 3) % n][:200]}"
        f.reason = (
            f"Account {HOSTILE[2 * i % n]} saw {HOSTILE[(2 * i + 1) % n]} "
            "(undecodable byte \udcff)."
        )
        f.evidence = [
            Evidence(
                f"{e.source_file}{HOSTILE[(i + j) % n][:50]}",
                e.source_line,
                {
                    **e.row,
                    "user_agent": HOSTILE[(i + j) % n],
                    "lookup_key": HOSTILE[(i + j + 2) % n],
                    "device_id": HOSTILE[(i + j + 5) % n],
                },
            )
            for j, e in enumerate(f.evidence)
        ]
    doc.run.rules[0] = replace(doc.run.rules[0], status="skipped", skipped_reason=HOSTILE[1])
    doc.run.inputs.append(InputRecord(HOSTILE[0], "4" * 64, "access_events", 1, 0))
    doc.findings.sort(key=Finding.sort_key)
    return doc
