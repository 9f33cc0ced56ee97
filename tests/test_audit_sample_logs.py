"""`leakaudit audit sample_logs`, end to end (issues 4 and 5, Acceptance).

The demo world's ground truth is tests/data/sample_logs_expected.json, written by
scripts/make_sample_logs.py next to the data it planted. The audit must find every planted
case, nothing else (no decoy), count the malformed rows, record its inputs, and write every
report format valid and, given SOURCE_DATE_EPOCH, byte for byte the same twice.

The audit runs once per module, from the repository root with the README's relative
`sample_logs` as a user would type it, writing every format; the determinism test runs it a
second time with the same SOURCE_DATE_EPOCH.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from audit_helpers import (
    DETERMINISTIC_FORMATS,
    REPO,
    REPORT_FILES,
    SAMPLE_LOGS,
    SOURCE_DATE_EPOCH,
    Reports,
    output_args,
    report_paths,
    run_cli,
    validate_reports,
)
from click.testing import Result

EXPECTED = json.loads((REPO / "tests" / "data" / "sample_logs_expected.json").read_text("utf-8"))

# The files of the demo world and their tables (sample_logs/README.md, "Files").
SAMPLE_FILES = {
    "access_events-2024-06-13.csv.gz": "access_events",
    "access_events/part-0001.jsonl.gz": "access_events",
    "access_events/part-0002.parquet": "access_events",
    "consents.jsonl": "consents",
    "devices.csv": "devices",
    "media.parquet": "media",
    "partner_links.jsonl": "partner_links",
    "shares.csv": "shares",
    "staff.csv": "staff",
    "staff_access.csv.gz": "staff_access",
}

# Entries of the ground truth marked `partial: true` name only the entity values that are
# certain. Each is matched here by exactly these findings (full entities, pinned), no more:
PARTIAL_MATCHES: dict[str, list[dict[str, Any]]] = {
    # One finding per physical unit under the shared id: serial NTA00005H (acct-0004's own
    # camera) and NTA00007B (acct-0008's camera re-registered as cam-0005).
    "device_identity_conflict": [
        {"device_id": "cam-0005", "serial": "NTA00005H"},
        {"device_id": "cam-0005", "serial": "NTA00007B"},
    ],
}
# leak_burst: exactly one finding whose `accounts` equal the planted 60 recipients; its window
# bounds are the rule's choice, but must lie inside the planted burst 15:11-15:16Z.
BURST_WINDOW = ("2024-06-09T15:11:00Z", "2024-06-09T15:16:00Z")


@dataclass
class AuditRun:
    result: Result
    reports: dict[str, Path]


def audit_sample_logs(out: Path) -> AuditRun:
    """`leakaudit audit sample_logs -o …` (every format) from the repository root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        result = run_cli(
            ["audit", "sample_logs", *output_args(out)], SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH
        )
    return AuditRun(result, report_paths(out))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    return audit_sample_logs(tmp_path_factory.mktemp("first"))


@pytest.fixture(scope="module")
def reports(run: AuditRun) -> Reports:
    return validate_reports(run.reports)


@pytest.fixture(scope="module")
def document(reports: Reports) -> dict[str, Any]:
    return reports.document


def key(category: str, entities: dict[str, Any]) -> tuple[str, str]:
    return category, json.dumps(entities, sort_keys=True)


def describe(keys: set[tuple[str, str]]) -> str:
    return "\n".join(f"  {c} {e}" for c, e in sorted(keys)) or "  (none)"


# --- the run -------------------------------------------------------------------------------


def test_audit_exits_0_and_says_what_it_did(run: AuditRun) -> None:
    result = run.result
    assert result.exit_code == 0, result.output
    err = result.stderr.splitlines()
    # Without --db the database is gone at exit: the hint cannot be `leakaudit status`.
    assert err[0] == (
        "42,292 rows ingested from 10 files, 7 quarantined, 0 already ingested (the database "
        "is thrown away at exit: audit with --db FILE, then `leakaudit status --db FILE` "
        "shows them)."
    )
    wrote = [line for line in err if line.startswith("Wrote ")]
    assert wrote == [f"Wrote {run.reports[fmt]} ({fmt})." for fmt in REPORT_FILES]
    assert "Traceback" not in result.output
    # The terminal summary still goes to stdout.
    assert "159 findings; 15 rules ran, 0 skipped" in result.stdout


# --- the findings: every planted case, no decoy ---------------------------------------------


