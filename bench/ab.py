"""Two versions of `leakaudit ingest` on one file, alternating: is a change faster?

    python bench/ab.py 3a21510 . /tmp/la-bench/j2m.jsonl --as access_events --rounds 3

Each side is a `git archive` snapshot of its revision (`.` is the working tree as
installed), run as its own subprocess into a fresh database; rounds alternate the order, so
a machine that slows down mid-run slows both. Prints each run's wall time and peak RSS
(GNU time) and the medians. A script, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as bench  # bench/ingest.py: snapshot, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="a git revision, or . for the working tree")
    parser.add_argument("new", help="a git revision, or . for the working tree")
    parser.add_argument("file", type=Path)
    parser.add_argument("--as", dest="table", help="the table, when the name does not say")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="snapshots and databases (default: temp)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        envs = {
            rev: (None if rev == "." else bench.snapshot(rev, workdir)[1])
            for rev in (args.old, args.new)
        }
        times: dict[str, list[float]] = {args.old: [], args.new: []}
        extra = ["--as", args.table] if args.table else []
        for i in range(args.rounds):
            order = (args.old, args.new) if i % 2 == 0 else (args.new, args.old)
            for rev in order:
                bench.ENV = envs[rev]
                db = workdir / "ab.duckdb"
                bench._drop_db(db)
                run = bench.measure(
                    ["leakaudit", "ingest", str(args.file), "--db", str(db), "--quiet", *extra]
                )
                bench._drop_db(db)
                times[rev].append(run.seconds)
                print(f"round {i + 1} {rev:>10}: {run.seconds:6.2f} s {run.peak_rss_mb:8,.0f} MB")
        for rev, values in times.items():
            print(f"median {rev:>10}: {statistics.median(values):6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
