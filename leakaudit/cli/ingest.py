"""`leakaudit ingest`: files and folders into the database."""

from __future__ import annotations

import click
from rich.table import Table

from leakaudit import api
from leakaudit.cli.common import db_option, quiet_option, safe, stderr_console, titled_table
from leakaudit.cli.progress import progress_for
from leakaudit.ingest import IngestReport
from leakaudit.schema import TABLES
from leakaudit.wording import plural

EPILOG = """\b
Examples:
  leakaudit ingest sample_logs/ --db audit.duckdb
  leakaudit ingest export.csv.gz --as access_events --strict
"""


def summary_table(report: IngestReport) -> Table:
    """The per-file summary shown after an ingest."""
    table = titled_table("Ingested", "file", "table", ">rows", ">rejected", "note")
    for f in report.files:
        notes = []
        if f.skipped:
            notes.append("already ingested, nothing added")
        if f.unknown_values:
            shown = "; ".join(
                f"{col}: {', '.join(sorted(vals))}"
                for col, vals in sorted(f.unknown_values.items())
            )
            notes.append(f"unknown values kept ({shown})")
        if f.extra_columns:
            notes.append(f"extra columns kept: {', '.join(f.extra_columns)}")
        table.add_row(
            safe(f.path), f.table, f"{f.rows:,}", f"{f.rejected:,}", safe(" · ".join(notes))
        )
    return table


def counts_line(report: IngestReport) -> str:
    """One line of counts, the same after `ingest` and `audit`, so a script can match either."""
    loaded = sum(not f.skipped for f in report.files)
    return (
        f"{report.rows:,} {plural(report.rows, 'row')} ingested from {loaded} "
        f"{plural(loaded, 'file')}, {report.rejected:,} quarantined, "
        f"{len(report.files) - loaded} already ingested"
    )


@click.command(epilog=EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--as",
    "as_table",
    type=click.Choice(list(TABLES)),
    help="Table for every file, instead of guessing it from the file or folder name.",
)
@db_option
@click.option(
    "--strict", is_flag=True, help="Any quarantined row is an error (exit 2); nothing is kept."
)
@quiet_option
def ingest(
    paths: tuple[str, ...], as_table: str | None, db: str | None, strict: bool, quiet: bool
) -> None:
    """Ingest registry dumps and access logs into the database.

    PATHS are files or folders (walked). A file's table comes from --as, else its name
    (devices.csv, access_events-2024-06-01.jsonl.gz), else its folder (staff_access/part-1.csv).
    Formats: CSV with a header row, JSON Lines, Parquet; each may be gzip- or zstd-compressed.

    Bad rows never stop an ingest: each is kept in the quarantine table with its file, line
    and reason (see `leakaudit status`). A file ingested before (same sha256) adds nothing.
    The whole ingest is one transaction: on any error the database stays as it was.
    """
    console = stderr_console()
    report = api.ingest(
        list(paths), db=db, as_table=as_table, strict=strict, progress=progress_for(console, quiet)
    )
    if not quiet:
        console.print(summary_table(report))
    click.echo(f"{counts_line(report)}.")
