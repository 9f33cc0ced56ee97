"""Writing the same rows as CSV, JSON Lines or Parquet, optionally compressed, for ingest tests."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

FORMATS = ("csv", "jsonl", "parquet")
COMPRESSIONS = (None, "gzip", "zstd")
SUFFIX = {None: "", "gzip": ".gz", "zstd": ".zst"}


def encode(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> bytes:
    """Rows (all values str or None) as the bytes of one file."""
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if r.get(c) is None else r[c] for c in columns] for r in rows])
        return buf.getvalue().encode()
    if fmt == "jsonl":
        return b"".join(json.dumps({c: r.get(c) for c in columns}).encode() + b"\n" for r in rows)
    table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def compress(data: bytes, compression: str | None) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def cut_line(cut: bytes, compression: str) -> int:
    """The line a compressed file cut short stops in: every byte the decompressor can still
    give (zlib's or zstandard's own, not the ingest's pyarrow), its lines counted."""
    if compression == "gzip":
        prefix = zlib.decompressobj(wbits=31).decompress(cut)
    else:
        prefix = zstandard.ZstdDecompressor().decompressobj().decompress(cut)
    return max(prefix.count(b"\n") + (not prefix.endswith(b"\n")), 1)


def write_table(
    directory: Path,
    name: str,
    rows: list[dict[str, Any]],
    fmt: str,
    columns: list[str] | None = None,
    compression: str | None = None,
) -> Path:
    """Write `rows` to `directory/name.<fmt>[.gz|.zst]` and return the path."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    path = directory / f"{name}.{fmt}{SUFFIX[compression]}"
    path.write_bytes(compress(encode(rows, fmt, columns), compression))
    return path