def test_exactly_the_planted_findings(document: dict[str, Any]) -> None:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for f in document["findings"]:
        k = key(f["category"], f["entities"])
        assert k not in found, f"two findings with the same entities: {k}"
        found[k] = f

    exact = {
        key(e["category"], e["entities"]) for e in EXPECTED["findings"] if not e.get("partial")
    }
    partial = [e for e in EXPECTED["findings"] if e.get("partial")]
    assert sorted(e["category"] for e in partial) == ["device_identity_conflict", "leak_burst"], (
        "the ground truth has a new partial entry: pin its exact matches here"
    )

    matched: set[tuple[str, str]] = set(exact & found.keys())
    missing = exact - found.keys()

    for entry in partial:
        category = entry["category"]
        candidates = [
            k
            for k, f in found.items()
            if f["category"] == category
            and all(f["entities"].get(name) == value for name, value in entry["entities"].items())
        ]
        if category == "leak_burst":
            assert len(candidates) == 1, f"leak_burst: {len(candidates)} findings match, not 1"
            burst = found[candidates[0]]["entities"]
            assert set(burst) == {"window_start", "window_end", "accounts"}
            assert BURST_WINDOW[0] <= burst["window_start"] <= burst["window_end"], burst
            assert burst["window_end"] <= BURST_WINDOW[1], burst
            matched.update(candidates)
        else:
            wanted = {key(category, e) for e in PARTIAL_MATCHES[category]}
            assert set(candidates) == wanted, (
                f"{category}: found\n{describe(set(candidates))}\nexpected\n{describe(wanted)}"
            )
            matched.update(candidates)

    unexpected = found.keys() - matched
    assert not missing and not unexpected, (
        f"planted but not found:\n{describe(missing)}\nfound but not planted:\n"
        f"{describe(unexpected)}"
    )


def test_staff_bulk_access_of_st_jon(document: dict[str, Any]) -> None:
    """16 customers in 14 minutes (2024-06-11T02:10-02:24Z): the planted bulk sweep."""
    bulk = [f for f in document["findings"] if f["category"] == "staff_bulk_access"]
    assert [f["entities"] for f in bulk] == [{"staff_id": "st-jon"}]
    assert bulk[0]["first_seen"].startswith("2024-06-11T02:1")


def test_counts_per_category_match_the_sample_readme(document: dict[str, Any]) -> None:
    planted = Counter(e["category"] for e in EXPECTED["findings"])
    planted["device_identity_conflict"] += len(PARTIAL_MATCHES["device_identity_conflict"]) - 1
    assert document["summary"]["by_category"] == dict(sorted(planted.items()))
    assert document["summary"]["findings"] == sum(planted.values()) == 159


def test_the_cache_incident_blast_radius(document: dict[str, Any]) -> None:
    """sample_logs/README.md §2: 60 recipients, 65 exposed owners, 108 items delivered
    (216 deliveries: a notify and a thumbnail of each), 12 opened."""
    burst = next(f for f in document["findings"] if f["category"] == "leak_burst")
    assert burst["exposure"] == {
        "recipient_accounts": 60,
        "owner_accounts": 65,
        "items_delivered": 108,
        "items_viewed": 12,
    }
    assert burst["severity"] == "critical"
    # 228 accesses are 216 deliveries and 12 views (SPEC §1): the sentence must not call
    # them all deliveries.
    assert burst["event_count"] == 228
    assert burst["reason"].endswith(" (228 accesses: deliveries and views).")
    leaks = [
        f
        for f in document["findings"]
        if f["category"] == "media_to_non_owner"
        and BURST_WINDOW[0] <= f["first_seen"] <= BURST_WINDOW[1]
    ]
    assert len(leaks) == 108


def test_every_finding_is_complete(document: dict[str, Any]) -> None:
    for f in document["findings"]:
        assert f["status"] == "new"
        assert f["event_count"] >= 1 and f["first_seen"] <= f["last_seen"]
        assert f["reason"].endswith(".") and len(f["reason"]) > 20
        assert f["evidence"], f["fingerprint"]
        for e in f["evidence"]:
            assert e["source_file"].startswith("sample_logs/") and e["source_line"] >= 1


# --- quarantine and provenance -------------------------------------------------------------


def physical_rows(path: Path) -> int:
    """Rows of a sample file counted without leakaudit: data lines, or Parquet rows."""
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = [line for line in data.split(b"\n") if line.strip()]
    return len(lines) - (1 if ".csv" in path.name else 0)


