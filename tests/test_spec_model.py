"""The reference model of SPEC §2 on hand-written mini worlds, one per trap of docs/semantics.md.

The model is the oracle of the differential test, so it gets its own exact tests first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.spec_model import (
    EntityItems,
    Result,
    World,
    capture_time,
    consent_covers,
    duplicate_device_id,
    expected_findings,
    freeze,
    owner_at,
    partner_link_active,
    share_covers,
    staff_targets,
    with_defaults,
)
from tests.worlds import access, bind, consent, iso, link, share, staff_act, t, to_records


def found(world: World, category: str) -> set[EntityItems]:
    """The entity dicts the model finds for one category, as a set of frozen items."""
    result: Result = expected_findings(world)
    return {entities for cat, entities in result if cat == category}


def ents(**entities: Any) -> EntityItems:
    return freeze(entities)


# --- owner(D, t) and duplicate_device_id ----------------------------------------------------


def test_owner_at_is_half_open() -> None:
    world = with_defaults({"devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)]})
    assert owner_at(world, "cam-1", t(0)) == {"A"}
    assert owner_at(world, "cam-1", t(9)) == {"A"}
    assert owner_at(world, "cam-1", t(10)) == {"B"}
    assert owner_at(world, "cam-2", t(5)) == set()


def test_touching_bindings_are_not_a_duplicate() -> None:
    world = {"devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)]}
    assert found(world, "duplicate_device_id") == set()


def test_overlapping_bindings_are_a_duplicate() -> None:
    world = {"devices": [bind("cam-1", "B", 0, 11), bind("cam-1", "A", 10)]}
    assert found(world, "duplicate_device_id") == {ents(device_id="cam-1", accounts=("A", "B"))}


def test_open_ended_bindings_overlap() -> None:
    world = {"devices": [bind("cam-1", "A", 0), bind("cam-1", "B", 15)]}
    assert found(world, "duplicate_device_id") == {ents(device_id="cam-1", accounts=("A", "B"))}


def test_same_account_reregistration_is_not_a_duplicate() -> None:
    world = {"devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "A", 5)]}
    assert found(world, "duplicate_device_id") == set()


def test_duplicate_accounts_are_only_those_overlapping_another_account() -> None:
    # A and B overlap; C re-registers after both ended, and A's second binding overlaps nobody.
    world = {
        "devices": [
            bind("cam-1", "A", 0, 5),
            bind("cam-1", "B", 3, 6),
            bind("cam-1", "C", 6),
            bind("cam-1", "A", 2, 4),
        ]
    }
    assert found(world, "duplicate_device_id") == {ents(device_id="cam-1", accounts=("A", "B"))}


# --- capture time and media_to_non_owner ----------------------------------------------------


def test_capture_time_prefers_event_then_earliest_media_then_ts() -> None:
    world = with_defaults(
        {
            "media": [
                {"media_id": "m1", "device_id": "cam-1", "captured_at": t(7)},
                {"media_id": "m1", "device_id": "cam-1", "captured_at": t(4)},
            ]
        }
    )
    assert capture_time(world, access("A", "cam-1", 9, captured_at=t(2), media_id="m1")) == t(2)
    assert capture_time(world, access("A", "cam-1", 9, media_id="m1")) == t(4)
    assert capture_time(world, access("A", "cam-1", 9, media_id="m9")) == t(9)
    assert capture_time(world, access("A", "cam-1", 9)) == t(9)


def test_previous_owner_may_open_own_old_clips_after_a_sale() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)],
        "access_events": [access("A", "cam-1", 15, captured_at=t(5))],
    }
    assert found(world, "media_to_non_owner") == set()


def test_new_owner_must_not_see_clips_recorded_before_the_sale() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)],
        "media": [{"media_id": "m1", "device_id": "cam-1", "captured_at": t(5)}],
        "access_events": [access("B", "cam-1", 15, media_id="m1")],
    }
    assert found(world, "media_to_non_owner") == {
        ents(device_id="cam-1", account_id="B", owner_account_id="A")
    }


def test_previous_owner_must_not_see_live_after_the_sale() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)],
        "access_events": [access("A", "cam-1", 15, action="live")],
    }
    assert found(world, "media_to_non_owner") == {
        ents(device_id="cam-1", account_id="A", owner_account_id="B")
    }


def test_access_to_unowned_device_has_null_owner() -> None:
    world = {"devices": [bind("cam-1", "A", 5)], "access_events": [access("B", "cam-1", 2)]}
    assert found(world, "media_to_non_owner") == {
        ents(device_id="cam-1", account_id="B", owner_account_id=None)
    }


def test_duplicate_owners_are_both_legitimate_and_a_stranger_leaks_from_both() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0), bind("cam-1", "B", 0)],
        "access_events": [
            access("A", "cam-1", 5),
            access("B", "cam-1", 5),
            access("C", "cam-1", 5),
        ],
    }
    assert found(world, "media_to_non_owner") == {
        ents(device_id="cam-1", account_id="C", owner_account_id="A"),
        ents(device_id="cam-1", account_id="C", owner_account_id="B"),
    }


def test_denied_and_error_never_leak() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0)],
        "access_events": [
            access("B", "cam-1", 5, outcome="denied"),
            access("B", "cam-1", 6, outcome="error", partner="p1"),
        ],
    }
    assert expected_findings(world) == set()


def test_missing_outcome_is_served() -> None:
    world = {"devices": [bind("cam-1", "A", 0)], "access_events": [access("B", "cam-1", 5)]}
    assert found(world, "media_to_non_owner") == {
        ents(device_id="cam-1", account_id="B", owner_account_id="A")
    }


# --- shares ---------------------------------------------------------------------------------


def test_share_scope_and_window() -> None:
    world = with_defaults({"devices": [bind("cam-1", "A", 0)]})
    clip, live = access("B", "cam-1", 5), access("B", "cam-1", 5, action="live")
    media_share = with_defaults({"shares": [share("media")]})["shares"][0]
    assert share_covers(world, media_share, clip)
    assert not share_covers(world, media_share, live)
    assert share_covers(world, {**media_share, "scope": "*"}, live)
    assert share_covers(world, {**media_share, "scope": "live"}, live)
    assert not share_covers(world, {**media_share, "scope": "live"}, clip)
    assert not share_covers(world, {**media_share, "revoked_at": t(5)}, clip)  # half-open
    assert share_covers(world, {**media_share, "granted_at": t(5)}, clip)
    assert not share_covers(world, {**media_share, "granted_at": t(6)}, clip)
    assert not share_covers(world, {**media_share, "grantee_account_id": "C"}, clip)
    assert not share_covers(world, {**media_share, "device_id": "cam-2"}, clip)


def test_share_default_scope_covers_live() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0)],
        "shares": [share(None)],
        "access_events": [access("B", "cam-1", 5, action="live")],
    }
    assert expected_findings(world) == set()


def test_share_from_a_non_owner_at_capture_time_does_not_cover() -> None:
    # A sold cam-1 to C at minute 10; A's share to B does not cover C's clips.
    world = {
        "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "C", 10)],
        "shares": [share("*")],
        "access_events": [access("B", "cam-1", 12, captured_at=t(5)), access("B", "cam-1", 12)],
    }
    assert found(world, "media_to_non_owner") == {
        ents(device_id="cam-1", account_id="B", owner_account_id="C")
    }


# --- partners -------------------------------------------------------------------------------


def test_partner_link_active_is_half_open_and_per_partner() -> None:
    world = with_defaults({"partner_links": [link("A", "p1", 2, 6)]})
    assert partner_link_active(world, "A", "p1", t(2))
    assert not partner_link_active(world, "A", "p1", t(6))
    assert not partner_link_active(world, "A", "p2", t(3))
    assert not partner_link_active(world, "B", "p1", t(3))


def test_partner_access_to_foreign_device_is_both_categories() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0)],
        "partner_links": [link("B", "p1", 0)],
        "access_events": [access("B", "cam-1", 5, partner="p1")],
    }
    assert expected_findings(world) == {
        ("media_to_non_owner", ents(device_id="cam-1", account_id="B", owner_account_id="A")),
        ("partner_cross_feed", ents(device_id="cam-1", account_id="B", partner="p1")),
    }


def test_partner_access_without_active_link_is_cross_feed_only() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0)],
        "partner_links": [link("A", "p1", 0, 5), link("A", "p2", 0)],
        "access_events": [access("A", "cam-1", 5, partner="p1")],
    }
    assert expected_findings(world) == {
        ("partner_cross_feed", ents(device_id="cam-1", account_id="A", partner="p1"))
    }


def test_linked_partner_access_to_own_device_is_fine_and_empty_partner_is_not_partner() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0)],
        "partner_links": [link("A", "p1", 0)],
        "access_events": [
            access("A", "cam-1", 5, partner="p1"),
            access("A", "cam-1", 5, partner=""),
        ],
    }
    assert expected_findings(world) == set()


# --- staff ----------------------------------------------------------------------------------


def test_staff_targets_resolution_chain() -> None:
    world = with_defaults(
        {
            "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10), bind("cam-2", "C", 0)],
            "media": [{"media_id": "m1", "device_id": "cam-1", "captured_at": t(3)}],
        }
    )
    assert staff_targets(world, staff_act("s1", 12, account_id="D", device_id="cam-1")) == {"D"}
    assert staff_targets(world, staff_act("s1", 12, device_id="cam-1", media_id="m1")) == {"B"}
    # cam-3 has no owner at ts, so the media decides: cam-1's owner at capture time.
    assert staff_targets(world, staff_act("s1", 12, device_id="cam-3", media_id="m1")) == {"A"}
    assert staff_targets(world, staff_act("s1", 12, media_id="m9")) == {None}
    assert staff_targets(world, staff_act("s1", 12)) == {None}


def test_staff_target_of_a_duplicate_device_is_every_owner() -> None:
    world = with_defaults({"devices": [bind("cam-1", "A", 0), bind("cam-1", "B", 0)]})
    assert staff_targets(world, staff_act("s1", 5, device_id="cam-1")) == {"A", "B"}


def test_consent_covers_scope_window_and_grantee() -> None:
    world = with_defaults({"staff": [{"staff_id": "s1", "team": "t1"}]})
    clip = staff_act("s1", 5, account_id="A")
    account = staff_act("s1", 5, action="account", account_id="A")
    live = staff_act("s1", 5, action="live", account_id="A")
    star = with_defaults({"consents": [consent("A", "*", 0)]})["consents"][0]
    assert consent_covers(world, star, clip, "A")
    assert consent_covers(world, star, account, "A")
    assert not consent_covers(world, star, live, "A")  # `*` never covers live
    assert consent_covers(world, {**star, "scope": "live"}, live, "A")
    assert not consent_covers(world, {**star, "scope": "media"}, account, "A")
    assert not consent_covers(world, {**star, "scope": "account"}, clip, "A")
    assert not consent_covers(world, star, clip, "B")
    assert not consent_covers(world, star, clip, None)
    assert not consent_covers(world, {**star, "expires_at": t(5)}, clip, "A")
    assert not consent_covers(world, {**star, "revoked_at": t(5)}, clip, "A")
    assert consent_covers(world, {**star, "revoked_at": t(6), "granted_at": t(5)}, clip, "A")
    assert consent_covers(world, {**star, "grantee": "s1"}, clip, "A")
    assert not consent_covers(world, {**star, "grantee": "s2"}, clip, "A")
    assert consent_covers(world, {**star, "grantee": "team:t1"}, clip, "A")
    assert not consent_covers(world, {**star, "grantee": "team:t2"}, clip, "A")


def test_team_grantee_needs_the_staff_member_in_that_team() -> None:
    world = {
        "staff": [{"staff_id": "s1", "team": "t1"}, {"staff_id": "s2", "team": "t2"}],
        "consents": [consent("A", "media", 0, grantee="team:t1")],
        "staff_access": [
            staff_act("s1", 5, account_id="A"),
            staff_act("s2", 5, account_id="A"),
            staff_act("s3", 5, account_id="A"),  # unknown to the directory: no team
        ],
    }
    assert found(world, "staff_without_consent") == {
        ents(staff_id="s2", account_id="A"),
        ents(staff_id="s3", account_id="A"),
    }


def test_star_consent_never_covers_live_and_live_is_not_this_category() -> None:
    world = {
        "consents": [consent("A", "*", 0)],
        "staff_access": [staff_act("s1", 5, action="live", account_id="A")],
    }
    assert found(world, "staff_without_consent") == set()


def test_lookup_needs_no_consent_but_account_view_does() -> None:
    world = {
        "staff_access": [
            staff_act("s1", 5, action="lookup", account_id="A"),
            staff_act("s2", 5, action="account", account_id="A"),
        ]
    }
    assert found(world, "staff_without_consent") == {ents(staff_id="s2", account_id="A")}


def test_service_principals_are_out_and_unknown_staff_are_humans() -> None:
    world = {
        "staff": [{"staff_id": "svc", "kind": "service"}, {"staff_id": "s1", "kind": None}],
        "staff_access": [
            staff_act("svc", 5, action="raw_read", account_id="A"),
            staff_act("svc", 5, account_id="A"),
            staff_act("s1", 5, action="raw_read", account_id="A"),
            staff_act("s9", 5, account_id="B"),
        ],
    }
    assert found(world, "staff_without_consent") == {
        ents(staff_id="s1", account_id="A"),
        ents(staff_id="s9", account_id="B"),
    }


def test_unresolvable_target_is_flagged_with_null_account() -> None:
    world = {
        "consents": [consent("A", "*", 0)],
        "staff_access": [
            staff_act("s1", 5, device_id="cam-1"),
            staff_act("s2", 5, outcome="denied"),
        ],
    }
    assert found(world, "staff_without_consent") == {ents(staff_id="s1", account_id=None)}


def test_staff_access_resolved_through_the_device_is_covered_by_the_owners_consent() -> None:
    world = {
        "devices": [bind("cam-1", "A", 0, 10), bind("cam-1", "B", 10)],
        "consents": [consent("A", "media", 0)],
        "staff_access": [
            staff_act("s1", 5, device_id="cam-1"),
            staff_act("s1", 12, device_id="cam-1"),
        ],
    }
    assert found(world, "staff_without_consent") == {ents(staff_id="s1", account_id="B")}


# --- the world → ingest rows ----------------------------------------------------------------


def test_iso_round_trips_every_offset_form() -> None:
    for minute in range(8):
        text = iso(t(minute))
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=t(0).tzinfo)
        assert parsed == t(minute)
    assert {iso(t(m))[-6:] for m in range(4)} >= {"+02:00", "-05:00"}


def test_to_records_drops_missing_values_and_writes_iso_times() -> None:
    records = to_records({"devices": [bind("cam-1", "A", 0)]})
    assert records == {
        "devices": [{"device_id": "cam-1", "account_id": "A", "registered_at": iso(t(0))}]
    }


def test_an_empty_or_inverted_binding_is_never_a_duplicate() -> None:
    world = with_defaults(
        {"devices": [bind("cam-1", "A", 0), bind("cam-1", "B", 5, 5), bind("cam-1", "C", 9, 7)]}
    )
    assert duplicate_device_id(world) == set()
