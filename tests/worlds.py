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
    """A start and an end strictly after it, or no end (open)."""
    start = draw(st.integers(0, GRID_MINUTES - 1))
    end = draw(st.none() | st.integers(start + 1, GRID_MINUTES))
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
    """Media items with distinct ids (some ids of MEDIA stay unknown to the table)."""
    ids = draw(st.lists(st.sampled_from(MEDIA), max_size=3, unique=True))
    return [
        {
            "media_id": media_id,
            "device_id": draw(st.sampled_from(DEVICES)),
            "captured_at": draw(times),
        }
        for media_id in ids
    ]


@st.composite
def shares(draw: st.DrawFn) -> Row:
    granted_at, revoked_at = draw(interval())
    return {
        "device_id": draw(st.sampled_from(DEVICES)),
        "owner_account_id": draw(st.sampled_from(ACCOUNTS)),
        "grantee_account_id": draw(st.sampled_from(ACCOUNTS)),
        "granted_at": granted_at,
        "revoked_at": revoked_at,
        "scope": draw(st.sampled_from([None, "*", "media", "live"])),
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
    """Distinct staff ids; some ids of STAFF stay unknown to the directory."""
    ids = draw(st.lists(st.sampled_from(STAFF), max_size=len(STAFF), unique=True))
    return [
        {
            "staff_id": staff_id,
            "team": draw(st.none() | st.sampled_from(TEAMS)),
            "kind": draw(st.sampled_from([None, "human", "service"])),
        }
        for staff_id in ids
    ]


grantees = st.sampled_from([None, "*", *STAFF, *(f"team:{t}" for t in TEAMS)])


@st.composite
def consents(draw: st.DrawFn) -> Row:
    granted_at, expires_at = draw(interval())
    return {
        "account_id": draw(st.sampled_from(ACCOUNTS)),
        "scope": draw(st.sampled_from(["*", "media", "live", "account"])),
        "granted_at": granted_at,
        "expires_at": expires_at,
        "revoked_at": draw(maybe_times),
        "grantee": draw(grantees),
    }


outcomes = st.sampled_from([None, "served", "served", "denied", "error"])


@st.composite
def access_events(draw: st.DrawFn) -> Row:
    return {
        "ts": draw(times),
        "account_id": draw(st.sampled_from(ACCOUNTS)),
        "device_id": draw(st.sampled_from(DEVICES)),
        "action": draw(st.sampled_from(CUSTOMER_ACTIONS)),
        "outcome": draw(outcomes),
        "media_id": draw(st.none() | st.sampled_from(MEDIA)),
        "captured_at": draw(maybe_times),
        "partner": draw(st.sampled_from([None, None, "", *PARTNERS])),
    }


@st.composite
def staff_accesses(draw: st.DrawFn) -> Row:
    return {
        "ts": draw(times),
        "staff_id": draw(st.sampled_from(STAFF)),
        "action": draw(st.sampled_from(STAFF_ACTIONS)),
        "outcome": draw(outcomes),
        "account_id": draw(st.none() | st.sampled_from(ACCOUNTS)),
        "device_id": draw(st.none() | st.sampled_from(DEVICES)),
        "media_id": draw(st.none() | st.sampled_from(MEDIA)),
    }


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """A small random world of the eight native tables; any of them may be empty."""
    return {
        "devices": draw(st.lists(bindings(), max_size=5)),
        "media": draw(media_rows()),
        "shares": draw(st.lists(shares(), max_size=3)),
        "partner_links": draw(st.lists(partner_links(), max_size=3)),
        "staff": draw(staff_directory()),
        "consents": draw(st.lists(consents(), max_size=4)),
        "access_events": draw(st.lists(access_events(), max_size=6)),
        "staff_access": draw(st.lists(staff_accesses(), max_size=6)),
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
