"""`leakaudit audit` through click's CliRunner: exit codes, exact messages, flags (issue 4
item 3, issue 5 item 11, SPEC §5).

The sample world is ingested once per module into a persistent database (`--db`); most tests
audit that database, so they cost only the rules. Tests that must ingest (--strict, a bad flag
"before any work", redaction of every format) say so.
"""

from __future__ import annotations

import gzip
import html
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from audit_helpers import (
    REPO,
    SAMPLE_LOGS,
    SOURCE_DATE_EPOCH,
    output_args,
    report_paths,
    run_cli,
    validate_reports,
)
from test_reports_basic import assert_valid as assert_valid_findings

from leakaudit import api
from leakaudit.findings import fingerprint
from leakaudit.redact import pseudonym
from leakaudit.reports.markdown import md_text

REDACT_KEY = "e2e-redaction-key-0123456789abcdef"
INGESTED = "42,292 rows ingested from 10 files, 7 quarantined, 0 already ingested"
RULE_IDS = [
    *(f"LAD00{i}" for i in range(1, 4)),
    *(f"LAM00{i}" for i in range(1, 6)),
    *(f"LAS00{i}" for i in range(1, 8)),
]


def comparable(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must not change between two audits of the same data (status may: recurring)."""
    return [
        (
            f["fingerprint"],
            f["category"],
            json.dumps(f["entities"], sort_keys=True),
            f["event_count"],
            f["first_seen"],
            f["last_seen"],
            json.dumps(f["exposure"], sort_keys=True),
        )
        for f in document["findings"]
    ]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample_logs ingested and audited once, with its findings document beside it."""
    folder = tmp_path_factory.mktemp("db")
    path = folder / "audit.duckdb"
    result = run_cli(
        ["audit", SAMPLE_LOGS, "--db", path, "-o", folder / "first.json"],
        SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"{INGESTED} (details: leakaudit status --db {path}).\n"
        f"Wrote {folder / 'first.json'} (json).\n"
    )
    return path


@pytest.fixture(scope="module")
def first(db: Path) -> dict[str, Any]:
    return json.loads((db.parent / "first.json").read_text("utf-8"))


def test_reasons_say_once_never_1_times(first: dict[str, Any]) -> None:
    reasons = [f["reason"] for f in first["findings"]]
    assert not [r for r in reasons if re.search(r"\b1 times\b", r)]
    assert any(" once " in r for r in reasons)
    assert any(re.search(r" [2-9] times ", r) for r in reasons)


# --- exit codes and --fail-on --------------------------------------------------------------


def test_without_fail_on_findings_exit_0(db: Path) -> None:
    result = run_cli(["audit", "--db", db])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # nothing ingested, nothing written, no gate
    assert "159 findings; 15 rules ran, 0 skipped" in result.stdout


@pytest.mark.parametrize(("severity", "count"), [("critical", 3), ("high", 157), ("info", 159)])
def test_fail_on_exits_1_with_one_line(
    db: Path, tmp_path: Path, first: dict[str, Any], severity: str, count: int
) -> None:
    out = tmp_path / "f.json"
    result = run_cli(["audit", "--db", db, "-q", "-o", out, "--fail-on", severity])
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"Wrote {out} (json).\n{count} findings at or above {severity}: exit 1.\n"
    )
    ranks = ["info", "low", "medium", "high", "critical"]
    at_or_above = [
        f for f in first["findings"] if ranks.index(f["severity"]) >= ranks.index(severity)
    ]
    assert len(at_or_above) == count


