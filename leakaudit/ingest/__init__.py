"""Ingest: input files (or in-memory records) → the store's native tables, in one transaction.

`ingest_paths` is what `leakaudit ingest` and `leakaudit audit` call; `ingest_records` puts
a few rows through exactly the same validation (rule tests, notebooks).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from leakaudit.errors import InputError, StrictModeError, one_line
from leakaudit.ingest.discover import SourceFile, discover
from leakaudit.ingest.lines import LineCounter, split_lines
from leakaudit.ingest.load import Loaded, Restage, describe_unknown, load_members, load_staged
from leakaudit.ingest.stage import (
    Member,
    Staged,
    parquet_columns,
    parquet_rows,
    read_errors,
    stage_file,
    stage_jsonl,
    stage_parquet_group,
)
from leakaudit.progress import Progress, SilentProgress
from leakaudit.schema import TABLES
from leakaudit.store import Store, scalar
from leakaudit.wording import plural

__all__ = ["FileResult", "IngestReport", "discover", "ingest_paths", "ingest_records"]


@dataclass
class FileResult:
    """One input file's outcome."""

    path: str
    table: str
    sha256: str
    rows: int = 0
    rejected: int = 0
    skipped: bool = False  # already ingested (same sha256): nothing added
    ingest_id: int | None = None
    unknown_values: dict[str, dict[str, int]] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """The outcome of one `ingest`: per file, and the first quarantined rows for messages."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def unknown_values(self) -> int:
        return sum(n for f in self.files for per in f.unknown_values.values() for n in per.values())


def digest_file(source: SourceFile) -> tuple[str, SourceFile]:
    """The file's sha256, and the file with its physical lines counted in the same read
    when it is uncompressed text (the CSV fast staging needs that count; a second read
    of a large file costs about as much as the hash)."""
    digest = hashlib.sha256()
    counter = LineCounter() if source.format == "csv" and source.compression is None else None
    with source.path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
            if counter is not None:
                counter.update(block)
    if counter is not None:
        source = replace(source, lines=counter.lines)
    return digest.hexdigest(), source


def _already_ingested(store: Store, sha256: str, table: str) -> bool:
    """The same bytes into the same table: nothing to add (other tables read it afresh)."""
    return bool(
        scalar(
            store.con,
            "SELECT count(*) FROM ingest_log WHERE sha256 = ? AND table_name = ?",
            [sha256, table],
        )
    )


def _drop(store: Store, staged: Staged) -> None:
    """Drop a staging's temporary objects (on failure the rollback takes them instead)."""
    staged.release(store.con)
    if staged.temp_dir is not None:
        staged.temp_dir.cleanup()
    for obj in staged.cleanup:
        kind, name = obj.split()
        if kind == "ARROW":
            store.con.unregister(name)
        else:
            store.con.execute(f"DROP {kind} IF EXISTS {name}")


def _next_ingest_id(store: Store) -> int:
    return int(scalar(store.con, "SELECT nextval('ingest_id_seq')"))


def _load_and_log(
    store: Store,
    source: SourceFile,
    sha256: str,
    size: int,
    progress: Progress,
    ingest_id: int | None = None,
) -> FileResult:
    con = store.con
    ingest_id = _next_ingest_id(store) if ingest_id is None else ingest_id
    staged = stage_file(con, source, progress.advance)
    try:
        loaded = _load(con, staged, source, ingest_id)
    except Restage:
        # The fast staging did not hold for this file (see stage_csv_fast / stage_jsonl):
        # its rows are deleted; read it again the exact way.
        _drop(store, staged)
        progress.finish()
        progress.start(source.display, size)
        staged = stage_file(con, source, progress.advance, exact=True)
        loaded = _load(con, staged, source, ingest_id)
    _drop(store, staged)
    return _log(store, source, sha256, size, ingest_id, loaded)


