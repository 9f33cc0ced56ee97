"""Shared by the end-to-end `leakaudit audit` tests: running the CLI, and validating every
report format it writes with the same validators the report tests use.

`run_cli()` goes through click's CliRunner on `leakaudit.cli.commands.cli`, so the tests see
exactly what a user sees (stdout, stderr, exit code). `validate_reports()` checks a set of
written reports (one per format) and returns what it parsed, for further assertions.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import xmlschema
from click.testing import CliRunner, Result
from markdown_it import MarkdownIt
from report_fixtures import FORMULA_STARTS
from test_reports_basic import assert_valid as assert_valid_findings
from test_reports_formats import SHARED, TagCollector, _ocsf_validator, _validator, assert_inert
from test_reports_formats import assert_valid as assert_valid_with

from leakaudit.cli.commands import cli

REPO = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = REPO / "sample_logs"
SCHEMAS = SHARED / "schemas"

# One file name per format: the extension picks the renderer.
REPORT_FILES: dict[str, str] = {
    "json": "findings.json",
    "jsonl": "findings.jsonl",
    "csv": "findings.csv",
    "markdown": "findings.md",
    "html": "findings.html",
    "sarif": "findings.sarif",
    "ocsf": "findings.ocsf.jsonl",
    "junit": "findings.junit.xml",
}
# Issue 5, item 12: these must be byte-identical across runs with one SOURCE_DATE_EPOCH.
DETERMINISTIC_FORMATS = ("json", "jsonl", "csv", "markdown", "sarif", "ocsf")
SOURCE_DATE_EPOCH = "1718000000"  # 2024-06-10T06:13:20Z
OCSF_SEVERITY_ID = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


def runner(**env: str | None) -> CliRunner:
    """A CliRunner with a wide terminal and no redaction key or epoch from the caller's shell."""
    base: dict[str, str | None] = {
        "COLUMNS": "120",
        "LEAKAUDIT_REDACT_KEY": None,
        "SOURCE_DATE_EPOCH": None,
        "LEAKAUDIT_DB": None,
    }
    return CliRunner(env={**base, **env})


def run_cli(args: Sequence[str], **env: str | None) -> Result:
    """`leakaudit ARGS…`; a traceback (an exception other than exit) fails the test at once."""
    result = runner(**env).invoke(cli, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"leakaudit {' '.join(map(str, args))} raised {result.exception!r}\n{result.output}"
        ) from result.exception
    return result


def output_args(directory: Path, formats: Sequence[str] = tuple(REPORT_FILES)) -> list[str]:
    """`-o DIR/findings.EXT` for each format."""
    return [a for fmt in formats for a in ("-o", str(directory / REPORT_FILES[fmt]))]


def report_paths(directory: Path) -> dict[str, Path]:
    return {fmt: directory / name for fmt, name in REPORT_FILES.items()}


@cache
def sarif_validators() -> tuple[jsonschema.protocols.Validator, ...]:
    # GitHub's copy is not valid 2020-12 itself (see test_reports_formats): no self-check.
    return (
        _validator(SCHEMAS / "sarif-schema-2.1.0.json"),
        _validator(SCHEMAS / "sarif-schema-2.1.0.github.json", check=False),
    )


@cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))


def parse_html(data: bytes) -> TagCollector:
    parser = TagCollector()
    parser.feed(data.decode("utf-8"))
    parser.close()
    return parser


def csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@dataclass
class Reports:
    """What `validate_reports` parsed, per format."""

    raw: dict[str, bytes]
    document: dict[str, Any]
    jsonl: list[dict[str, Any]] = field(default_factory=list)
    csv: list[list[str]] = field(default_factory=list)
    sarif: dict[str, Any] = field(default_factory=dict)
    ocsf: list[dict[str, Any]] = field(default_factory=list)
    junit: ET.Element | None = None
    html: TagCollector | None = None
    markdown_html: str = ""


_QUOTED_RECORDS = re.compile(r'(?:"(?:[^"]+|"")*"(?:,"(?:[^"]+|"")*")*\r\n)+')


