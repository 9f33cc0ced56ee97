"""Hypothesis strategies for small random worlds, and their rows ready for ingest.

Ids come from tiny pools so that collisions (shared device ids, the same account twice,
consents of the right account) happen often; every time is a minute of one day on a grid of
21 minutes, so interval ends touch starts and accesses fall exactly on boundaries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from leakaudit.schema import CUSTOMER_ACTIONS, STAFF_ACTIONS, TABLES
from tests.spec_model import Row, World

DAY = datetime(2024, 6, 1, tzinfo=UTC)
GRID_MINUTES = 20

DEVICES = ("cam-1", "cam-2", "cam-3")
ACCOUNTS = ("A", "B", "C", "D")
STAFF = ("s1", "s2", "s3", "s4")
TEAMS = ("t1", "t2")
PARTNERS = ("p1", "p2")
MEDIA = ("m1", "m2", "m3", "m4")

times = st.integers(0, GRID_MINUTES).map(lambda m: DAY + timedelta(minutes=m))
maybe_times = st.none() | times


@st.composite
def interval(draw: st.DrawFn) -> tuple[datetime, datetime | None]:
    """A start and an end: usually after it or open, sometimes equal or before it.

    Registry dumps do hold empty and inverted intervals, and ingest keeps them: no instant lies
    in them, and the overlap formula of docs/semantics.md applies to them as written.
    """
    start = draw(st.integers(0, GRID_MINUTES - 1))
    after = st.integers(start + 1, GRID_MINUTES)
    end = draw(st.one_of(st.none(), after, after, after, st.integers(0, start)))
    return DAY + timedelta(minutes=start), None if end is None else DAY + timedelta(minutes=end)


@st.composite
def bindings(draw: st.DrawFn) -> Row:
    registered_at, deregistered_at = draw(interval())
    return {
        "device_id": draw(st.sampled_from(DEVICES)),
        "account_id": draw(st.sampled_from(ACCOUNTS)),
        "registered_at": registered_at,
        "deregistered_at": deregistered_at,
    }


@st.composite
def media_rows(draw: st.DrawFn) -> list[Row]:
    """Media items (some ids of MEDIA stay unknown to the table; an id may be listed twice,
    on one device or on two)."""
    ids = draw(st.lists(st.sampled_from(MEDIA), max_size=4))
    return [
        {
            "media_id": media_id,
            "device_id": draw(st.sampled_from(DEVICES)),
            "captured_at": draw(times),
        }
        for media_id in ids
    ]


def one_of_or_any(seen: list[Any], pool: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """A value already in the world (so that rows meet), or any value of the pool."""
    anything = st.sampled_from(pool)
    return st.sampled_from(seen) | anything if seen else anything


@st.composite
def shares(draw: st.DrawFn, devices: list[Row]) -> Row:
    """A share, usually of a device from one of its bindings' accounts."""
    granted_at, revoked_at = draw(interval())
    pairs = [(b["device_id"], b["account_id"]) for b in devices]
    device_id, owner = draw(one_of_or_any(pairs, tuple(zip(DEVICES, ACCOUNTS, strict=False))))
    return {
        "device_id": device_id,
        "owner_account_id": owner,
        "grantee_account_id": draw(st.sampled_from(ACCOUNTS)),
        "granted_at": granted_at,
        "revoked_at": revoked_at,
        # "unknown" is no scope of SPEC §1 but the name of the scope of an unnamed action: it
        # must cover nothing (docs/semantics.md), not match that action.
        "scope": draw(st.sampled_from([None, "*", "media", "live", "unknown"])),
    }


@st.composite
def partner_links(draw: st.DrawFn) -> Row:
    linked_at, unlinked_at = draw(interval())
    return {
        "account_id": draw(st.sampled_from(ACCOUNTS)),
        "partner": draw(st.sampled_from(PARTNERS)),
        "linked_at": linked_at,
        "unlinked_at": unlinked_at,
    }


