"""The built-in rules against the reference model of SPEC §2, on small random worlds.

For `duplicate_device_id`, `media_to_non_owner`, `partner_cross_feed` and
`staff_without_consent`, the set of (category, entities) the SQL rules find must equal what
tests/spec_model.py says, world for world. On a difference hypothesis shrinks the world and the
failure shows it, one row a line (times as minutes of the day), with both sets. Below the
rules, the shared `customer_access` view is held to the model access by access, since custom
rules read it directly.

More examples: LEAKAUDIT_DIFFERENTIAL_EXAMPLES=2000 pytest tests/test_differential.py
"""

from __future__ import annotations

import os
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings

from leakaudit.ingest import ingest_records
from leakaudit.rules import Pack, all_rules, load_packs, run_rules
from leakaudit.store import MEMORY, Store
from tests.spec_model import (
    CATEGORIES,
    Result,
    World,
    capture_time,
    customer_action_scope,
    expected_findings,
    freeze,
    is_partner_access,
    owner_at,
    partner_link_active,
    served,
    share_covers,
    with_defaults,
)
from tests.worlds import (
    access,
    bind,
    consent,
    link,
    share,
    show,
    staff_act,
    t,
    to_records,
    worlds,
)

EXAMPLES = int(os.environ.get("LEAKAUDIT_DIFFERENTIAL_EXAMPLES", "60"))
random_worlds = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def builtin_packs() -> list[Pack]:
    """The built-in rules of the four categories, loaded once for every example."""
    ids = [rule.id for rule in all_rules(load_packs()) if rule.category in CATEGORIES]
    return load_packs(rules=ids)


def ingest_world(store: Store, world: World) -> None:
    for table, rows in to_records(world).items():
        if rows:
            result = ingest_records(store, table, rows)
            assert result.rejected == 0, f"{table}: {result.rejected} row(s) quarantined"


def audit_world(world: World) -> tuple[Result, list[tuple[object, ...]]]:
    """Ingest the world into an in-memory store and run the built-in rules: the findings of
    the four categories, and what customer_access says of each access (in file order)."""
    with Store.open(MEMORY) as store:
        ingest_world(store, world)
        findings, outcomes = run_rules(store, builtin_packs())
        flags = [
            tuple(row)
            for row in store.con.execute(
                f"SELECT {', '.join(ACCESS_FLAGS)} FROM customer_access ORDER BY _source_line"
            ).fetchall()
        ]
    requires = {rule.id: rule.requires for rule in all_rules(builtin_packs())}
    skipped = [
        f"{o.rule_id} ({o.skipped_reason})"
        for o in outcomes
        if o.category in CATEGORIES
        and o.status != "ran"
        and all(world.get(table) for table in requires[o.rule_id])
    ]
    assert not skipped, f"rules skipped although every table they need has rows: {skipped}"
    return {(f.category, freeze(f.entities)) for f in findings if f.category in CATEGORIES}, flags


def describe(items: Result) -> str:
    if not items:
        return "    (none)"
    return "\n".join(f"    {cat}: {dict(entities)}" for cat, entities in sorted(items, key=repr))


def assert_rules_equal_model(world: World, actual: Result) -> None:
    expected = expected_findings(world)
    if actual != expected:
        raise AssertionError(
            "The rules and the reference model of SPEC §2 disagree.\n"
            f"World:\n{show(world)}\n"
            f"Only the model (SQL misses):\n{describe(expected - actual)}\n"
            f"Only the rules (model does not expect):\n{describe(actual - expected)}\n"
            f"Model:\n{describe(expected)}\n"
            f"Rules:\n{describe(actual)}"
        )


