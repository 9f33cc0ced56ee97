"""Physical lines of a (possibly compressed) file, with their numbers, in Arrow batches.

The quarantine must name the exact physical line of every bad row, which no DuckDB reader
reports. So text inputs are also read here as raw lines: each chunk of bytes is read once
into a fresh NumPy buffer, split at `\\n` with NumPy, and handed to DuckDB as a zero-copy
Arrow binary array over that buffer. No Python loop touches a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa

CHUNK_BYTES = 32 << 20
NEWLINE = 0x0A
QUOTE = 0x22
CARRIAGE_RETURN = 0x0D


@dataclass(frozen=True)
class LineBatch:
    """Consecutive physical lines `first_line … first_line + count - 1` of one buffer.

    `data` holds the lines back to back, each with its `\\n` (the file's last line may have
    none); `starts` and `ends` are each line's offset and the offset of its `\\n`.
    """

    first_line: int
    data: np.ndarray  # uint8
    starts: np.ndarray
    ends: np.ndarray
    nbytes: int  # bytes of the file this batch covers, for progress

    @property
    def count(self) -> int:
        return len(self.starts)

    def line_numbers(self) -> pa.Array:
        return pa.array(np.arange(self.first_line, self.first_line + self.count))

    def framed(self) -> pa.BinaryArray:
        """Each line *with* its `\\n`, zero-copy over `data` (readers strip it)."""
        offsets = np.append(self.starts, len(self.data)).astype(np.int32)
        return pa.BinaryArray.from_buffers(
            pa.binary(), self.count, [None, pa.py_buffer(offsets), pa.py_buffer(self.data)]
        )

    @cached_property
    def lines(self) -> pa.BinaryArray:
        """Each line without its `\\n` (a `\\r` before it is kept); copies, so for few lines."""
        if not self.count:
            return pa.array([], pa.binary())
        offsets = np.empty(2 * self.count, dtype=np.int64)
        offsets[0::2] = self.starts
        offsets[1::2] = self.ends
        whole = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(),
            len(offsets) - 1,
            [None, pa.py_buffer(offsets), pa.py_buffer(self.data)],
        )
        return whole.take(pa.array(np.arange(0, len(offsets) - 1, 2))).cast(pa.binary())

    @cached_property
    def quote_at(self) -> np.ndarray:
        """Offsets of the `"` bytes in `data`."""
        return np.flatnonzero(self.data == QUOTE)

    @cached_property
    def quotes(self) -> np.ndarray:
        """Number of `"` bytes on each line (CSV record boundaries). Quotes are rare: found
        once, then counted per line by binary search."""
        return np.searchsorted(self.quote_at, self.ends) - np.searchsorted(
            self.quote_at, self.starts
        )

    @cached_property
    def blank(self) -> np.ndarray:
        """True where a line is empty (or only `\\r`)."""
        lengths = self.ends - self.starts
        safe = np.minimum(self.starts, max(len(self.data) - 1, 0))
        return (lengths == 0) | ((lengths == 1) & (self.data[safe] == CARRIAGE_RETURN))


def open_stream(path: Path, compression: str | None) -> pa.NativeFile:
    """The file's bytes, decompressed on the fly (gzip, zstd or none)."""
    return pa.input_stream(str(path), compression=compression)


@dataclass
class LineCounter:
    """Physical lines of a byte stream fed block by block (a last line without `\\n`
    counts), at memchr speed; `update` like hashlib's, so one read can serve both."""

    newlines: int = 0
    last: bytes = b"\n"

    def update(self, block: bytes) -> None:
        self.newlines += block.count(b"\n")
        if block:
            self.last = block[-1:]

    @property
    def lines(self) -> int:
        return self.newlines + (self.last != b"\n")


def split_lines(data: np.ndarray, first_line: int = 1, nbytes: int = 0) -> LineBatch:
    """Split bytes that end at a line end (or end of file) into lines, vectorised."""
    ends = np.flatnonzero(data == NEWLINE)
    if len(data) and (not len(ends) or ends[-1] != len(data) - 1):
        ends = np.append(ends, len(data))  # last line without a newline
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.zeros(0, dtype=np.int64)
    return LineBatch(first_line, data, starts, ends, nbytes)


def _fill(stream: pa.NativeFile, buf: np.ndarray, start: int) -> int:
    """Read into `buf[start:]` until full or end of file; returns the bytes now in `buf`."""
    view = memoryview(buf)
    filled = start
    while filled < len(buf):
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled


def _after_last_newline(data: np.ndarray) -> int:
    """Offset just past the last `\\n` in `data` (0 when none), searching from the end."""
    window = 1 << 16
    end = len(data)
    while end > 0:
        start = max(0, end - window)
        hits = np.flatnonzero(data[start:end] == NEWLINE)
        if len(hits):
            return start + int(hits[-1]) + 1
        end, window = start, window * 4
    return 0


def iter_lines(
    path: Path, compression: str | None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[LineBatch]:
    """Yield the file's physical lines in batches, numbered from 1.

    Each batch owns a fresh buffer (Arrow arrays handed to DuckDB point into it); only the
    partial line at a chunk's end is copied, to the start of the next buffer.
    """
    line_no = 1
    carry = np.zeros(0, dtype=np.uint8)
    size = chunk_bytes
    with open_stream(path, compression) as stream:
        while True:
            buf = np.empty(max(size, len(carry) + chunk_bytes), dtype=np.uint8)
            buf[: len(carry)] = carry
            filled = _fill(stream, buf, len(carry))
            read = filled - len(carry)
            if filled == len(carry):  # end of file
                break
            data = buf[:filled]
            cut = _after_last_newline(data)
            if not cut:  # a line longer than the buffer: read on
                carry = data.copy()
                continue
            carry = data[cut:].copy()
            batch = split_lines(data[:cut], line_no, read)
            line_no += batch.count
            yield batch
    if len(carry):
        yield split_lines(carry, line_no, 0)
