"""`leakaudit query`: ad-hoc SQL on the database, read-only."""

from __future__ import annotations

import json

import click
import numpy as np
import pandas as pd
from rich.table import Table

from leakaudit import api
from leakaudit.cli.common import (
    READ_DB_HELP,
    db_option,
    safe,
    stderr_console,
    stdout_console,
    truncate,
    write_machine_output,
)
from leakaudit.errors import QueryError
from leakaudit.reports.csv import inert_cell
from leakaudit.reports.textsafe import json_inert

EPILOG = """\b
Examples:
  leakaudit query "SELECT action, count(*) FROM access_events GROUP BY 1" --db audit.duckdb
  leakaudit query "SELECT * FROM quarantine" --format csv > quarantine.csv
"""
MAX_CELL = 60
# A screen's worth many times over; beyond it a table is slow to draw and unreadable, and
# the way to every row is a machine format.
MAX_TABLE_ROWS = 1000


def _plain(value: object) -> object:
    """A list, struct or map cell (numpy arrays, dicts, tuples) as plain Python values."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.datetime64 | np.timedelta64):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def cell_value(value: object) -> object:
    """A list, struct or map cell as the JSON text `--format json` writes for it, whole;
    every other value as it is. (numpy's own text of a list wraps its lines and cuts one of
    more than 1,000 items to `[0 1 2 ... 1999]`.)"""
    if isinstance(value, np.ndarray | list | tuple | dict):
        return json.dumps(_plain(value), ensure_ascii=False, default=str)
    return value


def _table_text(value: object) -> str:
    value = cell_value(value)
    return "" if pd.api.types.is_scalar(value) and pd.isna(value) else str(value)


def render_table(frame: pd.DataFrame) -> Table:
    table = Table(show_lines=False)
    for column in frame.columns:
        table.add_column(safe(column), overflow="ellipsis", max_width=MAX_CELL)
    for row in frame.itertuples(index=False):
        table.add_row(*(safe(truncate(_table_text(v), MAX_CELL)) for v in row))
    return table


@click.command(epilog=EPILOG)
@click.argument("sql")
@db_option(help=READ_DB_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "jsonl"]),
    default=None,
    help=(
        "Output format [default: table on a terminal, csv otherwise]; a table shows at most "
        f"{MAX_TABLE_ROWS:,} rows, the other formats every row."
    ),
)
def query(sql: str, db: str | None, fmt: str | None) -> None:
    """Run one SQL query on the database (read-only) and print the rows.

    Tables: the eight native tables (devices, access_events, staff_access, consents, staff,
    shares, partner_links, media; each row with _source_file and _source_line), ingest_log
    and quarantine. The database is opened read-only, so a query cannot change evidence.
    """
    console = stdout_console()
    fmt = fmt or ("table" if console.is_terminal else "csv")
    frame = api.query(sql, db=db, max_rows=MAX_TABLE_ROWS + 1 if fmt == "table" else None)
    if fmt == "table":
        console.print(render_table(frame.head(MAX_TABLE_ROWS)))
        if len(frame) > MAX_TABLE_ROWS:
            stderr_console().print(
                f"Showing the first {MAX_TABLE_ROWS:,} rows; there are more. Add a LIMIT or "
                "a WHERE, or write every row with --format csv (or json, jsonl) > FILE.",
                markup=False,
            )
    else:
        repeated = frame.columns[frame.columns.duplicated()].unique()
        if fmt in ("json", "jsonl") and len(repeated):
            names = ", ".join(safe(str(c)) for c in repeated)
            which = f"Column {names} appears" if len(repeated) == 1 else f"Columns {names} appear"
            raise QueryError(
                f"{which} more than once; "
                "--format json and jsonl need one name per column: alias them "
                "(SELECT a.account_id AS recipient, ...)."
            )
        write_machine_output(_MACHINE[fmt](frame), console.is_terminal)


def _spreadsheet_csv(frame: pd.DataFrame) -> str:
    """CSV that a spreadsheet opens safely, as the findings CSV: log text beginning with
    `=`, `+`, `-` or `@` gets a leading `'`, and control characters (a bare CR would end the
    row for most readers) are shown as `\\xNN`; values are never cut (a quarantined line may
    be long), and a list, struct or map is its JSON text. `json`/`jsonl` keep every value
    exact."""
    safe = frame.copy()
    # By position: a join's result may name two columns alike (`account_id`).
    for position, dtype in enumerate(safe.dtypes):
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
            cells = [cell_value(v) for v in safe.iloc[:, position]]
            cells = [inert_cell(v) if isinstance(v, str) else v for v in cells]
            # dtype=object: inference would turn a column of ints and NULLs back into floats.
            safe.isetitem(position, pd.Series(cells, index=safe.index, dtype=object))
    # A column name can be log text too (`PIVOT access_events ON user_agent`).
    return safe.to_csv(index=False, header=[inert_cell(str(c)) for c in safe.columns])


# Microseconds, as DuckDB stores timestamps (pandas' default is milliseconds); a value
# pandas has no JSON form for is written as its text rather than ending in a traceback.
_JSON = {"date_format": "iso", "date_unit": "us", "force_ascii": False, "default_handler": str}
_MACHINE = {
    "csv": _spreadsheet_csv,
    "json": lambda f: json_inert(f.to_json(orient="records", **_JSON)) + "\n",
    "jsonl": lambda f: json_inert(f.to_json(orient="records", lines=True, **_JSON)),
}
