"""Redaction: no account id, e-mail, lookup key or client IP survives in any format."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from report_fixtures import ACCOUNT_IDS, EMAILS, IPS, LOOKUP_KEYS, hostile_document, pii_document
from test_reports_basic import assert_valid

from leakaudit.findings import Evidence, Finding, FindingsDocument, RunRecord, fingerprint
from leakaudit.redact import column_kind, pseudonym, redact
from leakaudit.reports import RenderOptions, load_reporters
from leakaudit.reports.markdown import md_text

KEY = b"test-key-0123456789abcdef"


def render_all(doc: FindingsDocument) -> dict[str, bytes]:
    options = RenderOptions(base_dir=Path("/srv/audit"))
    return {name: r.render(doc, options) for name, r in sorted(load_reporters().items())}


def secrets() -> list[str]:
    return [*ACCOUNT_IDS, *EMAILS, *IPS, *LOOKUP_KEYS]


def test_the_fixture_holds_every_secret_before_redaction() -> None:
    outputs = render_all(pii_document())
    for value in secrets():
        assert value.encode() in outputs["json"], value


def test_no_secret_survives_in_any_format() -> None:
    outputs = render_all(redact(pii_document(), KEY))
    assert {"json", "jsonl", "csv", "markdown", "console", "sarif", "ocsf", "junit", "html"} <= set(
        outputs
    )
    for name, data in outputs.items():
        for value in secrets():
            # XML and HTML write "&" as "&amp;": search both forms.
            for form in {value, value.replace("&", "&amp;")}:
                assert form.encode() not in data, f"{value!r} in the {name} report"


def test_pseudonyms_are_the_same_in_every_format() -> None:
    outputs = render_all(redact(pii_document(), KEY))
    a93 = pseudonym("account", "A-93", KEY)
    jane = pseudonym("lookup", "jane.doe@example.com", KEY)  # first seen as a lookup key
    ip = pseudonym("ip", "203.0.113.7", KEY)
    assert a93.startswith("acct~") and len(a93) == len("acct~") + 12
    for name in ("json", "jsonl", "csv", "console", "sarif", "ocsf", "junit", "html"):
        assert a93.encode() in outputs[name], name
    for name in ("json", "jsonl", "sarif", "ocsf", "html"):
        assert jane.encode() in outputs[name], name
    for name in ("json", "jsonl", "ocsf", "html"):  # the formats that show evidence rows
        assert ip.encode() in outputs[name], name
    assert md_text(a93).encode() in outputs["markdown"]
    assert md_text(ip).encode() in outputs["markdown"]


def test_fingerprints_are_of_the_redacted_entities() -> None:
    # The original fingerprint is an unkeyed hash of the real ids: left in a redacted report,
    # hashing a list of likely account ids against it gives them back.
    doc = pii_document()
    redacted = redact(doc, KEY)
    assert {f.fingerprint for f in redacted.findings} == {
        fingerprint(f.rule_id, f.entities) for f in redacted.findings
    }
    personal = [f for f in doc.findings if any(column_kind(k) for k in f.entities)]
    assert personal
    for name, data in render_all(redacted).items():
        for f in personal:
            assert f.fingerprint.encode() not in data, f"{f.rule_id}'s fingerprint in {name}"
    # Stable across runs under one key, so redacted reports can still be compared.
    assert [f.fingerprint for f in redact(pii_document(), KEY).findings] == [
        f.fingerprint for f in redacted.findings
    ]


def test_redaction_keeps_everything_else() -> None:
    doc = pii_document()
    redacted = redact(doc, KEY)
    after_of = {(f.rule_id, f.first_seen, f.event_count): f for f in redacted.findings}
    assert len(after_of) == len(doc.findings)
    for before in doc.findings:
        after = after_of[(before.rule_id, before.first_seen, before.event_count)]
        assert (after.rule_id, after.severity, after.event_count, after.status) == (
            before.rule_id,
            before.severity,
            before.event_count,
            before.status,
        )
        assert after.exposure == before.exposure
        assert [e.source_line for e in after.evidence] == [e.source_line for e in before.evidence]
    assert redacted.run.packs == doc.run.packs
    assert_valid(json.loads(load_reporters()["json"].render(redacted, RenderOptions())))
    # The input document is not changed.
    assert any("A-93" in f.reason for f in doc.findings)


def test_same_key_same_pseudonyms_other_key_other_pseudonyms() -> None:
    json_render = load_reporters()["json"].render
    first = json_render(redact(pii_document(), KEY), RenderOptions())
    again = json_render(redact(pii_document(), KEY), RenderOptions())
    other = json_render(redact(pii_document(), b"another-key-0123456789"), RenderOptions())
    assert first == again
    assert pseudonym("account", "A-93", KEY).encode() not in other


def test_entities_free_text_and_nested_rows() -> None:
    doc = pii_document()
    redacted = redact(doc, KEY)
    lookup = next(f for f in redacted.findings if f.rule_id == "LAS003")
    a17 = pseudonym("account", "A-17", KEY)
    assert lookup.entities == {"staff_id": "emp-311", "account_id": a17}
    assert lookup.reason == (
        f"Staff member emp-311 looked up {pseudonym('lookup', 'jane.doe@example.com', KEY)} "
        f"(customer {a17}) from {pseudonym('ip', '2001:db8::7', KEY)} and opened 5 media items "
        f"of {a17} within 20 minutes."
    )
    rows = [e.row for e in lookup.evidence]
    assert rows[0]["email"] == pseudonym("email", "ops+audit@corp.example.org", KEY)
    assert rows[1]["lookup_key"] == pseudonym("lookup", "+1 555 0100", KEY)
    assert rows[2]["raw"] == (
        f"GET /customers/{a17} from {pseudonym('ip', '192.0.2.200', KEY)} by "
        f"{pseudonym('email', 'bob@example.net', KEY)}"
    )
    burst = next(f for f in redacted.findings if f.rule_id == "LAM002")
    accounts = burst.entities["accounts"]
    assert accounts == sorted(accounts) and all(a.startswith("acct~") for a in accounts)


def _doc(reason: str, entities: dict, row: dict | None = None) -> FindingsDocument:
    finding = Finding(
        fingerprint="0" * 64,
        rule_id="LAM001",
        pack="media",
        category="media_to_non_owner",
        severity="high",
        title="t",
        reason=reason,
        first_seen=None,
        last_seen=None,
        event_count=1,
        entities=entities,
        evidence=[Evidence("f.csv", 2, row or {})],
    )
    run = RunRecord("0.1.0", "1.3.2", datetime(2024, 1, 1, tzinfo=UTC))
    return FindingsDocument(run=run, findings=[finding])


def test_a_title_naming_an_account_or_address_is_redacted() -> None:
    """A custom rule's title, or a document written elsewhere, may name an account id or an
    e-mail; `report --redact` must not pass it through."""
    doc = _doc("Account A-17 saw it.", {"account_id": "A-17"})
    doc.findings[0].title = "Watch A-17 and ops@corp.example"
    (finding,) = redact(doc, KEY).findings
    a17, email = pseudonym("account", "A-17", KEY), pseudonym("email", "ops@corp.example", KEY)
    assert finding.title == f"Watch {a17} and {email}"


def test_values_are_replaced_as_whole_tokens_longest_first() -> None:
    doc = _doc(
        "A-1 and A-17 and A-1x and xA-1 and (A-1).",
        {"account_id": "A-1", "owner_account_id": "A-17"},
    )
    reason = redact(doc, KEY).findings[0].reason
    one, seventeen = pseudonym("account", "A-1", KEY), pseudonym("account", "A-17", KEY)
    assert reason == f"{one} and {seventeen} and A-1x and xA-1 and ({one})."


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("from 10.0.0.1.", "10.0.0.1"),
        ("ip=10.0.0.255:443", "10.0.0.255"),
        ("v6 fe80::1 and ::ffff:192.0.2.1", "fe80::1"),
        ("mail <x.y+z@sub.example.co.uk>", "x.y+z@sub.example.co.uk"),
    ],
)
def test_free_text_emails_and_ips_without_a_column(text: str, found: str) -> None:
    doc = _doc("r", {"device_id": "cam-1"}, {"user_agent": text})
    redacted = redact(doc, KEY).findings[0].evidence[0].row["user_agent"]
    assert found not in redacted
    assert "~" in redacted


@pytest.mark.parametrize(
    "text",
    ["version 1.2.3", "at 12:30:45", "2024-01-11T02:00:00Z", "mac aa:bb:cc:dd:ee:ff", "999.1.1.1"],
)
def test_things_that_are_not_addresses_stay(text: str) -> None:
    doc = _doc("r", {"device_id": "cam-1"}, {"user_agent": text})
    assert redact(doc, KEY).findings[0].evidence[0].row["user_agent"] == text


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        ("account_id", "account"),
        ("owner_account_id", "account"),
        ("accounts", "account"),
        ("email", "email"),
        ("client_ip", "ip"),
        ("remote_addr", "ip"),
        ("lookup_key", "lookup"),
        ("device_id", None),
        ("description", None),
        ("zip", None),
    ],
)
def test_column_kind(column: str, kind: str | None) -> None:
    assert column_kind(column) == kind


def test_hostile_document_redacts_and_stays_valid() -> None:
    redacted = redact(hostile_document(), KEY)
    outputs = render_all(redacted)
    assert_valid(json.loads(outputs["json"]))
    for value in (*EMAILS, *IPS):
        for data in outputs.values():
            assert value.encode() not in data


def test_redaction_scales_with_text_not_with_known_values() -> None:
    findings = [
        Finding(
            fingerprint=f"{i:064x}",
            rule_id="LAM001",
            pack="media",
            category="media_to_non_owner",
            severity="high",
            title="Media served to an account that does not own the device",
            reason=f"Account acc-{i} was served media of device cam-{i}, owned by acc-{i + 1}.",
            first_seen=None,
            last_seen=None,
            event_count=1,
            entities={"account_id": f"acc-{i}", "owner_account_id": f"acc-{i + 1}"},
            evidence=[
                Evidence("a.csv", i, {"account_id": f"acc-{i}", "client_ip": f"10.0.{i % 256}.1"})
            ],
        )
        for i in range(5_000)
    ]
    doc = FindingsDocument(RunRecord("0.1.0", "1.3.2", datetime(2024, 1, 1, tzinfo=UTC)), findings)
    start = time.perf_counter()
    redacted = redact(doc, KEY)
    assert time.perf_counter() - start < 10
    assert "acc-" not in load_reporters()["json"].render(redacted, RenderOptions()).decode()
