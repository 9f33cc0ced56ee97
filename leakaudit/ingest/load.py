"""Validate a staged file into its native table; route bad rows to the quarantine.

All in SQL over the whole file at once: every cell is cast with TRY_CAST, every row gets a
reason (or none), and two INSERTs route good rows to the table and bad rows, with their
line and reason, to `quarantine`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from leakaudit.errors import InputError
from leakaudit.ingest.discover import SourceFile
from leakaudit.ingest.stage import Staged, fetch_records
from leakaudit.schema import EXTRA, INGEST_ID, SOURCE_FILE, SOURCE_LINE, TABLES, Column
from leakaudit.store import scalar

# Parquet types that TRY_CAST turns into a timestamp; any other type goes through VARCHAR.
_TIMESTAMP_SOURCES = ("VARCHAR", "DATE", "TIMESTAMP")
_TYPE_WORDS = {"TIMESTAMPTZ": "an ISO-8601 timestamp", "BIGINT": "an integer"}


@dataclass
class Loaded:
    """What validating one file produced."""

    rows: int
    rejected: int
    extra_columns: list[str] = field(default_factory=list)
    unknown_values: dict[str, dict[str, int]] = field(default_factory=dict)


def map_columns(names: list[str], table: str) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Match file columns to table columns case-insensitively.

    Returns (table column → file column indexes, extra column name → index). A table column
    may have several spellings in one file (JSON Lines keys differ from line to line): all
    are read, the one spelled like the table column first.
    """
    known = {c.name for c in TABLES[table].columns}
    matched: dict[str, list[int]] = {}
    for i, name in sorted(
        enumerate(names), key=lambda p: (p[1].strip() != p[1].strip().lower(), p[0])
    ):
        key = name.strip().lower()
        if key in known:
            matched.setdefault(key, []).append(i)
    used = {i for indexes in matched.values() for i in indexes}
    extras = {name: i for i, name in enumerate(names) if i not in used}
    return matched, extras


def _text(staged: Staged, i: int) -> str:
    """SQL for file column `i` as trimmed text, NULL when missing or blank."""
    if staged.kind == "json":
        return f"NULLIF(trim(c{i} ->> '$'), '')"
    return f"NULLIF(trim(CAST(c{i} AS VARCHAR)), '')"


def _value(staged: Staged, indexes: list[int], column: Column) -> str:
    """SQL for the value to cast into `column`: Parquet's own timestamp or integer where it
    has one, else the text of the first spelling that holds a value."""
    if staged.kind == "typed" and len(indexes) == 1:
        source_type = staged.types[indexes[0]]
        if column.type == "TIMESTAMPTZ" and source_type.startswith(_TIMESTAMP_SOURCES):
            return f"c{indexes[0]}"
        if column.type == "BIGINT" and "INT" in source_type:
            return f"c{indexes[0]}"
    texts = [_text(staged, i) for i in indexes]
    return texts[0] if len(texts) == 1 else f"coalesce({', '.join(texts)})"


def _typed(value: str, column: Column) -> str:
    """SQL casting a value expression to the column's type (enums lower-cased)."""
    if column.type != "VARCHAR":
        return f"TRY_CAST({value} AS {column.type})"
    if column.is_enum:
        return f"lower({value})"
    return value


def _shown(value: str) -> str:
    """A bad value inside a reason, quoted and cut short."""
    return f"'''' || left(CAST({value} AS VARCHAR), 60) || ''''"


