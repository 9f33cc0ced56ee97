"""Every built-in rule file validates, and every embedded rule test passes.

Parametrised over the files found under the built-in rules directory, so a new rule is
covered the moment its file lands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leakaudit.rules import builtin_rules_dir, validate
from leakaudit.rules.loader import find_pack_dirs, rule_files
from leakaudit.rules.testing import run_rule_test

RULE_FILES = [path for pack in find_pack_dirs(builtin_rules_dir()) for path in rule_files(pack)]
PACKS, PROBLEMS = validate()
RULES = {rule.path: rule for pack in PACKS for rule in pack.rules}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("path", RULE_FILES, ids=_id)
def test_rule_file_is_valid(path):
    # The rule file itself, or its query_file (named after the rule by convention).
    mine = [str(p) for p in PROBLEMS if Path(p.path) in (path, path.with_suffix(".sql"))]
    assert mine == []
    assert path in RULES, f"{path} did not load"


def test_builtin_packs_have_no_problems():
    assert [str(p) for p in PROBLEMS] == []


CASES = [(rule, test) for rule in RULES.values() for test in rule.tests]


@pytest.mark.parametrize(("rule", "test"), CASES, ids=[f"{r.id}: {t.name}" for r, t in CASES])
def test_embedded_rule_test_passes(rule, test):
    result = run_rule_test(rule, test)
    assert result.passed, f"{result.location}\n{result.report()}"


def test_lad003_counts_an_access_once_when_two_bindings_tie_it_to_the_unit(tmp_path):
    """An account holding the revoked unit both by serial and by a serial-less row of its id
    is one account; each access it got is one event (evidence rows are not doubled)."""
    import json

    from click.testing import CliRunner

    from leakaudit.cli.commands import cli

    (tmp_path / "devices.csv").write_text(
        "device_id,account_id,registered_at,deregistered_at,serial,status,revoked_at\n"
        "cam-4,A,2023-01-01T00:00:00Z,2023-06-01T00:00:00Z,S4,revoked,2023-06-01T00:00:00Z\n"
        "cam-4,T,2023-07-01T00:00:00Z,,S4,active,\n"
        "cam-4,T,2023-07-01T00:00:00Z,,,active,\n"
    )
    (tmp_path / "access_events.csv").write_text(
        "ts,account_id,device_id,action,captured_at\n"
        "2023-07-02T10:00:00Z,T,cam-4,clip,2023-07-01T12:00:00Z\n"
    )
    out = tmp_path / "findings.json"
    args = ["audit", str(tmp_path / "devices.csv"), str(tmp_path / "access_events.csv")]
    result = CliRunner().invoke(cli, [*args, "--rule", "LAD003", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    (finding,) = json.loads(out.read_text())["findings"]
    lines = [(e["source_file"].rsplit("/", 1)[-1], e["source_line"]) for e in finding["evidence"]]
    assert sorted(lines) == [("access_events.csv", 2), ("devices.csv", 3), ("devices.csv", 4)]
    assert finding["event_count"] == 3


def test_duplicate_id_exposure_and_reregistration_counts(tmp_path):
    """What the embedded tests cannot see, as they compare entities only: LAD001's exposure
    counts served items of the duplicated id delivered while it had two owners at capture
    time, to anyone but the owner whose media it may be (a download is a view); a
    re-registration in one household is one owner, so a leak of its media is one event."""
    import json

    from click.testing import CliRunner

    from leakaudit.cli.commands import cli

    (tmp_path / "devices.csv").write_text(
        "device_id,account_id,registered_at,deregistered_at\n"
        "cam-1,A,2024-01-01T00:00:00Z,\n"
        "cam-1,B,2024-02-01T00:00:00Z,\n"
        "cam-2,C,2024-01-01T00:00:00Z,2024-03-01T00:00:00Z\n"
        "cam-2,C,2024-02-01T00:00:00Z,\n"
    )
    (tmp_path / "access_events.csv").write_text(
        "ts,account_id,device_id,action,captured_at,media_id,outcome\n"
        # two owners at capture: exposed to X (a view) and, for B's possible media, to A
        "2024-03-01T10:00:00Z,X,cam-1,download,2024-02-10T00:00:00Z,m1,\n"
        "2024-03-01T10:00:00Z,A,cam-1,thumbnail,2024-02-10T00:00:00Z,m2,\n"
        # one owner at capture, and a denied request: not the duplicate's exposure
        "2024-03-01T10:00:00Z,X,cam-1,clip,2024-01-10T00:00:00Z,m3,\n"
        "2024-03-01T10:00:00Z,X,cam-1,clip,2024-02-10T00:00:00Z,m4,denied\n"
        # media of a device C registered twice, overlapping
        "2024-03-01T10:00:00Z,X,cam-2,clip,2024-02-10T00:00:00Z,m5,\n"
    )
    out = tmp_path / "findings.json"
    args = ["audit", str(tmp_path / "devices.csv"), str(tmp_path / "access_events.csv")]
    rules = ["--rule", "LAD001", "--rule", "LAM001"]
    result = CliRunner().invoke(cli, [*args, *rules, "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    findings = json.loads(out.read_text())["findings"]
    by_key = {(f["rule_id"], f["entities"].get("owner_account_id")): f for f in findings}
    duplicate = by_key["LAD001", None]
    # two bindings, m1 and m2: m1 exposes both owners at capture (A and B) but is one event
    assert duplicate["event_count"] == 4
    assert len({(e["source_file"], e["source_line"]) for e in duplicate["evidence"]}) == 4
    assert duplicate["exposure"] == {
        "recipient_accounts": 2,
        "owner_accounts": 2,
        "items_delivered": 2,
        "items_viewed": 1,
    }
    assert by_key["LAM001", "A"]["exposure"]["items_viewed"] == 2
    assert by_key["LAM001", "C"]["event_count"] == 1
    # SPEC §1: a download is a view, not a delivery; the sentence must not call it one
    assert duplicate["reason"].endswith(" (4 events: bindings, deliveries and views).")


def _audit_findings(tmp_path, tables: dict[str, str], *args: str) -> list[dict]:
    """Audit CSV tables (name -> text) with extra CLI arguments; the findings of the JSON report."""
    import json

    from click.testing import CliRunner

    from leakaudit.cli.commands import cli

    paths = []
    for table, text in tables.items():
        paths.append(str(tmp_path / f"{table}.csv"))
        (tmp_path / f"{table}.csv").write_text(text)
    out = tmp_path / "findings.json"
    result = CliRunner().invoke(cli, ["audit", *paths, *args, "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())["findings"]


# N's own camera and a stranger's, for the session tests of LAM004.
LAM004_DEVICES = (
    "device_id,account_id,registered_at\n"
    "cam-n,N,2020-01-01T00:00:00Z\n"
    "cam-a,A,2020-01-01T00:00:00Z\n"
)


def test_lam004_counts_only_the_foreign_items_of_a_crossing_session(tmp_path):
    """The session's own items make it cross owners but are not offending rows: event_count,
    evidence, first_seen and exposure cover the foreign item alone."""
    access_events = (
        "ts,account_id,device_id,action,session_id\n"
        "2020-01-02T08:00:00Z,N,cam-n,live,s1\n"
        "2020-01-02T08:00:05Z,N,cam-a,snapshot,s1\n"
    )
    tables = {"devices": LAM004_DEVICES, "access_events": access_events}
    (finding,) = _audit_findings(tmp_path, tables, "--rule", "LAM004")
    assert finding["event_count"] == 1
    assert [e["row"]["device_id"] for e in finding["evidence"]] == ["cam-a"]
    assert finding["first_seen"] == "2020-01-02T08:00:05Z"
    assert finding["exposure"]["owner_accounts"] == 1


def test_lam004_reason_counts_accesses_not_items(tmp_path):
    """A foreign item delivered and then opened is two accesses of one item: the reason
    counts accesses (event_count) and says so, the exposure counts the item once."""
    access_events = (
        "ts,account_id,device_id,action,session_id,media_id\n"
        "2020-01-02T08:00:00Z,N,cam-n,live,s1,\n"
        "2020-01-02T08:00:05Z,N,cam-a,thumbnail,s1,m1\n"
        "2020-01-02T08:00:06Z,N,cam-a,clip,s1,m1\n"
    )
    tables = {"devices": LAM004_DEVICES, "access_events": access_events}
    (finding,) = _audit_findings(tmp_path, tables, "--rule", "LAM004")
    assert finding["event_count"] == 2
    assert finding["exposure"]["items_delivered"] == 1
    assert "2 foreign items" not in finding["reason"]
    assert "(2 accesses to other owners' media from " in finding["reason"]


@pytest.mark.parametrize(
    ("rule", "threshold", "table", "rows"),
    [
        (
            "LAM002",
            "min_accounts",
            "access_events",
            "ts,account_id,device_id,action\n"
            + "".join(f"2024-05-01T03:0{i}:00Z,R{i},cam-1,thumbnail\n" for i in range(3)),
        ),
        (
            "LAM005",
            "min_devices",
            "access_events",
            "ts,account_id,device_id,action,outcome\n"
            + "".join(f"2024-05-01T03:0{i}:00Z,P,cam-{i},clip,denied\n" for i in range(3)),
        ),
        (
            "LAS004",
            "min_customers",
            "staff_access",
            "ts,staff_id,action,account_id\n"
            + "".join(f"2024-05-01T03:0{i}:00Z,s2,clip,C{i}\n" for i in range(3)),
        ),
    ],
)
def test_a_row_at_the_window_start_is_evidence(tmp_path, rule, threshold, table, rows):
    """The sliding window is closed at both ends: a row exactly `window` before the last one
    counts towards the threshold, so it is one of the finding's rows too."""
    params = ["--param", f"{rule}.{threshold}=3", "--param", f"{rule}.window=2m"]
    (finding,) = _audit_findings(tmp_path, {table: rows}, "--rule", rule, *params)
    assert finding["event_count"] == 3
    assert finding["first_seen"] == "2024-05-01T03:00:00Z"


@pytest.mark.slow
def test_lam002_reports_a_burst_of_the_wyze_incident_s_size(tmp_path):
    """About 13,000 accounts got foreign thumbnails in the 2024 cache mix-up. As a list on
    each of the burst's rows, the recipients made the rule run out of memory after minutes;
    collected once per finding (`collect:`), the burst is one finding with all of them."""
    rows = "".join(
        f"2024-02-16T10:{(i // 60) % 5:02d}:{i % 60:02d}Z,R{i % 13_000:05d},cam-{i % 997},"
        f"thumbnail\n"
        for i in range(26_000)
    )
    tables = {"access_events": "ts,account_id,device_id,action\n" + rows}
    (finding,) = _audit_findings(tmp_path, tables, "--rule", "LAM002")
    assert len(finding["entities"]["accounts"]) == 13_000
    assert finding["entities"]["accounts"][:2] == ["R00000", "R00001"]
    assert finding["event_count"] == 26_000
    assert finding["exposure"]["recipient_accounts"] == 13_000
    assert len(finding["evidence"]) == 10
