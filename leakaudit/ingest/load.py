"""Validate a staged file into its native table; route bad rows to the quarantine.

All in SQL over the whole file at once: every cell is cast with TRY_CAST (once), every row
gets a reason (or none); one streaming INSERT puts the good rows in the table, and only when
rows are missing does a second pass route the bad ones, with line and reason, to
`quarantine`. A fast staging that did not hold raises `Restage` (see `stage.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import duckdb
import pyarrow as pa

from leakaudit.errors import InputError
from leakaudit.ingest.discover import SourceFile
from leakaudit.ingest.stage import Member, Staged, fetch_records, json_keys_in
from leakaudit.schema import EXTRA, INGEST_ID, SOURCE_FILE, SOURCE_LINE, TABLES, Column, Table

# Parquet types that TRY_CAST turns into a timestamp; any other type goes through VARCHAR.
_TIMESTAMP_SOURCES = ("VARCHAR", "DATE", "TIMESTAMP")
_TYPE_WORDS = {"TIMESTAMPTZ": "an ISO-8601 timestamp", "BIGINT": "an integer"}
# DuckDB also casts `infinity`, `-infinity`, BC dates and years past 9999 to timestamps.
# None is ISO-8601 and none fits a Python datetime, so the rules' evidence, every report and
# `leakaudit query` would fail on the row: it is quarantined like any other bad timestamp.
_FIRST_TS = "TIMESTAMPTZ '0001-01-01 00:00:00+00'"
_LAST_TS = "TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'"
# ... and the word `epoch` to 1970-01-01: a log row saying "epoch" has no time, and letting
# it through would date an access 1970 in silence. Only text equal to that instant is tested.
_EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"


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
    known = TABLES[table].column_names
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


def named_twice(names: list[str], table: str) -> tuple[str, list[str]] | None:
    """The first column a header names more than once, with the names it has: a table
    column in any spelling, any other column by the same name. Only one of the two could
    be read into the table (or `_extra`), so the file is refused rather than one dropped."""
    known = TABLES[table].column_names
    spellings: dict[str, list[str]] = {}
    for name in names:
        key = name.strip().lower()
        spellings.setdefault(key if key in known else name, []).append(name)
    return next(((key, found) for key, found in spellings.items() if len(found) > 1), None)


def _refuse_header(staged: Staged, table: Table, matched: dict[str, list[int]], path: Path) -> None:
    """File-level problems of a CSV or Parquet file's columns, found before any row is read:
    a column named twice; a Parquet column of a nested type where the table takes a value
    (`matched`: the file's columns per table column, from `map_columns`)."""
    line = staged.header_line or 1
    twice = named_twice(staged.names, table.name)
    if twice is not None:
        key, names = twice
        times = "twice" if len(names) == 2 else f"{len(names)} times"
        shown = ", ".join(_header_name(name) for name in names)
        raise InputError(f"column {_header_name(key)} appears {times} ({shown})", path, line)
    if staged.kind != "typed":
        return
    for indexes in matched.values():
        for i in indexes:
            kind = _nested_kind(staged.types[i])
            if kind is not None:
                raise InputError(
                    f"column {staged.names[i]} has the type {staged.types[i]} (a {kind}), "
                    f"but {table.name}.{staged.names[i].strip().lower()} takes a single value",
                    path,
                    line,
                )


def _header_name(name: str) -> str:
    """A column name as a message shows it (an empty one as `""`)."""
    return name or '""'


def _nested_kind(type_name: str) -> str | None:
    """`list`, `struct`, `map` or `union` for a nested DuckDB type, else None."""
    if type_name.endswith("]"):
        return "list"
    return next(
        (k.lower() for k in ("STRUCT", "MAP", "UNION") if type_name.startswith(k + "(")), None
    )


def _text(i: int) -> str:
    """SQL for file column `i` as trimmed text, NULL when missing or blank.

    `trim` strips Unicode space separators and scans the whole string to do it (the largest
    single cost of an ingest); a value that neither starts nor ends with a space and is all
    ASCII (as many bytes as characters) cannot change, so only the others are trimmed.
    """
    v = f"CAST(c{i} AS VARCHAR)"
    edges = f"starts_with({v}, ' ') OR ends_with({v}, ' ') OR strlen({v}) <> length({v})"
    return f"NULLIF(CASE WHEN {edges} THEN trim({v}) ELSE {v} END, '')"


def _native(staged: Staged, indexes: list[int], column: Column) -> bool:
    """Whether the value is Parquet's own timestamp or integer, not text."""
    if staged.kind != "typed" or len(indexes) != 1:
        return False
    source_type = staged.types[indexes[0]]
    if column.type == "TIMESTAMPTZ":
        return source_type.startswith(_TIMESTAMP_SOURCES)
    return column.type == "BIGINT" and "INT" in source_type


def _value(staged: Staged, indexes: list[int], column: Column) -> str:
    """SQL for the value to cast into `column`: Parquet's own timestamp or integer where it
    has one, else the text of the first spelling that holds a value."""
    if _native(staged, indexes, column):
        return f"c{indexes[0]}"
    texts = [_text(i) for i in indexes]
    return texts[0] if len(texts) == 1 else f"coalesce({', '.join(texts)})"


def _spellings_differ(staged: Staged, indexes: list[int], column: Column, n: int) -> str:
    """A CASE branch rejecting a JSON line that gives one column under two spellings with
    two values (as typed, not as written): reading only the first would drop the other
    without a trace. Only files that spell a column two ways pay for it."""
    spelled = f"json_spelled_{n}"
    staged.params[spelled] = [staged.names[i] for i in indexes]
    texts = [_text(i) for i in indexes]
    present = ", ".join(
        f"CASE WHEN {text} IS NOT NULL THEN ${spelled}[{k + 1}] END" for k, text in enumerate(texts)
    )
    # Compared as the values they become, so one instant or enum in two spellings is one
    # value; text that does not cast stays itself, so it still differs from a good value.
    values = [f"coalesce(CAST({_typed(text, column)} AS VARCHAR), {text})" for text in texts]
    return (
        f"WHEN len(list_distinct([{', '.join(values)}])) > 1 THEN "
        f"'column \"{column.name}\" is given twice with different values (' || "
        f"concat_ws(', ', {present}) || ')'"
    )


def _typed(value: str, column: Column, text: bool = True) -> str:
    """SQL casting a value expression to the column's type (enums lower-cased)."""
    if column.type == "BIGINT" and text:
        # DuckDB rounds the text '1.5' to 2; a fraction is no integer (exact ones, `2.0`
        # and `1e3`, are). Only text with a `.` or an exponent pays for the exact test.
        fraction = (
            f"(contains({value}, '.') OR contains({value}, 'e') OR contains({value}, 'E')) "
            f"AND TRY_CAST({value} AS DECIMAL(38, 18)) % 1 <> 0"
        )
        return f"CASE WHEN {fraction} THEN NULL ELSE TRY_CAST({value} AS BIGINT) END"
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
    return load_members(con, staged, [Member(source, ingest_id, staged.rows)])[0]


def load_members(
    con: duckdb.DuckDBPyConnection, staged: Staged, members: list[Member]
) -> list[Loaded]:
    """Validate `staged` (one file, or `staged.members` read together) into their table.

    Returns each file's counts; raises on a missing column, naming the first file.
    """
    source, ingest_id = members[0].source, members[0].ingest_id
    table = TABLES[source.table]
    matched, extras = map_columns(staged.names, table.name)
    if staged.kind != "json":
        _refuse_header(staged, table, matched, source.path)
    missing = [c for c in table.required if c not in matched]
    # JSON Lines has no header: its columns are the keys of its valid objects. With no valid
    # object at all there is nothing to judge the file by, so each line is judged alone.
    if missing and staged.sampled_keys:  # later lines may still have it
        raise Restage(f'the sampled keys lack "{missing[0]}"')
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
    texts: list[str] = []  # each value once: `_x<n>` its text, `_y<n>` typed (DuckDB does
    typeds: list[str] = []  # not share a TRY_CAST written twice, in the SELECT and the CASE)
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
        n = len(texts)
        value, typed = f"_x{n}", f"_y{n}"
        texts.append(f"{_value(staged, indexes, column)} AS {value}")
        cast = _typed(value, column, text=not _native(staged, indexes, column))
        if column.default is not None:
            cast = f"coalesce({cast}, '{column.default}')"
        typeds.append(f"{cast} AS {typed}")
        selects.append(f'{typed} AS "{column.name}"')
        if staged.kind == "json":
            checks.extend(
                f"WHEN _t{i} IN ('OBJECT', 'ARRAY') THEN "
                f"'column \"{column.name}\" holds a JSON ' || lower(_t{i}) || ', not a value'"
                for i in indexes
            )
            if len(indexes) > 1:
                checks.append(_spellings_differ(staged, indexes, column, n))
        if column.required:
            checks.append(
                f"WHEN {value} IS NULL THEN 'missing required value in column \"{column.name}\"'"
            )
        if column.type != "VARCHAR":
            bad = f"{typed} IS NULL"
            if column.type == "TIMESTAMPTZ":
                bad = f"({bad} OR NOT {typed} BETWEEN {_FIRST_TS} AND {_LAST_TS})"
                bad = (  # the word `epoch`: text equal to that instant not starting with a digit
                    f"({bad} OR ({typed} = {_EPOCH} AND NOT regexp_matches("
                    rf"CAST({value} AS VARCHAR), '^\s*[0-9]')))"
                )
            checks.append(
                f"WHEN {value} IS NOT NULL AND {bad} THEN "
                f"'column \"{column.name}\": ' || {_shown(value)} || "
                f"' is not {_TYPE_WORDS[column.type]}'"
            )

    extra_pairs = []
    for n, (name, i) in enumerate(extras.items() if staged.kind != "json" else ()):
        params[f"k{n}"] = name
        extra_pairs.append(f"$k{n}, c{i}")
    extra_sql = f"json_object({', '.join(extra_pairs)})" if extra_pairs else "NULL::JSON"
    if staged.kind == "json":  # every key the table does not know, as the line had it
        extra_sql = "CAST(_extra_json AS JSON)"
        known = [staged.names[i] for indexes in matched.values() for i in indexes]
        staged.params["json_matched"] = [i + 1 for indexes in matched.values() for i in indexes]
        staged.params["json_unset"] = json.dumps(dict.fromkeys(known))
        first = staged.params["json_first_keys"]  # the first line's keys, each once
        staged.params["json_first_plain"] = first is not None and set(first) <= set(known)
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
    valued = f"(SELECT *, {', '.join(texts) or 'NULL AS _x'} FROM {staged.relation})"
    typed_rel = f"(SELECT *, {', '.join(typeds) or 'NULL AS _y'} FROM {valued})"
    checked = f"(SELECT *, {reason} AS _reason FROM {typed_rel})"
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    # Where each row came from: the one file's, or each row's own for a group.
    src, ingest = ("_src", "_ingest") if staged.members else ("$src", "$ingest")
    provenance = {} if staged.members else {"src": params["src"], "ingest": ingest_id}
    staged.prepare(con)
    con.execute(
        f"""
        INSERT INTO "{table.name}" ({names}, "{EXTRA}", "{SOURCE_FILE}", "{SOURCE_LINE}",
                                   "{INGEST_ID}")
        SELECT {", ".join(selects)}, {extra_sql}, {src}, _line, {ingest}
        FROM {checked}
        WHERE _reason IS NULL
        """,
        {
            **provenance,
            **{k: v for k, v in params.items() if k.startswith("k")},
            **staged.params,
        },
    )
    ids = {m.ingest_id for m in members}
    inserted = _counts(con, f'"{table.name}"', f'"{INGEST_ID}"', ids)
    rows = sum(inserted.values())
    quarantined: dict[int, int] = {}
    if staged.number_lines is not None:
        bad: list[tuple[int, str]] = []
        numbered = staged.number_lines(con, table.name, ingest_id, rows, None)
        if numbered is None:  # some rows were rejected: which records, and why
            found = _rejected_positions(con, checked, staged.params)
            if found is not None:
                bad = found
                positions = [k for k, _ in bad]
                numbered = staged.number_lines(con, table.name, ingest_id, rows, positions)
        if not numbered:
            _restage(
                con, table.name, ingest_id, "not one record per line, or too many rows rejected"
            )
        if bad:  # record k (from 0) is on line k + 2, below the one-line header
            _quarantine_rows(con, bad, 2, ingest_id, source.display, table.name)
            quarantined = {ingest_id: len(bad)}
        staged.rows = rows + len(bad)
    if staged.stream is not None:
        staged.rows = staged.stream.rows
        extra_keys = _extra_keys(con, table.name, ingest_id)
        if any(key.strip().lower() in table.column_names for key in extra_keys):
            _restage(
                con, table.name, ingest_id, "a key the sample did not show spells a table column"
            )
        extras = dict.fromkeys(extra_keys, 0)
    if rows + sum(quarantined.values()) < staged.rows:
        if staged.sampled_keys and _rejected_spell_unseen_columns(con, staged, checked, table):
            _restage(
                con,
                table.name,
                ingest_id,
                "a rejected line spells a table column the sample did not show",
            )
        staged.prepare(con)
        con.execute(
            f"""
            INSERT INTO quarantine
            SELECT {ingest}, {src}, _line, $tbl, _reason, {raw_sql}
            FROM {checked}
            WHERE _reason IS NOT NULL
            ORDER BY {"_ingest, " if staged.members else ""}_line
            """,
            {
                **provenance,
                "tbl": table.name,
                **{k: v for k, v in params.items() if k.startswith("n")},
                **staged.params,
            },
        )
        quarantined = _counts(con, "quarantine", "ingest_id", ids)
    if not staged.members:  # a single file's row count may be known only now
        members = [Member(source, ingest_id, staged.rows)]
    for member in members:
        rows = inserted.get(member.ingest_id, 0)
        rejected = quarantined.get(member.ingest_id, 0)
        if rows + rejected != member.rows:  # never drop a row silently
            raise InputError(
                f"{member.rows} rows were read but {rows} ingested and {rejected} quarantined; "
                "nothing was ingested. Please report this file.",
                member.source.path,
            )
    unknown = _unknown_values(con, table.name, ids, table.columns)
    loaded = [
        Loaded(
            inserted.get(m.ingest_id, 0),
            quarantined.get(m.ingest_id, 0),
            list(extras),
            unknown.get(m.ingest_id, {}),
        )
        for m in members
    ]
    if staged.raw_from_lines and loaded[0].rejected:
        _fill_raw_text(con, staged, source, ingest_id)
    return loaded


def _counts(
    con: duckdb.DuckDBPyConnection, table: str, id_column: str, ids: set[int]
) -> dict[int, int]:
    """Rows per ingest id, for the ids of this load."""
    rows = con.execute(
        f"SELECT {id_column}, count(*) FROM {table} WHERE {id_column} BETWEEN ? AND ? GROUP BY 1",
        [min(ids), max(ids)],
    ).fetchall()
    return {int(i): int(n) for i, n in rows if i in ids}


MAX_POSITIONED_REJECTS = 1000  # more rejected rows than this: the file is read the exact way


def _rejected_positions(
    con: duckdb.DuckDBPyConnection, checked: str, params: dict[str, Any]
) -> list[tuple[int, str]] | None:
    """(position from 0, reason) of each rejected row of a staged relation, in file order;
    None when there are too many to place by position.

    A second pass, numbering rows as DuckDB reads them (`row_number() OVER ()` keeps file
    order but runs on one thread): cheaper than the exact path's copy of the file.
    """
    rows = con.execute(
        f"""
        SELECT k, _reason
        FROM (SELECT row_number() OVER () - 1 AS k, _reason FROM {checked})
        WHERE _reason IS NOT NULL
        ORDER BY k
        LIMIT {MAX_POSITIONED_REJECTS + 1}
        """,
        params,
    ).fetchall()
    return None if len(rows) > MAX_POSITIONED_REJECTS else [(int(k), r) for k, r in rows]


def _quarantine_rows(
    con: duckdb.DuckDBPyConnection,
    bad: list[tuple[int, str]],
    first_line: int,
    ingest_id: int,
    src: str,
    table: str,
) -> None:
    """Quarantine rows found by position (their raw text is filled in from the file)."""
    found = pa.table(
        {
            "line": pa.array([k + first_line for k, _ in bad], pa.int64()),
            "reason": pa.array([r for _, r in bad], pa.string()),
        }
    )
    view = f"_la_rejected_{ingest_id}"
    con.register(view, found)
    try:
        con.execute(
            f"""
            INSERT INTO quarantine
            SELECT $ingest, $src, line, $tbl, reason, NULL FROM {view} ORDER BY line
            """,
            {"ingest": ingest_id, "src": src, "tbl": table},
        )
    finally:
        con.unregister(view)


class Restage(Exception):
    """The fast staging of a file did not hold; stage it the exact way and load it again."""


def _restage(con: duckdb.DuckDBPyConnection, table: str, ingest_id: int, why: str) -> NoReturn:
    """Take back what a fast staging inserted, and ask for the exact one."""
    con.execute(f'DELETE FROM "{table}" WHERE "{INGEST_ID}" = ?', [ingest_id])
    raise Restage(why)


def _rejected_spell_unseen_columns(
    con: duckdb.DuckDBPyConnection, staged: Staged, checked: str, table: Table
) -> bool:
    """A rejected JSON line may spell a table column in a way the sample did not show (and
    be rejected for lacking it): then the file must be staged again with all its keys."""
    staged.prepare(con)
    keys = con.execute(
        f"""
        SELECT DISTINCT unnest(json_keys(_text))
        FROM {checked}
        WHERE _reason IS NOT NULL AND _pre_error IS NULL
        """,
        staged.params,
    ).fetchall()
    return any(
        key.strip().lower() in table.column_names and key not in staged.names for (key,) in keys
    )


def _extra_keys(con: duckdb.DuckDBPyConnection, table: str, ingest_id: int) -> list[str]:
    """Keys kept in `_extra` by one ingest, first seen first."""
    rows = f'(SELECT * FROM "{table}" WHERE "{INGEST_ID}" = ? AND "{EXTRA}" IS NOT NULL)'
    return json_keys_in(con, rows, f'"{EXTRA}"', f'"{SOURCE_LINE}"', [ingest_id])


def _unknown_values(
    con: duckdb.DuckDBPyConnection, table: str, ids: set[int], columns: tuple[Column, ...]
) -> dict[int, dict[str, dict[str, int]]]:
    """Counts of enumerated values outside the SPEC's lists, per ingest id and column (kept,
    not rejected); one query for all the files of a load."""
    enums = [c for c in columns if c.is_enum]
    if not enums:
        return {}
    parts = [
        f"""SELECT "{INGEST_ID}" AS id, '{c.name}' AS col, "{c.name}" AS value, count(*) AS n
            FROM "{table}"
            WHERE "{INGEST_ID}" BETWEEN $first AND $last
              AND "{c.name}" IS NOT NULL
              AND NOT list_contains($v{i}, "{c.name}")
            GROUP BY ALL"""
        for i, c in enumerate(enums)
    ]
    rows = con.execute(
        " UNION ALL ".join(parts) + " ORDER BY id, col, value",
        {
            "first": min(ids),
            "last": max(ids),
            **{f"v{i}": list(c.values) for i, c in enumerate(enums)},
        },
    ).fetchall()
    unknown: dict[int, dict[str, dict[str, int]]] = {}
    for ingest_id, col, value, n in rows:
        if ingest_id in ids:
            unknown.setdefault(int(ingest_id), {}).setdefault(col, {})[value] = int(n)
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
