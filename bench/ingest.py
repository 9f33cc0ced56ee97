"""Ingest benchmark (issue 2): `leakaudit ingest` against DuckDB's own readers, side by side.

Generates N `access_events` rows (deterministic, vectorised: NumPy + Arrow, no per-row Python)
as CSV, JSON Lines and Parquet, then for each format runs, as separate subprocesses measured
the same way (wall time, and peak RSS from GNU time):

  (a) `leakaudit ingest FILE --db fresh.duckdb --quiet`
  (b) `python -c` DuckDB: `CREATE TABLE t AS SELECT * FROM read_csv/read_json/read_parquet(FILE)`
      into a fresh database file.

Each pair runs `--repeat` times in alternating order; the table shows the median. Row counts
are checked afterwards (every row ingested, nothing quarantined), so neither side can cheat.
Targets (issue 2): leakaudit within 2x raw DuckDB per format, peak RSS under 2 GB.

    python bench/ingest.py                       # 10 M rows, temp dir, all formats
    python bench/ingest.py --rows 1000000 --formats csv --workdir /tmp/la-bench

This is a script, not a test. Exit status 1 when a target fails, 2 on a wrong row count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

RATIO_TARGET = 2.0
RSS_TARGET_MB = 2048
CHUNK_ROWS = 1_000_000
GENERATOR_VERSION = 1  # bump when the generated data changes, so old files are not reused
FORMATS = ("csv", "jsonl", "parquet")
GNU_TIME = "/usr/bin/time"  # apt-get install time
READERS = {"csv": "read_csv", "jsonl": "read_json", "parquet": "read_parquet"}

ACTIONS = ("notify", "thumbnail", "list", "snapshot", "clip", "live", "download")
ACTION_P = (0.30, 0.25, 0.15, 0.10, 0.10, 0.05, 0.05)
OUTCOMES = ("served", "denied", "error", "Served", "DENIED")
OUTCOME_P = (0.92, 0.045, 0.02, 0.01, 0.005)
OFFSETS = (
    ("Z", 0),
    ("+00:00", 0),
    ("+02:00", 120),
    ("-05:00", -300),
    ("+05:30", 330),
    ("-08:00", -480),
)
USER_AGENTS = (
    "CamApp/5.12.0 (iPhone; iOS 17.4; Scale/3.00)",
    "CamApp/5.11.2 (Android 14; Pixel 8)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    'Version/17.4 Safari/605.1.15 "beta"',
    "okhttp/4.12.0",
    "partner-bridge/2.3 (+https://partner.example/bot)",
    "CamTV/1.4 (tvOS 17)",
    "python-requests/2.31.0",
)
ACCOUNTS = 200_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SPAN_MS = 90 * 86_400_000


# -- data generation ------------------------------------------------------------------------
def _prefixed(prefix: str, numbers: np.ndarray, width: int, mask: np.ndarray | None = None):
    """`prefix` + zero-padded decimal of each number, as an Arrow string array (vectorised)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    out = pc.binary_join_element_wise(prefix, digits, "")
    if mask is not None:
        out = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), out)
    return out


def _chunk(seed: int, index: int, first_row: int, n: int, total: int) -> pa.RecordBatch:
    rng = np.random.default_rng([seed, index])
    rows = np.arange(first_row, first_row + n, dtype=np.int64)
    # Time-ordered like a real export, with jitter and a mix of UTC offsets in the text.
    utc_ms = START_MS + rows * SPAN_MS // max(total, 1) + rng.integers(0, 5_000, n)
    offset_idx = rng.integers(0, len(OFFSETS), n)
    offset_min = np.array([m for _, m in OFFSETS], dtype=np.int64)[offset_idx]
    local = pa.array(utc_ms + offset_min * 60_000, pa.timestamp("ms"))
    suffix = pa.array([s for s, _ in OFFSETS], pa.string()).take(pa.array(offset_idx))
    ts = pc.binary_join_element_wise(pc.strftime(local, format="%Y-%m-%dT%H:%M:%S"), suffix, "")

    account = rng.integers(0, ACCOUNTS, n)
    device = account * 2 + rng.integers(0, 2, n)
    foreign = rng.random(n) < 0.001  # a few requests for another account's device
    device[foreign] = rng.integers(0, 2 * ACCOUNTS, int(foreign.sum()))
    action_idx = rng.choice(len(ACTIONS), n, p=ACTION_P)
    action = pa.array(ACTIONS, pa.string()).take(pa.array(action_idx))
    outcome_idx = rng.choice(len(OUTCOMES), n, p=OUTCOME_P)
    no_outcome = rng.random(n) < 0.03  # missing → SPEC default "served"
    outcome = pa.array(OUTCOMES, pa.string()).take(pa.array(outcome_idx, mask=no_outcome))
    live_or_list = (action_idx == ACTIONS.index("live")) | (action_idx == ACTIONS.index("list"))
    media_id = _prefixed("med-", rng.integers(0, 10**9, n), 9, mask=live_or_list)
    session_id = _prefixed("sess-", rng.integers(0, 10**10, n), 10)
    octets = [pc.cast(pa.array(rng.integers(lo, 255, n)), pa.string()) for lo in (1, 0, 0, 1)]
    client_ip = pc.binary_join_element_wise(*octets, ".")
    ua_idx = rng.integers(0, len(USER_AGENTS), n)
    user_agent = pa.array(USER_AGENTS, pa.string()).take(pa.array(ua_idx))
    size = rng.lognormal(11, 2, n).astype(np.int64)
    no_bytes = (action_idx == ACTIONS.index("notify")) & (rng.random(n) < 0.5)
    return pa.RecordBatch.from_arrays(
        [
            ts,
            _prefixed("acct-", account, 6),
            _prefixed("cam-", device, 7),
            action,
            outcome,
            media_id,
            session_id,
            client_ip,
            user_agent,
            pa.array(size, mask=no_bytes),
        ],
        names=[
            "ts",
            "account_id",
            "device_id",
            "action",
            "outcome",
            "media_id",
            "session_id",
            "client_ip",
            "user_agent",
            "bytes",
        ],
    )