# The traps of docs/semantics.md, each decided both ways in one world, so that every run
# puts them through the SQL whatever the random worlds happen to hold.
TRAPS: dict[str, World] = {
    "sale: capture time decides, hand-over touches": {
        "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)],
        "media": [{"media_id": "m1", "device_id": "cam-1", "captured_at": t(5)}],
        "access_events": [
            access("A", "cam-1", 15, captured_at=t(5)),
            access("B", "cam-1", 15, media_id="m1"),
            access("A", "cam-1", 15, action="live"),
            access("B", "cam-1", 15),
        ],
    },
    "duplicate id: both owners legitimate, a stranger leaks from both": {
        "devices": [bind("cam-1", "A", 0), bind("cam-1", "B", 3), bind("cam-2", "C", 0, 5)],
        "shares": [share("*", device_id="cam-2", owner_account_id="C", grantee_account_id="C")],
        "access_events": [
            access("A", "cam-1", 5),
            access("B", "cam-1", 5),
            access("D", "cam-1", 5),
            access("D", "cam-1", 6, outcome="denied"),
        ],
    },
    "re-registration in one household, hand-over, a real duplicate beside them": {
        "devices": [
            bind("cam-1", "A", 0, 10),
            bind("cam-1", "A", 5, 20),
            bind("cam-1", "B", 20),
            bind("cam-2", "C", 0),
            bind("cam-2", "D", 5, 6),
        ],
    },
    "share scope, window and owner at capture": {
        "devices": [bind("cam-1", "A", 0, 12), bind("cam-1", "C", 12)],
        "shares": [share("media", 2, 8), share(None, 8, 10)],
        "access_events": [
            access("B", "cam-1", 2),
            access("B", "cam-1", 3, action="live"),
            access("B", "cam-1", 8, action="live"),
            access("B", "cam-1", 10),
            access("B", "cam-1", 9, captured_at=t(13)),
        ],
    },
    "partners: link, foreign device, empty partner": {
        "devices": [bind("cam-1", "A", 0), bind("cam-2", "B", 0)],
        "partner_links": [link("A", "p1", 0, 5), link("B", "p2", 0)],
        "access_events": [
            access("A", "cam-1", 4, partner="p1"),
            access("A", "cam-1", 5, partner="p1"),
            access("B", "cam-1", 5, partner="p2"),
            access("B", "cam-2", 5, partner=""),
            access("B", "cam-1", 5, partner="p2", outcome="error"),
        ],
    },
    # "unknown" is the scope of an action SPEC does not name, not a scope a row may grant.
    "a share or consent of scope 'unknown' covers no unnamed action": {
        "devices": [bind("cam-1", "A", 0)],
        "shares": [share("unknown", 0)],
        "consents": [consent("A", "unknown", 0)],
        "access_events": [access("B", "cam-1", 3, action="live_stream")],
        "staff_access": [staff_act("s1", 3, action="video_export", account_id="A")],
    },
    "staff: grantees, scopes, targets, principals": {
        "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)],
        "media": [{"media_id": "m1", "device_id": "cam-1", "captured_at": t(3)}],
        "staff": [
            {"staff_id": "s1", "team": "t1"},
            {"staff_id": "s2", "team": "t2"},
            {"staff_id": "svc", "kind": "service"},
        ],
        "consents": [
            consent("A", "*", 0, grantee="team:t1"),
            consent("B", "media", 0, 15, grantee="s2"),
            consent("C", "*", 0, revoked_at=t(5)),
        ],
        "staff_access": [
            staff_act("s1", 5, account_id="A"),
            staff_act("s2", 5, action="account", account_id="A"),
            staff_act("s1", 5, action="live", account_id="A"),
            staff_act("s3", 5, action="lookup", account_id="C"),
            staff_act("s3", 5, account_id="C"),
            staff_act("s2", 12, device_id="cam-1"),
            staff_act("s2", 15, device_id="cam-1"),
            staff_act("s1", 12, device_id="cam-9", media_id="m1"),
            staff_act("s2", 12, media_id="m9"),
            staff_act("svc", 5, action="raw_read"),
            staff_act("s1", 5, action="raw_read", account_id="A", outcome="denied"),
        ],
    },
}


@pytest.mark.parametrize("name", TRAPS)
def test_rules_equal_the_reference_model_on_the_traps(name: str) -> None:
    assert expected_findings(TRAPS[name]), "a trap world should hold at least one finding"
    assert_rules_equal_model(TRAPS[name], audit_world(TRAPS[name])[0])


def test_every_category_has_a_builtin_rule() -> None:
    """Otherwise the differential test would compare the model with silence."""
    assert {rule.category for rule in all_rules(builtin_packs())} == set(CATEGORIES)


# --- the shared customer_access view, access by access --------------------------------------

ACCESS_FLAGS = (
    "capture_time",
    "action_scope",
    "is_served",
    "is_owner",
    "share_covered",
    "legit_by_ownership",
    "is_partner",
    "partner_link_active",
)


def model_access_flags(world: World) -> list[tuple[object, ...]]:
    """What SPEC §2 says of each access_events row, in file order."""
    world = with_defaults(world)
    rows = []
    for event in world.get("access_events", []):
        captured = capture_time(world, event)
        is_owner = event["account_id"] in owner_at(world, event["device_id"], captured)
        shared = any(share_covers(world, s, event) for s in world.get("shares", []))
        partner = is_partner_access(event)
        rows.append(
            (
                captured,
                customer_action_scope(event["action"]),
                served(event),
                is_owner,
                shared,
                is_owner or shared,
                partner,
                partner
                and partner_link_active(world, event["account_id"], event["partner"], event["ts"]),
            )
        )
    return rows


def assert_view_equals_model(world: World, actual: list[tuple[object, ...]]) -> None:
    expected = model_access_flags(world)
    if actual != expected:
        raise AssertionError(
            "customer_access and the reference model of SPEC §2 disagree.\n"
            f"World:\n{show(world)}\n"
            f"Columns: {ACCESS_FLAGS}\nModel:\n{expected}\nView:\n{actual}"
        )


# Beside the traps: an owner who also holds a share of the device (a household member who
# registered it too), whose access both makes legitimate.
VIEW_TRAPS: dict[str, World] = {
    **TRAPS,
    "owner who also holds a share": {
        "devices": [bind("cam-1", "A", 0), bind("cam-1", "B", 0, 10)],
        "shares": [share("*", 0, owner_account_id="B", grantee_account_id="A")],
        "access_events": [access("A", "cam-1", 5), access("A", "cam-1", 15)],
    },
    # Two shares and two links that cover one access at once: still one row of the view (the
    # DISTINCT of share_covered_access and partner_linked_access), which custom rules read.
    "an access covered by two shares and two links at once": {
        "devices": [bind("cam-1", "A", 0)],
        "shares": [share("*", 0), share("media", 2)],
        "partner_links": [link("B", "p1", 0), link("B", "p1", 3, 9)],
        "access_events": [access("B", "cam-1", 5, partner="p1"), access("B", "cam-1", 6)],
    },
}


@pytest.mark.parametrize("name", VIEW_TRAPS)
def test_customer_access_equals_the_reference_model_on_the_traps(name: str) -> None:
    assert_view_equals_model(VIEW_TRAPS[name], audit_world(VIEW_TRAPS[name])[1])


@pytest.mark.slow
@random_worlds
@given(worlds())
def test_rules_and_customer_access_equal_the_reference_model(world: World) -> None:
    """One audit of each random world: its findings, and customer_access access by access."""
    findings, flags = audit_world(world)
    assert_rules_equal_model(world, findings)
    assert_view_equals_model(world, flags)
