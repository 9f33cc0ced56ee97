"""A pure-Python reference model of SPEC §2, exactly as docs/semantics.md reads it.

This is a test oracle, not a data path: plain loops over lists of row dicts, one named function
per semantic piece, so that each can be checked against the page line by line. The
differential test (tests/test_differential.py) holds the SQL rules equal to it for four
categories: `duplicate_device_id`, `media_to_non_owner`, `partner_cross_feed` and
`staff_without_consent`.

A *world* is a dict: native table name → list of row dicts, with native column names,
timestamps as timezone-aware datetimes and missing values as None. `with_defaults` fills the
SPEC §1 enum defaults, so a world may leave them out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leakaudit.schema import CUSTOMER_ACTIONS, STAFF_ACTIONS, TABLES

Row = dict[str, Any]
World = dict[str, list[Row]]
EntityItems = tuple[tuple[str, Any], ...]
Result = set[tuple[str, EntityItems]]

CATEGORIES: tuple[str, ...] = (
    "duplicate_device_id",
    "media_to_non_owner",
    "partner_cross_feed",
    "staff_without_consent",
)

# SPEC §1: missing enum values take these defaults (schema.py `default=`).
DEFAULTS: dict[str, dict[str, str]] = {
    "access_events": {"outcome": "served"},
    "staff_access": {"outcome": "served"},
    "consents": {"grantee": "*"},
    "staff": {"kind": "human"},
    "shares": {"scope": "*"},
}


def with_defaults(world: World) -> World:
    """The world with every column present, SPEC §1 defaults filled, empty strings missing.

    Ingest trims text and stores an empty cell as NULL (docs/architecture.md, "The store").
    """
    out: World = {}
    for table, rows in world.items():
        defaults = DEFAULTS.get(table, {})
        filled = []
        for row in rows:
            new = {c.name: None for c in TABLES[table].columns}
            new.update({k: (None if v == "" else v) for k, v in row.items()})
            for column, default in defaults.items():
                if new.get(column) is None:
                    new[column] = default
            filled.append(new)
        out[table] = filled
    return out


def freeze(entities: dict[str, Any]) -> EntityItems:
    """Entities as a hashable, order-independent value; list values keep their order."""
    return tuple(
        sorted((k, tuple(v) if isinstance(v, list | tuple) else v) for k, v in entities.items())
    )


# --- time and intervals ---------------------------------------------------------------------


def in_interval(t: datetime, start: datetime, end: datetime | None) -> bool:
    """`start ≤ t < end`, a missing end open (semantics.md "Time and intervals", line 1)."""
    return start <= t and (end is None or t < end)


def intervals_overlap(
    a_start: datetime, a_end: datetime | None, b_start: datetime, b_end: datetime | None
) -> bool:
    """`a.start < b.end and b.start < a.end`, missing end = +∞ (semantics.md, line 2).

    A hand-over at the same instant (`a.end = b.start`) does not overlap.
    """
    return (b_end is None or a_start < b_end) and (a_end is None or b_start < a_end)


def empty_binding(row: Row) -> bool:
    """A binding ending at or before its start holds no instant (semantics.md, line 4)."""
    return row["deregistered_at"] is not None and row["deregistered_at"] <= row["registered_at"]


def overlap(a: Row, b: Row) -> bool:
    """Whether two `devices` bindings overlap in time; an empty binding overlaps nothing."""
    if empty_binding(a) or empty_binding(b):
        return False
    return intervals_overlap(
        a["registered_at"], a["deregistered_at"], b["registered_at"], b["deregistered_at"]
    )


def owner_at(world: World, device_id: str | None, t: datetime) -> set[str]:
    """owner(D, t): accounts with a `devices` row for D where registered_at ≤ t < deregistered_at.

    SPEC §2 first bullet; semantics.md "Time and intervals", line 3.
    """
    return {
        b["account_id"]
        for b in world.get("devices", [])
        if b["device_id"] == device_id and in_interval(t, b["registered_at"], b["deregistered_at"])
    }


# --- customer accesses ----------------------------------------------------------------------


def customer_action_scope(action: str) -> str:
    """`live` → live, the other SPEC customer actions → media, anything else → unknown
    (semantics.md "Customer accesses")."""
    if action == "live":
        return "live"
    return "media" if action in CUSTOMER_ACTIONS else "unknown"


def capture_time(world: World, event: Row) -> datetime:
    """The event's captured_at, else the earliest captured_at of its media row (the rows of
    its media_id on its device, else every row of the id), else ts.

    SPEC §2 second bullet; semantics.md "Customer accesses", line 2.
    """
    if event.get("captured_at") is not None:
        return event["captured_at"]
    rows = [
        m
        for m in world.get("media", [])
        if event.get("media_id") is not None and m["media_id"] == event["media_id"]
    ]
    own = [m for m in rows if m["device_id"] == event["device_id"]]
    media_times = [m["captured_at"] for m in own or rows]
    return min(media_times) if media_times else event["ts"]


def share_covers(world: World, share: Row, event: Row) -> bool:
    """Whether `share` makes `event` legitimate (semantics.md "Customer accesses", line 4).

    Its device is D, its owner is in owner(D, capture time), its grantee is the recipient, it
    is active at ts (granted_at ≤ ts < revoked_at) and its scope is `*` or the action scope,
    which for an action SPEC does not name (scope unknown) only `*` is.
    """
    owners = owner_at(world, event["device_id"], capture_time(world, event))
    return (
        share["device_id"] == event["device_id"]
        and share["owner_account_id"] in owners
        and share["grantee_account_id"] == event["account_id"]
        and in_interval(event["ts"], share["granted_at"], share["revoked_at"])
        and (
            share["scope"] == "*"
            or share["scope"] == customer_action_scope(event["action"]) != "unknown"
        )
    )


def legitimate_by_ownership(world: World, event: Row) -> bool:
    """A ∈ owner(D, capture time), or a share covers the access (SPEC §2 third bullet)."""
    owners = owner_at(world, event["device_id"], capture_time(world, event))
    return event["account_id"] in owners or any(
        share_covers(world, s, event) for s in world.get("shares", [])
    )


def is_partner_access(event: Row) -> bool:
    """Partner-originated: `partner` not null and not empty (semantics.md, partner line)."""
    return bool(event.get("partner"))


def partner_link_active(world: World, account_id: str, partner: str, ts: datetime) -> bool:
    """A partner_links row of the account, same partner, linked_at ≤ ts < unlinked_at.

    SPEC §2 fourth bullet; semantics.md "Customer accesses", partner line.
    """
    return any(
        link["account_id"] == account_id
        and link["partner"] == partner
        and in_interval(ts, link["linked_at"], link["unlinked_at"])
        for link in world.get("partner_links", [])
    )


def served(row: Row) -> bool:
    """Every outcome but denied and error is a delivery (an unknown one too)."""
    return row["outcome"] not in ("denied", "error")


# --- staff accesses -------------------------------------------------------------------------


def staff_action_scope(action: str) -> str:
    """`live` → live; `lookup`, `account` → account; the other SPEC staff actions (raw_read
    too) → media; anything else → unknown, which no consent covers."""
    if action == "live":
        return "live"
    if action in ("lookup", "account"):
        return "account"
    return "media" if action in STAFF_ACTIONS else "unknown"


def staff_entry(world: World, staff_id: str, ts: datetime) -> Row:
    """The directory row of a staff id at `ts` (semantics.md, several directory rows): the
    latest-starting one whose employment covers ts, else the last that began before ts, else
    the first. Unknown staff are humans without a team."""
    rows = [e for e in world.get("staff", []) if e["staff_id"] == staff_id]
    if not rows:
        return {"staff_id": staff_id, "team": None, "kind": "human"}

    def began(e: Row) -> bool:
        return e.get("active_from") is None or e["active_from"] <= ts

    def covers(e: Row) -> bool:
        return began(e) and (e.get("active_to") is None or ts < e["active_to"])

    def latest(entries: list[Row]) -> Row:  # an open start is the earliest; first on ties
        return max(entries, key=lambda e: (e.get("active_from") is not None, e.get("active_from")))

    covering = [e for e in rows if covers(e)]
    if covering:
        return latest(covering)
    past = [e for e in rows if began(e)]
    if past:
        return latest(past)
    return min(rows, key=lambda e: e["active_from"])


def staff_targets(world: World, action: Row) -> set[str | None]:
    """Target accounts of a staff action (semantics.md "Staff", target line; SPEC §2 last bullet).

    account_id; else every owner of device_id at ts; else the owners of the media's device at
    the media's capture time; else {None} (unresolvable).
    """
    if action.get("account_id") is not None:
        return {action["account_id"]}
    if action.get("device_id") is not None:
        owners = owner_at(world, action["device_id"], action["ts"])
        if owners:
            return set(owners)
    if action.get("media_id") is not None:
        media_owners: set[str] = set()
        for m in world.get("media", []):
            if m["media_id"] == action["media_id"]:
                media_owners |= owner_at(world, m["device_id"], m["captured_at"])
        if media_owners:
            return set(media_owners)
    return {None}


def consent_covers(world: World, consent: Row, action: Row, target: str | None) -> bool:
    """Whether `consent` covers a staff action on `target` (semantics.md "Staff", consent line).

    It is the target's, active at ts (granted_at ≤ ts < expires_at, ts < revoked_at), granted to
    `*`, the staff id or `team:` + the staff member's team, with the action's scope or `*` for a
    media or account action (`*` never covers live).
    """
    ts = action["ts"]
    team = staff_entry(world, action["staff_id"], action["ts"])["team"]
    grantees = {"*", action["staff_id"]} | ({f"team:{team}"} if team is not None else set())
    scope = staff_action_scope(action["action"])
    scope_ok = consent["scope"] == scope != "unknown" or (
        consent["scope"] == "*" and scope in ("media", "account")
    )
    return (
        target is not None
        and consent["account_id"] == target
        and in_interval(ts, consent["granted_at"], consent["expires_at"])
        and (consent["revoked_at"] is None or ts < consent["revoked_at"])
        and consent["grantee"] in grantees
        and scope_ok
    )


# --- the four categories --------------------------------------------------------------------


def duplicate_device_id(world: World) -> Result:
    """One finding per device; accounts = those overlapping a binding of another account.

    semantics.md "Devices", first bullet; the same account bound twice is never a duplicate.
    """
    accounts: dict[str, set[str]] = {}
    bindings = world.get("devices", [])
    for a in bindings:
        for b in bindings:
            if (
                a["device_id"] == b["device_id"]
                and a["account_id"] != b["account_id"]
                and overlap(a, b)
            ):
                accounts.setdefault(a["device_id"], set()).add(a["account_id"])
    return {
        ("duplicate_device_id", freeze({"device_id": d, "accounts": sorted(accts)}))
        for d, accts in accounts.items()
    }


def media_to_non_owner(world: World) -> Result:
    """Every served access not legitimate by ownership, per owner at capture time (or None)."""
    found: Result = set()
    for event in world.get("access_events", []):
        if not served(event) or legitimate_by_ownership(world, event):
            continue
        owners: Iterable[str | None] = owner_at(
            world, event["device_id"], capture_time(world, event)
        ) or {None}
        for owner in owners:
            entities = {
                "device_id": event["device_id"],
                "account_id": event["account_id"],
                "owner_account_id": owner,
            }
            found.add(("media_to_non_owner", freeze(entities)))
    return found


def partner_cross_feed(world: World) -> Result:
    """Served partner accesses not legitimate by ownership or without an active link."""
    found: Result = set()
    for event in world.get("access_events", []):
        if not served(event) or not is_partner_access(event):
            continue
        linked = partner_link_active(world, event["account_id"], event["partner"], event["ts"])
        if not legitimate_by_ownership(world, event) or not linked:
            entities = {
                "device_id": event["device_id"],
                "account_id": event["account_id"],
                "partner": event["partner"],
            }
            found.add(("partner_cross_feed", freeze(entities)))
    return found


def staff_without_consent(world: World) -> Result:
    """Served media/account actions of humans on a target no consent covers (null target too).

    semantics.md "Staff": service principals are out; lookup and live are other rules' business.
    """
    found: Result = set()
    for action in world.get("staff_access", []):
        entry = staff_entry(world, action["staff_id"], action["ts"])
        if not served(action) or entry["kind"] == "service":
            continue
        if action["action"] == "lookup" or staff_action_scope(action["action"]) == "live":
            continue
        for target in staff_targets(world, action):
            if not any(consent_covers(world, c, action, target) for c in world.get("consents", [])):
                entities = {"staff_id": action["staff_id"], "account_id": target}
                found.add(("staff_without_consent", freeze(entities)))
    return found


def expected_findings(world: World) -> Result:
    """The (category, entities) the four categories must produce for `world`."""
    world = with_defaults(world)
    return (
        duplicate_device_id(world)
        | media_to_non_owner(world)
        | partner_cross_feed(world)
        | staff_without_consent(world)
    )