def validate_reports(paths: Mapping[str, Path]) -> Reports:
    """Validate one report per format (keys of REPORT_FILES) as the report tests do.

    JSON against leakaudit/schemas/findings.schema.json; JSON Lines line by line against its
    `findingLine` definition; CSV fully quoted, formula-safe and readable by pandas; Markdown
    rendered by a CommonMark parser with one heading per finding; HTML inert (no executable
    markup, a strict CSP); SARIF against both schemas of ../shared/schemas; OCSF against the
    official 1.5.0 Detection Finding schema plus what the schema cannot check; JUnit against
    junit-10.xsd.
    """
    raw = {fmt: path.read_bytes() for fmt, path in paths.items()}
    for fmt, data in raw.items():
        if fmt in ("json", "jsonl", "csv", "markdown", "ocsf"):  # text formats end a line
            assert data.endswith(b"\n"), f"{fmt} report does not end with a newline"
        data.decode("utf-8")  # strict: every format is valid UTF-8
        # Only CSV keeps a cell's characters as they were (a spreadsheet shows them inert);
        # every other format escapes or shows control characters.
        if fmt != "csv":
            assert b"\x1b" not in data, f"raw ESC in the {fmt} report"

    document = json.loads(raw["json"])
    assert_valid_findings(document)
    assert document["schema"] == "leakaudit.findings/v1"
    findings = document["findings"]
    fingerprints = [f["fingerprint"] for f in findings]
    assert len(set(fingerprints)) == len(fingerprints), "duplicate fingerprints"
    assert document["summary"]["findings"] == len(findings)
    reports = Reports(raw=raw, document=document)

    if "jsonl" in raw:
        lines = raw["jsonl"].decode("utf-8").split("\n")
        assert lines[-1] == ""
        reports.jsonl = [json.loads(line) for line in lines[:-1]]
        for record in reports.jsonl:
            assert_valid_findings(record, "findingLine")
        assert [r["fingerprint"] for r in reports.jsonl] == fingerprints

    if "csv" in raw:
        # Every cell quoted, every record ended by CRLF (a cell may hold a line break).
        assert _QUOTED_RECORDS.fullmatch(raw["csv"].decode("utf-8")), "a CSV cell is unquoted"
        records = csv_cells(raw["csv"])
        reports.csv = records
        assert len(records) == len(findings) + 1  # header + one row a finding
        cells = [cell for row in records for cell in row]
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)], [
            c[:40] for c in cells if c.startswith(FORMULA_STARTS)
        ]
        frame = pd.read_csv(io.BytesIO(raw["csv"]), keep_default_na=False)
        assert len(frame) == len(findings)
        assert list(frame["fingerprint"]) == fingerprints
        if len(frame):
            assert frame["event_count"].dtype == "int64"
            assert list(frame["event_count"]) == [f["event_count"] for f in findings]

    if "markdown" in raw:
        html = MarkdownIt("commonmark").enable("table").render(raw["markdown"].decode("utf-8"))
        reports.markdown_html = html
        for heading in ("leakaudit findings", "Summary", "Provenance"):
            assert re.search(rf"<h[12]>{heading}</h[12]>", html), heading
        assert html.count("<h3>") == len(findings)
        for tag in ("<script", "<img", "<iframe"):
            assert tag not in html, f"{tag} in the rendered Markdown"

    if "html" in raw:
        parser = parse_html(raw["html"])
        reports.html = parser
        assert_inert(parser)
        assert not any(t in ("img", "link") for t, _ in parser.tags)  # nothing to fetch
        assert b"\x00" not in raw["html"]

    if "sarif" in raw:
        sarif = json.loads(raw["sarif"])
        reports.sarif = sarif
        for validator in sarif_validators():
            assert_valid_with(validator, sarif)
        results = sarif["runs"][0]["results"]
        assert sorted(r["partialFingerprints"]["leakauditFingerprint/v1"] for r in results) == (
            sorted(fingerprints)
        )

    if "ocsf" in raw:
        validator = _ocsf_validator()
        events = [json.loads(line) for line in raw["ocsf"].decode("utf-8").splitlines()]
        reports.ocsf = events
        assert len(events) == len(findings)
        for event, finding in zip(events, findings, strict=True):
            assert_valid_with(validator, event)
            assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"] == 200401
            assert event["finding_info"]["uid"] == finding["fingerprint"]
            assert event["severity_id"] == OCSF_SEVERITY_ID[finding["severity"]]
            for key in ("time", "start_time", "end_time"):
                assert 10**12 < event[key] < 10**13, f"{key} is not in milliseconds"

    if "junit" in raw:
        junit_schema().validate(raw["junit"].decode("utf-8"))
        root = ET.fromstring(raw["junit"])
        reports.junit = root
        cases = root.findall("testsuite/testcase")
        assert len(cases) == len(document["run"]["rules"])
        assert b"\x00" not in raw["junit"]

    return reports
