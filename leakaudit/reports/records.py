"""Per-finding provenance for the formats that hold one finding per line or row.

JSON Lines and CSV have no room for the run record of the JSON document, so each line or row
carries what makes that one finding reproducible: the leakaudit and DuckDB versions, the run's
start and time window, its rule pack (version, sha256), the rule's parameter values and the
input files (sha256, rows) its evidence came from.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from leakaudit.findings import Finding, FindingsDocument, format_ts


def finding_provenance(doc: FindingsDocument, finding: Finding) -> dict[str, Any]:
    """The provenance of one finding, as plain JSON-able data."""
    run = doc.run
    pack = next((p for p in run.packs if p.name == finding.pack), None)
    rule = next((r for r in run.rules if r.rule_id == finding.rule_id), None)
    evidence_files = {e.source_file for e in finding.evidence}
    return {
        "leakaudit_version": run.leakaudit_version,
        "duckdb_version": run.duckdb_version,
        "started_at": format_ts(run.started_at),
        "window": {"start": format_ts(run.window_start), "end": format_ts(run.window_end)},
        "pack": asdict(pack) if pack is not None else {"name": finding.pack},
        "params": rule.params if rule is not None else {},
        "inputs": [
            asdict(i)
            for i in sorted(run.inputs, key=lambda i: (i.path, i.table))
            if i.path in evidence_files
        ],
    }
