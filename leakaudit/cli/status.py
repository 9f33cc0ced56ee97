"""`leakaudit status`: what the database holds."""

from __future__ import annotations

import click

from leakaudit import api
from leakaudit.cli.common import READ_DB_HELP, db_option, safe, stdout_console, titled_table
from leakaudit.findings import format_ts

EPILOG = """\b
Example:
  leakaudit status --db audit.duckdb
"""


@click.command(epilog=EPILOG)
@db_option(help=READ_DB_HELP)
def status(db: str | None) -> None:
    """Show tables with row counts and time spans, ingested files, and quarantined rows.

    Use it after an ingest to see what arrived and what was rejected, and why; the rejected
    rows themselves are in the quarantine table (`leakaudit query "SELECT * FROM quarantine"`).
    """
    st = api.status(db=db)
    console = stdout_console()
    console.print(f"Database {safe(st.path)} (schema version {st.schema_version})")
    tables = titled_table("Tables", "table", ">rows", "from", "to")
    for t in st.tables:
        tables.add_row(t.name, f"{t.rows:,}", format_ts(t.first) or "", format_ts(t.last) or "")
    console.print(tables)
    files = titled_table("Ingested files", "file", "table", ">rows", ">rejected", "sha256")
    for f in st.files:
        files.add_row(
            safe(f["path"]),
            f["table_name"],
            f"{f['rows']:,}",
            f"{f['rejected']:,}",
            f["sha256"][:12],
        )
    console.print(files)
    if st.quarantine:
        q = titled_table("Quarantined rows by reason", "table", "reason", ">rows")
        for table, reason, n in st.quarantine:
            q.add_row(table, safe(reason), f"{n:,}")
        console.print(q)
    else:
        console.print("No quarantined rows.")
