"""Experiment (issue 4): what would an audit cost if it never stored the events?

`bench/audit.py` shows that storing the world's rows (what `leakaudit audit` does, and what
DuckDB's own CREATE TABLE AS does) already costs ~9× the floor scan. This script measures the
other design: every native table a view over its Parquet files (source file and row number
from `read_parquet`), the shared semantics and all built-in rules run on those views, nothing
ingested, no validation, no quarantine, no report. It times, side by side in one run:

- (c) the floor scan of `bench/audit.py`, (d) its full scan of every column;
- (v) semantics + every rule over the views, in a fresh process (including its start-up);
- (p) the parts a narrower semantics could not avoid: the `binding` and `ownership` tables and
  one join of every event with ownership, counting the events that are not the owner's.

Not a product path: the views have no `rowid`, so the semantics SQL is run with `rowid`
replaced by a per-row number built from file index and row number. Needs a world from
`python bench/audit.py --workdir DIR --generate-only` (Parquet).

    python bench/in_place.py --workdir /tmp/la-audit --repeat 2
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import audit as bench  # bench/audit.py: the floor scans and the measuring

EVENTS_NOT_OWNED = """
SELECT count(*)
FROM access_events AS a
LEFT JOIN media_capture AS mc ON mc.media_id = a.media_id
LEFT JOIN ownership AS o
    ON o.device_id = a.device_id
    AND o.account_id = a.account_id
    AND o.owned_from <= coalesce(a.captured_at, mc.captured_at, a.ts)
    AND coalesce(a.captured_at, mc.captured_at, a.ts) < o.owned_to
WHERE o.account_id IS NULL
"""


# The statements of semantics.sql that (p) runs: macros, the binding tables, capture times.
NEEDED = re.compile(
    r"^CREATE OR REPLACE TEMP (MACRO|(TABLE|VIEW) (binding|ownership|media_capture) AS)",
    re.MULTILINE,
)


def views(world: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory database whose native tables are views over the world's Parquet files."""
    from leakaudit.schema import TABLES
    from leakaudit.store import DEFAULT_MEMORY_LIMIT

    con = duckdb.connect()  # the settings leakaudit's store uses, no tables
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
    for name, table in TABLES.items():
        files = sorted(glob.glob(f"{world}/{name}/*.parquet"))
        if not files:
            continue
        described = con.execute(f"DESCRIBE FROM read_parquet('{files[0]}')").fetchall()
        present = {row[0] for row in described}
        columns = ", ".join(
            (f'"{c.name}"::{c.type}' if c.name in present else f"NULL::{c.type}")
            + f' AS "{c.name}"'
            for c in table.columns
        )
        con.execute(
            f'CREATE VIEW "{name}" AS '
            + " UNION ALL ".join(
                f"SELECT {columns}, NULL::JSON AS _extra, '{path}' AS _source_file, "
                f"file_row_number + 1 AS _source_line, {i} AS _ingest_id, "
                f"({i}::BIGINT << 40) + file_row_number AS _rowno "
                f"FROM read_parquet('{path}', file_row_number = true)"
                for i, path in enumerate(files)
            )
        )
    return con


def semantics_on_views() -> str:
    from leakaudit.rules.loader import semantics_sql

    return re.sub(r"\browid\b", "_rowno", semantics_sql())


def child(mode: str, world: Path) -> None:
    """One measured process: (v) the whole rule run, or (p) the unavoidable part."""
    import leakaudit.rules.engine as engine
    from leakaudit.rules import load_packs, run_rules
    from leakaudit.store import Store

    con = views(world)
    sql = semantics_on_views()
    if mode == "v":
        engine.apply_semantics = lambda store: store.con.execute(sql)
        findings, _ = run_rules(Store(con, ":memory:", False), load_packs([]))
        print(f"findings {len(findings)}")
        return
    for statement in con.extract_statements(sql):
        if NEEDED.search(statement.query):
            con.execute(statement.query)
    print(f"events not the owner's {con.execute(EVENTS_NOT_OWNED).fetchall()[0][0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="holds world/ (Parquet)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", choices=("v", "p"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    world = args.workdir.resolve() / "world"
    if args.child:
        child(args.child, world)
        return 0
    me = [sys.executable, __file__, "--workdir", str(args.workdir)]
    runs = {
        "(c) floor scan": [sys.executable, "-c", bench.floor_code(world, "parquet")],
        "(d) full scan": [sys.executable, "-c", bench.full_scan_code(world, "parquet")],
        "(v) semantics + rules on views": [*me, "--child", "v"],
        "(p) binding, ownership, one event join": [*me, "--child", "p"],
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    rss: dict[str, float] = {}
    log = args.workdir / "in-place.log"
    for _ in range(args.repeat):
        for name, cmd in runs.items():
            run = bench.measure(cmd, log, Path.cwd(), keep_stdout=True)
            if run.code:
                print(run.stderr, file=sys.stderr)
                return 1
            times[name].append(run.seconds)
            rss[name] = max(rss.get(name, 0.0), run.rss_mb)
            last = run.stderr.strip().splitlines()[-1] if name.startswith(("(v)", "(p)")) else ""
            print(f"{name}: {run.seconds:.2f} s, {run.rss_mb:,.0f} MB, {last}", flush=True)
    floors = {"× (c)": "(c) floor scan", "× (d)": "(d) full scan"}
    print("\n" + bench.ratio_table(times, rss, floors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
