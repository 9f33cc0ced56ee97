"""The engine: grouping in SQL, exact findings, skipping, fingerprints, bound parameters."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakaudit.errors import ConfigError, RuleError
from leakaudit.findings import Evidence, Exposure, fingerprint
from leakaudit.ingest import ingest_records
from leakaudit.rules import load_packs, parse_param_overrides, run_rules
from leakaudit.rules.loader import Problem, check_sql
from leakaudit.rules.model import Pack
from leakaudit.store import Store

ACME = Path(__file__).parent / "fixtures" / "rulepacks" / "acme"
PACKS = load_packs([ACME], builtin=False)
ACM001 = load_packs([ACME], builtin=False, rules=["ACM001"])
ACM002 = load_packs([ACME], builtin=False, rules=["ACM002"])

DEVICES = [
    {"device_id": "cam-1", "account_id": "A", "registered_at": "2024-01-01T00:00:00Z"},
    {"device_id": "cam-2", "account_id": "C", "registered_at": "2024-01-01T00:00:00Z"},
]
ACCESS = [
    # B, a stranger, gets a thumbnail and then opens a clip of A's camera.
    {"ts": "2024-01-03T00:00:00Z", "account_id": "B", "device_id": "cam-1", "action": "clip",
     "media_id": "m2"},
    {"ts": "2024-01-02T00:00:00Z", "account_id": "B", "device_id": "cam-1",
     "action": "thumbnail", "media_id": "m1"},
    {"ts": "2024-01-02T00:00:00Z", "account_id": "B", "device_id": "cam-1", "action": "clip",
     "media_id": "m1"},
    {"ts": "2024-01-02T00:00:00Z", "account_id": "A", "device_id": "cam-1", "action": "clip",
     "media_id": "m1"},
    {"ts": "2024-01-04T00:00:00Z", "account_id": "B", "device_id": "cam-1", "action": "clip",
     "media_id": "m3", "outcome": "denied"},
]  # fmt: skip


def load_problems(pack: Pack) -> list[str]:
    problems: list[Problem] = []
    check_sql(pack.rules, problems)
    return [str(p) for p in problems]


def store_with(**tables: list[dict]) -> Store:
    store = Store.open(":memory:")
    for table, records in tables.items():
        ingest_records(store, table, records, source=f"{table}.jsonl")
    return store


def test_findings_are_grouped_counted_and_explained():
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        findings, outcomes = run_rules(store, ACM001)
    assert len(findings) == 1
    f = findings[0]
    assert f.entities == {"device_id": "cam-1", "account_id": "B"}
    assert f.fingerprint == fingerprint("ACM001", {"device_id": "cam-1", "account_id": "B"})
    assert (f.rule_id, f.pack, f.category, f.severity) == (
        "ACM001",
        "acme",
        "media_to_non_owner",
        "high",
    )
    assert f.title == "An account was served media of a device it never had a binding of"
    assert f.event_count == 3
    assert f.first_seen == datetime(2024, 1, 2, tzinfo=UTC)
    assert f.last_seen == datetime(2024, 1, 3, tzinfo=UTC)
    assert f.reason == (
        "Account B was served media of device cam-1, which it never owned, 3 times from "
        "2024-01-02T00:00:00Z to 2024-01-03T00:00:00Z."
    )
    # m1 delivered (thumbnail) and viewed (clip), m2 viewed: 2 items, both viewed.
    assert f.exposure == Exposure(recipient_accounts=1, items_delivered=2, items_viewed=2)
    # Earliest first; the tie at 2024-01-02 broken by source line.
    assert f.evidence == [
        Evidence("access_events.jsonl", 2, {"action": "thumbnail", "media_id": "m1"}),
        Evidence("access_events.jsonl", 3, {"action": "clip", "media_id": "m1"}),
        Evidence("access_events.jsonl", 1, {"action": "clip", "media_id": "m2"}),
    ]
    assert [(o.rule_id, o.status, o.findings) for o in outcomes] == [("ACM001", "ran", 1)]
    assert outcomes[0].params == {"ignore_account": "", "min_bytes": 0}
    assert outcomes[0].duration_s is not None and outcomes[0].duration_s >= 0


def test_evidence_sample_is_bounded():
    many = [
        {"ts": f"2024-01-02T00:00:{s:02d}Z", "account_id": "B", "device_id": "cam-1",
         "action": "notify", "media_id": f"m{s}"}
        for s in range(30)
    ]  # fmt: skip
    with store_with(devices=DEVICES, access_events=many) as store:
        (f,), _ = run_rules(store, ACM001, evidence_limit=4)
    assert f.event_count == 30
    assert [e.source_line for e in f.evidence] == [1, 2, 3, 4]
    assert f.exposure == Exposure(recipient_accounts=1, items_delivered=30, items_viewed=0)


def test_evidence_of_any_column_type_is_json():
    # A business-hours rule shows `ts::TIMESTAMP::TIME AS time_of_day`; a TIME or UUID column
    # used to pass validate and the rule's tests, then crash every report with a TypeError.
    base = ACM001[0].rules[0]
    extra = (
        "e.media_id,\n    e.ts::TIMESTAMP::TIME AS time_of_day,\n"
        "    '5b2a8a5e-7f6c-4c1e-9a59-5d6c8d1e2f3a'::UUID AS request_id,\n"
        "    'NaN'::DOUBLE AS ratio,\n    'infinity'::DOUBLE AS rate\n"
    )
    rule = replace(
        base,
        query=base.query.replace("e.media_id\n", extra),
        evidence=("time_of_day", "request_id", "ratio", "rate"),
    )
    pack = replace(ACM001[0], rules=(rule,))
    with store_with(devices=DEVICES, access_events=ACCESS[:1]) as store:
        (f,), _ = run_rules(store, [pack])
    assert f.evidence[0].row == {
        "time_of_day": "00:00:00",
        "request_id": "5b2a8a5e-7f6c-4c1e-9a59-5d6c8d1e2f3a",
        "ratio": "NaN",
        "rate": "Infinity",
    }
    json.dumps(f.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "ending",
    [
        ";",
        " ;\n",
        ";\n-- end of the rule\n",
        "; /* done */",
        "-- no semicolon",
        "\n-- naïve §\n; -- end",
    ],
)
def test_a_final_semicolon_before_a_comment_still_runs(ending):
    # Validate binds the SQL as written, which accepts `; -- comment`; the engine wrapped it
    # in a CTE with the semicolon inside, and every audit failed with a parser error.
    base = ACM001[0].rules[0]
    rule = replace(base, query=base.query.rstrip() + ending)
    pack = replace(ACM001[0], rules=(rule,))
    assert load_problems(pack) == []
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        findings, _ = run_rules(store, [pack])
    assert [f.entities for f in findings] == [{"device_id": "cam-1", "account_id": "B"}]


def test_a_rule_cannot_read_files(tmp_path):
    # A rule reads the database only: read_csv('/etc/passwd') put the file into evidence.
    secret = tmp_path / "secret.csv"
    secret.write_text("line\nthe-redact-key\n")
    base = ACM001[0].rules[0]
    rule = replace(
        base,
        query=base.query.replace(
            "e.media_id\n", f"(SELECT max(line) FROM read_csv('{secret}')) AS media_id\n"
        ),
    )
    pack = replace(ACM001[0], rules=(rule,))
    assert len(load_problems(pack)) == 1
    assert "file system operations are disabled" in load_problems(pack)[0]
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        with pytest.raises(RuleError, match="file system operations are disabled"):
            run_rules(store, [pack])


def test_list_entities_are_sorted_and_exposure_absent_when_not_returned():
    devices = [
        {"device_id": "cam-1", "account_id": "Z", "registered_at": "2024-01-02T00:00:00Z"},
        {"device_id": "cam-1", "account_id": "A", "registered_at": "2024-01-01T00:00:00Z"},
        {"device_id": "cam-1", "account_id": "M", "registered_at": "2024-01-03T00:00:00Z"},
    ]
    with store_with(devices=devices) as store:
        (f,), _ = run_rules(store, ACM002)
    assert f.entities == {"device_id": "cam-1", "accounts": ["A", "M", "Z"]}
    assert f.reason == "Device cam-1 is bound to accounts A, M, Z."
    assert f.exposure == Exposure()
    assert f.event_count == 3


def test_a_rule_whose_tables_are_empty_is_skipped_with_the_reason():
    with store_with(access_events=ACCESS) as store:
        findings, outcomes = run_rules(store, PACKS)
    assert findings == []
    assert [(o.rule_id, o.status, o.skipped_reason, o.findings) for o in outcomes] == [
        ("ACM001", "skipped", "needs devices", 0),
        ("ACM002", "skipped", "needs devices", 0),
    ]
    with Store.open(":memory:") as store:
        _, outcomes = run_rules(store, ACM001)
    assert outcomes[0].skipped_reason == "needs access_events and devices"


def test_params_change_the_result():
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        quiet, _ = run_rules(
            store, ACM001, parse_param_overrides(["ACM001.ignore_account=B"], ACM001)
        )
        loud, outcomes = run_rules(store, ACM001, {"ACM001": {"ignore_account": "A"}})
    assert quiet == []
    assert [f.entities for f in loud] == [{"device_id": "cam-1", "account_id": "B"}]
    assert outcomes[0].params == {"ignore_account": "A", "min_bytes": 0}


def test_run_rules_type_checks_params():
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        with pytest.raises(ConfigError) as info:
            run_rules(store, ACM001, {"ACM001": {"min_bytes": "many"}})
        assert str(info.value) == "Parameter ACM001.min_bytes: 'many' is not an integer."
        with pytest.raises(ConfigError) as info:
            run_rules(store, ACM001, {"ACM002": {"x": 1}})
        assert str(info.value) == "Parameters given for rule ACM002, which is not selected."


INJECTION = "x'; DROP TABLE devices; --"


def test_sql_injection_through_a_param_is_inert():
    hostile_access = [*ACCESS, {**ACCESS[0], "account_id": INJECTION, "media_id": "m9"}]
    with store_with(devices=DEVICES, access_events=hostile_access) as store:
        params = parse_param_overrides([f"ACM001.ignore_account={INJECTION}"], ACM001)
        assert params == {"ACM001": {"ignore_account": INJECTION}}
        findings, _ = run_rules(store, ACM001, params)
        # The value is data: it matches the account literally named so, and nothing else.
        assert [f.entities["account_id"] for f in findings] == ["B"]
        assert store.table_rows("devices") == 2
        assert store.table_rows("access_events") == 6
        tables = store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name = 'devices'"
        ).fetchall()
        assert tables == [("devices",)]


# -- fingerprints --------------------------------------------------------------------------


def fingerprints(store: Store) -> list[tuple[str, int]]:
    """(fingerprint, event_count) of every finding: a duplicate finding would show twice."""
    findings, _ = run_rules(store, PACKS)
    return sorted((f.fingerprint, f.event_count) for f in findings)


def test_fingerprint_ignores_row_order_and_unrelated_rows():
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        base = fingerprints(store)
    with store_with(devices=DEVICES[::-1], access_events=ACCESS[::-1]) as store:
        assert fingerprints(store) == base
    unrelated_devices = [
        *DEVICES,
        {"device_id": "cam-9", "account_id": "Q", "registered_at": "2024-01-01T00:00:00Z"},
    ]
    unrelated_access = [
        {"ts": "2023-12-01T00:00:00Z", "account_id": "C", "device_id": "cam-2",
         "action": "live"},
        *ACCESS,
        {"ts": "2024-02-01T00:00:00Z", "account_id": "B", "device_id": "cam-1",
         "action": "live"},  # the same finding, a later event: same fingerprint
    ]  # fmt: skip
    with store_with(devices=unrelated_devices, access_events=unrelated_access) as store:
        after = fingerprints(store)
    assert [fp for fp, _ in after] == [fp for fp, _ in base]
    assert base == [(fingerprint("ACM001", {"device_id": "cam-1", "account_id": "B"}), 3)]
    assert after == [(base[0][0], 4)]


def test_list_entities_in_any_order_group_into_one_finding(tmp_path):
    pack = tmp_path / "acme"
    shutil.copytree(ACME, pack)
    (pack / "ACM002.sql").write_text(
        "SELECT\n"
        "    device_id,\n"
        "    CASE WHEN account_id = 'A' THEN ['A', 'B'] ELSE ['B', 'A'] END AS accounts,\n"
        "    account_id,\n"
        "    registered_at AS event_ts,\n"
        "    _source_file,\n"
        "    _source_line\n"
        "FROM devices\n"
    )
    packs = load_packs([pack], builtin=False, rules=["ACM002"])
    devices = [{**DEVICES[0], "account_id": a} for a in ("A", "B", "A")]
    with store_with(devices=devices) as store:
        findings, _ = run_rules(store, packs)
    assert [(f.entities, f.event_count) for f in findings] == [
        ({"device_id": "cam-1", "accounts": ["A", "B"]}, 3)
    ]


ACCOUNTS = st.sampled_from(["A", "B", "C", "D"])
DEVICE_IDS = st.sampled_from(["cam-1", "cam-2", "cam-3"])
BINDINGS = st.lists(
    st.fixed_dictionaries(
        {
            "device_id": DEVICE_IDS,
            "account_id": ACCOUNTS,
            "registered_at": st.integers(1, 28).map(lambda d: f"2024-01-{d:02d}T00:00:00Z"),
        }
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=25, deadline=None)
@given(rows=BINDINGS, data=st.data())
def test_fingerprints_are_stable_under_any_permutation(rows, data):
    shuffled = data.draw(st.permutations(rows))
    with store_with(devices=rows) as store:
        before = fingerprints(store)
    with store_with(devices=shuffled) as store:
        after = fingerprints(store)
    assert after == before


@settings(max_examples=25, deadline=None)
@given(rows=BINDINGS)
def test_fingerprints_differ_when_an_entity_value_differs(rows):
    renamed = [{**r, "device_id": r["device_id"] + "-x"} for r in rows]
    with store_with(devices=rows) as store:
        before = fingerprints(store)
    with store_with(devices=renamed) as store:
        after = fingerprints(store)
    assert len(after) == len(before)
    assert not {fp for fp, _ in after} & {fp for fp, _ in before}


@pytest.fixture(scope="module")
def collecting_acm002(tmp_path_factory: pytest.TempPathFactory) -> list[Pack]:
    """ACM002 with `accounts` collected by the engine instead of returned on every row."""
    pack = tmp_path_factory.mktemp("collect") / "acme"
    shutil.copytree(ACME, pack)
    yml = pack / "ACM002.yml"
    yml.write_text(
        yml.read_text().replace(
            "entities: [device_id, accounts]\n",
            "entities: [device_id, accounts]\ncollect: {accounts: account_id}\n",
        )
    )
    sql = pack / "ACM002.sql"
    sql.write_text(sql.read_text().replace("    a.accounts,\n", ""))
    return load_packs([pack], builtin=False, rules=["ACM002"])


@settings(max_examples=25, deadline=None)
@given(rows=BINDINGS)
def test_a_collected_list_entity_gives_the_findings_of_a_list_on_every_row(collecting_acm002, rows):
    assert collecting_acm002[0].rules[0].collect == {"accounts": "account_id"}
    with store_with(devices=rows) as store:
        per_row, _ = run_rules(store, ACM002)
        collected, _ = run_rules(store, collecting_acm002)
    assert [f.to_dict() for f in collected] == [f.to_dict() for f in per_row]


@given(
    rule=st.text(min_size=1, max_size=8),
    entities=st.dictionaries(st.sampled_from(["device_id", "account_id"]), st.text(max_size=6)),
    other=st.text(max_size=6),
    accounts=st.lists(st.text(max_size=4), max_size=5),
    data=st.data(),
)
def test_fingerprint_function_depends_on_entity_values_only(rule, entities, other, accounts, data):
    with_list = {**entities, "accounts": accounts}
    permuted = {**entities, "accounts": data.draw(st.permutations(accounts))}
    assert fingerprint(rule, with_list) == fingerprint(rule, permuted)
    assert fingerprint(rule, dict(reversed(list(with_list.items())))) == fingerprint(
        rule, with_list
    )
    for key, value in entities.items():
        if value != other:
            assert fingerprint(rule, {**entities, key: other}) != fingerprint(rule, entities)


def test_a_source_row_returned_once_per_owner_is_one_event():
    """An access that exposes two owners (a duplicate id) is one row per owner in a rule's
    SQL: it counts once in `event_count` and shows once in the evidence, while both owners
    count in the exposure. The reason's count must be of events, not of owners."""
    (pack,) = ACM001
    (rule,) = pack.rules
    per_owner = (
        f"SELECT o.*, t.owner AS exposure_owner FROM ({rule.query}) AS o "
        "CROSS JOIN (VALUES ('A'), ('Z')) AS t(owner)"
    )
    # the owner shown in the evidence too, as LAM003 and LAM004 do: still one event
    shown = [*rule.evidence, "exposure_owner"]
    twice = replace(pack, rules=[replace(rule, query=per_owner, evidence=shown)])
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        (f,), _ = run_rules(store, [twice])
    assert [e.row["exposure_owner"] for e in f.evidence] == ["A", "A", "A"]  # the first
    assert f.event_count == 3
    assert "3 times" in f.reason
    assert [e.source_line for e in f.evidence] == [2, 3, 1]
    assert f.exposure == Exposure(
        recipient_accounts=1, owner_accounts=2, items_delivered=2, items_viewed=2
    )


def test_two_events_at_one_file_and_line_are_two_events():
    """A kept database can hold two versions of one path (a file rewritten in place), whose
    line 1 is another event (at another time) in each: they were merged by file and line into
    one event, the other missing from the evidence, while the reason spanned both times."""
    (pack,) = ACM001
    (rule,) = pack.rules
    # lines 1 and 2 (January 3 and 2) as if both were line 1 of two versions of one file
    one_line = (
        f"SELECT o.* REPLACE (1 AS _source_line) FROM ({rule.query}) AS o "
        "WHERE o._source_line IN (1, 2)"
    )
    rewritten = replace(pack, rules=[replace(rule, query=one_line)])
    with store_with(devices=DEVICES, access_events=ACCESS) as store:
        (f,), _ = run_rules(store, [rewritten])
    assert f.event_count == 2
    assert [e.source_line for e in f.evidence] == [1, 1]
    assert [e.row["media_id"] for e in f.evidence] == ["m1", "m2"]
