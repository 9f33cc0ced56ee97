"""Readers: one input file → a staging view of its rows, each with its physical line.

A stage has `_line` (physical line; Parquet: 1-based row number), `_pre_error` (the reason a
row was already unreadable: malformed JSON, a CSV record with the wrong number of fields …),
`_raw` (the row's original text where the reader has it) and `c0 … cN` (the file's own
columns, named `names[i]`). Source column names are data, never pasted into SQL.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from leakaudit.errors import InputError, one_line
from leakaudit.ingest.discover import SourceFile
from leakaudit.ingest.lines import LineBatch, iter_lines, open_stream
from leakaudit.store import scalar

Advance = Callable[[int], None]
HEAD_LINES = 1000  # lines kept from the start of a CSV file to read its header from
_counter = itertools.count(1)


@dataclass
class Staged:
    """A file's rows, staged in DuckDB, ready for validation into its native table."""

    relation: str  # a temp table, or a parenthesised SELECT, with _line, _pre_error, _raw, c0 …
    name: str  # a unique prefix for the loader's own temp tables
    names: list[str]  # the file's column names, in order (c0 … cN)
    kind: str  # text (VARCHAR cells) | json (JSON values) | typed (Parquet types)
    types: list[str] = field(default_factory=list)  # DuckDB type of each column (typed only)
    header_line: int | None = None  # CSV: the physical line of the header row
    raw_from_lines: bool = False  # CSV: fetch `_raw` of bad rows from the file afterwards
    logical: np.ndarray | None = None  # CSV: physical line where each logical line starts
    logical_ends: np.ndarray | None = None  # CSV: … and its last physical line

    def span(self, line: int) -> tuple[int, int]:
        """First and last physical line of the CSV record starting at `line`."""
        if self.logical is None or self.logical_ends is None:
            return line, line
        i = int(np.searchsorted(self.logical, line))
        return line, int(self.logical_ends[i])

    cleanup: list[str] = field(default_factory=list)  # "TABLE x" / "ARROW x" to drop after
    temp_dir: tempfile.TemporaryDirectory[str] | None = None
    params: dict[str, object] = field(default_factory=dict)  # bound values `relation` uses
    rows: int = 0  # rows in `relation`, good and bad: fewer inserted means some were rejected


def _temp_name(prefix: str) -> str:
    return f"_la_{prefix}_{next(_counter)}"


def _column_list(n: int) -> str:
    return ", ".join(f"c{i}" for i in range(n))


# -- JSON Lines ---------------------------------------------------------------------------
def _line_table(batches: Iterable[LineBatch], advance: Advance) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        advance(batch.nbytes)
        yield pa.RecordBatch.from_arrays([batch.line_numbers(), batch.lines], names=["line", "raw"])


def stage_jsonl(
    con: duckdb.DuckDBPyConnection, batches: Iterable[LineBatch], advance: Advance
) -> Staged:
    """Stage JSON Lines: raw lines into DuckDB, parsed and split into keys there."""
    lines = _temp_name("lines")
    schema = pa.schema([("line", pa.int64()), ("raw", pa.binary())])
    reader = pa.RecordBatchReader.from_batches(schema, _line_table(batches, advance))
    source = _temp_name("arrow")
    con.register(source, reader)
    try:
        # Decode once and keep the text; the bytes only where they are not UTF-8 (for the
        # quarantine). Blank lines are not rows (and are not errors).
        con.execute(
            f"""
            CREATE TEMP TABLE {lines} AS
            SELECT _line, _text, CASE WHEN _text IS NULL THEN raw END AS raw
            FROM (SELECT line AS _line, try(decode(raw)) AS _text, raw FROM {source})
            WHERE NOT regexp_matches(coalesce(_text, CAST(raw AS VARCHAR)), '^\\s*$')
            """
        )
    finally:
        # After a failed read the transaction is aborted and unregister fails too; the
        # read error is the one to report.
        with contextlib.suppress(duckdb.Error):
            con.unregister(source)
    names = [
        row[0]
        for row in con.execute(
            f"""
            SELECT key
            FROM (
                SELECT unnest(json_keys(_text)) AS key, _line
                FROM {lines}
                WHERE json_valid(_text) AND json_type(_text) = 'OBJECT'
            )
            GROUP BY key
            ORDER BY min(_line), key
            """
        ).fetchall()
    ]
    paths = ['$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"' for name in names]
    columns = "".join(f", _v[{i + 1}] AS c{i}" for i in range(len(names)))
    relation = f"""(
        WITH checked AS (
            SELECT
                _line,
                CASE
                    WHEN _text IS NULL THEN 'line is not valid UTF-8'
                    WHEN NOT json_valid(_text) THEN 'malformed JSON'
                    WHEN json_type(_text) <> 'OBJECT'
                        THEN 'JSON value is ' || lower(json_type(_text)) || ', not an object'
                END AS _pre_error,
                coalesce(_text, CAST(raw AS VARCHAR)) AS _raw,
                _text
            FROM {lines}
        ),
        extracted AS (
            SELECT
                _line,
                _pre_error,
                _raw,
                CASE WHEN _pre_error IS NULL THEN json_extract(_text, $json_paths) END AS _v
            FROM checked
        )
        SELECT _line, _pre_error, _raw{columns}
        FROM extracted
    )"""
    return Staged(
        relation,
        lines,
        names,
        "json",
        rows=int(scalar(con, f"SELECT count(*) FROM {lines}")),
        cleanup=[f"TABLE {lines}"],
        params={"json_paths": paths},
    )


