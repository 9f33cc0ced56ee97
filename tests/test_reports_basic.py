"""JSON, JSON Lines, CSV, Markdown and console reports: valid, inert, deterministic."""

from __future__ import annotations

import csv
import io
import json
import re
from functools import cache
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from report_fixtures import FORMULA_STARTS, HOSTILE, hostile_document, pii_document
from rich.console import Console

from leakaudit.errors import ConfigError
from leakaudit.findings import FindingsDocument
from leakaudit.reports import RenderOptions, load_reporters, renderer_for
from leakaudit.reports.console import MAX_LISTED, print_summary
from leakaudit.reports.csv import MAX_CELL_CHARS, neutralise
from leakaudit.reports.markdown import md_text
from leakaudit.reports.terminal import safe_plain
from leakaudit.reports.writer import write_reports

SCHEMA = Path(__file__).resolve().parents[1] / "leakaudit" / "schemas" / "findings.schema.json"
FORMATS = ("json", "jsonl", "csv", "markdown", "console")
MAKERS = [pii_document, hostile_document]
MAKER_IDS = ["real", "hostile"]


def render(fmt: str, doc: FindingsDocument) -> bytes:
    return load_reporters()[fmt].render(doc, RenderOptions(base_dir=Path("/srv/audit")))


@cache
def validator(definition: str | None = None) -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    if definition is not None:
        schema = {**schema, "$ref": f"#/$defs/{definition}"}
        for key in ("properties", "required", "additionalProperties", "type"):
            schema.pop(key)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def assert_valid(instance: object, definition: str | None = None) -> None:
    errors = list(validator(definition).iter_errors(instance))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors)


# --- registry and files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("out/findings.json", "json"),
        ("findings.jsonl", "jsonl"),
        ("findings.ocsf.jsonl", "ocsf"),
        ("FINDINGS.CSV", "csv"),
        ("report.md", "markdown"),
        ("summary.txt", "console"),
    ],
)
def test_format_from_extension(target: str, name: str) -> None:
    assert renderer_for(target).name == name