def _load(
    con: duckdb.DuckDBPyConnection, staged: Staged, source: SourceFile, ingest_id: int
) -> Loaded:
    """`load_staged`, with the file's read errors (streamed during the load) as one line."""
    streamed = staged.stream.read_errors_as_raised() if staged.stream else contextlib.nullcontext()
    with read_errors(source), streamed:
        return load_staged(con, staged, source, ingest_id)


def _log(
    store: Store, source: SourceFile, sha256: str, size: int, ingest_id: int, loaded: Loaded
) -> FileResult:
    """Record one loaded file in ingest_log."""
    store.con.execute(
        """
        INSERT INTO ingest_log
        VALUES ($id, $path, $sha, $size, $tbl, $fmt, $comp, $rows, $rej, $unknown, $extra,
                current_timestamp)
        """,
        {
            "id": ingest_id,
            "path": source.display,
            "sha": sha256,
            "size": size,
            "tbl": source.table,
            "fmt": source.format,
            "comp": source.compression,
            "rows": loaded.rows,
            "rej": loaded.rejected,
            "unknown": describe_unknown(loaded.unknown_values),
            "extra": loaded.extra_columns,
        },
    )
    return FileResult(
        source.display,
        source.table,
        sha256,
        loaded.rows,
        loaded.rejected,
        unknown_values=loaded.unknown_values,
        extra_columns=loaded.extra_columns,
        ingest_id=ingest_id,
    )