@pytest.mark.parametrize("columns", ["0", "20"])
def test_a_narrow_or_zero_columns_hides_no_count(db: Path, columns: str) -> None:
    """COLUMNS=0 (some CI runners export it) printed nothing at all, exit 1 and no word why;
    COLUMNS=20 cut the severity names and counts to "…"."""
    result = run_cli(["audit", "--db", db, "--fail-on", "high"], COLUMNS=columns)
    assert result.exit_code == 1, result.output
    assert result.stderr == "157 findings at or above high: exit 1.\n"
    assert "159 findings; 15 rules ran, 0 skipped" in result.stdout
    rows = {tuple(line.split()) for line in result.stdout.splitlines()}
    assert {("critical", "│", "3"), ("high", "│", "154"), ("medium", "│", "2")} <= {
        r[:3] for r in rows
    }
    assert "device_identity_conflict" in result.stdout
    assert "…" not in result.stdout.split("severity ┃ rule")[0]  # the two count tables


def test_quiet_with_an_output_file_prints_nothing_on_stdout(db: Path, tmp_path: Path) -> None:
    """`--quiet`: "No progress bar and no summary table." (its --help)."""
    out = tmp_path / "f.json"
    result = run_cli(["audit", "--db", db, "-q", "-o", out])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"Wrote {out} (json).\n"
    assert out.stat().st_size > 0


def test_fail_on_below_every_finding_exits_0(db: Path) -> None:
    # LAS004 (staff_bulk_access) is medium: nothing at or above critical.
    result = run_cli(["audit", "--db", db, "--rule", "LAS004", "--fail-on", "critical"])
    assert result.exit_code == 0, result.output
    assert "at or above" not in result.stderr
    assert "1 finding; 1 rule ran, 0 skipped" in result.stdout


def test_fail_on_an_unknown_severity_is_a_usage_error(db: Path) -> None:
    result = run_cli(["audit", "--db", db, "--fail-on", "severe"])
    assert result.exit_code == 2
    assert "Invalid value for '--fail-on': 'severe' is not one of" in result.stderr
    assert "Traceback" not in result.output


# --- configuration errors: exit 2, one line, before any work --------------------------------


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (
            "LAM002.max_gap=abc",
            "rule LAM002 has no parameter 'max_gap' (it declares: window, min_accounts).",
        ),
        (
            "LAM002.window=abc",
            "'abc' is not a duration (a number and a unit: 90s, 15m, 2h, 1d, 1w).",
        ),
        ("LAM002.min_accounts=abc", "'abc' is not an integer."),
        ("LAM002.min_accounts=-5", "'-5' is below the smallest allowed value, 2."),
        ("LAM002.min_accounts=1", "'1' is below the smallest allowed value, 2."),
        ("LAM002.min_accounts=99999999999999999999", "'99999999999999999999' is out of range."),
        # timedelta cannot hold it: an OverflowError was a traceback and exit 1 ("findings")
        ("LAM002.window=99999999999w", "'99999999999w' is out of range."),
        # A month to the one who wrote it, a minute to a case-insensitive parser.
        ("LAM002.window=1M", "'1M' is ambiguous: write 1m for minutes (a month is 30d)."),
    ],
)
def test_bad_param_is_exit_2_with_one_line(tmp_path: Path, param: str, message: str) -> None:
    path = tmp_path / "a.duckdb"
    result = run_cli(["audit", SAMPLE_LOGS, "--db", path, "--param", param])
    assert result.exit_code == 2
    assert result.stderr == f"error: --param {param!r}: {message}\n"
    assert result.stdout == ""
    assert not path.exists()  # rejected before anything was ingested


def test_param_without_equals_sign(db: Path) -> None:
    result = run_cli(["audit", "--db", db, "--param", "garbage"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --param 'garbage' must look like RULE_ID.name=value.\n",
    )


def test_a_param_of_a_rule_left_out_of_the_run_says_so(db: Path) -> None:
    # LAS004 exists: "unknown rule" would send a responder looking for a typo.
    result = run_cli(
        ["audit", "--db", db, "--pack", "devices", "--param", "LAS004.min_customers=5"]
    )
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --param 'LAS004.min_customers=5': rule LAS004 is not selected in this run "
        "(--pack, --rule or --exclude left it out), so the parameter would change nothing.\n",
    )