# -- CSV ----------------------------------------------------------------------------------
def _parse_header(path: Path, head: list[bytes], first: int, last: int) -> list[str]:
    """Parse the header record (physical lines first … last) with the csv module.

    Only the header's own bytes are decoded: a bad byte further down is a bad row, not a bad
    header.
    """
    if last > len(head):
        raise InputError("The CSV header row is too long.", path, first)
    try:
        text = b"\n".join(head[first - 1 : last]).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("The CSV header row is not valid UTF-8.", path, first) from exc
    try:
        return next(csv.reader(io.StringIO(text, newline="")))
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"Cannot parse the CSV header row: {exc}", path, first) from exc


def _good_lines(logical: np.ndarray, is_blank: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """Physical lines of the records DuckDB returned, in order: every logical line that is
    neither blank nor rejected."""
    keep = ~is_blank[logical - 1]
    keep[rejected - 1] = False
    return logical[keep]


def stage_csv(con: duckdb.DuckDBPyConnection, source: SourceFile, advance: Advance) -> Staged:
    """Stage a CSV file: DuckDB parses it; a raw-line pass gives each record its line.

    DuckDB numbers rows in *logical* lines (a quoted multi-line record counts once, blank
    lines count). The raw pass finds where each logical line starts, by the parity of `"`
    bytes before it (doubled quotes inside a field keep the parity), so both can be mapped
    to physical lines.
    """
    quotes: list[np.ndarray] = []
    blank: list[np.ndarray] = []
    # The header is read from the first megabyte; the full pass needs line counts only.
    first = next(iter_lines(source.path, source.compression, chunk_bytes=1 << 20), None)
    head = first.lines.slice(0, HEAD_LINES).to_pylist() if first is not None else []
    for batch in iter_lines(source.path, source.compression, with_lines=False):
        advance(batch.nbytes)
        quotes.append(batch.quotes)
        blank.append(batch.blank)
    if not quotes:
        raise InputError("The CSV file is empty: it has no header row.", source.path)
    quote_counts = np.concatenate(quotes)
    is_blank = np.concatenate(blank)
    parity_before = (np.cumsum(quote_counts) - quote_counts) % 2
    logical = np.flatnonzero(parity_before == 0) + 1  # physical line of each logical line
    record_starts = logical[~is_blank[logical - 1]]
    if not len(record_starts):
        raise InputError("The CSV file is empty: it has no header row.", source.path)
    ends = np.append(logical[1:] - 1, len(quote_counts))  # last physical line of each
    header_line = int(record_starts[0])
    header_end = int(ends[np.searchsorted(logical, header_line)])
    names = _parse_header(source.path, head, header_line, header_end)
    if not names or names == [""]:
        raise InputError("The CSV header row is empty.", source.path, header_line)

    raw, rejects = _temp_name("csv"), _temp_name("rejects")
    columns = {f"c{i}": "VARCHAR" for i in range(len(names))}
    con.execute(
        f"""
        CREATE TEMP TABLE {raw} AS
        SELECT *
        FROM read_csv(
            $path, header = false, auto_detect = false, columns = $columns,
            delim = ',', quote = '"', escape = '"', compression = $compression,
            store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{rejects}_scan',
            max_line_size = 16777216
        )
        """,
        {
            "path": str(source.path),
            "columns": columns,
            "compression": source.compression or "none",
        },
    )
    rejected = con.execute(
        f"""
        SELECT line, any_value(error_type), any_value(error_message)
        FROM {rejects}
        GROUP BY line
        ORDER BY line
        """
    ).fetchall()
    rejected_logical = np.array([r[0] for r in rejected], dtype=np.int64)
    parsed_rows = scalar(con, f"SELECT count(*) FROM {raw}")
    good_lines = _good_lines(logical, is_blank, rejected_logical)
    if parsed_rows != len(good_lines):
        # A stray `"` inside an unquoted field (`Mozilla "5.0`) is literal to DuckDB but
        # flips the parity: then no record spans lines, and every line is a logical line.
        logical = np.arange(1, len(quote_counts) + 1)
        good_lines = _good_lines(logical, is_blank, rejected_logical)
    if parsed_rows != len(good_lines):
        raise InputError(
            f"Cannot align CSV records with physical lines ({parsed_rows} parsed, "
            f"{len(good_lines)} expected): the file has both multi-line quoted fields and "
            "unbalanced quotes.",
            source.path,
        )
    # The stage is a query over DuckDB's parse, positionally joined to the line numbers,
    # plus the records DuckDB rejected: no copy of the file's rows is made.
    numbering, malformed = _temp_name("linemap"), _temp_name("malformed")
    con.register(numbering, pa.table({"_line": pa.array(good_lines, pa.int64())}))
    physical = logical[rejected_logical - 1] if rejected else np.zeros(0, dtype=np.int64)
    # DuckDB's own copy of a rejected line may include a blank line before it, so the
    # quarantine takes the raw text from the physical lines instead (raw NULL here).
    con.register(
        malformed,
        pa.table(
            {
                "_line": pa.array(physical, pa.int64()),
                "_pre_error": pa.array(
                    [f"malformed CSV record ({r[1].lower()}): {r[2]}" for r in rejected],
                    pa.string(),
                ),
            }
        ),
    )
    no_cells = ", ".join(f"NULL::VARCHAR AS c{i}" for i in range(len(names)))
    relation = f"""(
        SELECT n._line, NULL::VARCHAR AS _pre_error, NULL::VARCHAR AS _raw, r.*
        FROM {raw} AS r
        POSITIONAL JOIN {numbering} AS n
        WHERE n._line <> $csv_header
        UNION ALL
        SELECT _line, _pre_error, NULL::VARCHAR AS _raw, {no_cells}
        FROM {malformed}
    )"""
    return Staged(
        relation,
        raw,
        names,
        "text",
        header_line=header_line,
        raw_from_lines=True,
        logical=logical,
        logical_ends=np.append(logical[1:] - 1, len(quote_counts)),
        cleanup=[
            f"ARROW {numbering}",
            f"ARROW {malformed}",
            f"TABLE {raw}",
            f"TABLE {rejects}",
            f"TABLE {rejects}_scan",
        ],
        params={"csv_header": header_line},
        rows=int(parsed_rows) - 1 + len(rejected),  # the header is a parsed row
    )


# -- Parquet ------------------------------------------------------------------------------
def stage_parquet(con: duckdb.DuckDBPyConnection, source: SourceFile, advance: Advance) -> Staged:
    """Stage Parquet: its own types kept; a gzip/zstd-wrapped file is unwrapped first."""
    temp_dir = None
    path = source.path
    if source.compression:
        temp_dir = tempfile.TemporaryDirectory(prefix="leakaudit-")
        path = Path(temp_dir.name) / "input.parquet"
        with open_stream(source.path, source.compression) as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    try:
        described = con.execute(
            "DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}
        ).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"Cannot read this Parquet file: {one_line(exc)}", source.path) from exc
    names = [row[0] for row in described]
    types = [row[1] for row in described]
    advance(source.path.stat().st_size)
    aliases = ", ".join([*(f"c{i}" for i in range(len(names))), "_row"])
    relation = f"""(
        SELECT
            _row + 1 AS _line,
            NULL::VARCHAR AS _pre_error,
            NULL::VARCHAR AS _raw,
            {_column_list(len(names))}
        FROM read_parquet($parquet_path, file_row_number = true) AS t({aliases})
    )"""
    return Staged(
        relation,
        _temp_name("parquet"),
        names,
        "typed",
        types=types,
        temp_dir=temp_dir,
        params={"parquet_path": str(path)},
        rows=int(scalar(con, "SELECT count(*) FROM read_parquet($p)", {"p": str(path)})),
    )


