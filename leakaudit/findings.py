"""Findings and the run record around them (SPEC §4): the models every report renders.

Plain dataclasses between stages. `FindingsDocument.to_dict()` is the `leakaudit.findings/v1`
JSON document; `from_dict()` reads it back, so a saved document can be re-rendered without
the database.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jsonschema

SCHEMA_ID = "leakaudit.findings/v1"

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
STATUSES: tuple[str, ...] = ("new", "recurring", "suppressed")

# category -> pack (SPEC §3). Fixed by the spec: never rename.
CATEGORIES: dict[str, str] = {
    "duplicate_device_id": "devices",
    "device_identity_conflict": "devices",
    "revoked_device_active": "devices",
    "media_to_non_owner": "media",
    "leak_burst": "media",
    "partner_cross_feed": "media",
    "session_crosses_owners": "media",
    "access_enumeration": "media",
    "staff_without_consent": "staff",
    "staff_live_access": "staff",
    "staff_lookup_then_access": "staff",
    "staff_bulk_access": "staff",
    "staff_colleague_access": "staff",
    "staff_inactive_access": "staff",
    "raw_store_access": "staff",
}

EntityValue = str | list[str] | None


@functools.cache
def document_schema() -> dict[str, Any]:
    """The JSON Schema of the `leakaudit.findings/v1` document (shipped in the package)."""
    text = resources.files("leakaudit").joinpath("schemas/findings.schema.json").read_text()
    return json.loads(text)


def schema_problem(data: Any) -> str | None:
    """Why `data` is not a valid findings document (the first problem, with its JSON path),
    or None. Saved documents are read back by `leakaudit report`; a tampered or truncated
    one must be refused with a clear line, never crash a renderer."""
    validator = jsonschema.Draft202012Validator(document_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') or 'document'}: {error.message}"


def severity_rank(severity: str) -> int:
    """0 for `info` … 4 for `critical`; ValueError for anything else."""
    return SEVERITIES.index(severity)


def fingerprint(rule_id: str, entities: dict[str, EntityValue]) -> str:
    """Stable identity of a finding: a hash of the rule id and entity values only.

    Never of times, counts or row positions, so the same finding keeps its fingerprint across
    runs, re-orderings and unrelated new rows. List values are sorted first.
    """
    canonical = {k: sorted(v) if isinstance(v, list) else v for k, v in sorted(entities.items())}
    payload = json.dumps(
        {"rule_id": rule_id, "entities": canonical},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def format_ts(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a `Z`, the one timestamp form in every output."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Evidence:
    """One source row behind a finding."""

    source_file: str
    source_line: int
    row: dict[str, Any] = field(default_factory=dict)  # the rule's evidence columns, JSON-able

    def to_dict(self) -> dict[str, Any]:
        """Field by field, not `asdict`: its deep copy took a second on 24,000 evidence rows."""
        return {
            "source_file": self.source_file,
            "source_line": self.source_line,
            "row": dict(self.row),
        }


@dataclass(frozen=True)
class Exposure:
    """Blast radius (SPEC §4); None where a number does not apply to the rule."""

    recipient_accounts: int | None = None
    owner_accounts: int | None = None
    items_delivered: int | None = None
    items_viewed: int | None = None

    def to_dict(self) -> dict[str, int]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass
class Finding:
    """One finding: a rule's offending rows grouped by its entity values."""

    fingerprint: str
    rule_id: str
    pack: str
    category: str
    severity: str
    title: str
    reason: str
    first_seen: datetime | None
    last_seen: datetime | None
    event_count: int
    entities: dict[str, EntityValue]
    exposure: Exposure = field(default_factory=Exposure)
    evidence: list[Evidence] = field(default_factory=list)
    status: str = "new"

    def sort_key(self) -> tuple[Any, ...]:
        """Deterministic output order: most severe first, then category, rule, fingerprint."""
        return (-severity_rank(self.severity), self.category, self.rule_id, self.fingerprint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "rule_id": self.rule_id,
            "pack": self.pack,
            "category": self.category,
            "severity": self.severity,
            "title": self.title,
            "reason": self.reason,
            "first_seen": format_ts(self.first_seen),
            "last_seen": format_ts(self.last_seen),
            "event_count": self.event_count,
            "entities": self.entities,
            "exposure": self.exposure.to_dict(),
            "evidence": [e.to_dict() for e in self.evidence],
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(
            fingerprint=d["fingerprint"],
            rule_id=d["rule_id"],
            pack=d["pack"],
            category=d["category"],
            severity=d["severity"],
            title=d["title"],
            reason=d["reason"],
            first_seen=parse_ts(d.get("first_seen")),
            last_seen=parse_ts(d.get("last_seen")),
            event_count=d["event_count"],
            entities=d["entities"],
            exposure=Exposure(**d.get("exposure", {})),
            evidence=[Evidence(**e) for e in d.get("evidence", [])],
            status=d.get("status", "new"),
        )


@dataclass
class RuleOutcome:
    """What happened to one rule in a run; reports need it for SARIF `rules[]` and JUnit."""

    rule_id: str
    pack: str
    category: str
    severity: str
    title: str
    description: str
    rationale: str
    remediation: str
    references: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # the values used in this run
    status: str = "ran"  # ran | skipped
    skipped_reason: str | None = None  # e.g. "needs access_events"
    findings: int = 0
    duration_s: float | None = None


@dataclass(frozen=True)
class PackRecord:
    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class InputRecord:
    """One ingested file (SPEC §4 `run.inputs`)."""

    path: str
    sha256: str
    table: str
    rows: int
    rejected: int


@dataclass
class RunRecord:
    """Provenance of a run: versions, packs, inputs, window, parameters."""

    leakaudit_version: str
    duckdb_version: str
    started_at: datetime
    packs: list[PackRecord] = field(default_factory=list)
    inputs: list[InputRecord] = field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    quarantined_rows: int = 0
    rules: list[RuleOutcome] = field(default_factory=list)
    # True when SOURCE_DATE_EPOCH fixed the start time: the document then depends on the data
    # only, so rule timings are left out (null).
    reproducible: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "leakaudit_version": self.leakaudit_version,
            "duckdb_version": self.duckdb_version,
            "started_at": format_ts(self.started_at),
            "packs": [asdict(p) for p in self.packs],
            "inputs": [asdict(i) for i in self.inputs],
            "window": {"start": format_ts(self.window_start), "end": format_ts(self.window_end)},
            "quarantined_rows": self.quarantined_rows,
            "rules": [asdict(r) for r in self.rules],
            "reproducible": self.reproducible,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        window = d.get("window") or {}
        return cls(
            leakaudit_version=d["leakaudit_version"],
            duckdb_version=d["duckdb_version"],
            started_at=parse_ts(d["started_at"]) or datetime.fromtimestamp(0, UTC),
            packs=[PackRecord(**p) for p in d.get("packs", [])],
            inputs=[InputRecord(**i) for i in d.get("inputs", [])],
            window_start=parse_ts(window.get("start")),
            window_end=parse_ts(window.get("end")),
            quarantined_rows=d.get("quarantined_rows", 0),
            rules=[RuleOutcome(**r) for r in d.get("rules", [])],
            reproducible=d.get("reproducible", False),
        )


@dataclass
class FindingsDocument:
    """The whole result of an audit: what every reporter renders."""

    run: RunRecord
    findings: list[Finding]

    def __post_init__(self) -> None:
        self.findings.sort(key=Finding.sort_key)

    def summary(self) -> dict[str, Any]:
        by_severity = {s: 0 for s in reversed(SEVERITIES)}
        by_category: dict[str, int] = {}
        for f in self.findings:
            by_severity[f.severity] += 1
            by_category[f.category] = by_category.get(f.category, 0) + 1
        return {
            "findings": len(self.findings),
            "by_severity": by_severity,
            "by_category": dict(sorted(by_category.items())),
            "rules_run": sum(r.status == "ran" for r in self.run.rules),
            "rules_skipped": sum(r.status == "skipped" for r in self.run.rules),
            "quarantined_rows": self.run.quarantined_rows,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "run": self.run.to_dict(),
            "summary": self.summary(),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FindingsDocument:
        if d.get("schema") != SCHEMA_ID:
            raise ValueError(f"not a {SCHEMA_ID} document (schema is {d.get('schema')!r})")
        return cls(
            run=RunRecord.from_dict(d["run"]),
            findings=[Finding.from_dict(f) for f in d["findings"]],
        )

    def at_or_above(self, severity: str) -> list[Finding]:
        """Unsuppressed findings at or above a severity: what `--fail-on` gates on."""
        floor = severity_rank(severity)
        return [
            f
            for f in self.findings
            if f.status != "suppressed" and severity_rank(f.severity) >= floor
        ]
