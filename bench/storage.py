"""Experiment (issue 4): where the ingest's time goes, and what a different store would save.

`bench/audit.py` shows that storing the rows is most of a full audit. This script asks why,
side by side in one run, each measurement a fresh process (wall time, peak RSS):

- (c) the floor scan of `bench/audit.py`;
- leakaudit's own ingest of the world (`ingest_paths`) into (i-file) a database file, as every
  audit does today, (i-mem) DuckDB's uncompressed in-memory database, and (i-memc) an
  in-memory database that compresses like a file does;
- (a-file) and (a-mem): ingest, shared semantics and all 15 rules (no report), into a file
  and into memory: would a throw-away `:memory:` store make `leakaudit audit WORLD` faster?
- with `--format csv` also (l-each) DuckDB alone inserting every access_events CSV file with
  one statement per file (the shape of leakaudit's CSV ingest) against (l-one) one statement
  for all files, both with insertion order kept (leakaudit numbers lines by it).

Needs a world from `python bench/audit.py --workdir DIR --generate-only [--format csv]`.

    python bench/storage.py --workdir /tmp/la-audit --repeat 2
    python bench/storage.py --workdir /tmp/la-audit-csv --format csv --repeat 2
"""

from __future__ import annotations

import argparse
import glob
import shutil
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import audit as bench  # bench/audit.py: the floor scan and the measuring

from leakaudit.store import DEFAULT_MEMORY_LIMIT, Store

MODES = ("i-file", "i-mem", "i-memc", "a-file", "a-mem", "l-each", "l-one")


def _store(mode: str, scratch: Path) -> Store:
    """A fresh store: a file in `scratch`, or in memory (spilling to `scratch`)."""
    if mode.endswith("file"):
        store = Store.open(str(scratch / "bench.duckdb"))
    else:
        con = duckdb.connect()
        if mode.endswith("memc"):
            con.execute("ATTACH ':memory:' AS compressed (COMPRESS)")
            con.execute("USE compressed")
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
        store = Store(con, ":memory:", False)
        store.migrate()
    store.con.execute(f"SET temp_directory = '{scratch / 'spill'}'")
    return store


def _spilled(con: duckdb.DuckDBPyConnection) -> str:
    used, spilled = con.execute(
        "SELECT sum(memory_usage_bytes), sum(temporary_storage_bytes) FROM duckdb_memory()"
    ).fetchall()[0]
    return f"buffers {used / 1e9:.2f} GB, spilled {spilled / 1e9:.2f} GB"


def child(mode: str, world: Path, fmt: str, scratch: Path) -> None:
    """One measured process; its phases go to standard error."""
    if mode.startswith("l-"):
        _load_csv(mode, world, scratch)
        return
    from leakaudit.ingest import ingest_paths
    from leakaudit.rules import load_packs, run_rules

    packs = load_packs([])
    store = _store(mode, scratch)
    started = time.perf_counter()
    report = ingest_paths(store, [world])
    ingested = time.perf_counter()
    print(
        f"ingest {ingested - started:.2f} s, {report.rows:,} rows, {_spilled(store.con)}",
        file=sys.stderr,
    )
    if mode.startswith("a-"):
        findings, _ = run_rules(store, packs)
        print(
            f"rules {time.perf_counter() - ingested:.2f} s, {len(findings):,} findings, "
            f"{_spilled(store.con)}",
            file=sys.stderr,
        )
    store.close()


def _load_csv(mode: str, world: Path, scratch: Path) -> None:
    """DuckDB alone: every cell VARCHAR, as leakaudit's CSV reader reads them."""
    files = sorted(glob.glob(f"{world}/access_events/*.csv"))
    con = duckdb.connect(str(scratch / "load.duckdb"))
    con.execute(f"SET memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
    header = Path(files[0]).open().readline().strip().split(",")
    columns = {f"c{i}": "VARCHAR" for i in range(len(header))}
    reader = (
        "read_csv($files, header = false, skip = 1, auto_detect = false, columns = $columns, "
        "delim = ',', quote = '\"', escape = '\"')"
    )
    con.execute(
        f"CREATE TABLE t AS SELECT * FROM {reader} LIMIT 0", {"files": files[0], "columns": columns}
    )
    con.execute("BEGIN")
    for group in ([f] for f in files) if mode == "l-each" else [files]:
        con.execute(f"INSERT INTO t SELECT * FROM {reader}", {"files": group, "columns": columns})
    con.execute("COMMIT")
    rows = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    print(f"{len(files)} files, {rows:,} rows", file=sys.stderr)
    con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="holds world/")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    world = workdir / "world"
    scratch = workdir / "storage-scratch"
    if args.child:
        child(args.child, world, args.format, scratch)
        return 0
    me = [sys.executable, __file__, "--workdir", str(workdir), "--format", args.format]
    modes = [m for m in MODES if args.format == "csv" or not m.startswith("l-")]
    runs = {"(c)": [sys.executable, "-c", bench.floor_code(world, args.format)]}
    runs.update({f"({m})": [*me, "--child", m] for m in modes})
    times: dict[str, list[float]] = {name: [] for name in runs}
    rss: dict[str, float] = {}
    log = workdir / "storage.log"
    for _ in range(args.repeat):
        for name, cmd in runs.items():
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            run = bench.measure(cmd, log, Path.cwd())
            if run.code:
                print(run.stderr, file=sys.stderr)
                return 1
            times[name].append(run.seconds)
            rss[name] = max(rss.get(name, 0.0), run.rss_mb)
            said = "; ".join(run.stderr.strip().splitlines())
            print(f"{name}: {run.seconds:.2f} s, {run.rss_mb:,.0f} MB. {said}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    print("\n" + bench.ratio_table(times, rss, {"× (c)": "(c)"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
