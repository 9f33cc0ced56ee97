"""The native input tables of SPEC §1, as data.

One definition serves the store (DDL), ingest (matching, casting, validation), the rule
validator (binding SQL on an empty store) and the tests. Adding a column here adds it
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Columns every ingested row carries besides its table's own: provenance and kept extras.
SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
INGEST_ID = "_ingest_id"
EXTRA = "_extra"  # JSON object of the columns a file had that the table does not define

PROVENANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    (EXTRA, "JSON"),
    (SOURCE_FILE, "VARCHAR NOT NULL"),
    (SOURCE_LINE, "BIGINT NOT NULL"),
    (INGEST_ID, "BIGINT NOT NULL"),
)


@dataclass(frozen=True)
class Column:
    """One column of a native table."""

    name: str
    type: str = "VARCHAR"  # VARCHAR, TIMESTAMPTZ or BIGINT
    required: bool = False
    values: tuple[str, ...] = ()  # the known values of an enumerated column (lower case)
    default: str | None = None  # applied when the value is missing

    @property
    def is_enum(self) -> bool:
        return bool(self.values)


@dataclass(frozen=True)
class Table:
    """One native table: its columns in SPEC order."""

    name: str
    description: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, type_: str = "VARCHAR", **kw: object) -> Column:
    return Column(name, type_, **kw)  # type: ignore[arg-type]


TS = "TIMESTAMPTZ"
REQ = {"required": True}

CUSTOMER_ACTIONS = ("notify", "thumbnail", "list", "snapshot", "clip", "live", "download")
DELIVERY_ACTIONS = ("notify", "thumbnail", "list")
VIEW_ACTIONS = ("snapshot", "clip", "live", "download")
STAFF_ACTIONS = ("lookup", "account", "raw_read", *CUSTOMER_ACTIONS)
OUTCOMES = ("served", "denied", "error")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "devices",
            "one binding of a device to an account, from a registry dump",
            (
                _c("device_id", **REQ),
                _c("account_id", **REQ),
                _c("registered_at", TS, **REQ),
                _c("deregistered_at", TS),
                _c("serial"),
                _c("mac"),
                _c("model"),
                _c("firmware"),
                _c("status", values=("active", "revoked", "returned", "lost", "replaced")),
                _c("revoked_at", TS),
            ),
        ),
        Table(
            "access_events",
            "one request of a customer account for a device's media",
            (
                _c("ts", TS, **REQ),
                _c("account_id", **REQ),
                _c("device_id", **REQ),
                _c("action", values=CUSTOMER_ACTIONS, **REQ),
                _c("outcome", values=OUTCOMES, default="served"),
                _c("media_id"),
                _c("captured_at", TS),
                _c("session_id"),
                _c("partner"),
                _c("client_ip"),
                _c("user_agent"),
                _c("bytes", "BIGINT"),
                _c("event_id"),
            ),
        ),
        Table(
            "staff_access",
            "one action of an employee or internal principal in an internal tool",
            (
                _c("ts", TS, **REQ),
                _c("staff_id", **REQ),
                _c("action", values=STAFF_ACTIONS, **REQ),
                _c("account_id"),
                _c("device_id"),
                _c("media_id"),
                _c("lookup_key"),
                _c("ticket_id"),
                _c("channel", values=("portal", "admin_api", "raw_storage")),
                _c("outcome", values=OUTCOMES, default="served"),
            ),
        ),
        Table(
            "consents",
            "a customer's permission for staff access",
            (
                _c("account_id", **REQ),
                _c("scope", values=("media", "live", "account", "*"), **REQ),
                _c("granted_at", TS, **REQ),
                _c("expires_at", TS),
                _c("revoked_at", TS),
                _c("grantee", default="*"),
                _c("ticket_id"),
                _c("consent_id"),
            ),
        ),
        Table(
            "staff",
            "the staff directory",
            (
                _c("staff_id", **REQ),
                _c("team"),
                _c("role"),
                _c("email"),
                _c("own_account_id"),
                _c("kind", values=("human", "service"), default="human"),
                _c("active_from", TS),
                _c("active_to", TS),
            ),
        ),
        Table(
            "shares",
            "legitimate access of one account to another's device",
            (
                _c("device_id", **REQ),
                _c("owner_account_id", **REQ),
                _c("grantee_account_id", **REQ),
                _c("granted_at", TS, **REQ),
                _c("revoked_at", TS),
                _c("scope", values=("media", "live", "*"), default="*"),
            ),
        ),
        Table(
            "partner_links",
            "an account linked to a partner integration",
            (
                _c("account_id", **REQ),
                _c("partner", **REQ),
                _c("linked_at", TS, **REQ),
                _c("unlinked_at", TS),
            ),
        ),
        Table(
            "media",
            "a recorded item",
            (
                _c("media_id", **REQ),
                _c("device_id", **REQ),
                _c("captured_at", TS, **REQ),
                _c("kind"),
            ),
        ),
    )
}


def table_ddl(table: Table) -> str:
    """CREATE TABLE statement for a native table, provenance columns last."""
    cols = [f'"{c.name}" {c.type}' for c in table.columns]
    cols += [f'"{name}" {type_}' for name, type_ in PROVENANCE_COLUMNS]
    return f'CREATE TABLE IF NOT EXISTS "{table.name}" (\n    ' + ",\n    ".join(cols) + "\n)"