def generate(workdir: Path, rows: int, seed: int, formats: list[str]) -> dict[str, Path]:
    """Write the files (reused when a previous run left identical ones); returns paths."""
    paths = {fmt: workdir / f"access_events.{fmt}" for fmt in FORMATS}
    manifest = workdir / "manifest.json"
    wanted = {"rows": rows, "seed": seed, "version": GENERATOR_VERSION}
    if (
        manifest.exists()
        and json.loads(manifest.read_text()) == wanted
        and all(paths[f].exists() for f in FORMATS)
    ):
        print(f"reusing generated files in {workdir}", file=sys.stderr)
        return {f: paths[f] for f in formats}
    manifest.unlink(missing_ok=True)
    started = time.perf_counter()
    csv_writer = parquet_writer = None
    try:
        for index, first in enumerate(range(0, rows, CHUNK_ROWS)):
            batch = _chunk(seed, index, first, min(CHUNK_ROWS, rows - first), rows)
            if csv_writer is None:
                csv_writer = pa_csv.CSVWriter(str(paths["csv"]), batch.schema)
                parquet_writer = pq.ParquetWriter(str(paths["parquet"]), batch.schema)
            csv_writer.write_batch(batch)
            parquet_writer.write_batch(batch)
    finally:
        if csv_writer is not None:
            csv_writer.close()
        if parquet_writer is not None:
            parquet_writer.close()
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{paths['parquet']}')) "
        f"TO '{paths['jsonl']}' (FORMAT json)"
    )
    con.close()
    manifest.write_text(json.dumps(wanted))
    print(
        f"generated {rows:,} rows x 3 formats in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return {f: paths[f] for f in formats}


# -- measuring ------------------------------------------------------------------------------
@dataclass
class Run:
    seconds: float
    peak_rss_mb: float


RAW_SCRIPT = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE TABLE t AS SELECT * FROM {sys.argv[3]}($path)", {"path": sys.argv[2]})
con.close()
"""


def snapshot(rev: str, workdir: Path) -> tuple[str, dict[str, str]]:
    """Extract `leakaudit/` at `rev` into workdir; the env that makes subprocesses import it.

    Others may commit to the working tree while a long run goes on; a snapshot keeps every
    run of one bench on the same code.
    """
    repo = Path(__file__).resolve().parents[1]
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = workdir / f"snapshot-{sha}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", sha, "leakaudit"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH")) if p)
    return sha, env


ENV: dict[str, str] | None = None  # the environment leakaudit runs in (a snapshot, or ours)


def measure(argv: list[str]) -> Run:
    """Run a subprocess; its wall time and its own peak RSS.

    The peak comes from GNU time (`%M`): `ru_maxrss` from `os.wait4` on a child of this
    process would include this process's own peak (Linux carries the pre-exec high-water mark
    across a vfork/exec), which after generating the data is hundreds of MB.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        started = time.perf_counter()
        proc = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", out.name, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
            env=ENV,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(
                f"command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout.decode()}"
            )
        peak_kb = int(out.read().split()[-1])
    return Run(elapsed, peak_kb / 1024)


def _fresh_db(workdir: Path, name: str) -> Path:
    db = workdir / f"{name}-{os.getpid()}.duckdb"  # two benches may share a workdir
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    return db


def _drop_db(db: Path) -> None:
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)


