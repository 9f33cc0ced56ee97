"""The Python entry points that the CLI and the tests (and responders' notebooks) call.

Each function opens the store it needs, does one job and returns a result object; none of
them prints or exits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from leakaudit import __version__
from leakaudit.errors import ConfigError, ExitCode, InputError, QueryError, one_line
from leakaudit.findings import SEVERITIES, FindingsDocument, InputRecord, RuleOutcome, RunRecord
from leakaudit.ingest import IngestReport, ingest_paths
from leakaudit.progress import Progress
from leakaudit.rules import load_packs, parse_param_overrides, run_rules, select_packs
from leakaudit.rules.engine import missing_tables, quote_ident
from leakaudit.rules.model import Pack
from leakaudit.schema import TABLES
from leakaudit.store import MEMORY, Store, scalar

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
    with Store.open(db) as store, store.removed_on_error():
        return ingest_paths(store, paths, as_table=as_table, strict=strict, progress=progress)


def query(sql: str, *, db: PathLike | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """Run one SQL statement on a read-only connection and return the rows.

    Read-only, so an ad-hoc query at 2 a.m. can never change the evidence. `max_rows`
    fetches at most that many rows (in the query's order), so a `SELECT *` meant for a
    screen does not first load ten million rows.
    """
    with Store.open(db, read_only=True) as store:
        try:
            # One statement: DuckDB would run every statement of the text and show only the
            # last result, so `SELECT …; SELECT …` would hide the first answer.
            count = len(store.con.extract_statements(sql))
            if count != 1:
                raise QueryError(f"Give one SQL statement; this text holds {count}.")
            result = store.con.sql(sql)
        except duckdb.Error as exc:
            raise QueryError(one_line(str(exc))) from exc
        if result is None:  # a statement without rows
            return pd.DataFrame()
        try:
            # An interval (`max(ts) - min(ts)`) as DuckDB writes it: pandas would hold a
            # DateOffset that prints as its repr and that JSON cannot hold.
            result = _as_text(result, lambda t: t == "INTERVAL")
            if max_rows is not None:
                result = result.limit(max_rows)
            # integer_object_nulls: an integer column with a NULL keeps exact Python ints
            # (pandas would make floats of it: 1441.0, and ids past 2**53 rounded).
            rows = result.to_arrow_table()
            try:
                return rows.to_pandas(integer_object_nulls=True)
            except (ValueError, OverflowError) as exc:
                # A date or time Python cannot hold (`'infinity'::DATE`, a year past 9999,
                # computed in the query): its columns as DuckDB writes them, not a traceback.
                temporal = _as_text(result, lambda t: t.startswith(("DATE", "TIME")))
                try:
                    return temporal.to_arrow_table().to_pandas(integer_object_nulls=True)
                except (ValueError, OverflowError):
                    raise QueryError(
                        f"A value of the result cannot be shown ({exc}); cast its column to "
                        "VARCHAR in the query."
                    ) from exc
        except duckdb.Error as exc:
            raise QueryError(one_line(str(exc))) from exc


def _as_text(result: duckdb.DuckDBPyRelation, of_type: Callable[[str], bool]) -> Any:
    """`result` with the columns whose DuckDB type `of_type` picks cast to text. Names must
    be unique for `* REPLACE`; a result with a repeated name keeps its types."""
    types = zip(result.columns, result.types, strict=True)
    picked = [c for c, t in types if of_type(str(t))]
    if not picked or len(set(result.columns)) != len(result.columns):
        return result
    text = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in picked)
    return result.project(f"* REPLACE ({text})")


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


@dataclass
class AuditResult:
    """What `audit` produced: the findings document and how a CI job should exit."""

    document: FindingsDocument
    ingest: IngestReport | None
    exit_code: ExitCode
    failing: int  # unsuppressed findings at or above --fail-on
    timings: dict[str, float]  # seconds per rule id that ran, for --profile


def run_started_at() -> datetime:
    """Now, or `SOURCE_DATE_EPOCH` when set, so that two runs can write identical reports."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is None:
        return datetime.now(UTC)
    try:
        seconds = int(epoch)
    except ValueError as exc:
        raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds, not {epoch!r}.") from exc
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:  # past what a datetime or C time holds
        raise ConfigError(f"SOURCE_DATE_EPOCH {epoch!r} is out of range.") from exc


def _run_record(
    store: Store,
    packs: list[Pack],
    outcomes: list[RuleOutcome],
    started_at: datetime,
    reproducible: bool,
) -> RunRecord:
    """Provenance of an audit from the store: every ingested file, the data's time window."""
    con = store.con
    inputs = [
        InputRecord(path, sha, table, int(rows), int(rejected))
        for path, sha, table, rows, rejected in con.execute(
            """
            SELECT path, sha256, table_name, rows, rejected
            FROM ingest_log
            ORDER BY path, ingest_id
            """
        ).fetchall()
    ]
    window = con.execute(
        """
        SELECT min(ts), max(ts)
        FROM (SELECT ts FROM access_events UNION ALL SELECT ts FROM staff_access)
        """
    ).fetchall()[0]
    return RunRecord(
        leakaudit_version=__version__,
        duckdb_version=duckdb.__version__,
        started_at=started_at,
        packs=[p.record() for p in packs],
        inputs=inputs,
        window_start=window[0],
        window_end=window[1],
        quarantined_rows=int(scalar(con, "SELECT count(*) FROM quarantine")),
        rules=outcomes,
        reproducible=reproducible,
    )


def _refuse_nothing_to_audit(store: Store, packs: Sequence[Pack], db: PathLike | None) -> None:
    """Every selected rule would be skipped for want of rows: a gate that ran nothing must
    not pass (a wrong path or an empty export, at night with nobody watching)."""
    missing = [missing_tables(store, rule) for pack in packs for rule in pack.rules]
    if missing and all(missing):
        tables = sorted({table for empty in missing for table in empty})
        raise InputError(
            "Nothing to audit: every selected rule needs a table that holds no rows "
            f"(empty: {', '.join(tables)}).",
            db if db is not None and str(db) != MEMORY else None,
        )


def audit(
    inputs: Sequence[PathLike] = (),
    *,
    db: PathLike | None = None,
    rule_dirs: Sequence[PathLike] = (),
    packs: list[str] | None = None,
    rules: list[str] | None = None,
    exclude: list[str] | None = None,
    override: bool = False,
    params: Sequence[str] = (),
    fail_on: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> AuditResult:
    """Ingest `inputs` (into `db`, else a throw-away database), run the packs, gate.

    Rule problems are found before anything is ingested, so a bad custom rule costs no time.
    """
    if fail_on is not None and fail_on not in SEVERITIES:
        raise ConfigError(f"--fail-on must be one of {', '.join(SEVERITIES)}, not {fail_on!r}.")
    # When the run starts, and a bad SOURCE_DATE_EPOCH refused before any work.
    started_at = run_started_at()
    # Loaded (and validated) once; the selection is taken from all of them, so --param can
    # tell a rule left out of the run from a typo.
    everything = load_packs(rule_dirs, override=override)
    loaded = select_packs(everything, packs=packs, rules=rules, exclude=exclude)
    overrides = parse_param_overrides(list(params), loaded, everything)
    if not inputs and db is not None and str(db) == MEMORY:
        # A fresh in-memory database holds nothing: the audit would pass any --fail-on gate.
        raise ConfigError("--db :memory: with no INPUTS audits an empty database; give INPUTS.")
    # The throw-away database lives in memory: DuckDB then stores the rows as they come,
    # without compressing them into blocks (the ingest takes half the time), and moves them
    # to a private temp folder beyond the memory limit (`Store.spill`).
    target = db if db is not None else MEMORY
    # With nothing to ingest, a --db that does not exist is a typo: creating it would
    # audit an empty database and pass any --fail-on gate.
    with Store.open(target, create=db is None or bool(inputs)) as store:
        report = None
        if inputs:
            with store.removed_on_error():
                report = ingest_paths(store, list(inputs), strict=strict, progress=progress)
        _refuse_nothing_to_audit(store, loaded, db)
        findings, outcomes = run_rules(store, loaded, overrides, progress=progress)
        timings = {o.rule_id: o.duration_s for o in outcomes if o.duration_s is not None}
        reproducible = "SOURCE_DATE_EPOCH" in os.environ
        if reproducible:  # the document must depend on the data only
            outcomes = [replace(o, duration_s=None) for o in outcomes]
        record = _run_record(store, loaded, outcomes, started_at, reproducible)
        document = FindingsDocument(record, findings)
    failing = len(document.at_or_above(fail_on)) if fail_on else 0
    code = ExitCode.FINDINGS if failing else ExitCode.OK
    return AuditResult(document, report, code, failing, timings)
