"""Which files to ingest, into which table, in which format (SPEC §1).

A file's table comes from `--as`, else its name (`devices.csv`,
`access_events-2024-06-01.jsonl.gz`), else the folder it sits in (`staff_access/part-1.parquet`).
Format comes from the extension; compression from the file's magic bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from leakaudit.errors import InputError
from leakaudit.schema import TABLES

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
FORMAT_WORDS = ".csv, .jsonl/.ndjson/.json or .parquet, optionally with .gz or .zst"
COMPRESSION_SUFFIXES: dict[str, str] = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".zst": "zstd",
    ".zstd": "zstd",
}
MAGIC: tuple[tuple[bytes, str], ...] = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"))

# Longest names first, so `staff_access…` never falls to `staff`.
_BY_LENGTH = sorted(TABLES, key=len, reverse=True)
_SEPARATOR = re.compile(r"[-_.0-9]")


@dataclass(frozen=True)
class SourceFile:
    """One input file and how to read it."""

    path: Path
    table: str
    format: str  # csv | jsonl | parquet
    compression: str | None  # gzip | zstd | None
    lines: int | None = None  # physical lines, when counted while hashing (uncompressed text)

    @property
    def display(self) -> str:
        """The path as recorded in provenance: as the user named it, with `/` separators."""
        return self.path.as_posix()


def sniff_compression(path: Path) -> str | None:
    """gzip or zstd by magic bytes (extensions lie), else None."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise _unreadable(exc, path, "file") from exc
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


def _unreadable(exc: OSError, path: str | os.PathLike[str], kind: str) -> InputError:
    """An OS error on an input as the one line users see: a file or folder they named (or
    one inside a folder) that cannot be read is an input error, not a crash."""
    return InputError(f"Cannot read this {kind}: {exc.strerror or exc}.", Path(path))


def _files_under(root: Path) -> list[Path]:
    """Every file under a folder, each once. Nothing an audit should read is skipped unsaid:
    a subfolder that cannot be listed is an error (`Path.rglob` skips it), and a name with an
    input extension that is no regular file (a pipe, a broken link) is an error too.

    Linked subfolders are walked, after the folder's own tree (sorted, then each link's in
    name order), and only when they lead to a folder not walked yet: a link to a folder of
    the tree (a loop, a second name) adds nothing, and a file keeps its own path, so its
    table still comes from its real folder's name."""

    def refuse(exc: OSError) -> None:
        raise _unreadable(exc, exc.filename or root, "folder") from exc

    found: list[Path] = []
    walked: set[str] = set()
    top_real = os.path.realpath(root)
    tops = [root]
    while tops:
        tree: list[Path] = []
        links: list[Path] = []
        for folder, subfolders, names in os.walk(tops.pop(0), onerror=refuse):
            real = os.path.realpath(folder)
            above = real != top_real and Path(top_real).is_relative_to(real)  # holds the root
            if real in walked or above:
                subfolders.clear()
                continue
            walked.add(real)
            links += [Path(folder, d) for d in subfolders if os.path.islink(Path(folder, d))]
            for path in (Path(folder, name) for name in names):
                try:
                    if path.is_file():
                        tree.append(path)
                    elif split_name(path.name)[1] is not None:
                        raise _not_a_file(path)
                except OSError as exc:  # a folder that can be listed but not searched
                    raise _unreadable(exc, path, "file") from exc
        found += sorted(tree)
        tops += sorted(links)
    return found


def _not_a_file(path: Path) -> InputError:
    """Why a name that looks like an input cannot be read as one."""
    if not path.exists():
        return InputError("A broken link: what it points to is not there.", path)
    # Read twice (its sha256, then its rows), a pipe is empty the second time, and with no
    # writer opening it blocks where not even SIGTERM stops the run.
    return InputError(
        "Not a regular file (a named pipe, device or socket); an input is read more than "
        "once, so save it to a file first.",
        path,
    )


def split_name(name: str) -> tuple[str, str | None, str | None]:
    """`access_events-1.jsonl.gz` → (`access_events-1`, `jsonl`, `gzip`)."""
    stem, compression = name, None
    for suffix, comp in COMPRESSION_SUFFIXES.items():
        if stem.lower().endswith(suffix):
            stem, compression = stem[: -len(suffix)], comp
            break
    for suffix, fmt in FORMATS.items():
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)], fmt, compression
    return stem, None, compression


def table_from_name(stem: str) -> str | None:
    """`access_events-2024-06-01` → `access_events`; None when no table name matches."""
    lowered = stem.lower()
    for table in _BY_LENGTH:
        if lowered == table or (
            lowered.startswith(table) and _SEPARATOR.match(lowered, len(table))
        ):
            return table
    return None


def resolve(path: Path, as_table: str | None) -> SourceFile | None:
    """How to read one file; None for files that are not tabular inputs (README, scripts)."""
    stem, fmt, _ = split_name(path.name)
    if fmt is None:
        return None
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept by os as lone surrogates
        raise InputError(
            "The file name is not valid UTF-8; rename the file (its name is recorded as text "
            "with every row).",
            os.fsencode(path).decode("utf-8", "backslashreplace"),  # the bytes, as \xNN
        ) from None
    if fmt != "jsonl" and "\\" in str(path) and any(c in str(path) for c in "*?["):
        # DuckDB's readers (CSV, Parquet) glob their path and take `\` as a separator, so no
        # escape keeps such a name literal; it would fail later as "no files found".
        raise InputError(
            "DuckDB's CSV and Parquet readers cannot open a path that holds both a backslash "
            "and a glob character (* ? or [); rename the file or its folder.",
            path,
        )
    table = as_table or table_from_name(stem) or table_from_name(path.parent.name)
    if table is None:
        raise InputError(
            "Cannot tell which table this file belongs to: name it after a table "
            f"({', '.join(TABLES)}), put it in a folder named after one, or pass --as TABLE.",
            path,
        )
    return SourceFile(path, table, fmt, sniff_compression(path))


def discover(paths: list[str | os.PathLike[str]], as_table: str | None = None) -> list[SourceFile]:
    """Every input file under `paths`, folders walked in sorted order, each file once."""
    if as_table is not None and as_table not in TABLES:
        raise InputError(f"Unknown table {as_table!r} for --as; choose one of {', '.join(TABLES)}.")
    found: list[SourceFile] = []
    seen: set[Path] = set()
    for raw in paths:
        root = Path(raw)
        try:
            exists, is_dir = root.exists(), root.is_dir()
        except OSError as exc:  # e.g. inside a folder that cannot be searched
            raise _unreadable(exc, root, "file or folder") from exc
        if not exists:
            raise InputError("No such file or folder.", root)
        if is_dir:
            candidates = _files_under(root)
            explicit = False
            if not any(split_name(path.name)[1] for path in candidates):
                # A wrong path or an export that never arrived, not "nothing new tonight".
                raise InputError(f"No input files in this folder: expected {FORMAT_WORDS}.", root)
        elif not root.is_file():
            raise _not_a_file(root)
        else:
            candidates, explicit = [root], True
        for path in candidates:
            key = path.resolve()
            if key in seen:
                continue
            source = resolve(path, as_table)
            if source is None:
                if explicit:
                    raise InputError(
                        f"Unknown input format: expected {FORMAT_WORDS}.",
                        path,
                    )
                continue
            seen.add(key)
            found.append(source)
    return found