def _count(db: Path, sql: str) -> list[int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [int(v) for v in con.execute(sql).fetchall()[0]]
    finally:
        con.close()


def run_leakaudit(leakaudit: str, path: Path, workdir: Path, rows: int) -> Run:
    db = _fresh_db(workdir, "leakaudit")
    run = measure([leakaudit, "ingest", str(path), "--db", str(db), "--quiet"])
    got, rejected = _count(
        db, "SELECT (SELECT count(*) FROM access_events), (SELECT count(*) FROM quarantine)"
    )
    _drop_db(db)
    if got != rows or rejected:
        sys.exit(f"leakaudit ingested {got:,} rows ({rejected:,} quarantined), expected {rows:,}")
    return run


def run_raw(fmt: str, path: Path, workdir: Path, rows: int) -> Run:
    db = _fresh_db(workdir, "raw")
    run = measure([sys.executable, "-c", RAW_SCRIPT, str(db), str(path), READERS[fmt]])
    (got,) = _count(db, "SELECT count(*) FROM t")
    _drop_db(db)
    if got != rows:
        sys.exit(f"raw DuckDB loaded {got:,} rows, expected {rows:,}")
    return run


# -- report ---------------------------------------------------------------------------------
def _mb(n: float) -> str:
    return f"{n:,.0f}"


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:,.0f} MiB"


def machine() -> str:
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc), {mem_kb / 2**20:.1f} GiB RAM, "
        f"Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, pyarrow {pa.__version__}, {platform.platform()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to generate")
    parser.add_argument(
        "--workdir", type=Path, help="where files and databases go (default: a temp dir, removed)"
    )
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side (median shown)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--at-commit",
        metavar="REV",
        help="run leakaudit from a snapshot of this commit (default: the installed package)",
    )
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"unknown format(s): {', '.join(unknown)}")

    if not Path(GNU_TIME).exists():
        parser.error(f"{GNU_TIME} (GNU time) is needed for peak RSS: apt-get install time")
    leakaudit = shutil.which("leakaudit") or str(Path(sys.executable).with_name("leakaudit"))
    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="leakaudit-bench-")
        workdir = Path(temp.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(machine(), file=sys.stderr)
        if args.at_commit:
            global ENV
            sha, ENV = snapshot(args.at_commit, workdir)
            print(f"leakaudit from a snapshot of commit {sha}", file=sys.stderr)
        where = subprocess.run(
            [sys.executable, "-P", "-c", "import leakaudit; print(leakaudit.__file__)"],
            env=ENV,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"leakaudit imported from {where}", file=sys.stderr)
        files = generate(workdir, args.rows, args.seed, formats)
        sizes = {fmt: _size(path) for fmt, path in files.items()}
        results: dict[str, tuple[list[Run], list[Run]]] = {}
        for fmt in formats:
            ours: list[Run] = []
            raw: list[Run] = []
            for rep in range(args.repeat):
                order = ("leakaudit", "raw") if rep % 2 == 0 else ("raw", "leakaudit")
                for side in order:
                    if side == "leakaudit":
                        run = run_leakaudit(leakaudit, files[fmt], workdir, args.rows)
                        ours.append(run)
                    else:
                        run = run_raw(fmt, files[fmt], workdir, args.rows)
                        raw.append(run)
                    print(
                        f"{fmt:8} rep {rep + 1} {side:9} {run.seconds:8.2f} s "
                        f"{run.peak_rss_mb:8.0f} MB",
                        file=sys.stderr,
                        flush=True,
                    )
            results[fmt] = (ours, raw)
    finally:
        if temp is not None:
            temp.cleanup()

    print(
        "| format | rows | file size | leakaudit s | raw DuckDB s | ratio "
        "| leakaudit peak RSS MB | raw peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    ok = True
    verdicts = []
    for fmt, (ours, raw) in results.items():
        t_ours = statistics.median(r.seconds for r in ours)
        t_raw = statistics.median(r.seconds for r in raw)
        rss_ours = max(r.peak_rss_mb for r in ours)
        rss_raw = max(r.peak_rss_mb for r in raw)
        ratio = t_ours / t_raw
        print(
            f"| {fmt} | {args.rows:,} | {sizes[fmt]} | {t_ours:.1f} | {t_raw:.1f} | {ratio:.2f} "
            f"| {_mb(rss_ours)} | {_mb(rss_raw)} |"
        )
        ratio_ok = ratio <= RATIO_TARGET
        rss_ok = rss_ours < RSS_TARGET_MB
        ok &= ratio_ok and rss_ok
        verdicts.append(
            f"- {fmt}: ratio {ratio:.2f} <= {RATIO_TARGET}: {'PASS' if ratio_ok else 'FAIL'}; "
            f"peak RSS {_mb(rss_ours)} MB < {RSS_TARGET_MB} MB: {'PASS' if rss_ok else 'FAIL'}"
        )
    print()
    print("\n".join(verdicts))
    print(f"\n(median of {args.repeat} runs per side; peak RSS is the max over runs)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