def test_a_good_param_changes_the_result(db: Path) -> None:
    # Raising the burst threshold above the 60 planted recipients silences LAM002.
    result = run_cli(["audit", "--db", db, "--rule", "LAM002", "--param", "LAM002.min_accounts=61"])
    assert result.exit_code == 0, result.output
    assert "0 findings; 1 rule ran, 0 skipped" in result.stdout


def test_unknown_rule_is_exit_2(db: Path) -> None:
    result = run_cli(["audit", "--db", db, "--rule", "LAX999"])
    assert result.exit_code == 2
    assert result.stderr == (f"error: Unknown rule 'LAX999'; known rules: {', '.join(RULE_IDS)}.\n")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-o", "{tmp}/findings.docx"],
            "error: Cannot tell the report format of {tmp}/findings.docx from its extension "
            "(known: .csv, .htm, .html, .json, .jsonl, .junit.xml, .md, .ocsf.jsonl, .sarif, "
            ".txt); pass --format.\n",
        ),
        (
            ["--format", "pdf"],
            "error: Unknown report format 'pdf'; choose one of console, csv, html, json, "
            "jsonl, junit, markdown, ocsf, sarif.\n",
        ),
        (
            ["--redact"],
            "error: --redact needs a key: pass --redact-key or set LEAKAUDIT_REDACT_KEY.\n",
        ),
        (
            ["--redact", "--redact-key", "short"],
            "error: The redaction key is too short (5 characters); use at least 16 random "
            "characters, or pseudonyms can be reversed by guessing it.\n",
        ),
        (
            ["-o", "{tmp}/findings.json", "-o", "{tmp}/nowhere/findings.sarif"],
            "error: {tmp}/nowhere/findings.sarif: Cannot write the report: "
            "No such file or directory.\n",
        ),
        (
            ["-o", "{tmp}/findings.json", "-o", "{tmp}/findings.sarif", "--format", "sarif"],
            "error: {tmp}/findings.json: --format sarif applies to every -o FILE, but this "
            "one's extension names json; drop --format and let each extension choose.\n",
        ),
    ],
)
def test_bad_report_flags_fail_before_any_work(
    tmp_path: Path, args: list[str], message: str
) -> None:
    path = tmp_path / "a.duckdb"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run_cli(["audit", SAMPLE_LOGS, "--db", path, *argv])
    assert result.exit_code == 2
    assert result.stderr == message.replace("{tmp}", str(tmp_path))
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no report


def test_neither_inputs_nor_db_is_a_usage_error() -> None:
    result = run_cli(["audit"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: Give INPUT files or folders, or --db with an ingested database."
    )
    assert result.stdout == ""


def test_a_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["audit", tmp_path / "nowhere"])
    assert result.exit_code == 2
    assert f"'{tmp_path / 'nowhere'}' does not exist." in result.stderr


