"""The Python entry points that the CLI and the tests (and responders' notebooks) call.

Each function opens the store it needs, does one job and returns a result object; none of
them prints or exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from leakaudit.errors import QueryError
from leakaudit.ingest import IngestReport, ingest_paths
from leakaudit.progress import Progress
from leakaudit.schema import TABLES
from leakaudit.store import Store

PathLike = str | os.PathLike[str]


def ingest(
    paths: list[PathLike],
    *,
    db: PathLike | None = None,
    as_table: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files and folders into the database; all or nothing (see `ingest_paths`)."""
    with Store.open(db) as store:
        return ingest_paths(store, paths, as_table=as_table, strict=strict, progress=progress)


def query(sql: str, *, db: PathLike | None = None) -> pd.DataFrame:
    """Run one SQL statement on a read-only connection and return the rows.

    Read-only, so an ad-hoc query at 2 a.m. can never change the evidence.
    """
    with Store.open(db, read_only=True) as store:
        try:
            result = store.con.sql(sql)
        except duckdb.Error as exc:
            raise QueryError(one_line(str(exc))) from exc
        if result is None:  # a statement without rows
            return pd.DataFrame()
        try:
            return result.to_arrow_table().to_pandas()
        except duckdb.Error as exc:
            raise QueryError(one_line(str(exc))) from exc


def one_line(message: str) -> str:
    """DuckDB's message without its multi-line caret diagram: one clear line."""
    kept = []
    for line in message.strip().splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            kept.append(line.strip())
    return " ".join(kept)


@dataclass(frozen=True)
class TableStatus:
    name: str
    rows: int
    first: datetime | None  # earliest timestamp of the table's time column
    last: datetime | None
    time_column: str | None


@dataclass
class StoreStatus:
    """What `leakaudit status` shows: tables, ingested files, quarantine by reason."""

    path: str
    schema_version: int
    tables: list[TableStatus] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[tuple[str, str, int]] = field(default_factory=list)  # table, reason, rows


# The column that gives each table its time span.
TIME_COLUMNS: dict[str, str] = {
    "devices": "registered_at",
    "access_events": "ts",
    "staff_access": "ts",
    "consents": "granted_at",
    "staff": "active_from",
    "shares": "granted_at",
    "partner_links": "linked_at",
    "media": "captured_at",
}


def status(*, db: PathLike | None = None) -> StoreStatus:
    """Row counts and time spans per table, ingested files, quarantined rows by reason."""
    with Store.open(db, read_only=True) as store:
        con = store.con
        spans = " UNION ALL ".join(
            f"""SELECT '{name}', count(*), min("{TIME_COLUMNS[name]}"),
                max("{TIME_COLUMNS[name]}") FROM "{name}" """
            for name in TABLES
        )
        tables = [
            TableStatus(name, int(n), first, last, TIME_COLUMNS[name])
            for name, n, first, last in con.execute(spans).fetchall()
        ]
        files = con.sql(
            """
            SELECT path, table_name, format, compression, rows, rejected, sha256, ingested_at
            FROM ingest_log
            ORDER BY ingest_id
            """
        ).to_arrow_table()
        quarantine = con.execute(
            """
            SELECT table_name, regexp_replace(reason, '''.*''', '''…''') AS kind, count(*)
            FROM quarantine
            GROUP BY ALL
            ORDER BY 3 DESC, 1, 2
            """
        ).fetchall()
        return StoreStatus(
            store.path,
            store.schema_version(),
            tables,
            files.to_pylist(),
            [(t, r, int(n)) for t, r, n in quarantine],
        )