def ingest_paths(
    store: Store,
    paths: list[str | os.PathLike[str]],
    *,
    as_table: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files and folders; all or nothing.

    Bad rows are quarantined and counted; a file already ingested (same sha256) adds nothing.
    With `strict`, any quarantined row raises `StrictModeError` after rolling back.
    """
    progress = progress or SilentProgress()
    sources = discover(paths, as_table)
    report = IngestReport()
    seen: set[tuple[str, str]] = set()
    done: dict[str, FileResult] = {}  # by display path: the report keeps the input order
    with store.transaction():
        todo: list[tuple[SourceFile, str]] = []
        for source in sources:
            sha256, source = digest_file(source)
            if (sha256, source.table) in seen or _already_ingested(store, sha256, source.table):
                done[source.display] = FileResult(
                    source.display, source.table, sha256, skipped=True
                )
                continue
            seen.add((sha256, source.table))
            todo.append((source, sha256))
        for run in _runs(todo):
            if len(run) > 1:
                done.update((r.path, r) for r in _load_parquet_run(store, run, progress))
                continue
            source, sha256 = run[0]
            done[source.display] = _load_one(store, source, sha256, progress)
        report.files = [done[source.display] for source in sources]
        if strict and report.rejected:
            raise _strict_error(store, report)
    return report


def _load_one(
    store: Store,
    source: SourceFile,
    sha256: str,
    progress: Progress,
    ingest_id: int | None = None,
) -> FileResult:
    """Load one file on its own, with its own progress bar."""
    size = source.path.stat().st_size
    progress.start(source.display, size)
    try:
        return _load_and_log(store, source, sha256, size, progress, ingest_id)
    finally:
        progress.finish()


def _groupable(source: SourceFile) -> bool:
    return source.format == "parquet" and not source.compression


def _runs(todo: list[tuple[SourceFile, str]]) -> list[list[tuple[SourceFile, str]]]:
    """Consecutive plain Parquet files of one table form a run (read together); any other
    file is a run of its own."""
    runs: list[list[tuple[SourceFile, str]]] = []
    for item in todo:
        last = runs[-1][-1][0] if runs else None
        if (
            last is not None
            and _groupable(item[0])
            and _groupable(last)
            and last.table == item[0].table
        ):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _load_parquet_run(
    store: Store, run: list[tuple[SourceFile, str]], progress: Progress
) -> list[FileResult]:
    """Load Parquet files of one table; those with the same columns in one pass.

    Ingest ids follow the files' order, whichever pass reads them.
    """
    con = store.con
    ids = {source.display: _next_ingest_id(store) for source, _ in run}
    by_columns: dict[tuple[tuple[str, str], ...], list[tuple[SourceFile, str]]] = {}
    for source, sha256 in run:
        columns = tuple(parquet_columns(con, source.path, source.path))
        if {name.lower() for name, _ in columns} & {"filename", "file_row_number"}:
            columns = (("", str(source.path)),)  # a group of its own: the names would clash
        by_columns.setdefault(columns, []).append((source, sha256))
    results: dict[str, FileResult] = {}
    for columns, files in by_columns.items():
        if len(files) == 1 or columns[0][0] == "":
            for source, sha256 in files:
                results[source.display] = _load_one(
                    store, source, sha256, progress, ids[source.display]
                )
            continue
        sizes = [source.path.stat().st_size for source, _ in files]
        table = files[0][0].table
        progress.start(f"{len(files)} Parquet files → {table}", sum(sizes))
        try:
            counts = parquet_rows(con, [str(source.path) for source, _ in files])
            members = [
                Member(source, ids[source.display], rows)
                for (source, _), rows in zip(files, counts, strict=True)
            ]
            staged = stage_parquet_group(con, members, list(columns))
            with _group_read_errors(files):
                loaded = load_members(con, staged, members)
            _drop(store, staged)
            progress.advance(sum(sizes))
            for member, (_, sha256), size, done in zip(members, files, sizes, loaded, strict=True):
                results[member.source.display] = _log(
                    store, member.source, sha256, size, member.ingest_id, done
                )
        finally:
            progress.finish()
    return [results[source.display] for source, _ in run]


@contextlib.contextmanager
def _group_read_errors(files: list[tuple[SourceFile, str]]) -> Iterator[None]:
    """A read error in a group names the group: DuckDB does not always say which file."""
    try:
        yield
    except (OSError, pa.ArrowInvalid, duckdb.Error) as exc:
        first, last = files[0][0], files[-1][0]
        raise InputError(
            f"Cannot read one of {len(files)} Parquet files read together "
            f"({first.path.name} … {last.path.name}): {one_line(exc)}",
            first.path.parent,
        ) from exc


def _strict_error(store: Store, report: IngestReport) -> StrictModeError:
    """The first quarantined row of this ingest, as the one line `--strict` reports."""
    ids = [f.ingest_id for f in report.files if f.rejected]
    rows = store.con.execute(
        """
        SELECT source_file, source_line, reason
        FROM quarantine
        WHERE list_contains($ids, ingest_id)
        ORDER BY ingest_id, source_line
        LIMIT 1
        """,
        {"ids": ids},
    ).fetchall()
    path, line, reason = rows[0] if rows else (None, None, "rows were quarantined")
    return StrictModeError(
        f"{reason} ({report.rejected} {plural(report.rejected, 'row')} quarantined; "
        "--strict makes that an error, "
        "so nothing was ingested)",
        path,
        line,
    )


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def ingest_records(
    store: Store, table: str, records: Iterable[dict[str, Any]], source: str = "<inline>"
) -> FileResult:
    """Validate and load in-memory rows exactly like a JSON Lines file named `source`.

    Each record becomes one line (line numbers from 1), so quarantine reasons and evidence
    locations read as they would for a file.
    """
    if table not in TABLES:
        raise InputError(f"Unknown table {table!r}; choose one of {', '.join(TABLES)}.")
    text = [json.dumps(r, default=_json_default, ensure_ascii=False).encode() for r in records]
    payload = b"\n".join(text)
    batches = [split_lines(np.frombuffer(payload, dtype=np.uint8), 1, len(payload))] if text else []
    sha256 = hashlib.sha256(payload).hexdigest()
    src = SourceFile(Path(source), table, "jsonl", None)
    con = store.con
    with store.transaction():
        ingest_id = _next_ingest_id(store)
        staged = stage_jsonl(con, lambda _: batches, lambda _: None, sample=False)
        loaded = load_staged(con, staged, src, ingest_id)
        _drop(store, staged)
        return _log(store, src, sha256, len(payload), ingest_id, loaded)
