"""A hostile world through `leakaudit audit`, end to end (issue 5, Acceptance).

Every string of a finding comes from logs an attacker may control. This world, written by the
test, puts the hostile strings of issue 5 into device ids, account ids, user agents and staff
lookup keys, so that real findings fire *on* those values:

- a stranger is served a clip of every hostile device id (media_to_non_owner);
- every hostile account id is served a snapshot of someone else's camera (media_to_non_owner
  whose recipient is hostile), and owns a camera it may open (no finding); together with the
  stranger these are eight recipients within minutes: a leak_burst listing the hostile ids;
- a human staff member looks up every hostile account by a hostile lookup key and opens its
  clips without consent (staff_without_consent, staff_lookup_then_access);
- one CSV line holds bytes that are not UTF-8: it is quarantined, nothing crashes.

Then every report format is written in one run and checked: valid, inert HTML, neutralised
CSV cells, and a terminal summary with no raw escape character and no markup interpreted.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import (
    SOURCE_DATE_EPOCH,
    Reports,
    output_args,
    report_paths,
    run_cli,
    validate_reports,
)

from leakaudit import api

HOSTILE: tuple[str, ...] = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '=HYPERLINK("http://x")',
    "+cmd|'/c calc'!A1",
    "\x1b[2J\x1b[31m",
    "[bold red]x[/]",
    "A" * 100_000,
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")
STAFF = "st-mallory"
STRANGER = "acct-stranger"
DAY = "2024-06-01"


def ts(minute: int, second: int = 0) -> str:
    return f"{DAY}T10:{minute:02d}:{second:02d}Z"


def device_of_hostile_owner(i: int) -> str:
    return f"cam-owned-by-{i}"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8"))


def write_world(root: Path) -> Path:
    root.mkdir()
    devices = []
    for i, h in enumerate(HOSTILE):
        # A hostile device id of an ordinary owner, and an ordinary camera of a hostile owner.
        devices.append([h, f"acct-owner-{i}", "2024-01-01T00:00:00Z", f"SN-H{i}"])
        devices.append([device_of_hostile_owner(i), h, "2024-01-01T00:00:00Z", f"SN-O{i}"])
        devices.append([f"cam-plain-{i}", f"acct-plain-{i}", "2024-01-01T00:00:00Z", f"SN-P{i}"])
    devices.append(["cam-stranger", STRANGER, "2024-01-01T00:00:00Z", "SN-S"])
    write_csv(root / "devices.csv", ["device_id", "account_id", "registered_at", "serial"], devices)

    events = []
    for i, h in enumerate(HOSTILE):
        ua = HOSTILE[(i + 1) % len(HOSTILE)]
        # A stranger is served a clip of the hostile device id.
        events.append(
            {
                "ts": ts(i),
                "account_id": STRANGER,
                "device_id": h,
                "action": "clip",
                "media_id": f"med-h{i}",
                "user_agent": ua,
                "client_ip": "203.0.113.9",
            }
        )
        # The hostile account is served a snapshot of a plain camera it does not own.
        events.append(
            {
                "ts": ts(i, 30),
                "account_id": h,
                "device_id": f"cam-plain-{i}",
                "action": "snapshot",
                "media_id": f"med-p{i}",
                "user_agent": h,
            }
        )
        # The hostile owner opens its own camera: legitimate, never a finding.
        events.append(
            {
                "ts": ts(i, 45),
                "account_id": h,
                "device_id": device_of_hostile_owner(i),
                "action": "live",
                "user_agent": h,
            }
        )
    (root / "access_events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in events), encoding="utf-8"
    )

    write_csv(
        root / "staff.csv",
        ["staff_id", "team", "role", "kind"],
        [[STAFF, "support", "agent", "human"]],
    )
    header = ["ts", "staff_id", "action", "account_id", "lookup_key", "channel"]
    staff_rows = []
    for i, h in enumerate(HOSTILE):
        staff_rows.append([f"{DAY}T12:{i:02d}:00Z", STAFF, "lookup", h, h, "portal"])
        staff_rows.append([f"{DAY}T12:{i:02d}:30Z", STAFF, "clip", h, "", "portal"])
    write_csv(root / "staff_access.csv", header, staff_rows)
    # Line 2 + 2 * 7 = 16: bytes that are not UTF-8, in an otherwise well-formed row.
    with (root / "staff_access.csv").open("ab") as f:
        f.write(b"2024-06-01T13:00:00Z,st-\xff\xfe\xc3(,clip,acct-\x80bad,,portal\n")

    (root / "consents.jsonl").write_text(
        json.dumps(
            {
                "account_id": "acct-plain-0",
                "scope": "media",
                "granted_at": "2024-01-01T00:00:00Z",
                "grantee": STAFF,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    return root


BAD_LINE = 2 + 2 * len(HOSTILE)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("hostile")
    logs = write_world(base / "logs")
    out = base / "out"
    out.mkdir()
    db = base / "hostile.duckdb"
    result = run_cli(
        ["audit", logs, "--db", db, *output_args(out), "-o", out / "summary.txt"],
        SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
    )
    summary = run_cli(["audit", "--db", db], SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
    return {
        "logs": logs,
        "db": db,
        "result": result,
        "summary": summary,
        "paths": report_paths(out),
        "console": out / "summary.txt",
    }


@pytest.fixture(scope="module")
def reports(world: dict[str, Any]) -> Reports:
    assert world["result"].exit_code == 0, world["result"].output
    return validate_reports(world["paths"])


def entities_of(reports: Reports, category: str) -> list[dict[str, Any]]:
    return [f["entities"] for f in reports.document["findings"] if f["category"] == category]


# --- the audit runs and the findings fire on the hostile values -----------------------------


def test_audit_succeeds_and_quarantines_the_invalid_utf8_line(world: dict[str, Any]) -> None:
    result = world["result"]
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[0] == (
        f"{8 * len(HOSTILE) + 3} rows ingested from 5 files, 1 quarantined, 0 already ingested "
        f"(details: leakaudit status --db {world['db']})."
    )
    quarantine = api.query(
        "SELECT source_file, source_line, table_name, reason FROM quarantine", db=world["db"]
    )
    assert len(quarantine) == 1
    row = quarantine.iloc[0]
    assert Path(row["source_file"]).name == "staff_access.csv"
    assert (int(row["source_line"]), row["table_name"]) == (BAD_LINE, "staff_access")
    assert "utf-8" in row["reason"].lower()


def test_findings_fire_on_every_hostile_value(reports: Reports) -> None:
    media = entities_of(reports, "media_to_non_owner")
    hostile = set(HOSTILE)
    # The stranger received media of every hostile device id.
    assert {e["device_id"] for e in media if e["account_id"] == STRANGER} == hostile
    # Every hostile account received media of a camera it does not own.
    assert {e["account_id"] for e in media if e["account_id"] != STRANGER} == hostile
    assert len(media) == 2 * len(HOSTILE)  # the hostile owners' own live views are not leaks
    for category in ("staff_without_consent", "staff_lookup_then_access"):
        found = entities_of(reports, category)
        assert sorted(e["account_id"] for e in found) == sorted(HOSTILE), category
        assert {e["staff_id"] for e in found} == {STAFF}
    # The 100 KB value survives intact in the JSON document, the source of truth.
    assert any(e["device_id"] == HOSTILE[-1] for e in media)
    lookup_keys = {
        e["row"].get("lookup_key")
        for f in reports.document["findings"]
        if f["category"] == "staff_lookup_then_access"
        for e in f["evidence"]
    }
    assert hostile <= lookup_keys


def test_the_burst_lists_the_hostile_accounts(reports: Reports) -> None:
    bursts = entities_of(reports, "leak_burst")
    assert len(bursts) == 1
    assert bursts[0]["accounts"] == sorted([*HOSTILE, STRANGER])


def test_every_format_stays_valid(reports: Reports) -> None:
    n = len(reports.document["findings"])
    assert n >= 4 * len(HOSTILE)
    assert len(reports.jsonl) == len(reports.ocsf) == len(reports.sarif["runs"][0]["results"]) == n
    assert reports.document["summary"]["quarantined_rows"] == 1


# --- HTML: no executable markup ------------------------------------------------------------


def test_html_has_no_executable_markup(reports: Reports) -> None:
    data = reports.raw["html"]
    parser = reports.html
    assert parser is not None
    tags = [tag for tag, _ in parser.tags]
    assert "script" not in tags and "img" not in tags
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    csp = [
        attrs
        for tag, attrs in parser.tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(csp) == 1 and "default-src 'none'" in (csp[0]["content"] or "")
    assert b"<script" not in data.lower() and b"<img" not in data.lower()
    text = "".join(parser.text)
    assert "<script>alert(1)</script>" in text  # shown as text
    assert '"><img src=x onerror=alert(1)>' in text
    assert "[bold red]x[/]" in text
    assert "\x1b" not in text
    assert "A" * 100_000 not in text and len(data) < 2_000_000


# --- CSV: formulas neutralised -------------------------------------------------------------


def test_csv_cells_are_neutralised(reports: Reports) -> None:
    cells = [cell for row in reports.csv for cell in row]
    assert not [c[:40] for c in cells if c.startswith(FORMULA_STARTS)]
    assert '\'=HYPERLINK("http://x")' in cells
    assert "'+cmd|'/c calc'!A1" in cells
    assert '=HYPERLINK("http://x")' not in cells and "+cmd|'/c calc'!A1" not in cells


# --- Markdown, JUnit, SARIF, OCSF: the values stay data -------------------------------------


def test_markdown_renders_hostile_values_as_text(reports: Reports) -> None:
    html = reports.markdown_html
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def strings(value: Any) -> list[str]:
    """Every string inside a parsed JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_sarif_and_ocsf_keep_the_values_as_inert_strings(reports: Reports) -> None:
    sarif, ocsf = strings(reports.sarif), strings(reports.ocsf)
    for value in HOSTILE[:4]:  # JSON strings are data: no need to alter them
        assert value in sarif and value in ocsf, value


# --- the terminal --------------------------------------------------------------------------


def test_terminal_output_has_no_raw_escape_and_no_interpreted_markup(
    world: dict[str, Any],
) -> None:
    summary = world["summary"]
    assert summary.exit_code == 0, summary.output
    for name, text in (
        ("stdout", summary.stdout),
        ("stderr", summary.stderr),
        ("audit stdout", world["result"].stdout),
        ("audit stderr", world["result"].stderr),
        ("summary.txt", world["console"].read_text("utf-8")),
    ):
        assert "\x1b" not in text, f"raw ESC in {name}"
        assert "\x07" not in text and "\x00" not in text, name
    assert "[bold red]x[/]" in summary.stdout  # literally, not read as rich markup
    assert "\\x1b[2J\\x1b[31m" in summary.stdout  # the control sequence is shown, not obeyed
    assert "<script>alert(1)</script>" in summary.stdout
    assert "A" * 1_000 not in summary.stdout  # long values are cut
    assert "…" in summary.stdout
