"""The DuckDB database every stage shares: open, schema, migrations, transactions.

The store knows tables, not files or rules. Ingest writes into it inside `transaction()`;
rules and ad-hoc queries read from it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from leakaudit import interrupts
from leakaudit.errors import ConfigError, StoreBusyError, StoreError, one_line
from leakaudit.schema import TABLES, table_ddl

DEFAULT_DB = "leakaudit.duckdb"
DB_ENV = "LEAKAUDIT_DB"
MEMORY = ":memory:"
NO_DATABASE = "No leakaudit database here; run `leakaudit ingest` first, or check the --db path."
MEMORY_ENV = "LEAKAUDIT_MEMORY_LIMIT"  # DuckDB's memory_limit, e.g. 2GB; it spills beyond
# A nightly job shares its machine: DuckDB's own default (80% of RAM) let a 10 M-event audit
# reach 5 GB; capped at 3 GB it peaked at 3.3 GB and took 16.5 s instead of 13.0 s.
DEFAULT_MEMORY_LIMIT = "3GB"
# Below this DuckDB runs out of memory opening the database, before any data is read
# (1KB, 1MB did), and the error would blame whatever statement came first.
MIN_MEMORY_LIMIT = "64MB"
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)")
# DuckDB's units: KB is 1000 bytes, KiB 1024.
_UNIT_BYTES = {
    "B": 1,
    **{unit: 1000 ** (i + 1) for i, unit in enumerate(("KB", "MB", "GB", "TB"))},
    **{unit: 1024 ** (i + 1) for i, unit in enumerate(("KiB", "MiB", "GiB", "TiB"))},
}

# Each entry migrates the schema from version i to i + 1; never edit a released step, append.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        *(table_ddl(t) for t in TABLES.values()),
        """CREATE SEQUENCE IF NOT EXISTS ingest_id_seq START 1""",
        """CREATE TABLE IF NOT EXISTS ingest_log (
            ingest_id BIGINT PRIMARY KEY,
            path VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            size BIGINT NOT NULL,
            table_name VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            compression VARCHAR,
            rows BIGINT NOT NULL,
            rejected BIGINT NOT NULL,
            unknown_values JSON,
            extra_columns VARCHAR[],
            ingested_at TIMESTAMPTZ NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS quarantine (
            ingest_id BIGINT NOT NULL,
            source_file VARCHAR NOT NULL,
            source_line BIGINT NOT NULL,
            table_name VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            raw VARCHAR
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The first value of a query's first row, or None; the result is always consumed.

    DuckDB 2 refuses new work on a connection whose last result was not read to the end, so
    `fetchone()` is never used on its own.
    """
    rows = (
        con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    )
    return rows[0][0] if rows else None


def resolve_db_path(db: str | os.PathLike[str] | None) -> str:
    """`--db`, else `$LEAKAUDIT_DB`, else `./leakaudit.duckdb`.

    An empty `--db` is refused: it is what an unset `"$DB"` expands to, and DuckDB would take
    it for a throw-away in-memory database, so an ingest would report success and keep nothing.
    """
    if db is not None:
        if not str(db).strip():
            raise ConfigError(
                "--db is empty (an unset variable?); name a database file, or ':memory:' "
                "for a throw-away one."
            )
        return str(db)
    return os.environ.get(DB_ENV) or DEFAULT_DB


def database_file(path: str) -> Path:
    """The file DuckDB opens for `path`: a leading `~` replaced by the home folder (DuckDB
    does that itself, so `--db '~/x.duckdb'` from an unexpanded variable is a file there),
    symlinks followed (a failed first ingest removes the file, not a link to it). DuckDB
    takes the home folder from $HOME only: unset, `~/x.duckdb` is `/x.duckdb`."""
    if path.startswith("~"):
        path = os.environ.get("HOME", "") + path[1:]
    return Path(os.path.realpath(path))


# Every DuckDB database file has these bytes after its 8-byte header checksum.
DUCKDB_MAGIC = b"DUCK"


def _refuse_other_file(file: Path, path: str) -> None:
    """Refuse a --db that names a file DuckDB did not write (findings.json, a log, a SQLite
    file): DuckDB would answer with errors about read-only in-memory databases or extensions,
    or open a JSON file as a table."""
    try:
        with file.open("rb") as f:
            head = f.read(12)
    except IsADirectoryError:
        return  # DuckDB's own error names it
    except OSError as exc:
        raise StoreError(f"Cannot read the database file: {exc.strerror}.", path) from exc
    if head and head[8:12] != DUCKDB_MAGIC:
        raise StoreError(
            "This file is not a DuckDB database (a report, a log or another program's file?); "
            "--db names the database `leakaudit ingest` or `audit --db` writes.",
            path,
        )


def memory_limit() -> str:
    """`$LEAKAUDIT_MEMORY_LIMIT` (else the default), checked before DuckDB sees it."""
    limit = os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY_LIMIT
    size = _size_bytes(limit)
    if size is None:
        raise ConfigError(f"{MEMORY_ENV} must look like 2GB or 512MB, not {limit!r}.")
    if size < _MIN_MEMORY_BYTES:
        raise ConfigError(f"{MEMORY_ENV} must be at least {MIN_MEMORY_LIMIT}, not {limit!r}.")
    return limit


def _size_bytes(text: str) -> float | None:
    """`512MB` in bytes, or None when it is not a size DuckDB understands."""
    match = _MEMORY.fullmatch(text)
    return None if match is None else float(match[1]) * _UNIT_BYTES[match[2]]


_MIN_MEMORY_BYTES = _size_bytes(MIN_MEMORY_LIMIT) or 0.0


# DuckDB's words when another process holds the file: "Could not set lock on file "…":
# Conflicting lock is held in /usr/bin/python3.11 (PID 7285)."
_LOCK_HELD = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def _lock_holder(exc: duckdb.Error) -> str | None:
    """Who holds the file ('PID 7285, python3.11') when `exc` says another process does."""
    # Only DuckDB's "held by" wording: "Could not set lock on file …: No locks available"
    # (NFS mounted nolock) is no other process, and a retry on 75 would never end.
    m = _LOCK_HELD.search(str(exc)) if isinstance(exc, duckdb.IOException) else None
    return f"PID {m.group(2)}, {os.path.basename(m.group(1))}" if m else None


def _spill_folder() -> str:
    try:
        return tempfile.mkdtemp(prefix="leakaudit-spill-")
    except OSError as exc:
        raise StoreError(
            f"Cannot create a temp folder for the in-memory database in {tempfile.gettempdir()}"
            f": {exc.strerror or exc}; set TMPDIR to a writable folder."
        ) from exc


class Store:
    """An open leakaudit database.

    Use `Store.open(...)` as a context manager. A read-only store never migrates: it refuses a
    database that was never initialised or has an older schema.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, read_only: bool):
        self.con = con
        self.path = path
        self.read_only = read_only
        self.created: Path | None = None  # the file this open made (see `removed_on_error`)
        self.spill: str | None = None  # an in-memory store's own temp folder, gone at close

    @classmethod
    def open(
        cls,
        db: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        create: bool = True,
    ) -> Store:
        """Open (and migrate) the database; `create=False` or `read_only` refuse a missing file.

        Every DuckDB failure while opening becomes a one-line `StoreError`.
        """
        path = resolve_db_path(db)
        limit = memory_limit()
        file = None if path == MEMORY else database_file(path)
        if (read_only or not create) and file is not None and not file.exists():
            raise StoreError(NO_DATABASE, path)
        new = file is not None and not file.exists()
        if file is not None and not new:
            _refuse_other_file(file, path)
        try:
            # A read-only store is for looking at evidence: no SQL it runs may read or write
            # other files (COPY … TO, read_text) either.
            config: dict[str, Any] = {"enable_external_access": False} if read_only else {}
            # Beyond the memory limit DuckDB moves an in-memory database's blocks to its temp
            # folder, by default `.tmp` in the working directory (the user's logs folder, or
            # a read-only checkout in CI): give it a private one, removed at close.
            spill = _spill_folder() if path == MEMORY else None
            if spill is not None:
                config["temp_directory"] = spill
            con = duckdb.connect(path, read_only=read_only and path != MEMORY, config=config)
        except duckdb.Error as exc:
            if spill is not None:
                shutil.rmtree(spill, ignore_errors=True)
            if (holder := _lock_holder(exc)) is not None:
                raise StoreBusyError(
                    f"The database is locked by another process that has it open ({holder}). "
                    "Nothing was done; try again when that process ends.",
                    path,
                ) from exc
            raise StoreError(f"Cannot open the database: {one_line(exc)}", path) from exc
        store = cls(con, path, read_only)
        store.spill = spill
        interrupts.watch(con)
        try:
            # Made by this open only if still blank: a file that another run created (and
            # filled) between the check above and the connect is not ours to delete.
            if new and not store._table_names():
                store.created = file
            con.execute("SET TimeZone = 'UTC'")
            # Progress is shown through leakaudit's own Progress interface, or not at all
            # (--quiet, CI): DuckDB's bar would write to the terminal behind our back.
            con.execute("SET enable_progress_bar = false")
            con.execute(f"SET memory_limit = '{limit}'")  # validated by memory_limit()
            if path != MEMORY:
                store._check_leakaudit(create=create and not read_only)
            if read_only and path != MEMORY:
                store._check_version()
            else:
                store.migrate()
        except BaseException as exc:
            # A StoreError of our own, or an interrupt: no connection, and no new file, left
            store.discard_if_created()
            if isinstance(exc, duckdb.Error):
                raise StoreError(f"Cannot open the database: {one_line(exc)}", path) from exc
            raise
        return store

    @contextmanager
    def removed_on_error(self) -> Iterator[None]:
        """Delete the database again if this run created it and filling it fails.

        A failed first ingest must leave things as they were (SPEC §5), which is no file: an
        empty database left behind would later be audited as "no findings".
        """
        try:
            yield
        except BaseException:
            self.discard_if_created()
            raise

    def discard_if_created(self) -> None:
        """Close, and remove the file (and its WAL) when this open created it."""
        self.close()
        if self.created is not None:
            for name in (self.created, Path(f"{self.created}.wal")):
                name.unlink(missing_ok=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        interrupts.unwatch(self.con)
        self.con.close()
        if self.spill is not None:
            shutil.rmtree(self.spill, ignore_errors=True)

    # -- schema ----------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = scalar(
            self.con,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'",
        )
        if not exists:
            return 0
        return int(scalar(self.con, "SELECT max(version) FROM schema_version") or 0)

    def _check_leakaudit(self, *, create: bool) -> None:
        """Refuse a DuckDB file leakaudit never initialised, unless it is blank and `create`.

        Another program's database must not get leakaudit's tables (or have a table of its own
        taken for a native one), and an audit of a blank file would pass any --fail-on gate.
        """
        if self.schema_version():
            return
        theirs = [name for name in self._table_names() if name != "schema_version"]
        if theirs:
            shown = ", ".join(theirs[:5]) + (", …" if len(theirs) > 5 else "")
            raise StoreError(
                f"This DuckDB database is not a leakaudit database (it holds {shown}); "
                "leakaudit does not add its tables to another program's database. Pass a new "
                "file or a leakaudit database.",
                self.path,
            )
        if not create:
            raise StoreError(NO_DATABASE, self.path)

    def _table_names(self) -> list[str]:
        """The tables and views of the database file, sorted (not the temporary ones)."""
        return [
            name
            for (name,) in self.con.execute(
                """
                SELECT table_name
                FROM information_schema.tables
                WHERE table_catalog = current_database()
                ORDER BY table_name
                """
            ).fetchall()
        ]

    def _newer(self, version: int) -> StoreError:
        return StoreError(
            f"The database has schema version {version}, newer than this leakaudit "
            f"({SCHEMA_VERSION}); upgrade leakaudit.",
            self.path,
        )

    def _check_version(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise self._newer(version)
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"The database has schema version {version}, this leakaudit needs "
                f"{SCHEMA_VERSION}; open it once without read-only access (e.g. `leakaudit "
                "ingest`) to migrate it.",
                self.path,
            )

    def migrate(self) -> None:
        """Bring the schema forward to `SCHEMA_VERSION`, one recorded step at a time."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise self._newer(current)
        for version in range(current, SCHEMA_VERSION):
            with self.transaction():
                for statement in MIGRATIONS[version]:
                    self.con.execute(statement)
                self.con.execute(
                    "INSERT INTO schema_version VALUES (?, current_timestamp)", [version + 1]
                )

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: any exception (or a kill) leaves the database as it was."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.InterruptException:
                # A stop signal's interrupt that reached DuckDB only now: roll back again.
                self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # -- reading ---------------------------------------------------------------------------
    def table_rows(self, table: str) -> int:
        """Row count of a native table (0 when absent)."""
        if table not in TABLES:
            raise StoreError(f"Unknown table {table!r}.")
        return int(scalar(self.con, f'SELECT count(*) FROM "{table}"'))