def stage_file(con: duckdb.DuckDBPyConnection, source: SourceFile, advance: Advance) -> Staged:
    """Stage any supported input file."""
    try:
        if source.format == "csv":
            return stage_csv(con, source, advance)
        if source.format == "jsonl":
            return stage_jsonl(con, iter_lines(source.path, source.compression), advance)
        return stage_parquet(con, source, advance)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"Cannot read this file: {one_line(exc)}", source.path) from exc
    except duckdb.Error as exc:
        message = f"Cannot read this {source.format} file: {one_line(exc)}"
        raise InputError(message, source.path) from exc


def fetch_records(
    path: Path, compression: str | None, spans: list[tuple[int, int]]
) -> dict[int, str]:
    """Original text of a few records (first line → text), for the quarantine."""
    wanted = np.array(sorted({n for first, last in spans for n in range(first, last + 1)}))
    text: dict[int, str] = {}
    if not len(wanted):
        return {}
    for batch in iter_lines(path, compression):
        numbers = np.arange(batch.first_line, batch.first_line + batch.count)
        hit = np.isin(numbers, wanted)
        if hit.any():
            picked = batch.lines.filter(pa.array(hit)).to_pylist()
            for number, value in zip(numbers[hit], picked, strict=True):
                text[int(number)] = value.decode("utf-8", errors="backslashreplace").rstrip("\r")
        if batch.first_line + batch.count > wanted[-1]:
            break
    return {
        first: "\n".join(text.get(n, "") for n in range(first, last + 1)) for first, last in spans
    }
