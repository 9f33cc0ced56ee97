"""Findings documents for the SARIF, OCSF, JUnit and HTML report tests.

`realistic_document()` is a small audit of the demo world's kind: findings of every pack and
several severities, evidence rows with source file and line, exposure, ran and skipped rules.
`hostile_document()` puts attacker-controlled strings everywhere a log can reach.
`many_findings()` builds a large document cheaply, for the SARIF result cap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from leakaudit.findings import (
    Evidence,
    Exposure,
    Finding,
    FindingsDocument,
    InputRecord,
    PackRecord,
    RuleOutcome,
    RunRecord,
    fingerprint,
)

STARTED_AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
T0 = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)

HOSTILE_STRINGS: tuple[str, ...] = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "\x1b[2J\x1b[31m",
    "[bold red]x[/]",
    '=HYPERLINK("http://x")',
    "$\\frac{1}{0}$ & ]]> <!-- --> \x00\x07",
    "A" * 100_000,
)


def _ts(days: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def _rule(
    rule_id: str,
    pack: str,
    category: str,
    severity: str,
    title: str,
    *,
    findings: int = 0,
    status: str = "ran",
    skipped_reason: str | None = None,
    params: dict[str, object] | None = None,
) -> RuleOutcome:
    return RuleOutcome(
        rule_id=rule_id,
        pack=pack,
        category=category,
        severity=severity,
        title=title,
        description=f"Detects {category.replace('_', ' ')}: {title.lower()}.",
        rationale="Cross-account exposure of camera media is the incident class this guards.",
        remediation="Unbind the device from the foreign account and purge its cached media.",
        references=["https://owasp.org/www-project-top-ten/", "INCIDENTS.md"],
        tags=["privacy", pack],
        params=params or {},
        status=status,
        skipped_reason=skipped_reason,
        findings=findings,
        duration_s=0.0123 if status == "ran" else None,
    )


def _finding(
    rule: RuleOutcome,
    entities: dict[str, str | list[str] | None],
    reason: str,
    first: datetime,
    last: datetime,
    events: int,
    evidence: list[Evidence],
    exposure: Exposure | None = None,
    status: str = "new",
) -> Finding:
    return Finding(
        fingerprint=fingerprint(rule.rule_id, entities),
        rule_id=rule.rule_id,
        pack=rule.pack,
        category=rule.category,
        severity=rule.severity,
        title=rule.title,
        reason=reason,
        first_seen=first,
        last_seen=last,
        event_count=events,
        entities=entities,
        exposure=exposure or Exposure(),
        evidence=evidence,
        status=status,
    )


def realistic_rules() -> list[RuleOutcome]:
    return [
        _rule(
            "LAD001",
            "devices",
            "duplicate_device_id",
            "high",
            "Device bound to two accounts at once",
            findings=1,
        ),
        _rule(
            "LAD003",
            "devices",
            "revoked_device_active",
            "medium",
            "Revoked device still serving media",
            findings=1,
        ),
        _rule(
            "LAM001",
            "media",
            "media_to_non_owner",
            "critical",
            "Media served to an account that does not own the device",
            findings=3,
            params={"grace_minutes": 5},
        ),
        _rule(
            "LAM002",
            "media",
            "leak_burst",
            "critical",
            "Burst of foreign media deliveries",
            findings=1,
            params={"window": "15m", "min_accounts": 3},
        ),
        _rule(
            "LAM006",
            "media",
            "access_enumeration",
            "low",
            "Account denied on many foreign devices",
            findings=1,
        ),
        _rule(
            "LAM004",
            "media",
            "partner_cross_feed",
            "high",
            "Partner fed a device outside its link",
            status="skipped",
            skipped_reason="needs partner_links",
        ),
        _rule(
            "LAS001",
            "staff",
            "staff_without_consent",
            "high",
            "Staff access without consent",
            findings=1,
        ),
        _rule(
            "LAS007",
            "staff",
            "raw_store_access",
            "info",
            "Human read of the raw media store",
            findings=1,
        ),
        _rule("LAS004", "staff", "staff_bulk_access", "medium", "Staff bulk access to customers"),
    ]


def realistic_document(base_dir: Path = Path("/srv/audit")) -> FindingsDocument:
    """Nine rules (one skipped, one clean), nine findings across the three packs."""
    rules = {r.rule_id: r for r in realistic_rules()}
    logs = base_dir / "sample_logs"
    access = str(logs / "media_access.csv")
    devices = str(logs / "devices.csv")
    staff = str(logs / "staff access" / "staff_access.jsonl")  # a space: percent-encoded in SARIF

    def media_evidence(start: int, n: int, device: str, account: str) -> list[Evidence]:
        return [
            Evidence(
                access,
                start + 7 * i,
                {
                    "device_id": device,
                    "account_id": account,
                    "media_key": f"clip-{start + i}",
                    "user_agent": "CamApp/4.2 (iOS 17)",
                },
            )
            for i in range(n)
        ]

    findings = [
        _finding(
            rules["LAM001"],
            {"device_id": "cam-0042", "account_id": "A-93", "owner_account_id": "A-17"},
            "Account A-93 was served 41 media items of device cam-0042, owned by A-17, "
            "between 2024-01-10 and 2024-01-12.",
            _ts(2, 8),
            _ts(4, 19),
            41,
            media_evidence(120, 5, "cam-0042", "A-93"),
            Exposure(recipient_accounts=1, owner_accounts=1, items_delivered=41, items_viewed=12),
        ),
        _finding(
            rules["LAM001"],
            {"device_id": "cam-0107", "account_id": "A-93", "owner_account_id": "A-22"},
            "Account A-93 was served 9 media items of device cam-0107, owned by A-22.",
            _ts(3, 1),
            _ts(3, 6),
            9,
            media_evidence(410, 3, "cam-0107", "A-93"),
            Exposure(recipient_accounts=1, owner_accounts=1, items_delivered=9, items_viewed=2),
            status="recurring",
        ),
        _finding(
            rules["LAM001"],
            {"device_id": "cam-0311", "account_id": "A-58", "owner_account_id": "A-17"},
            "Account A-58 was served 3 media items of device cam-0311, owned by A-17.",
            _ts(9, 14),
            _ts(9, 15),
            3,
            media_evidence(902, 2, "cam-0311", "A-58"),
            Exposure(recipient_accounts=1, owner_accounts=1, items_delivered=3, items_viewed=0),
            status="suppressed",
        ),
        _finding(
            rules["LAM002"],
            {
                "window_start": "2024-01-11T02:00:00Z",
                "window_end": "2024-01-11T02:15:00Z",
                "accounts": ["A-58", "A-61", "A-93", "A-140"],
            },
            "Four accounts (A-140, A-58, A-61, A-93) received foreign media 77 times "
            "between 02:00 and 02:15 on 2024-01-11.",
            _ts(3, 2),
            _ts(3, 2.25),
            77,
            media_evidence(1500, 4, "cam-0042", "A-61"),
            Exposure(recipient_accounts=4, owner_accounts=6, items_delivered=77, items_viewed=30),
        ),
        _finding(
            rules["LAD001"],
            {"device_id": "cam-0042", "accounts": ["A-17", "A-93"]},
            "Device cam-0042 is bound to accounts A-17 and A-93 at the same time since 2024-01-09.",
            _ts(1, 10),
            _ts(5),
            2,
            [
                Evidence(devices, 43, {"device_id": "cam-0042", "account_id": "A-17"}),
                Evidence(devices, 58, {"device_id": "cam-0042", "account_id": "A-93"}),
            ],
        ),
        _finding(
            rules["LAS001"],
            {"staff_id": "emp-311", "account_id": "A-17"},
            "Staff member emp-311 opened 14 media items of customer A-17 with no active consent.",
            _ts(12, 9),
            _ts(12, 11),
            14,
            [
                Evidence(
                    staff,
                    7 + i,
                    {"staff_id": "emp-311", "account_id": "A-17", "action": "media_view"},
                )
                for i in range(3)
            ],
            Exposure(owner_accounts=1, items_viewed=14),
        ),
        _finding(
            rules["LAD003"],
            {"device_id": "cam-0009", "account_id": "A-05"},
            "Device cam-0009, revoked on 2024-01-03, served media to account A-05 on 2024-01-15.",
            _ts(7),
            _ts(7, 2),
            6,
            media_evidence(2200, 2, "cam-0009", "A-05"),
        ),
        _finding(
            rules["LAM006"],
            {"account_id": "A-140"},
            "Account A-140 was denied on 23 devices it does not own within 10 minutes.",
            _ts(10, 3),
            _ts(10, 3.2),
            23,
            media_evidence(3100, 3, "cam-0500", "A-140"),
        ),
        _finding(
            rules["LAS007"],
            {"staff_id": "emp-020"},
            "Staff member emp-020 read the raw media store directly.",
            _ts(15, 16),
            _ts(15, 16),
            1,
            [Evidence(staff, 301, {"staff_id": "emp-020", "action": "raw_read"})],
        ),
    ]
    run = RunRecord(
        leakaudit_version="0.1.0",
        duckdb_version="1.3.2",
        started_at=STARTED_AT,
        packs=[
            PackRecord("devices", "1.0.0", "a" * 64),
            PackRecord("media", "1.1.0", "b" * 64),
            PackRecord("staff", "1.0.2", "c" * 64),
        ],
        inputs=[
            InputRecord(access, "1" * 64, "media_access", 48_210, 3),
            InputRecord(devices, "2" * 64, "devices", 1_204, 0),
            InputRecord(staff, "3" * 64, "staff_access", 5_877, 1),
        ],
        window_start=T0,
        window_end=_ts(16),
        quarantined_rows=4,
        rules=list(rules.values()),
    )
    return FindingsDocument(run=run, findings=findings)


def hostile_document(base_dir: Path = Path("/srv/audit")) -> FindingsDocument:
    """The realistic document with hostile strings in ids, reasons, evidence and file names."""
    doc = realistic_document(base_dir)
    hostile = list(HOSTILE_STRINGS)
    for i, f in enumerate(doc.findings):
        h = hostile[i % len(hostile)]
        f.entities = {k: ([h, *v] if isinstance(v, list) else h) for k, v in f.entities.items()}
        f.fingerprint = fingerprint(f.rule_id, f.entities)
        f.reason = f"Account {h} saw {hostile[(i + 1) % len(hostile)]} (undecodable byte \udcff)."
        f.title = f"{f.title} {h[:200]}"
        f.evidence = [
            Evidence(
                f"{e.source_file}{h[:50]}",
                e.source_line,
                {
                    **e.row,
                    "user_agent": h,
                    "lookup_key": hostile[(i + 2) % len(hostile)],
                    "raw": "undecodable byte \udcff",  # what surrogateescape makes of bad UTF-8
                },
            )
            for e in f.evidence
        ]
    doc.run.rules[0].skipped_reason = hostile[1]
    doc.run.rules[0].status = "skipped"
    doc.run.inputs.append(InputRecord(hostile[0], "4" * 64, "access_events", 1, 0))
    doc.findings.sort(key=Finding.sort_key)
    return doc


def many_findings(n: int) -> FindingsDocument:
    """`n` findings of mixed severity that share rules and a small evidence list."""
    rules = realistic_rules()
    ran = [r for r in rules if r.status == "ran"]
    evidence = [Evidence("/srv/audit/sample_logs/media_access.csv", 2, {})]
    findings = []
    for i in range(n):
        rule = ran[i % len(ran)]
        entities = {"device_id": f"cam-{i:06d}", "account_id": f"A-{i % 997}"}
        findings.append(
            Finding(
                fingerprint=f"{i:064x}",
                rule_id=rule.rule_id,
                pack=rule.pack,
                category=rule.category,
                severity=rule.severity,
                title=rule.title,
                reason=f"Finding {i}.",
                first_seen=T0,
                last_seen=T0,
                event_count=1,
                entities=entities,
                evidence=evidence,
            )
        )
    run = RunRecord("0.1.0", "1.3.2", STARTED_AT, rules=rules)
    return FindingsDocument(run=run, findings=findings)