def load_staged(
    con: duckdb.DuckDBPyConnection, staged: Staged, source: SourceFile, ingest_id: int
) -> Loaded:
    """Validate `staged` into `source.table`; returns counts. Raises on a missing column."""
    table = TABLES[source.table]
    matched, extras = map_columns(staged.names, table.name)
    missing = [c for c in table.required if c not in matched]
    # JSON Lines has no header: its columns are the keys of its valid objects. With no valid
    # object at all there is nothing to judge the file by, so each line is judged alone.
    if missing and (staged.names or staged.kind != "json"):
        found = ", ".join(staged.names) or "none"
        raise InputError(
            f'missing required column "{missing[0]}" for table {table.name} '
            f"(columns found: {found})",
            source.path,
            staged.header_line,
        )

    params: dict[str, Any] = {"src": source.display, "ingest": ingest_id, "tbl": table.name}
    selects: list[str] = []
    checks: list[str] = []
    for column in table.columns:
        if column.name not in matched:
            default = f"'{column.default}'" if column.default is not None else "NULL"
            selects.append(f'CAST({default} AS {column.type}) AS "{column.name}"')
            if column.required:
                checks.append(
                    f"WHEN true THEN 'missing required value in column \"{column.name}\"'"
                )
            continue
        indexes = matched[column.name]
        value = _value(staged, indexes, column)
        typed = _typed(value, column)
        if column.default is not None:
            typed = f"coalesce({typed}, '{column.default}')"
        selects.append(f'{typed} AS "{column.name}"')
        if staged.kind == "json":
            checks.extend(
                f"WHEN json_type(c{i}) IN ('OBJECT', 'ARRAY') THEN "
                f"'column \"{column.name}\" holds a JSON ' || lower(json_type(c{i})) || "
                "', not a value'"
                for i in indexes
            )
        if column.required:
            checks.append(
                f"WHEN {value} IS NULL THEN 'missing required value in column \"{column.name}\"'"
            )
        if column.type != "VARCHAR":
            checks.append(
                f"WHEN {value} IS NOT NULL AND {typed} IS NULL THEN "
                f"'column \"{column.name}\": ' || {_shown(value)} || "
                f"' is not {_TYPE_WORDS[column.type]}'"
            )

    extra_pairs = []
    for n, (name, i) in enumerate(extras.items()):
        params[f"k{n}"] = name
        extra_pairs.append(f"$k{n}, c{i}")
    extra_sql = f"json_object({', '.join(extra_pairs)})" if extra_pairs else "NULL::JSON"
    raw_sql = "_raw"
    if staged.kind == "typed":  # Parquet has no text: a bad row is shown as a JSON object
        all_pairs = []
        for i, name in enumerate(staged.names):
            params[f"n{i}"] = name
            all_pairs.append(f"$n{i}, c{i}")
        raw_sql = f"coalesce(_raw, CAST(json_object({', '.join(all_pairs)}) AS VARCHAR))"
    reason = "CASE WHEN _pre_error IS NOT NULL THEN _pre_error " + " ".join(checks) + " END"

    # Good rows go straight into the table in one streaming pass (no typed copy of the file:
    # at 10 M rows that held or spilled gigabytes). Only when fewer rows arrived than were
    # staged does a second pass find the rejected ones, with reason and raw text.
    checked = f"(SELECT *, {reason} AS _reason FROM {staged.relation})"
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    con.execute(
        f"""
        INSERT INTO "{table.name}" ({names}, "{EXTRA}", "{SOURCE_FILE}", "{SOURCE_LINE}",
                                   "{INGEST_ID}")
        SELECT {", ".join(selects)}, {extra_sql}, $src, _line, $ingest
        FROM {checked}
        WHERE _reason IS NULL
        """,
        {
            "src": params["src"],
            "ingest": ingest_id,
            **{k: v for k, v in params.items() if k.startswith("k")},
            **staged.params,
        },
    )
    rows = int(
        scalar(con, f'SELECT count(*) FROM "{table.name}" WHERE "{INGEST_ID}" = ?', [ingest_id])
    )
    rejected = 0
    if rows < staged.rows:
        con.execute(
            f"""
            INSERT INTO quarantine
            SELECT $ingest, $src, _line, $tbl, _reason, {raw_sql}
            FROM {checked}
            WHERE _reason IS NOT NULL
            ORDER BY _line
            """,
            {
                "src": params["src"],
                "ingest": ingest_id,
                "tbl": table.name,
                **{k: v for k, v in params.items() if k.startswith("n")},
                **staged.params,
            },
        )
        rejected = int(
            scalar(con, "SELECT count(*) FROM quarantine WHERE ingest_id = ?", [ingest_id])
        )
    if rows + rejected != staged.rows:  # never drop a row silently
        raise InputError(
            f"{staged.rows} rows were read but {rows} ingested and {rejected} quarantined; "
            "nothing was ingested. Please report this file.",
            source.path,
        )
    unknown = _unknown_values(con, table.name, ingest_id, table.columns)
    if staged.raw_from_lines and rejected:
        _fill_raw_text(con, staged, source, ingest_id)
    return Loaded(rows, rejected, list(extras), unknown)


def _unknown_values(
    con: duckdb.DuckDBPyConnection, table: str, ingest_id: int, columns: tuple[Column, ...]
) -> dict[str, dict[str, int]]:
    """Counts of enumerated values outside the SPEC's lists, per column (kept, not rejected)."""
    enums = [c for c in columns if c.is_enum]
    if not enums:
        return {}
    parts = [
        f"""SELECT '{c.name}' AS col, "{c.name}" AS value, count(*) AS n
            FROM "{table}"
            WHERE "{INGEST_ID}" = $ingest
              AND "{c.name}" IS NOT NULL
              AND NOT list_contains($v{i}, "{c.name}")
            GROUP BY ALL"""
        for i, c in enumerate(enums)
    ]
    rows = con.execute(
        " UNION ALL ".join(parts) + " ORDER BY col, value",
        {"ingest": ingest_id, **{f"v{i}": list(c.values) for i, c in enumerate(enums)}},
    ).fetchall()
    unknown: dict[str, dict[str, int]] = {}
    for col, value, n in rows:
        unknown.setdefault(col, {})[value] = int(n)
    return unknown


def _fill_raw_text(
    con: duckdb.DuckDBPyConnection, staged: Staged, source: SourceFile, ingest_id: int
) -> None:
    """Put the original CSV text of quarantined records into the quarantine."""
    lines = [
        int(r[0])
        for r in con.execute(
            "SELECT source_line FROM quarantine WHERE ingest_id = ? AND raw IS NULL", [ingest_id]
        ).fetchall()
    ]
    if not lines:
        return
    text = fetch_records(source.path, source.compression, [staged.span(n) for n in lines])
    found = pa.table({"line": list(text), "raw": list(text.values())})
    view = f"{staged.name}_rawtext"
    con.register(view, found)
    try:
        con.execute(
            f"""
            UPDATE quarantine
            SET raw = t.raw
            FROM {view} AS t
            WHERE quarantine.ingest_id = $ingest AND quarantine.source_line = t.line
            """,
            {"ingest": ingest_id},
        )
    finally:
        con.unregister(view)


def describe_unknown(unknown: dict[str, dict[str, int]]) -> str:
    """Compact text form of unknown enumerated values, for ingest_log."""
    return json.dumps(unknown, sort_keys=True)
