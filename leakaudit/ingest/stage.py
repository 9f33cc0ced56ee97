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
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from leakaudit.errors import InputError, is_interrupt, one_line
from leakaudit.ingest.discover import SourceFile
from leakaudit.ingest.lines import (
    CARRIAGE_RETURN,
    CHUNK_BYTES,
    LineBatch,
    LineCounter,
    iter_lines,
    open_stream,
)
from leakaudit.schema import INGEST_ID, SOURCE_LINE
from leakaudit.store import scalar

Advance = Callable[[int], None]
OpenBatches = Callable[[int], Iterable[LineBatch]]  # chunk size → the file's line batches
# (connection, table, ingest id, rows inserted, positions of rejected records) → done?
NumberLines = Callable[[duckdb.DuckDBPyConnection, str, int, int, list[int] | None], bool | None]
HEAD_LINES = 1000  # lines kept from the start of a CSV file to read its header from
_counter = itertools.count(1)


@dataclass
class Staged:
    """A file's rows, staged in DuckDB, ready for validation into its native table."""

    relation: str  # a temp table, or a parenthesised SELECT, with _line, _pre_error, _raw, c0 …
    name: str  # a unique prefix for the loader's own temp tables
    names: list[str]  # the file's column names, in order (c0 … cN)
    kind: str  # text (CSV cells) | json (JSON Lines values as text, `_t<i>` their JSON types)
    #            | typed (Parquet's own types)
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
    stream: LineStream | None = None  # JSON Lines: the lines, re-registered before each pass
    sampled_keys: bool = False  # JSON Lines: `names` come from the file's first megabyte
    members: list[Member] | None = None  # several files at once: rows carry _src, _ingest
    # CSV fast path: rows are inserted with line 0, then this numbers them from their row ids
    # (True), finds it cannot (False: the loader deletes them and stages the exact way), or
    # needs the positions of the rejected records first (None).
    number_lines: NumberLines | None = None

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make `relation` readable (again): a stream is read once per registration."""
        if self.stream is not None:
            self.stream.register(con)

    def release(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.stream is not None:
            self.stream.unregister(con)


def glob_literal(path: Path | str) -> str:
    """A path DuckDB's file readers take as itself: they expand `*`, `?` and `[` as globs, so
    `a[1].csv` would read `a1.csv`. Each becomes a one-character class."""
    return re.sub(r"([*?\[])", r"[\1]", str(path))


def _temp_name(prefix: str) -> str:
    return f"_la_{prefix}_{next(_counter)}"


def _column_list(n: int) -> str:
    return ", ".join(f"c{i}" for i in range(n))


# -- JSON Lines ---------------------------------------------------------------------------
WHITESPACE = np.array([0x20, 0x09, 0x0A, 0x0C, 0x0D], dtype=np.uint8)  # `\s` in DuckDB regexes
SAMPLE_BYTES = 1 << 20  # keys are first read from this much of the file


def whitespace_only(batch: LineBatch) -> np.ndarray:
    """Lines that hold nothing but whitespace (not rows, and not errors, in JSON Lines).

    Only lines that *start* with whitespace can be; those few are checked in full.
    """
    if not batch.count:
        return np.zeros(0, dtype=bool)
    candidates = np.isin(batch.data[batch.starts], WHITESPACE)
    if not candidates.any():
        return candidates
    solid = np.flatnonzero(~np.isin(batch.data, WHITESPACE))
    return candidates & (np.searchsorted(solid, batch.ends) == np.searchsorted(solid, batch.starts))


class LineStream:
    """A file's lines as an Arrow stream DuckDB scans; re-registered for each pass, since a
    stream is read once. Counts the non-blank lines (the rows) as DuckDB pulls them."""

    schema = pa.schema([("_line", pa.int64()), ("raw", pa.binary()), ("_blank", pa.bool_())])

    def __init__(self, open_batches: OpenBatches, advance: Advance) -> None:
        self.open_batches = open_batches
        self.advance = advance
        self.name = _temp_name("lines")
        self.rows = 0
        self.registered = False
        self.failure: BaseException | None = None  # why reading the file stopped, if it did

    def _batches(self) -> Iterator[pa.RecordBatch]:
        self.rows = 0
        self.failure = None
        try:
            for batch in self.open_batches(CHUNK_BYTES):
                self.advance(batch.nbytes)
                blank = whitespace_only(batch)
                self.rows += batch.count - int(blank.sum())
                yield pa.RecordBatch.from_arrays(
                    [batch.line_numbers(), batch.framed(), pa.array(blank)], schema=self.schema
                )
        except (Exception, KeyboardInterrupt) as exc:
            # DuckDB reports it as its own error, with this traceback flattened into the
            # message; `read_errors` raises this instead. A Ctrl-C that lands here too, or
            # it would read as a broken file (exit 2) instead of an interrupt (130); not a
            # GeneratorExit, which only says the stream was closed early.
            self.failure = exc
            raise

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        self.unregister(con)
        reader = pa.RecordBatchReader.from_batches(self.schema, self._batches())
        con.register(self.name, reader)
        self.registered = True

    @contextlib.contextmanager
    def read_errors_as_raised(self) -> Iterator[None]:
        """A failed read of the file (a truncated gzip, a disk error) as the exception the
        reader raised, not as DuckDB's wrapping of it."""
        try:
            yield
        except duckdb.Error as exc:
            if self.failure is not None:
                raise self.failure from exc
            raise

    def unregister(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.registered:
            # After a failed read the transaction is aborted and unregister fails too; the
            # read error is the one to report.
            with contextlib.suppress(duckdb.Error):
                con.unregister(self.name)
            self.registered = False


def json_keys_in(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    json: str,
    line: str,
    params: list[object] | None = None,
) -> list[str]:
    """Distinct keys of the JSON objects `json` in `relation`, first seen (by `line`) first."""
    return [
        row[0]
        for row in con.execute(
            f"""
            SELECT key
            FROM (SELECT unnest(json_keys({json})) AS key, {line} AS line FROM {relation})
            GROUP BY key
            ORDER BY min(line), key
            """,
            params or [],
        ).fetchall()
    ]


def _json_keys(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    """Keys of the valid JSON objects in `relation` (_line, raw, _blank)."""
    lines = f"(SELECT _line, try(decode(raw)) AS _text FROM {relation} WHERE NOT _blank)"
    valid = f"(SELECT * FROM {lines} WHERE try(json_type(_text)) = 'OBJECT')"
    return json_keys_in(con, valid, "_text", "_line")


def _first_keys(con: duckdb.DuckDBPyConnection, open_batches: OpenBatches) -> list[str] | None:
    """The keys, in order, of the first non-blank line when it is a JSON object: most lines
    of a file written by one program have the same, which the loader uses as a shortcut."""
    for batch in itertools.islice(open_batches(SAMPLE_BYTES), 1):
        solid = np.flatnonzero(~whitespace_only(batch))
        if len(solid):
            line = batch.lines[int(solid[0])].as_py()
            return scalar(
                con,
                "SELECT CASE WHEN try(json_type(t)) = 'OBJECT' THEN json_keys(t) END "
                "FROM (SELECT try(decode(?)) AS t)",
                [line],
            )
    return None


def _json_path(name: str) -> str:
    """A JSON path to the top-level key `name` (the empty key as the JSON pointer `/`)."""
    if not name:
        return "/"
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stage_jsonl(
    con: duckdb.DuckDBPyConnection,
    open_batches: OpenBatches,
    advance: Advance,
    *,
    sample: bool = True,
) -> Staged:
    """Stage JSON Lines as one streaming pass: DuckDB parses each line it pulls.

    The keys (the file's columns) are read from the first megabyte (`sample`), else from
    the whole file. A row's keys beyond those land in `_extra` anyway, so the sample only
    has to find the spellings of the table's columns; the loader re-stages without the
    sample when a row spells one differently, or a required one is missing.
    """
    head = LineStream(
        (lambda _: itertools.islice(open_batches(SAMPLE_BYTES), 1)) if sample else open_batches,
        _ignore,
    )
    head.register(con)
    try:
        with head.read_errors_as_raised():
            keys = _json_keys(con, head.name)
    finally:
        head.unregister(con)
    stream = LineStream(open_batches, advance)
    paths = [_json_path(k) for k in keys]
    # A value's JSON type matters only when it could be an object or an array (its text
    # starts with `{` or `[`): only then is it asked for, a second parse of that line.
    columns = "".join(
        f", _v[{i + 1}] AS c{i}, CASE WHEN starts_with(_v[{i + 1}], '{{') OR starts_with("
        f"_v[{i + 1}], '[') THEN json_type(_text, $json_paths)[{i + 1}] END AS _t{i}"
        for i in range(len(keys))
    )
    relation = f"""(
        WITH parsed AS (
            SELECT _line, _text, raw, try(json_extract_string(_text, $json_paths)) AS _v
            FROM (SELECT _line, try(decode(raw)) AS _text, raw FROM {stream.name} WHERE NOT _blank)
        ),
        checked AS (
            SELECT
                *,
                CASE
                    WHEN _text IS NULL THEN 'line is not valid UTF-8'
                    WHEN _v IS NULL THEN 'malformed JSON'
                    WHEN starts_with(_text, '{{') THEN NULL
                    WHEN NOT regexp_matches(_text, '^\\s*\\{{')
                        THEN 'JSON value is ' || lower(json_type(_text)) || ', not an object'
                END AS _pre_error,
                CASE WHEN _v IS NOT NULL THEN json_keys(_text) END AS _keys
            FROM parsed
        ),
        keyed AS (
            SELECT *, coalesce(_keys = $json_first_keys, false) AS _usual_keys
            FROM checked
        )
        SELECT
            _line,
            -- a key given twice: only one of its values would be read. Lines with the first
            -- line's keys (each once) need no look.
            CASE
                WHEN _pre_error IS NOT NULL
                    OR _usual_keys
                    OR len(list_distinct(_keys)) = len(_keys)
                    THEN _pre_error
                ELSE 'key "' || list_filter(_keys, lambda k, i: list_position(_keys, k) < i)[1]
                    || '" appears twice in this object'
            END AS _pre_error,
            _text,
            -- read only by the quarantine pass
            coalesce(
                regexp_replace(_text, '\\n$', ''),
                regexp_replace(CAST(raw AS VARCHAR), '\\\\x0A$', '')
            ) AS _raw,
            -- more keys than table columns present: the rest go to `_extra`. A line with
            -- the first line's keys, when those are all columns, has none; otherwise keys
            -- with a null value are present too, so where the values leave it open, the
            -- line's types decide.
            CASE
                WHEN _pre_error IS NOT NULL OR (_usual_keys AND $json_first_plain) THEN NULL
                WHEN len(_keys) > list_count(list_select(_v, $json_matched))
                    AND len(_keys) > list_count(
                        list_select(json_type(_text, $json_paths), $json_matched)
                    )
                THEN NULLIF(CAST(json_merge_patch(_text, $json_unset) AS VARCHAR), '{{}}')
            END AS _extra_json{columns}
        FROM keyed
    )"""
    first = _first_keys(con, open_batches)
    return Staged(
        relation,
        stream.name,
        keys,
        "json",
        params={
            "json_paths": paths,
            "json_first_keys": first if first and len(set(first)) == len(first) else None,
        },
        stream=stream,
        sampled_keys=sample,
    )


def _ignore(_: int) -> None:
    pass


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


def _name_blank_columns(names: list[str]) -> list[str]:
    """A header cell with no name becomes `columnN` (its 1-based position, as DuckDB names
    it), so that several unnamed columns (an export's trailing commas) each keep their
    values in `_extra` instead of colliding under one empty name."""
    return [name if name.strip() else f"column{i}" for i, name in enumerate(names, start=1)]


def _head(source: SourceFile) -> list[bytes]:
    """The first lines of a file (up to a megabyte), without their `\\n`."""
    first = next(iter_lines(source.path, source.compression, chunk_bytes=SAMPLE_BYTES), None)
    return first.lines.slice(0, HEAD_LINES).to_pylist() if first is not None else []


def _read_csv(
    source: SourceFile, n_columns: int, rejects: str, skip: int
) -> tuple[str, dict[str, object]]:
    """DuckDB's CSV reader over the file, every cell VARCHAR, bad records to `rejects`."""
    sql = f"""read_csv(
        $csv_path, header = false, skip = $csv_skip, auto_detect = false, columns = $csv_columns,
        delim = ',', quote = '"', escape = '"', compression = $csv_compression,
        store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{rejects}_scan',
        max_line_size = 16777216
    )"""
    return sql, {
        "csv_path": glob_literal(source.path),
        "csv_skip": skip,
        "csv_columns": {f"c{i}": "VARCHAR" for i in range(n_columns)},
        "csv_compression": source.compression or "none",
    }


def count_lines(source: SourceFile) -> int:
    """Physical lines in a file (a last line without `\\n` counts), at memchr speed."""
    if source.lines is not None:
        return source.lines
    counter = LineCounter()
    with open_stream(source.path, source.compression) as stream:
        while block := stream.read(CHUNK_BYTES):
            counter.update(block)
    return counter.lines


def stage_csv_fast(
    con: duckdb.DuckDBPyConnection, source: SourceFile, advance: Advance
) -> Staged | None:
    """Stage a CSV file for the common case: a one-line header on line 1, then one record
    per line, no blank lines and nothing rejected. None when the header rules that out.

    DuckDB's reader streams straight into the table (no copy of the file's rows), in file
    order; rows get line 0 and `number_lines` then sets line = 2 + position. Whether the
    case held is known only after reading: every line after the header must have become an
    inserted row. Otherwise the loader deletes the rows and stages the exact way.
    """
    head = _head(source)
    if not head or not head[0].strip(b"\r") or head[0].count(b'"') % 2:
        return None  # empty, a blank first line, or a header that goes on past line 1
    try:
        names = _parse_header(source.path, head, 1, 1)
    except InputError:
        return None  # the exact path reports it, with its line
    if not names or names == [""]:
        return None
    names = _name_blank_columns(names)
    rejects = _temp_name("rejects")
    reader, params = _read_csv(source, len(names), rejects, skip=1)
    relation = f"""(
        SELECT 0::BIGINT AS _line, NULL::VARCHAR AS _pre_error, NULL::VARCHAR AS _raw, *
        FROM {reader}
    )"""

    line_count: list[int] = []

    def number_lines(
        con: duckdb.DuckDBPyConnection,
        table: str,
        ingest_id: int,
        rows: int,
        skipped: list[int] | None,
    ) -> bool | None:
        """Set each inserted row's line from its position. `skipped`: the positions (0-based,
        sorted) of records rejected by validation; None asks whether they are needed."""
        if scalar(con, f"SELECT count(*) FROM {rejects}"):
            return False  # DuckDB dropped malformed records: positions are not records
        if not line_count:  # read once: this may be asked twice (before and after rejects)
            line_count.append(count_lines(source))
        records = line_count[0] - 1  # one record per line, if the case holds
        if skipped is None and rows < records:
            return None  # some rows were rejected, or some records span lines: find out
        if rows + len(skipped or []) != records:
            return False
        advance(source.path.stat().st_size)
        if rows:
            # Rows of one INSERT get consecutive row ids in insertion (= file) order; the
            # n-th inserted row is the record after n + (records rejected before it).
            bounds = [k - i for i, k in enumerate(skipped or [])]  # first row past each
            cases = " ".join(
                f"WHEN rowid - $base >= $b{i} THEN {i + 1}" for i in reversed(range(len(bounds)))
            )
            shift = f"+ CASE {cases} ELSE 0 END" if cases else ""
            con.execute(
                f"""
                UPDATE "{table}"
                SET "{SOURCE_LINE}" = rowid - $base + 2 {shift}
                WHERE "{INGEST_ID}" = $ingest
                """,
                {
                    "base": scalar(
                        con,
                        f'SELECT min(rowid) FROM "{table}" WHERE "{INGEST_ID}" = ?',
                        [ingest_id],
                    ),
                    "ingest": ingest_id,
                    **{f"b{i}": b for i, b in enumerate(bounds)},
                },
            )
        return True

    return Staged(
        relation,
        _temp_name("csvfast"),
        names,
        "text",
        header_line=1,
        raw_from_lines=True,
        params=params,
        number_lines=number_lines,
        cleanup=[f"TABLE {rejects}", f"TABLE {rejects}_scan"],
    )


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
    head = _head(source)  # the header is read from the first megabyte
    for batch in iter_lines(source.path, source.compression):
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
    names = _name_blank_columns(names)

    raw, rejects = _temp_name("csv"), _temp_name("rejects")
    reader, params = _read_csv(source, len(names), rejects, skip=0)
    con.execute(f"CREATE TEMP TABLE {raw} AS SELECT * FROM {reader}", params)
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
def parquet_columns(
    con: duckdb.DuckDBPyConnection, path: Path, shown: Path
) -> list[tuple[str, str]]:
    """A Parquet file's (column name, DuckDB type) pairs, from its footer.

    The names are the file's own: DuckDB renames a repeated name (`a`, `A` → `a`, `A_1`),
    which would hide a column named twice from the loader.
    """
    try:
        described = con.execute(
            "DESCRIBE SELECT * FROM read_parquet($path, hive_partitioning = false)",
            {"path": glob_literal(path)},
        ).fetchall()
        schema = con.execute(
            "SELECT name, num_children FROM parquet_schema($path) ORDER BY column_id",
            {"path": glob_literal(path)},
        ).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"Cannot read this Parquet file: {one_line(exc)}", shown) from exc
    names = _top_level_names(schema)
    if len(names) != len(described):  # not a schema tree read as expected: DuckDB's names
        names = [row[0] for row in described]
    return [(name, row[1]) for name, row in zip(names, described, strict=True)]


def _top_level_names(schema: list[tuple[str, int | None]]) -> list[str]:
    """The top-level column names of a Parquet schema, given depth first as (name, number
    of children) from its root: each column's nested fields are skipped."""
    names: list[str] = []
    at = 1
    columns = (schema[0][1] or 0) if schema else 0
    while len(names) < columns and at < len(schema):
        names.append(schema[at][0])
        pending = 1  # elements of this column's subtree still to skip
        while pending and at < len(schema):
            pending += (schema[at][1] or 0) - 1
            at += 1
    return names


def parquet_rows(con: duckdb.DuckDBPyConnection, paths: list[str]) -> list[int]:
    """Rows in each Parquet file, from the footers."""
    counts = dict(
        con.execute(
            "SELECT file_name, sum(num_rows) FROM parquet_file_metadata($paths) GROUP BY 1",
            {"paths": [glob_literal(p) for p in paths]},
        ).fetchall()
    )
    return [
        int(counts[p])
        if p in counts
        else int(scalar(con, "SELECT count(*) FROM read_parquet($p)", {"p": glob_literal(p)}))
        for p in paths
    ]


def _parquet_relation(n_columns: int, provenance: str = "", join: str = "") -> str:
    """Rows of `$parquet_paths` with their 1-based row number (`_file` too, for a join)."""
    with_file = bool(join)
    aliases = ", ".join([*(f"c{i}" for i in range(n_columns)), "_row", *(["_file"] * with_file)])
    return f"""(
        SELECT
            _row + 1 AS _line,
            NULL::VARCHAR AS _pre_error,
            NULL::VARCHAR AS _raw,
            {provenance}
            {_column_list(n_columns)}
        FROM read_parquet(
            $parquet_paths, file_row_number = true, filename = {with_file},
            hive_partitioning = false
        )
            AS t({aliases}){join}
    )"""


def stage_parquet(con: duckdb.DuckDBPyConnection, source: SourceFile, advance: Advance) -> Staged:
    """Stage Parquet: its own types kept; a gzip/zstd-wrapped file is unwrapped first."""
    temp_dir = None
    path = source.path
    if source.compression:
        temp_dir = tempfile.TemporaryDirectory(prefix="leakaudit-")
        path = Path(temp_dir.name) / "input.parquet"
        with open_stream(source.path, source.compression) as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    columns = parquet_columns(con, path, source.path)
    advance(source.path.stat().st_size)
    return Staged(
        _parquet_relation(len(columns)),
        _temp_name("parquet"),
        [name for name, _ in columns],
        "typed",
        types=[kind for _, kind in columns],
        temp_dir=temp_dir,
        params={"parquet_paths": [glob_literal(path)]},
        rows=parquet_rows(con, [str(path)])[0],
    )


@dataclass(frozen=True)
class Member:
    """One file of a group staged together, with its ingest_log id and row count."""

    source: SourceFile
    ingest_id: int
    rows: int


def stage_parquet_group(
    con: duckdb.DuckDBPyConnection, members: list[Member], columns: list[tuple[str, str]]
) -> Staged:
    """Stage several Parquet files with the same columns as one relation.

    DuckDB reads Parquet in parallel by row group, and a writer's file often holds one:
    read one by one, a folder of such files is read on one core. Read together, the files
    are spread over all cores; each row carries its file's `_src` and `_ingest` id.
    """
    mapping = _temp_name("members")
    con.register(
        mapping,
        pa.table(
            {
                "_file": [str(m.source.path) for m in members],
                "_src": [m.source.display for m in members],
                "_ingest": pa.array([m.ingest_id for m in members], pa.int64()),
            }
        ),
    )
    return Staged(
        _parquet_relation(
            len(columns), "m._src, m._ingest,", f" JOIN {mapping} AS m USING (_file)"
        ),
        mapping,
        [name for name, _ in columns],
        "typed",
        types=[kind for _, kind in columns],
        params={"parquet_paths": [glob_literal(m.source.path) for m in members]},
        rows=sum(m.rows for m in members),
        members=members,
        cleanup=[f"ARROW {mapping}"],
    )


def _refuse_carriage_return_endings(source: SourceFile) -> None:
    """Refuse a CSV whose lines end in `\\r` alone: DuckDB reads it, but lines are counted
    at `\\n` here, so its rows could not be given their lines. Seen as a `\\r` that does not
    end the first line (a header field holding one is refused too)."""
    with open_stream(source.path, source.compression) as stream:
        start = stream.read(1 << 16)
    first = start.split(b"\n", 1)[0].removesuffix(b"\r")
    if b"\r" in first:
        raise InputError(
            "Cannot read this csv file: its first line holds a carriage return (\\r) that "
            "does not end it; lines ending in \\r alone are not read (only \\n or \\r\\n): "
            "convert the file, e.g. with tr '\\r' '\\n'",
            source.path,
            1,
        )


def stage_file(
    con: duckdb.DuckDBPyConnection, source: SourceFile, advance: Advance, *, exact: bool = False
) -> Staged:
    """Stage any supported input file (CSV: the fast way first, unless `exact`)."""
    with read_errors(source):
        if source.format == "csv":
            _refuse_carriage_return_endings(source)
            fast = None if exact else stage_csv_fast(con, source, advance)
            return fast or stage_csv(con, source, advance)
        if source.format == "jsonl":
            return stage_jsonl(
                con,
                lambda chunk: iter_lines(source.path, source.compression, chunk),
                advance,
                sample=not exact,
            )
        return stage_parquet(con, source, advance)


@contextlib.contextmanager
def read_errors(source: SourceFile) -> Iterator[None]:
    """A file's read or parse errors as one line naming the file (reading happens while
    staging, and for streamed formats while loading)."""
    try:
        yield
    except (OSError, pa.ArrowInvalid) as exc:
        message = f"Cannot read this file: {one_line(exc)}"
        raise _cut_off(source) or InputError(message, source.path) from exc
    except duckdb.Error as exc:
        if is_interrupt(exc):  # Ctrl-C or SIGTERM: stop now, do not decompress it again
            raise
        cut = _cut_off(source)
        if cut is not None:
            raise cut from exc
        found = None
        if source.format == "csv":
            with contextlib.suppress(OSError, pa.ArrowInvalid):  # e.g. a truncated gzip:
                found = line_ending_problem(source)  # then DuckDB's own message stands
        if found is not None:
            line, problem = found
            raise InputError(f"Cannot read this csv file: {problem}", source.path, line) from exc
        message = f"Cannot read this {source.format} file: {one_line(exc)}"
        raise InputError(message, source.path) from exc


CUT_BLOCK = 1 << 16  # block size while looking for where a compressed file is cut off


def _compressed_stream_break(source: SourceFile) -> tuple[int, str] | None:
    """For a gzip or zstd file that does not decompress to its end (a copy cut short): the
    line the data stops in and the decompressor's reason; None when it reads to the end.
    Read only after a failure, so the good path never decompresses twice."""
    if source.compression is None:
        return None
    counter, good = LineCounter(), 0
    try:
        with open_stream(source.path, source.compression) as stream:
            while block := stream.read(CUT_BLOCK):
                counter.update(block)
                good += len(block)
    except (OSError, pa.ArrowInvalid) as exc:
        reason = one_line(exc)
    else:
        return None
    if "truncated" not in reason.lower():
        # Another fault (a bad checksum, trailing bytes): the decompressor drops the output
        # of its failing step, so no line can be named truly; the reader's message stands.
        return None
    # A read that fails returns nothing of its block: read that block again byte by byte,
    # so the line named is the one the data really stops in.
    with (
        contextlib.suppress(OSError, pa.ArrowInvalid),
        open_stream(source.path, source.compression) as stream,
    ):
        while good and (block := stream.read(min(good, CHUNK_BYTES))):
            good -= len(block)
        for _ in range(CUT_BLOCK):  # no further than the block that failed
            if not (byte := stream.read(1)):
                break
            counter.update(byte)
    return max(counter.lines, 1), reason


def _cut_off(source: SourceFile) -> InputError | None:
    """The error for a compressed file cut short, naming the line its data stops in; None
    when the file is not compressed or reads to its end."""
    cut = _compressed_stream_break(source)
    if cut is None:
        return None
    line, reason = cut
    lines = source.format != "parquet"  # a wrapped Parquet file has no lines to name
    return InputError(
        f"The {source.compression} file is cut off{' in this line' if lines else ''} "
        f"({reason}); is the copy complete?",
        source.path,
        line if lines else None,
    )


def line_ending_problem(source: SourceFile) -> tuple[int, str] | None:
    """The first line DuckDB's CSV reader stops at for its `\\r` bytes, and why, or None.

    The reader takes its line ending from the file's start and then fails, without saying
    where, on a `\\r` outside quotes that does not fit it. Read only after such a failure;
    whether a byte is inside quotes follows the parity of the `"` before it in the file.
    """
    crlf: bool | None = None
    carry = 0  # 1 when the batch starts inside a quoted field
    for batch in iter_lines(source.path, source.compression):
        if not batch.count:
            continue
        starts, ends, data = batch.starts, batch.ends, batch.data
        if crlf is None:
            crlf = bool(ends[0] > starts[0] and data[ends[0] - 1] == CARRIAGE_RETURN)
        per_line = batch.quotes
        open_at_start = (carry + np.cumsum(per_line) - per_line) % 2
        at = np.flatnonzero(data == CARRIAGE_RETURN)
        line_of = np.searchsorted(starts, at, side="right") - 1
        before = np.searchsorted(batch.quote_at, at) - np.searchsorted(
            batch.quote_at, starts[line_of]
        )
        outside = (open_at_start[line_of] + before) % 2 == 0
        ending = at == ends[line_of] - 1
        wrong_end = np.zeros(batch.count, dtype=bool)
        if crlf:  # a line ending in `\\n` alone, outside quotes
            cr_end = np.zeros(batch.count, dtype=bool)
            cr_end[line_of[ending]] = True
            newline_outside = (open_at_start + per_line) % 2 == 0
            wrong_end = (ends < len(data)) & ~cr_end & newline_outside
        else:  # a line ending in `\\r\\n`, outside quotes
            wrong_end[line_of[outside & ending]] = True
        mid_lines = line_of[outside & ~ending]
        first_mid = int(mid_lines.min()) if len(mid_lines) else batch.count
        first_end = int(np.argmax(wrong_end)) if wrong_end.any() else batch.count
        if first_mid < batch.count or first_end < batch.count:
            if first_mid <= first_end:
                problem = (
                    "a carriage return (\\r) in the middle of this line, outside quotes; "
                    "quote the field or remove the character"
                )
                return batch.first_line + first_mid, problem
            usual, this = ("\\r\\n", "\\n alone") if crlf else ("\\n alone", "\\r")
            problem = (
                f"this line ends with {this} but the file's first line with {usual}; "
                "DuckDB's CSV reader needs one kind of line ending throughout"
            )
            return batch.first_line + first_end, problem
        carry = int((carry + per_line.sum()) % 2)
    return None


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