def test_write_reports_writes_every_target_and_nothing_on_a_bad_one(tmp_path: Path) -> None:
    doc = pii_document()
    targets = [(tmp_path / "f.json", None), (tmp_path / "f.csv", None), (tmp_path / "f", "md")]
    with pytest.raises(ConfigError, match="Unknown report format 'md'"):
        write_reports(doc, targets, RenderOptions())
    assert list(tmp_path.iterdir()) == []
    targets[2] = (tmp_path / "f", "markdown")
    written = write_reports(doc, targets, RenderOptions())
    assert [(p.name, r.name) for p, r in written] == [
        ("f.json", "json"),
        ("f.csv", "csv"),
        ("f", "markdown"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "f.csv", "f.json"]
    assert (tmp_path / "f.csv").read_bytes() == render("csv", doc)
    with pytest.raises(ConfigError, match="given twice"):
        write_reports(
            doc, [(tmp_path / "f.json", None), (tmp_path / "f.json", None)], RenderOptions()
        )
    with pytest.raises(ConfigError, match="Cannot write the report"):
        write_reports(doc, [(tmp_path / "missing" / "f.json", None)], RenderOptions())


# --- determinism ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make", MAKERS, ids=MAKER_IDS)
def test_two_renders_are_byte_identical(fmt: str, make) -> None:
    first, second = render(fmt, make()), render(fmt, make())
    assert first == second
    assert first.endswith(b"\n")
    first.decode("utf-8")  # strict: lone surrogates never reach the bytes


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_saved_document_renders_like_the_original(fmt: str) -> None:
    doc = hostile_document()
    saved = FindingsDocument.from_dict(json.loads(render("json", doc)))
    if fmt == "json":
        assert render(fmt, saved) == render(fmt, doc)
    # Elsewhere only the lone surrogates differ: the saved JSON already holds U+FFFD.
    assert render(fmt, saved) == render(
        fmt, FindingsDocument.from_dict(json.loads(render("json", saved)))
    )


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize("make", MAKERS, ids=MAKER_IDS)
def test_json_document_validates_against_the_schema(make) -> None:
    doc = make()
    data = json.loads(render("json", doc))
    assert_valid(data)
    assert data["schema"] == "leakaudit.findings/v1"
    assert [f["fingerprint"] for f in data["findings"]] == [f.fingerprint for f in doc.findings]
    assert data["summary"]["findings"] == len(doc.findings)


def test_json_keys_are_sorted_and_text_is_not_ascii_escaped() -> None:
    doc = pii_document()
    doc.findings[0].reason = "Kamera «Küche» sah A-93."
    text = render("json", doc).decode("utf-8")
    assert "«Küche»" in text
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert list(data["findings"][0]) == sorted(data["findings"][0])


def test_schema_is_strict() -> None:
    data = json.loads(render("json", pii_document()))
    finding = data["findings"][0]
    bad = [
        {**data, "extra": 1},
        {**data, "schema": "leakaudit.findings/v2"},
        {**data, "findings": [{**finding, "severity": "urgent"}]},
        {**data, "findings": [{**finding, "status": "open"}]},
        {**data, "findings": [{**finding, "category": "misc"}]},
        {**data, "findings": [{**finding, "first_seen": "2024-01-01 00:00"}]},
        {**data, "findings": [{**finding, "exposure": {"bytes": 1}}]},
        {**data, "findings": [{**finding, "entities": {"accounts": [1]}}]},
        {**data, "findings": [{k: v for k, v in finding.items() if k != "reason"}]},
    ]
    for instance in bad:
        assert not validator().is_valid(instance), instance.keys()


@pytest.mark.parametrize("make", MAKERS, ids=MAKER_IDS)
def test_jsonl_has_one_finding_a_line_with_its_provenance(make) -> None:
    doc = make()
    lines = render("jsonl", doc).decode("utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    assert [r["fingerprint"] for r in records] == [f.fingerprint for f in doc.findings]
    for record, finding in zip(records, doc.findings, strict=True):
        assert_valid(record, "findingLine")
        prov = record["provenance"]
        assert prov["leakaudit_version"] == doc.run.leakaudit_version
        assert prov["started_at"] == "2024-03-01T09:30:00Z"
        assert prov["pack"]["name"] == finding.pack
        evidence_files = {e.source_file for e in finding.evidence}
        assert {i["path"] for i in prov["inputs"]} <= evidence_files
    lam002 = next(r for r in records if r["rule_id"] == "LAM002")
    assert lam002["provenance"]["params"] == {"window": "15m", "min_accounts": 3}
    assert lam002["provenance"]["pack"]["version"] == "1.1.0"


# --- CSV -----------------------------------------------------------------------------------


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_quotes_every_cell_and_keeps_numbers_numbers() -> None:
    doc = pii_document()
    data = render("csv", doc)
    quoted_line = re.compile(r'^"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*$')
    lines = data.decode("utf-8").split("\r\n")
    assert lines[-1] == ""
    assert all(quoted_line.match(line) for line in lines[:-1])
    frame = pd.read_csv(io.BytesIO(data))
    assert len(frame) == len(doc.findings)
    assert frame["event_count"].dtype == "int64"
    assert frame["evidence_line"].dtype == "int64"
    assert list(frame["event_count"]) == [f.event_count for f in doc.findings]
    assert list(frame["fingerprint"]) == [f.fingerprint for f in doc.findings]
    header = csv_rows(data)[0]
    assert "entity.accounts" in header and "params" in header and "pack_sha256" in header
    burst = frame[frame["rule_id"] == "LAM002"].iloc[0]
    assert json.loads(burst["entity.accounts"]) == ["A-58", "A-61", "A-93", "A-140"]
    assert json.loads(burst["params"]) == {"min_accounts": 3, "window": "15m"}
    assert burst["pack_version"] == "1.1.0"


def test_csv_neutralises_formulas_in_hostile_cells() -> None:
    doc = hostile_document()
    cells = [cell for row in csv_rows(render("csv", doc)) for cell in row]
    assert all(not c.startswith(FORMULA_STARTS) for c in cells), [
        c[:40] for c in cells if c.startswith(FORMULA_STARTS)
    ]
    entity_values = {v for f in doc.findings for v in f.entities.values() if isinstance(v, str)}
    formulas = [v for v in entity_values if v.startswith(FORMULA_STARTS)]
    assert len(formulas) >= 5
    for value in formulas:
        assert neutralise(value) in cells
    assert '\'=HYPERLINK("http://x")' in cells
    assert max(len(c) for c in cells) == MAX_CELL_CHARS


@pytest.mark.parametrize("value", HOSTILE)
def test_neutralise(value: str) -> None:
    cell = neutralise(value)
    shown = safe_plain(value)  # control and bidi characters as visible \xNN text
    if value.startswith(FORMULA_STARTS):
        assert cell.startswith("'") and cell[1:].startswith(shown[:100])
    else:
        assert cell.startswith(shown[:100])
    assert all(ch.isprintable() or ch == "\t" for ch in cell)
    assert len(cell) <= MAX_CELL_CHARS


# --- Markdown ------------------------------------------------------------------------------


def test_markdown_has_summary_findings_and_provenance() -> None:
    doc = pii_document()
    text = render("markdown", doc).decode("utf-8")
    html = MarkdownIt("commonmark").enable("table").render(text)
    for heading in ("leakaudit findings", "Summary", "Findings", "Provenance"):
        assert re.search(rf"<h[12]>{heading}</h[12]>", html)
    assert html.count("<h3>") == len(doc.findings)
    assert "<strong>Reason:</strong> Account A-93 was served 41 media items" in html
    assert "<td>owner_account_id</td>\n<td>A-17</td>" in html
    assert "items delivered 41" in html
    assert "needs partner_links" in html
    assert "<td>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</td>" in html
    counts = [len(f.evidence) for f in doc.findings]
    said = [int(n) for n, _ in re.findall(r"\*\*Evidence\*\* \((\d+) (row|rows)\)", text)]
    assert said == [n for n in counts if n]
    assert all((word == "row") == (n == "1") for n, word in re.findall(r"\((\d+) (rows?)\)", text))


def test_markdown_renders_hostile_text_as_plain_text() -> None:
    data = render("markdown", hostile_document())
    assert b"<script" not in data and b"<img" not in data and b"\x1b" not in data
    html = MarkdownIt("commonmark").enable("table").render(data.decode("utf-8"))
    for tag in ("<script", "<img", "<a ", "<em>", "<code>", "<h4", "<ul>\n<li>=", "<iframe"):
        assert tag not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[click](javascript:alert(1))" in html  # shown, not linked
    assert "\\x1b[2J" in html
    # Every table row keeps its columns: no log value broke out of its cell.
    for table in re.findall(r"<table>.*?</table>", html, re.DOTALL):
        widths = {row.count("<td>") for row in re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)}
        assert len(widths - {0}) <= 1


def test_md_text_escapes_autolinks_and_cuts_long_values() -> None:
    assert md_text("http://x www.y.z a@b.c") == r"http\:\/\/x www\.y\.z a\@b\.c"
    assert md_text("<b>&") == "&lt;b&gt;&amp;"
    assert md_text("A" * 1000).endswith("…") and len(md_text("A" * 1000)) == 400


# --- console -------------------------------------------------------------------------------


def test_console_summary_counts_and_reasons() -> None:
    doc = pii_document()
    text = render("console", doc).decode("utf-8")
    assert "10 findings; 9 rules ran, 1 skipped" in text
    assert "skipped LAM004: needs partner_links" in text
    assert re.search(r"critical\s+│\s+4", text)
    assert re.search(r"media_to_non_owner\s+│\s+3", text)
    assert "Staff member emp-020 read the raw media store directly." in text
    assert "\x1b" not in text


def test_console_text_is_inert_and_cut() -> None:
    text = render("console", hostile_document()).decode("utf-8")
    assert "\x1b" not in text and "\r" not in text and "\x00" not in text
    assert "\\x1b[2J\\x1b[31m" in text
    assert "[bold red]x[/]" in text  # shown literally, not read as markup
    assert ":warning:" in text and "⚠" not in text  # no emoji codes
    assert "A" * 300 not in text and "…" in text
    assert len(text) < 20_000


def test_print_summary_on_a_colour_terminal_only_emits_styles() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=120)
    print_summary(hostile_document(), console)
    text = out.getvalue()
    assert "\x1b[" in text  # styled, as a terminal should be
    assert not re.findall(r"\x1b(?!\[[0-9;]*m)", text)  # SGR colour codes only
    assert "\x1b[2J" not in text
    assert "[bold red]x[/]" in text


def test_console_lists_at_most_max_listed_findings() -> None:
    doc = pii_document()
    doc.findings = doc.findings * (MAX_LISTED // len(doc.findings) + 2)
    text = render("console", doc).decode("utf-8")
    hidden = len(doc.findings) - MAX_LISTED
    assert f"… and {hidden:,} more findings" in text
