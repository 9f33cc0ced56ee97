"""`query --format csv` cost: neutralising every text cell against pandas' plain `to_csv`.

Not a test. One frame of N rows (two text columns, one integer), both renderings timed side
by side, best of `--repeat`:

    python bench/query_csv.py --rows 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from leakaudit.cli.query import _spreadsheet_csv


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.rows
    frame = pd.DataFrame(
        {
            "account_id": [f"acct-{i:07d}" for i in range(n)],
            "user_agent": ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"] * n,
            "bytes": np.arange(n),
        }
    )
    safe = best(lambda: _spreadsheet_csv(frame), args.repeat)
    plain = best(lambda: frame.to_csv(index=False), args.repeat)
    print(f"rows {n:,}: query csv {safe:.2f} s, plain to_csv {plain:.2f} s, {safe / plain:.2f}x")


if __name__ == "__main__":
    main()
