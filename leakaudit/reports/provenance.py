"""The provenance block every machine-readable report carries (issue 5, item 10).

One dict, built once from the `RunRecord`, so SARIF, OCSF and JUnit state the same facts:
leakaudit and DuckDB versions, rule packs with version and sha256, inputs with sha256 and row
counts, the time window and the parameter values each rule ran with.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from leakaudit.findings import RunRecord, format_ts


def provenance(run: RunRecord) -> dict[str, Any]:
    """The run's provenance as plain JSON-able data, in a fixed key order."""
    return {
        "leakaudit_version": run.leakaudit_version,
        "duckdb_version": run.duckdb_version,
        "started_at": format_ts(run.started_at),
        "packs": [asdict(p) for p in sorted(run.packs, key=lambda p: p.name)],
        "inputs": [asdict(i) for i in sorted(run.inputs, key=lambda i: (i.path, i.table))],
        "window": {"start": format_ts(run.window_start), "end": format_ts(run.window_end)},
        "quarantined_rows": run.quarantined_rows,
        "params": {r.rule_id: r.params for r in sorted(run.rules, key=lambda r: r.rule_id)},
    }