@st.composite
def staff_directory(draw: st.DrawFn) -> list[Row]:
    """Staff ids with one or two directory rows (a rehire, a move between teams), some with
    an employment interval; some ids of STAFF stay unknown to the directory."""
    ids = draw(st.lists(st.sampled_from(STAFF), max_size=len(STAFF), unique=True))
    rows = []
    for staff_id in ids:
        for _ in range(draw(st.integers(1, 2))):
            start, end = draw(interval()) if draw(st.booleans()) else (None, None)
            rows.append(
                {
                    "staff_id": staff_id,
                    "team": draw(st.none() | st.sampled_from(TEAMS)),
                    "kind": draw(st.sampled_from([None, "human", "service"])),
                    "active_from": start,
                    "active_to": end,
                }
            )
    return rows


grantees = st.sampled_from(
    [None, "*", "*", *STAFF, *(f"team:{t}" for t in TEAMS), *(f"team:{t}" for t in TEAMS)]
)


@st.composite
def consents(draw: st.DrawFn) -> Row:
    granted_at, expires_at = draw(interval())
    return {
        "account_id": draw(st.sampled_from(ACCOUNTS)),
        "scope": draw(st.sampled_from(["*", "media", "live", "account", "unknown"])),
        "granted_at": granted_at,
        "expires_at": expires_at,
        "revoked_at": draw(maybe_times),
        "grantee": draw(grantees),
    }


# "success" and the unknown actions are values SPEC §1 does not name: they must be read as
# docs/semantics.md says (a delivery; scope unknown), not dropped.
outcomes = st.sampled_from([None, "served", "served", "denied", "error", "success"])


@st.composite
def access_events(draw: st.DrawFn, shared: list[Row], links: list[Row]) -> Row:
    """An access, often by a grantee of a share to its device or through a linked partner."""
    pairs = [(s["grantee_account_id"], s["device_id"]) for s in shared]
    account_id, device_id = draw(
        one_of_or_any(pairs, tuple((a, d) for a in ACCOUNTS for d in DEVICES))
    )
    linked = [link["partner"] for link in links if link["account_id"] == account_id]
    return {
        "ts": draw(times),
        "account_id": account_id,
        "device_id": device_id,
        "action": draw(st.sampled_from([*CUSTOMER_ACTIONS, "live_stream"])),
        "outcome": draw(outcomes),
        "media_id": draw(st.none() | st.sampled_from(MEDIA)),
        "captured_at": draw(maybe_times),
        "partner": draw(st.sampled_from([None, None, "", *linked, *PARTNERS])),
    }


@st.composite
def staff_accesses(draw: st.DrawFn, granted: list[Row]) -> Row:
    """A staff action, often on an account that granted a consent to this staff member."""
    pairs = [(c["account_id"], c["grantee"]) for c in granted]
    account_id, grantee = draw(one_of_or_any(pairs, tuple((a, None) for a in ACCOUNTS)))
    named = (grantee,) if grantee in STAFF else ()
    return {
        "ts": draw(times),
        "staff_id": draw(st.sampled_from((*named, *STAFF))),
        "action": draw(st.sampled_from([*STAFF_ACTIONS, "stream"])),
        "outcome": draw(outcomes),
        "account_id": draw(st.none() | st.just(account_id)),
        "device_id": draw(st.none() | st.sampled_from(DEVICES)),
        "media_id": draw(st.none() | st.sampled_from(MEDIA)),
    }


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """A small random world of the eight native tables; any of them may be empty.

    Shares lean on existing bindings, customer accesses on existing shares and staff actions
    on existing consents, so that a share or a consent really decides an access often enough.
    """
    devices = draw(st.lists(bindings(), max_size=5))
    shared = draw(st.lists(shares(devices), max_size=3))
    links = draw(st.lists(partner_links(), max_size=3))
    granted = draw(st.lists(consents(), max_size=5))
    return {
        "devices": devices,
        "media": draw(media_rows()),
        "shares": shared,
        "partner_links": links,
        "staff": draw(staff_directory()),
        "consents": granted,
        "access_events": draw(st.lists(access_events(shared, links), max_size=6)),
        "staff_access": draw(st.lists(staff_accesses(granted), max_size=6)),
    }


