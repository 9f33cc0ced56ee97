"""Physical lines of a (possibly compressed) file, with their numbers, in Arrow batches.

The quarantine must name the exact physical line of every bad row, which no DuckDB reader
reports. So every text input is also read here as raw lines: chunks of bytes are split at
`\\n` with NumPy and wrapped zero-copy as Arrow binary arrays. No Python loop touches a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

CHUNK_BYTES = 32 << 20
NEWLINE = 0x0A
QUOTE = 0x22
CARRIAGE_RETURN = 0x0D


@dataclass(frozen=True)
class LineBatch:
    """Consecutive physical lines `first_line … first_line + len(lines) - 1`."""

    first_line: int
    lines: pa.BinaryArray  # without the trailing `\n`; a `\r` before it is kept
    quotes: np.ndarray  # number of `"` bytes on each line (for CSV record boundaries)
    blank: np.ndarray  # True where a line is empty (or only `\r`)
    nbytes: int  # bytes of the file this batch covers, for progress
    count: int  # lines in the batch (`lines` is empty when not asked for)

    def line_numbers(self) -> pa.Array:
        return pa.array(np.arange(self.first_line, self.first_line + self.count))


def open_stream(path: Path, compression: str | None) -> pa.NativeFile:
    """The file's bytes, decompressed on the fly (gzip, zstd or none)."""
    return pa.input_stream(str(path), compression=compression)


def _split(data: bytes, first_line: int, nbytes: int, with_lines: bool) -> LineBatch:
    """Split a block that ends at a line end (or end of file) into lines, vectorised.

    `with_lines=False` skips building the Arrow array of lines (CSV needs only the counts).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == NEWLINE)
    if len(buf) and (not len(ends) or ends[-1] != len(buf) - 1):
        ends = np.append(ends, len(buf))  # last line without a newline
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.zeros(0, dtype=np.int64)
    lines = pa.array([], pa.binary())
    if with_lines and len(starts):
        # Lines are contiguous apart from the newline byte: a large-binary array over the
        # whole block with offsets [s0, e0, s1, e1, …], keeping the even slots.
        offsets = np.empty(2 * len(starts), dtype=np.int64)
        offsets[0::2] = starts
        offsets[1::2] = ends
        whole = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(),
            len(offsets) - 1,
            [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)],
        )
        lines = whole.take(pa.array(np.arange(0, len(offsets) - 1, 2))).cast(pa.binary())
    # Quotes are rare: find them once, then count per line by binary search.
    quote_at = np.flatnonzero(buf == QUOTE)
    quotes = np.searchsorted(quote_at, ends) - np.searchsorted(quote_at, starts)
    lengths = ends - starts
    safe_starts = np.minimum(starts, max(len(buf) - 1, 0))
    blank = (lengths == 0) | ((lengths == 1) & (buf[safe_starts] == CARRIAGE_RETURN))
    return LineBatch(first_line, lines, quotes, blank, nbytes, len(starts))


def iter_lines(
    path: Path, compression: str | None, chunk_bytes: int = CHUNK_BYTES, with_lines: bool = True
) -> Iterator[LineBatch]:
    """Yield the file's physical lines in batches, numbered from 1."""
    line_no = 1
    carry = b""
    with open_stream(path, compression) as stream:
        while True:
            block = stream.read(chunk_bytes)
            if not block:
                break
            data = carry + block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            batch = _split(data[: cut + 1], line_no, len(block), with_lines)
            line_no += batch.count
            yield batch
    if carry:
        yield _split(carry, line_no, 0, with_lines)
