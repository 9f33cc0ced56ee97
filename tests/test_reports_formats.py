"""SARIF, OCSF, JUnit and HTML reports: valid against their schemas, inert, deterministic."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_fixtures_b import (
    HOSTILE_STRINGS,
    STARTED_AT,
    T0,
    hostile_document,
    many_findings,
    realistic_document,
)

from leakaudit.findings import FindingsDocument, severity_rank
from leakaudit.reports import RenderOptions, load_reporters, renderer_for
from leakaudit.reports.html import (
    MAX_INCIDENT_SPANS,
    MAX_LISTED_FINDINGS,
    UnsafeSvgError,
    checked_svg,
    incident_spans,
)
from leakaudit.reports.sarif import GITHUB_MAX_RESULTS, SECURITY_SEVERITY, artifact_location
from leakaudit.reports.textsafe import utf8_bytes

BASE = Path("/srv/audit")
SHARED = Path(__file__).resolve().parents[2] / "shared"


def render(fmt: str, doc: FindingsDocument, options: RenderOptions | None = None) -> bytes:
    return load_reporters()[fmt].render(doc, options or RenderOptions(base_dir=BASE))


@pytest.fixture(scope="module")
def schemas_dir() -> Path:
    path = SHARED / "schemas"
    if not path.is_dir():
        pytest.fail(
            f"{path} is missing: the report schemas live in shared/schemas beside the repo "
            "(SARIF 2.1.0 OASIS and GitHub copies, junit-10.xsd)."
        )
    return path


def _validator(schema_path: Path, *, check: bool = True) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    if check:
        cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def sarif_validators(schemas_dir: Path) -> list[jsonschema.protocols.Validator]:
    # GitHub's copy is not itself valid 2020-12: region's `anyOf` sits inside `properties`.
    # Validating with it still applies every other constraint, so skip only its self-check.
    return [
        _validator(schemas_dir / "sarif-schema-2.1.0.json"),
        _validator(schemas_dir / "sarif-schema-2.1.0.github.json", check=False),
    ]


def assert_valid(validator: jsonschema.protocols.Validator, instance: Any) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors)


# --- SARIF -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [realistic_document, hostile_document], ids=["real", "hostile"])
def test_sarif_validates_against_both_schemas(make, sarif_validators) -> None:
    sarif = json.loads(render("sarif", make()))
    for validator in sarif_validators:
        assert_valid(validator, sarif)


def test_sarif_rules_carry_what_github_shows() -> None:
    doc = realistic_document()
    run = json.loads(render("sarif", doc))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(r.rule_id for r in doc.run.rules)
    for rule, outcome in zip(rules, sorted(doc.run.rules, key=lambda r: r.rule_id), strict=True):
        assert rule["shortDescription"]["text"] == outcome.title
        assert rule["fullDescription"]["text"] == outcome.description
        assert outcome.remediation in rule["help"]["text"]
        assert "## Remediation" in rule["help"]["markdown"]
        assert "security" in rule["properties"]["tags"]
        score = rule["properties"]["security-severity"]
        assert isinstance(score, str) and float(score) == float(SECURITY_SEVERITY[outcome.severity])
    assert float(SECURITY_SEVERITY["critical"]) >= 9.0  # GitHub's critical bucket
    assert 7.0 <= float(SECURITY_SEVERITY["high"]) < 9.0
    assert 4.0 <= float(SECURITY_SEVERITY["medium"]) < 7.0


def test_sarif_results_locate_first_evidence_row() -> None:
    doc = realistic_document()
    run = json.loads(render("sarif", doc))["runs"][0]
    results = run["results"]
    assert len(results) == len(doc.findings)
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result, finding in zip(results, doc.findings, strict=True):
        assert result["ruleId"] == finding.rule_id
        assert rule_ids[result["ruleIndex"]] == finding.rule_id
        assert result["partialFingerprints"] == {"leakauditFingerprint/v1": finding.fingerprint}
        assert result["message"]["text"] == finding.reason
        physical = result["locations"][0]["physicalLocation"]
        first = finding.evidence[0]
        assert physical["region"] == {"startLine": first.source_line}
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert not physical["artifactLocation"]["uri"].startswith("/")
    by_fp = {r["partialFingerprints"]["leakauditFingerprint/v1"]: r for r in results}
    staff = next(f for f in doc.findings if f.rule_id == "LAS001")
    uri = by_fp[staff.fingerprint]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "sample_logs/staff%20access/staff_access.jsonl"
    media = next(f for f in doc.findings if f.entities.get("device_id") == "cam-0042")
    logical = by_fp[media.fingerprint]["locations"][0]["logicalLocations"]
    assert logical[0] == {
        "name": "cam-0042",
        "fullyQualifiedName": "device:cam-0042",
        "kind": "device",
    }
    suppressed = next(f for f in doc.findings if f.status == "suppressed")
    assert by_fp[suppressed.fingerprint]["suppressions"] == [
        {"kind": "external", "status": "accepted"}
    ]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")


def _sarif_unescape(text: str) -> str:
    """Read a SARIF plain-text message as a viewer does; fail on a bare bracket (a link)."""
    out, chars = [], iter(text)
    for char in chars:
        assert char not in "[]", f"bare {char!r} in {text!r}: a viewer reads an embedded link"
        out.append(next(chars) if char == "\\" else char)
    return "".join(out)


def test_sarif_messages_escape_brackets_from_the_logs() -> None:
    doc = hostile_document()
    results = json.loads(render("sarif", doc))["runs"][0]["results"]
    # as the file holds them: lone surrogates written as U+FFFD (textsafe.utf8_bytes)
    reasons = {f.fingerprint: utf8_bytes(f.reason).decode() for f in doc.findings}
    assert any("[" in r or "\\" in r for r in reasons.values())  # the fixture has some
    for result in results:
        fingerprint = result["partialFingerprints"]["leakauditFingerprint/v1"]
        assert _sarif_unescape(result["message"]["text"]) == reasons[fingerprint]


def test_sarif_paths_outside_base_dir_and_relative_paths() -> None:
    doc = realistic_document(Path("/elsewhere"))
    first = json.loads(render("sarif", doc))["runs"][0]["results"][0]
    location = first["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"].startswith("file:///elsewhere/sample_logs/")
    assert "uriBaseId" not in location

    doc = realistic_document(Path("logs dir"))  # relative: kept relative, percent-encoded
    first = json.loads(render("sarif", doc, RenderOptions()))["runs"][0]["results"][0]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
        "logs%20dir/sample_logs/"
    )


def test_sarif_results_most_severe_first() -> None:
    results = json.loads(render("sarif", realistic_document()))["runs"][0]["results"]
    ranks = [severity_rank(r["properties"]["severity"]) for r in results]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[0] == severity_rank("critical")


def test_sarif_caps_results_and_warns(sarif_validators) -> None:
    doc = many_findings(GITHUB_MAX_RESULTS + 1)
    options = RenderOptions(base_dir=BASE)
    run = json.loads(render("sarif", doc, options))["runs"][0]
    assert len(run["results"]) == GITHUB_MAX_RESULTS
    assert len(options.warnings) == 1
    assert "25,000 most severe of 25,001" in options.warnings[0]
    assert run["properties"]["findings_total"] == GITHUB_MAX_RESULTS + 1
    assert run["properties"]["results_truncated"] is True
    kept = {r["partialFingerprints"]["leakauditFingerprint/v1"] for r in run["results"]}
    dropped = [f for f in doc.findings if f.fingerprint not in kept]
    assert len(dropped) == 1
    least = min(severity_rank(r["properties"]["severity"]) for r in run["results"])
    assert severity_rank(dropped[0].severity) <= least

    small = RenderOptions(max_results=3)
    run = json.loads(render("sarif", realistic_document(), small))["runs"][0]
    assert [r["properties"]["severity"] for r in run["results"]] == ["critical"] * 3
    assert small.warnings and "3 most severe of 9" in small.warnings[0]
    for validator in sarif_validators:
        assert_valid(validator, json.loads(render("sarif", realistic_document(), RenderOptions())))


def test_sarif_no_warning_under_the_cap() -> None:
    options = RenderOptions()
    render("sarif", realistic_document(), options)
    assert options.warnings == []


def test_sarif_run_properties_carry_provenance() -> None:
    doc = realistic_document()
    prov = json.loads(render("sarif", doc))["runs"][0]["properties"]["provenance"]
    assert prov["leakaudit_version"] == "0.1.0"
    assert prov["duckdb_version"] == "1.3.2"
    assert prov["packs"][0] == {"name": "devices", "version": "1.0.0", "sha256": "a" * 64}
    assert {i["table"]: i["rows"] for i in prov["inputs"]}["media_access"] == 48_210
    assert all(len(i["sha256"]) == 64 for i in prov["inputs"])
    assert prov["window"] == {"start": "2024-01-08T00:00:00Z", "end": "2024-01-24T00:00:00Z"}
    assert prov["params"]["LAM002"] == {"window": "15m", "min_accounts": 3}


# --- OCSF --------------------------------------------------------------------------------


@cache
def _ocsf_validator() -> jsonschema.protocols.Validator:
    ocsf = pytest.importorskip("ocsf_json_schema")
    schema = ocsf.OcsfJsonSchemaEmbedded(ocsf.get_ocsf_schema(version="1.5.0")).get_class_schema(
        class_name="detection_finding", profiles=[]
    )
    return jsonschema.Draft202012Validator(schema)


def ocsf_events(doc: FindingsDocument) -> list[dict[str, Any]]:
    data = render("ocsf", doc)
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


@pytest.mark.parametrize("make", [realistic_document, hostile_document], ids=["real", "hostile"])
def test_ocsf_validates_against_official_schema(make) -> None:
    validator = _ocsf_validator()
    events = ocsf_events(make())
    assert len(events) == 9
    for event in events:
        assert_valid(validator, event)


def test_ocsf_checks_the_schema_cannot_make() -> None:
    doc = realistic_document()
    events = ocsf_events(doc)
    started_ms = int(STARTED_AT.timestamp()) * 1000
    severity_ids = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
    for event, finding in zip(events, doc.findings, strict=True):
        assert (event["class_uid"], event["activity_id"], event["category_uid"]) == (2004, 1, 2)
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"] == 200401
        assert event["time"] == started_ms
        assert event["start_time"] == int(finding.first_seen.timestamp() * 1000)
        assert event["end_time"] == int(finding.last_seen.timestamp() * 1000)
        assert event["start_time"] <= event["end_time"] <= event["time"]
        for key in ("time", "start_time", "end_time"):
            assert 10**12 < event[key] < 10**13, f"{key} is not in milliseconds"
        info = event["finding_info"]
        assert info["uid"] == finding.fingerprint
        assert info["analytic"]["uid"] == finding.rule_id
        assert info["analytic"]["type_id"] == 1
        assert info["first_seen_time"] == event["start_time"]
        assert info["types"] == [finding.category]
        assert event["severity_id"] == severity_ids[finding.severity]
        assert event["metadata"]["version"] == "1.5.0"
        assert event["metadata"]["product"]["name"] == "leakaudit"
        assert len(event["evidences"]) == len(finding.evidence)
        assert event["evidences"][0]["data"]["source_line"] == finding.evidence[0].source_line
        prov = event["unmapped"]["leakaudit"]["provenance"]
        assert prov["packs"] and prov["inputs"] and prov["window"]["start"]
    media = next((e, f) for e, f in zip(events, doc.findings, strict=True) if f.rule_id == "LAM001")
    resources = {(r["type"], r["uid"], r["labels"][0]) for r in media[0]["resources"]}
    assert ("account", media[1].entities["owner_account_id"], "owner_account_id") in resources
    assert ("device", media[1].entities["device_id"], "device_id") in resources
    statuses = {f.status: e["status_id"] for e, f in zip(events, doc.findings, strict=True)}
    assert statuses == {"new": 1, "recurring": 99, "suppressed": 3}


# --- JUnit -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def junit_schema(schemas_dir: Path):
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(schemas_dir / "junit-10.xsd"))


@pytest.mark.parametrize("make", [realistic_document, hostile_document], ids=["real", "hostile"])
def test_junit_validates_against_xsd(make, junit_schema) -> None:
    data = render("junit", make())
    junit_schema.validate(data.decode("utf-8"))
    assert b"\x1b" not in data and b"\x00" not in data


def test_junit_suites_cases_failures_and_skips(junit_schema) -> None:

    doc = realistic_document()
    root = ET.fromstring(render("junit", doc))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["devices", "media", "staff"]
    media = suites["media"]
    cases = {c.get("name"): c for c in media.findall("testcase")}
    assert list(cases) == [
        "LAM001 Media served to an account that does not own the device",
        "LAM002 Burst of foreign media deliveries",
        "LAM004 Partner fed a device outside its link",
        "LAM006 Account denied on many foreign devices",
    ]
    assert all(c.get("classname") == "media" for c in cases.values())
    failure = cases["LAM001 Media served to an account that does not own the device"].find(
        "failure"
    )
    assert failure is not None and failure.get("type") == "critical"
    assert failure.get("message") == "2 media_to_non_owner findings, worst severity critical."
    assert "cam-0042" in failure.text and "cam-0311" not in failure.text  # suppressed left out
    skipped = cases["LAM004 Partner fed a device outside its link"].find("skipped")
    assert skipped is not None and skipped.get("message") == "needs partner_links"
    assert (media.get("tests"), media.get("failures"), media.get("skipped")) == ("4", "3", "1")
    clean = {c.get("name"): c for c in suites["staff"].findall("testcase")}[
        "LAS004 Staff bulk access to customers"
    ]
    assert clean.find("failure") is None and clean.find("skipped") is None
    assert root.get("tests") == "9" and root.get("failures") == "7"
    props = {p.get("name"): p.get("value") for p in media.find("properties")}
    assert props["duckdb_version"] == "1.3.2"
    assert props["pack.media"] == "1.1.0 sha256:" + "b" * 64


def test_junit_lists_at_most_ten_findings() -> None:

    root = ET.fromstring(render("junit", many_findings(200)))
    failure = root.find(".//testcase/failure")
    assert failure is not None
    assert failure.text.count("\n") == 11  # ten findings and the "… more" line
    assert "more findings in the full report" in failure.text


# --- HTML --------------------------------------------------------------------------------


class TagCollector(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(data: bytes) -> TagCollector:
    parser = TagCollector()
    parser.feed(data.decode("utf-8"))
    parser.close()
    return parser


EXECUTABLE_TAGS = {"script", "iframe", "object", "embed", "foreignobject", "base", "form", "link"}


def assert_inert(parser: TagCollector) -> None:
    for tag, attrs in parser.tags:
        assert tag not in EXECUTABLE_TAGS, f"<{tag}> in the report"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}=…> in the report"
            if name in ("href", "xlink:href", "src", "action"):
                assert (value or "").startswith("#"), f"<{tag} {name}={value!r}>"
    csp = [
        a
        for t, a in parser.tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(csp) == 1
    policy = csp[0]["content"] or ""
    assert "default-src 'none'" in policy and "script-src" not in policy


@pytest.mark.parametrize("make", [realistic_document, hostile_document], ids=["real", "hostile"])
def test_html_is_inert_and_self_contained(make) -> None:
    data = render("html", make())
    parser = parse_html(data)
    assert_inert(parser)
    assert sum(tag == "svg" for tag, _ in parser.tags) == 4  # timeline, categories, two rankings
    assert not any(t == "img" or t == "link" for t, _ in parser.tags)  # nothing to fetch
    assert b"\x1b" not in data and b"\x00" not in data


def test_html_shows_hostile_strings_as_text() -> None:
    doc = hostile_document()
    data = render("html", doc)
    text = "".join(parse_html(data).text)
    assert "<script>alert(1)</script>" in text
    assert '"><img src=x onerror=alert(1)>' in text
    assert "[bold red]x[/]" in text
    assert "\\x1b[2J\\x1b[31m" in text  # control characters shown, not obeyed
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in data
    assert b"<script" not in data.lower()
    assert "A" * 100_000 not in text  # the 100 KB value is cut, with its length stated
    assert "(100,000 characters)" in text
    assert len(data) < 1_000_000


# Bidi overrides and invisible characters: obeyed by a browser, they reorder or hide what the
# reader sees (`cam-\u202etxt.exe` reads "cam-exe.txt"), as a terminal would.
REORDERING = "cam-\u202etxt.exe\u202c\u200b\u2066x\u2069\u2028"


def test_html_shows_bidi_and_invisible_characters_instead_of_obeying_them() -> None:
    doc = realistic_document()
    leak = next(f for f in doc.findings if "owner_account_id" in f.entities)
    leak.entities = {**leak.entities, "device_id": REORDERING, "owner_account_id": REORDERING}
    leak.reason = f"Device {REORDERING} served media to a stranger."
    data = render("html", doc).decode("utf-8")
    for ch in "\u202e\u202c\u200b\u2066\u2069\u2028":
        assert ch not in data, f"U+{ord(ch):04X} in the HTML report"
    text = "".join(parse_html(data.encode("utf-8")).text)
    assert "Device cam-\\x202etxt.exe\\x202c\\x200b\\x2066x\\x2069\\x2028 served" in text


def test_html_rules_and_packs_tables_show_hostile_text_instead_of_obeying_it() -> None:
    # Rule titles and pack names come from custom rule packs (or from a findings document
    # handed to `leakaudit report`): they were written into the Rules and Rule packs tables
    # raw, so `cat report.html` obeyed ESC sequences and a browser obeyed bidi overrides.
    doc = realistic_document()
    hostile = f"[red]x[/] \x1b[2J\x1b]8;;http://evil\x1b\\ {REORDERING}"
    doc.run.rules[0].title = hostile
    doc.run.rules[0].pack = hostile
    doc.run.packs[0] = replace(doc.run.packs[0], name=hostile, version=hostile)
    data = render("html", doc).decode("utf-8")
    for ch in "\x1b\u202e\u202c\u200b\u2066\u2069\u2028":
        assert ch not in data, f"U+{ord(ch):04X} in the HTML report"
    text = "".join(parse_html(data.encode("utf-8")).text)
    assert text.count("[red]x[/] \\x1b[2J\\x1b]8;;http://evil") == 4


def test_html_shows_every_text_of_the_run_record_instead_of_obeying_it() -> None:
    # A findings document handed to `leakaudit report` may hold anything its schema allows:
    # the versions, an input's table and a parameter's name were written raw after rule
    # titles and pack names were mended, so `cat report.html` still obeyed ESC.
    doc = realistic_document()
    hostile = f"\x1b[2J {REORDERING}"
    doc.run.leakaudit_version = hostile
    doc.run.duckdb_version = hostile
    doc.run.inputs[0] = replace(doc.run.inputs[0], table=hostile)
    doc.run.rules[0].params = {hostile: 1}
    data = render("html", doc).decode("utf-8")
    for ch in "\x1b\u202e\u202c\u200b\u2066\u2069\u2028":
        assert ch not in data, f"U+{ord(ch):04X} in the HTML report"
    text = "".join(parse_html(data.encode("utf-8")).text)
    assert text.count("\\x1b[2J cam-\\x202etxt.exe") == 6


def test_html_lists_every_finding_with_its_facts() -> None:
    doc = realistic_document()
    text = " ".join(parse_html(render("html", doc)).text)
    for finding in doc.findings:
        assert finding.reason in text
        assert finding.fingerprint in text
        assert finding.evidence[0].source_file in text
    for word in ("items delivered", "Rule packs", "Inputs", "needs partner_links", "48210"):
        assert word in text


def test_checked_svg_refuses_executable_markup() -> None:
    ns = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    assert str(checked_svg(f'<?xml version="1.0"?>\n<svg {ns}><text>a &lt; b</text></svg>'))
    for body in (
        "<script>alert(1)</script>",
        '<g onload="alert(1)"/>',
        '<use xlink:href="https://x/y.svg#a"/>',
        "<foreignObject><div/></foreignObject>",
    ):
        with pytest.raises(UnsafeSvgError):
            checked_svg(f"<svg {ns}>{body}</svg>")


def test_html_lists_the_most_severe_findings_and_warns_when_cut() -> None:
    doc = many_findings(MAX_LISTED_FINDINGS + 5)
    options = RenderOptions()
    data = render("html", doc, options)
    assert_inert(parse_html(data))
    assert data.count(b'<section class="finding') == MAX_LISTED_FINDINGS
    assert options.warnings == [
        f"The HTML report lists the 1,000 most severe of {MAX_LISTED_FINDINGS + 5:,} findings "
        "(its charts and counts cover all of them); the JSON report has every finding."
    ]
    assert f"Findings ({MAX_LISTED_FINDINGS + 5})".encode() in data


def test_incident_spans_merge_overlaps_and_stay_few() -> None:
    day = timedelta(days=1)
    spans = [
        (T0, T0 + day, "critical", 5),
        (T0 + day / 2, T0 + 2 * day, "critical", 7),  # overlaps the first
        (T0 + 10 * day, T0 + 11 * day, "critical", 1),
        (T0, T0 + day, "high", 2),
        (T0, T0 + day, "medium", 50),  # not an incident
    ]
    assert incident_spans(spans, timedelta(hours=1)) == [
        (T0, T0 + 2 * day, "critical", 12),
        (T0, T0 + day, "high", 2),
        (T0 + 10 * day, T0 + 11 * day, "critical", 1),
    ]
    many = [(T0 + i * 3 * day, T0 + i * 3 * day, "high", i) for i in range(500)]
    kept = incident_spans(many, timedelta(hours=1))
    assert len(kept) == MAX_INCIDENT_SPANS
    assert min(k[3] for k in kept) == 500 - MAX_INCIDENT_SPANS  # the busiest are kept


def test_html_without_findings() -> None:
    doc = realistic_document()
    doc.findings.clear()
    parser = parse_html(render("html", doc))
    assert_inert(parser)
    assert "No findings." in "".join(parser.text)


# --- across formats ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["sarif", "ocsf", "junit", "html"])
def test_two_renders_are_byte_identical(fmt) -> None:
    assert render(fmt, realistic_document()) == render(fmt, realistic_document())
    assert render(fmt, hostile_document()) == render(fmt, hostile_document())


@pytest.mark.parametrize(
    ("target", "fmt"),
    [
        ("out/report.sarif", "sarif"),
        ("out/findings.ocsf.jsonl", "ocsf"),
        ("out/tests.junit.xml", "junit"),
        ("out/report.HTML", "html"),
    ],
)
def test_formats_are_chosen_by_extension(target, fmt) -> None:
    assert renderer_for(target).name == fmt


@pytest.mark.parametrize("fmt", ["sarif", "ocsf", "junit", "html"])
def test_renderers_survive_undecodable_input(fmt) -> None:
    data = render(fmt, hostile_document())
    text = data.decode("utf-8")  # strict: no lone surrogate is written
    # JUnit is a view for people: the byte is shown as the console shows it; else U+FFFD
    assert ("undecodable byte \\xdcff" if fmt == "junit" else "undecodable byte \ufffd") in text
    for s in HOSTILE_STRINGS[:2]:
        assert s not in text or fmt in ("sarif", "ocsf")  # JSON keeps them as inert strings


def test_sarif_backslash_in_a_file_name_stays_in_that_name() -> None:
    """`..\\..\\x` is one POSIX file name: turning `\\` into `/` pointed the result outside."""
    relative = artifact_location("logs/access_events/..\\..\\.github\\deploy.jsonl", None)
    assert relative == {"uri": "logs/access_events/..%5C..%5C.github%5Cdeploy.jsonl"}
    inside = artifact_location("/srv/logs/a\\b.csv", Path("/srv"))
    assert inside == {"uri": "logs/a%5Cb.csv", "uriBaseId": "%SRCROOT%"}
    assert artifact_location("/elsewhere/a\\b.csv", Path("/srv")) == {
        "uri": "file:///elsewhere/a%5Cb.csv"
    }


OBEYED = "\u009b\x7f\u0085\u2028\u202e\u2066"  # CSI, DEL, NEL, LS, RLO, LRI


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "ocsf"])
def test_json_reports_escape_what_a_terminal_obeys_and_keep_the_value(fmt: str) -> None:
    """`cat findings.json` handed a raw U+009B (CSI) or U+202E to the terminal, and U+2028 or
    U+0085 split a JSON Lines record for readers that honour Unicode line breaks."""
    doc = realistic_document()
    doc.findings[0].reason = f"Device cam-{OBEYED}x served media."
    text = render(fmt, doc).decode("utf-8")
    assert not set(OBEYED) & set(text)
    assert "cam-\\u009b\\u007f\\u0085\\u2028\\u202e\\u2066x" in text
    assert len(text.splitlines()) == text.count("\n")  # no line break but "\n"
    lines = fmt in ("jsonl", "ocsf")
    parsed = [json.loads(line) for line in text.splitlines()] if lines else json.loads(text)
    assert any(f"cam-{OBEYED}x" in value for value in _strings(parsed))  # exact, parsed back


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for v in value for s in _strings(v)] if isinstance(value, list) else []


def test_junit_failure_body_keeps_one_line_per_finding() -> None:
    """A newline in an account id forged a second `[info] … all clear` line in the failure
    body a CI test view shows, and U+202E reordered it."""
    doc = realistic_document()
    forged = "B-2\n[info] Account nobody: all clear (0 events; fingerprint 0000)\u202e"
    doc.findings[0].reason = f"Account {forged} received media."
    root = ET.fromstring(render("junit", doc))
    bodies = [f.text or "" for f in root.iter("failure")]
    body = next(b for b in bodies if "Account B-2" in b)
    assert "B-2\\x0a[info] Account nobody: all clear (0 events; fingerprint 0000)\\x202e" in body
    assert not any(line.startswith("[info] Account nobody") for line in body.splitlines())
    assert "\u202e" not in "".join(bodies)


def test_sarif_help_uri_is_a_real_uri_or_absent() -> None:
    """A reference such as `https://evil.example/"><script>` became helpUri as it was: no URI
    (SARIF's `format: uri`), and a viewer that links it is handed markup."""
    doc = realistic_document()
    hostile = 'https://evil.example/"><script>alert(1)</script>'
    good = "https://example.org/docs/rules#LAM001"
    doc.run.rules[0] = replace(doc.run.rules[0], references=[hostile, "https:///no-host", good])
    doc.run.rules[1] = replace(doc.run.rules[1], references=[hostile, "https://[tracker/ACM-1"])
    rules = json.loads(render("sarif", doc))["runs"][0]["tool"]["driver"]["rules"]
    by_id = {r["id"]: r for r in rules}
    assert by_id[doc.run.rules[0].rule_id]["helpUri"] == good
    assert "helpUri" not in by_id[doc.run.rules[1].rule_id]