def test_an_input_folder_without_input_files_is_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "tonight"
    folder.mkdir()
    (folder / "README.md").write_text("the export job writes here\n")
    result = run_cli(["audit", folder, "--fail-on", "info"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {folder}: No input files in this folder: expected .csv, .jsonl/.ndjson/.json "
        "or .parquet, optionally with .gz or .zst.\n"
    )


def test_an_audit_where_every_rule_would_be_skipped_is_exit_2(tmp_path: Path) -> None:
    # Only consents: no rule has the rows it needs, so a gate would pass having run nothing.
    (tmp_path / "consents.csv").write_text(
        "account_id,scope,granted_at\nA,media,2024-01-01T00:00:00Z\n"
    )
    db = tmp_path / "kept.duckdb"
    result = run_cli(["audit", tmp_path / "consents.csv", "--db", db, "--fail-on", "info"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {db}: Nothing to audit: every selected rule needs a table that holds no rows "
        "(empty: access_events, devices, staff, staff_access).\n"
    )
    assert api.query("SELECT count(*) AS n FROM consents", db=db)["n"].tolist() == [1]  # kept
    only_staff = run_cli(["audit", "--db", db, "--pack", "staff"])
    assert only_staff.exit_code == 2
    assert only_staff.stderr.endswith("(empty: staff, staff_access).\n")


# --- output: stdout, files ------------------------------------------------------------------


def test_format_json_without_output_writes_the_document_to_stdout(
    db: Path, first: dict[str, Any]
) -> None:
    result = run_cli(["audit", "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert_valid_findings(document)
    assert comparable(document) == comparable(first)
    assert result.stderr == ""  # nothing else on stdout, no summary, no "Wrote"


def test_format_with_several_outputs_that_agree(db: Path, tmp_path: Path) -> None:
    outs = [tmp_path / "a.json", tmp_path / "b.findings"]  # .findings: --format decides
    result = run_cli(["audit", "--db", db, "-q", "--format", "json", "-o", outs[0], "-o", outs[1]])
    assert result.exit_code == 0, result.output
    assert json.loads(outs[0].read_bytes()) == json.loads(outs[1].read_bytes())


def test_format_csv_without_output_and_with_a_file(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.txt"  # --format wins over the extension
    result = run_cli(["audit", "--db", db, "--format", "csv", "-o", out])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b'"fingerprint","severity","category"')
    assert result.stderr.endswith(f"Wrote {out} (csv).\n")


# --- a persistent database ------------------------------------------------------------------


def test_second_audit_on_the_same_db_adds_nothing(db: Path, first: dict[str, Any]) -> None:
    out = db.parent / "second.json"
    result = run_cli(
        ["audit", SAMPLE_LOGS, "--db", db, "-q", "-o", out], SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH
    )
    assert result.exit_code == 0, result.output
    second = json.loads(out.read_text("utf-8"))
    assert comparable(second) == comparable(first)
    assert second["run"]["inputs"] == first["run"]["inputs"]  # 10 files, not 20
    assert second["summary"]["quarantined_rows"] == 7
    assert api.query("SELECT count(*) AS n FROM ingest_log", db=db)["n"][0] == 10
    assert api.query("SELECT count(*) AS n FROM quarantine", db=db)["n"][0] == 7
    without_inputs = run_cli(["audit", "--db", db, "--format", "json"])
    assert comparable(json.loads(without_inputs.stdout)) == comparable(first)


def test_re_ingesting_says_it_added_nothing(db: Path) -> None:
    result = run_cli(["audit", SAMPLE_LOGS, "--db", db, "--rule", "LAS007"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        "0 rows ingested from 0 files, 0 quarantined, 10 already ingested "
        f"(details: leakaudit status --db {db})."
    )


# --- --strict -------------------------------------------------------------------------------


def test_strict_with_quarantined_rows_is_exit_2_and_ingests_nothing(tmp_path: Path) -> None:
    path = tmp_path / "strict.duckdb"
    result = run_cli(["audit", SAMPLE_LOGS, "--db", path, "--strict"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    match = re.fullmatch(
        r"error: (.+):(\d+): (.+) \(7 rows quarantined; --strict makes that an error, "
        r"so nothing was ingested\)",
        lines[0],
    )
    assert match, lines[0]
    expected = json.loads((REPO / "tests/data/sample_logs_expected.json").read_text("utf-8"))
    malformed = {(str(SAMPLE_LOGS / m["file"]), m["line"]) for m in expected["malformed"]}
    assert (match[1], int(match[2])) in malformed
    assert result.stdout == ""
    # The database did not exist before: "as it was" is no file, not an empty database that
    # a later `audit --db` would read.
    assert sorted(tmp_path.iterdir()) == []


def test_a_failed_ingest_keeps_a_database_that_existed(tmp_path: Path) -> None:
    path = tmp_path / "kept.duckdb"
    assert run_cli(["ingest", SAMPLE_LOGS / "shares.csv", "--db", path, "-q"]).exit_code == 0
    for command in ("ingest", "audit"):
        failed = run_cli([command, SAMPLE_LOGS / "devices.csv", "--db", path, "--strict", "-q"])
        assert failed.exit_code == 2
        assert api.query("SELECT count(*) AS n FROM shares", db=path)["n"][0] == 217


def test_strict_judges_this_run_s_ingest_and_counts_earlier_quarantined_rows(
    db: Path, tmp_path: Path
) -> None:
    # A kept database whose earlier ingest quarantined 7 rows: a nightly --strict gate must
    # not turn red for ever over them (they were refused where they arrived), and the run
    # record still says how many rows the audit did not see.
    out = tmp_path / "strict.json"
    result = run_cli(["audit", "--db", db, "--strict", "-q", "-o", out])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text("utf-8"))["run"]["quarantined_rows"] == 7


def test_strict_without_bad_rows_runs(tmp_path: Path) -> None:
    staff_access = tmp_path / "staff_access.csv"
    staff_access.write_text("ts,staff_id,action,account_id\n2024-06-12T09:00:00Z,st-x,account,A\n")
    result = run_cli(
        [
            "audit",
            *(SAMPLE_LOGS / name for name in ("staff.csv", "consents.jsonl")),
            staff_access,
            "--strict",
            "-q",
        ]
    )
    assert result.exit_code == 0, result.output


# --- --profile ------------------------------------------------------------------------------


def test_profile_prints_rule_timings(db: Path) -> None:
    result = run_cli(["audit", "--db", db, "-q", "--profile"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == "Rule timings"
    header = next(line for line in lines if "rule" in line and "seconds" in line)
    assert re.search(r"rule\s+┃\s+status\s+┃\s+findings\s+┃\s+seconds", header)
    rows = {
        m[1]: (m[2], int(m[3]), float(m[4]))
        for m in re.finditer(r"│ (L\w+)\s+│ (\w+)\s+│\s+(\d+) │\s+([\d.]+) │", result.stderr)
    }
    assert sorted(rows) == RULE_IDS
    assert all(status == "ran" for status, _, _ in rows.values())
    assert sum(n for _, n, _ in rows.values()) == 159
    seconds = [s for _, _, s in rows.values()]
    ordered = [float(m[1]) for m in re.finditer(r"│\s+([\d.]+) │\n", result.stderr)]
    assert ordered == sorted(seconds, reverse=True)  # slowest first


# --- custom rules and --override ------------------------------------------------------------

CUSTOM_RULE = """\
id: LAS007
title: Any principal read the raw media store
category: raw_store_access
severity: low
description: >-
  Flags every served raw_read, by humans and services alike: a stricter site policy than the
  built-in rule of the same id.
rationale: At this site even service principals must not read the raw store.
remediation: Review the reads against the maintenance calendar.
references: [INCIDENTS.md]
tags: [site]
requires: [staff_access]
query: |
  SELECT s.staff_id, s.ts AS event_ts, s._source_file, s._source_line, s.media_id
  FROM staff_access AS s
  WHERE s.action = 'raw_read' AND s.outcome = 'served'
entities: [staff_id]
evidence: [media_id]
reason: "{staff_id} read the raw media store {event_count} times from {first_seen}."
tests:
  - name: a service read
    tables:
      staff_access:
        - {ts: "2024-01-02T00:00:00Z", staff_id: svc-1, action: raw_read, media_id: m1}
    findings:
      - {staff_id: svc-1}
  - name: other actions are quiet
    tables:
      staff_access:
        - {ts: "2024-01-02T00:00:00Z", staff_id: s1, action: clip, media_id: m1}
    findings: []
"""


@pytest.fixture
def custom_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "site_rules"
    pack.mkdir()
    (pack / "pack.yml").write_text(
        'name: site\nversion: "0.0.1"\ndescription: Site policy replacing a built-in rule.\n'
    )
    (pack / "LAS007.yml").write_text(CUSTOM_RULE)
    return pack


def test_custom_rule_overriding_a_builtin_needs_override(db: Path, custom_pack: Path) -> None:
    refused = run_cli(["audit", "--db", db, "--rules", custom_pack])
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: {custom_pack / 'LAS007.yml'}:1: rule id 'LAS007' is already a built-in rule "
        "of pack 'staff'; pass --override to replace it\n"
    )
    assert refused.stdout == ""

    accepted = run_cli(
        ["audit", "--db", db, "--rules", custom_pack, "--override", "--format", "jsonl"]
    )
    assert accepted.exit_code == 0, accepted.output
    records = [json.loads(line) for line in accepted.stdout.splitlines()]
    raw = [r for r in records if r["rule_id"] == "LAS007"]
    assert {r["pack"] for r in raw} == {"site"}
    assert {r["severity"] for r in raw} == {"low"}
    # The site rule flags services too; the built-in one flagged st-dan alone.
    assert sorted(r["entities"]["staff_id"] for r in raw) == [
        "st-dan",
        "svc-backup",
        "svc-transcoder",
    ]
    assert raw[0]["provenance"]["pack"]["name"] == "site"
    # Every other built-in rule still ran.
    assert len(records) == 159 - 1 + 3


# --- --redact -------------------------------------------------------------------------------

ACCOUNT = re.compile(r"acct-\d{4}")
EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


def world_text() -> str:
    """Every byte of the sample world as text (Parquet cells stringified)."""
    parts = []
    for path in sorted(SAMPLE_LOGS.rglob("*")):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            parts.extend(str(v) for col in table.columns for v in col.to_pylist())
        elif path.is_file() and path.name != "README.md":
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            parts.append(data.decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def secrets() -> dict[str, set[str]]:
    text = world_text()
    found = {
        "account": set(ACCOUNT.findall(text)),
        "email": set(EMAIL.findall(text)),
        "ip": set(IPV4.findall(text)),
    }
    assert len(found["account"]) >= 300 and len(found["email"]) > 10 and len(found["ip"]) > 100
    return found


def readable_forms(fmt: str, data: bytes) -> list[str]:
    """The bytes as text, plus as a reader sees them: Markdown backslash escapes and
    HTML/XML character references undone, so an escaped id cannot hide from the search."""
    text = data.decode("utf-8")
    return [text, text.replace("\\", ""), html.unescape(text)]


@pytest.fixture(scope="module")
def redacted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One audit of sample_logs with --redact (key from the environment), every format, the
    console report as a file too, and the terminal summary."""
    out = tmp_path_factory.mktemp("redacted")
    result = run_cli(
        ["audit", SAMPLE_LOGS, "--redact", *output_args(out), "-o", out / "summary.txt"],
        LEAKAUDIT_REDACT_KEY=REDACT_KEY,
        SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
    )
    assert result.exit_code == 0, result.output
    return {"result": result, "paths": report_paths(out), "summary": out / "summary.txt"}


@pytest.mark.slow
def test_redacted_reports_hold_no_account_email_or_ip(
    redacted: dict[str, Any], secrets: dict[str, set[str]], first: dict[str, Any]
) -> None:
    # The unredacted document does hold them, so the search below can find them.
    plain = json.dumps(first)
    assert ACCOUNT.search(plain) and "user0133@example.net" in plain
    outputs = {fmt: p.read_bytes() for fmt, p in redacted["paths"].items()}
    outputs["console"] = redacted["summary"].read_bytes()
    outputs["stdout"] = redacted["result"].stdout.encode("utf-8")
    outputs["stderr"] = redacted["result"].stderr.encode("utf-8")
    leaks = {}
    for fmt, data in outputs.items():
        for text in readable_forms(fmt, data):
            seen = (
                set(ACCOUNT.findall(text))
                | (set(EMAIL.findall(text)) & secrets["email"])
                | (set(IPV4.findall(text)) & secrets["ip"])
            )
            if seen:
                leaks[fmt] = sorted(seen)[:5]
    assert not leaks, f"personal data left in redacted output: {leaks}"


@pytest.mark.slow
def test_redacted_reports_stay_valid(redacted: dict[str, Any]) -> None:
    validate_reports(redacted["paths"])


@pytest.mark.slow
def test_pseudonyms_are_consistent_and_fingerprints_are_of_them(
    redacted: dict[str, Any], first: dict[str, Any]
) -> None:
    key = REDACT_KEY.encode()
    document = json.loads(redacted["paths"]["json"].read_text("utf-8"))

    def pseudonymised(name: str, value: Any) -> Any:
        if "account" not in name:
            return value
        if isinstance(value, list):
            return sorted(pseudonym("account", v, key) for v in value)
        return pseudonym("account", value, key)

    # Each original finding, its entities pseudonymised, and the fingerprint of those.
    expected = {}
    for f in first["findings"]:
        entities = {name: pseudonymised(name, v) for name, v in f["entities"].items()}
        expected[fingerprint(f["rule_id"], entities)] = entities
    assert len(expected) == len(first["findings"])
    assert {f["fingerprint"]: f["entities"] for f in document["findings"]} == expected
    # No unkeyed hash of real account ids is left to reverse.
    text = redacted["paths"]["json"].read_text("utf-8")
    for f in first["findings"]:
        if any("account" in name for name in f["entities"]):
            assert f["fingerprint"] not in text, f["rule_id"]
    # One account, the same pseudonym in every format that names it.
    victim = pseudonym("account", "acct-0111", key)  # st-ben's live view (LAS002)
    outputs = {fmt: p.read_bytes() for fmt, p in redacted["paths"].items()}
    outputs["console"] = redacted["summary"].read_bytes()
    for fmt, data in outputs.items():
        form = md_text(victim) if fmt == "markdown" else victim
        assert form.encode() in data, f"{victim} not in the {fmt} report"
    # The looked-up e-mail of the lookup-then-access case: one pseudonym wherever it shows.
    looked_up = {kind: pseudonym(kind, "user0133@example.net", key) for kind in ("email", "lookup")}
    shown = {
        kind
        for kind, value in looked_up.items()
        for data in outputs.values()
        if value.encode() in data or md_text(value).encode() in data
    }
    assert len(shown) == 1, shown
    assert looked_up[shown.pop()].encode() in outputs["json"]


def test_counts_of_one_read_as_one_in_every_report(tmp_path: Path) -> None:
    """'1 findings; 1 rules ran', '(1 rows, …)', '1 input rows quarantined' and '(1 events'
    were left behind when '1 rows' and '1 input files' were mended."""
    logs = tmp_path / "staff_access.csv"
    logs.write_text(
        "ts,staff_id,action,account_id\n"
        "2024-01-01T00:00:00Z,s-1,raw_read,A-1\n"
        "not a time,s-1,raw_read,A-1\n"
    )
    md, junit = tmp_path / "f.md", tmp_path / "f.junit.xml"
    result = run_cli(["audit", logs, "--rule", "LAS007", "-o", md, "-o", junit])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:3] == [
        "1 input file (1 row, 1 quarantined); events from 2024-01-01T00:00:00Z to "
        "2024-01-01T00:00:00Z",
        "1 finding; 1 rule ran, 0 skipped",
    ]
    assert "**1** finding; 1 rule ran, 0 skipped; 1 input row quarantined." in md.read_text()
    assert "(1 event, 2024-01-01T00:00:00Z to 2024-01-01T00:00:00Z at " in junit.read_text()


@pytest.mark.parametrize(
    ("epoch", "problem"),
    [
        ("1e9", "SOURCE_DATE_EPOCH must be whole seconds, not '1e9'."),
        ("99999999999999999", "SOURCE_DATE_EPOCH '99999999999999999' is out of range."),
    ],
)
def test_a_bad_source_date_epoch_is_refused_before_any_work(
    tmp_path: Path, epoch: str, problem: str
) -> None:
    """It was read only after the ingest and every rule had run, and a value past the year
    9999 was a traceback and exit 70."""
    db = tmp_path / "new.duckdb"
    result = run_cli(["audit", SAMPLE_LOGS, "--db", db, "-q"], SOURCE_DATE_EPOCH=epoch)
    assert (result.exit_code, result.stderr) == (2, f"error: {problem}\n")
    assert not db.exists()  # nothing was ingested