def test_quarantine_and_inputs_are_recorded(document: dict[str, Any]) -> None:
    assert document["summary"]["quarantined_rows"] == 7 == EXPECTED["malformed_rows"]
    run = document["run"]
    assert run["quarantined_rows"] == 7
    rejected = Counter(m["file"] for m in EXPECTED["malformed"])
    inputs = {Path(i["path"]).relative_to("sample_logs").as_posix(): i for i in run["inputs"]}
    assert sorted(inputs) == sorted(SAMPLE_FILES)
    for name, table in SAMPLE_FILES.items():
        path = SAMPLE_LOGS / name
        record = inputs[name]
        assert record == {
            "path": f"sample_logs/{name}",
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "table": table,
            "rows": physical_rows(path) - rejected[name],
            "rejected": rejected[name],
        }, name
    assert sum(i["rows"] for i in run["inputs"]) == 42_292
    assert run["window"] == {"start": "2024-06-01T00:06:10Z", "end": "2024-06-14T23:59:51Z"}
    assert run["started_at"] == "2024-06-10T06:13:20Z"  # SOURCE_DATE_EPOCH
    assert [p["name"] for p in run["packs"]] == ["devices", "media", "staff"]
    assert all(len(p["sha256"]) == 64 for p in run["packs"])
    assert len(run["rules"]) == 15 and all(r["status"] == "ran" for r in run["rules"])


# --- every report format -------------------------------------------------------------------


def test_every_format_is_valid_and_complete(reports: Reports) -> None:
    findings = reports.document["findings"]
    fingerprints = {f["fingerprint"] for f in findings}
    assert len(reports.jsonl) == len(reports.ocsf) == len(reports.csv) - 1 == len(findings)
    sarif_run = reports.sarif["runs"][0]
    assert len(sarif_run["results"]) == len(findings)
    assert {r["id"] for r in sarif_run["tool"]["driver"]["rules"]} == {
        r["rule_id"] for r in reports.document["run"]["rules"]
    }
    for result in sarif_run["results"]:
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].startswith("sample_logs/")
        assert location["region"]["startLine"] >= 1
    assert {e["finding_info"]["uid"] for e in reports.ocsf} == fingerprints
    assert reports.junit is not None
    suites = {s.get("name"): s for s in reports.junit.findall("testsuite")}
    assert list(suites) == ["devices", "media", "staff"]
    assert reports.junit.get("tests") == "15" and reports.junit.get("failures") == "15"
    assert reports.html is not None
    html_text = "".join(reports.html.text)
    assert sum(tag == "svg" for tag, _ in reports.html.tags) == 4
    for f in findings[:20]:
        assert f["fingerprint"] in html_text
    # The two accounts with markup in their user agents (sample_logs/README.md) stay text.
    for fmt in ("html", "markdown", "junit"):
        assert b"<script>alert(1)</script>" not in reports.raw[fmt], fmt


def test_provenance_in_every_format(reports: Reports) -> None:
    run = reports.document["run"]
    shas = [i["sha256"] for i in run["inputs"]]
    pack_shas = [p["sha256"] for p in run["packs"]]
    for fmt, data in reports.raw.items():
        # Markdown escapes punctuation (0\.1\.0): read it as a Markdown viewer shows it.
        text = reports.markdown_html if fmt == "markdown" else data.decode("utf-8")
        assert run["leakaudit_version"] in text and run["duckdb_version"] in text, fmt
        assert all(sha in text for sha in pack_shas), f"pack sha256 missing from {fmt}"
        if fmt not in ("csv", "jsonl"):  # those carry, per finding, the inputs of its evidence
            assert all(sha in text for sha in shas), f"input sha256 missing from {fmt}"
    # Per finding: its evidence files, each with the run's record of it.
    by_path = {i["path"]: i for i in run["inputs"]}
    for record in reports.jsonl:
        files = {e["source_file"] for e in record["evidence"]}
        assert record["provenance"]["inputs"] == [by_path[p] for p in sorted(files)]
        assert record["provenance"]["started_at"] == run["started_at"]
        assert record["provenance"]["window"] == run["window"]
    header, *rows = reports.csv
    column = header.index("input_sha256")
    assert all(set(row[column].split()) <= set(shas) and row[column] for row in rows)


@pytest.mark.slow
def test_two_runs_write_byte_identical_reports(
    run: AuditRun, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = audit_sample_logs(tmp_path_factory.mktemp("second"))
    assert again.result.exit_code == 0, again.result.output
    different = {}
    for fmt in DETERMINISTIC_FORMATS:
        first, second = run.reports[fmt].read_bytes(), again.reports[fmt].read_bytes()
        if first != second:
            lines = zip(first.splitlines(), second.splitlines(), strict=False)
            different[fmt] = [(a[:120], b[:120]) for a, b in lines if a != b][:3]
    assert not different, f"not byte-identical across runs (first differing lines): {different}"


def test_a_kept_database_file_gives_the_same_document(run: AuditRun, tmp_path: Path) -> None:
    """The throw-away database lives in memory, a `--db` one in a file (compressed by
    DuckDB): the store must not change a single finding, count or evidence row."""
    out = tmp_path / "kept.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        result = run_cli(
            ["audit", "sample_logs", "--db", tmp_path / "kept.duckdb", "-o", out, "-q"],
            SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
        )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == run.reports["json"].read_bytes()