# --- hand-written worlds ------------------------------------------------------------------


def t(minute: int) -> datetime:
    """The instant `minute` minutes into the day of every world."""
    return DAY + timedelta(minutes=minute)


def bind(device: str, account: str, start: int, end: int | None = None) -> dict[str, Any]:
    """A `devices` binding; no end = still bound."""
    return {
        "device_id": device,
        "account_id": account,
        "registered_at": t(start),
        "deregistered_at": None if end is None else t(end),
    }


def access(account: str, device: str, ts: int, **kw: Any) -> dict[str, Any]:
    """A customer `clip` access (keywords override or add columns)."""
    return {"ts": t(ts), "account_id": account, "device_id": device, "action": "clip", **kw}


def staff_act(staff: str, ts: int, action: str = "clip", **kw: Any) -> dict[str, Any]:
    """A staff action (keywords add account_id, device_id, media_id, outcome …)."""
    return {"ts": t(ts), "staff_id": staff, "action": action, **kw}


def consent(
    account: str, scope: str, start: int, end: int | None = None, **kw: Any
) -> dict[str, Any]:
    """A consent of `account`; no end = never expires."""
    return {
        "account_id": account,
        "scope": scope,
        "granted_at": t(start),
        "expires_at": None if end is None else t(end),
        **kw,
    }


def share(scope: str | None, start: int = 0, end: int | None = None, **kw: Any) -> dict[str, Any]:
    """A share of cam-1 from A to B; no end = not revoked."""
    return {
        "device_id": "cam-1",
        "owner_account_id": "A",
        "grantee_account_id": "B",
        "granted_at": t(start),
        "revoked_at": None if end is None else t(end),
        "scope": scope,
        **kw,
    }


def link(account: str, partner: str, start: int, end: int | None = None) -> dict[str, Any]:
    """A partner link; no end = still linked."""
    return {
        "account_id": account,
        "partner": partner,
        "linked_at": t(start),
        "unlinked_at": None if end is None else t(end),
    }


# Offsets a timestamp is written with, chosen by its minute so that one world mixes them all.
_OFFSETS = (UTC, timezone(timedelta(hours=2)), None, timezone(timedelta(hours=-5)))


def iso(value: datetime) -> str:
    """ISO-8601 text of an aware datetime: `Z`, an offset, or no offset (read as UTC)."""
    zone = _OFFSETS[value.minute % len(_OFFSETS)]
    if zone is None:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat()
    text = value.astimezone(zone).isoformat()
    return text.replace("+00:00", "Z")


def to_records(world: World) -> dict[str, list[dict[str, Any]]]:
    """The world as ingest rows: timestamps as ISO strings, missing values left out."""
    records: dict[str, list[dict[str, Any]]] = {}
    for table, rows in world.items():
        records[table] = [
            {
                column: iso(value) if isinstance(value, datetime) else value
                for column, value in row.items()
                if value is not None
            }
            for row in rows
        ]
        assert all(set(r) <= {c.name for c in TABLES[table].columns} for r in records[table])
    return records


def show(world: World) -> str:
    """A world as readable lines: one row per line, times as minutes of the day."""

    def cell(value: Any) -> str:
        if isinstance(value, datetime):
            return f"m{int((value - DAY).total_seconds() // 60)}"
        return repr(value)

    lines = []
    for table, rows in world.items():
        for row in rows:
            shown = ", ".join(f"{k}={cell(v)}" for k, v in row.items() if v is not None)
            lines.append(f"  {table}: {shown}")
    return "\n".join(lines)
