"""Write a findings document to report files: what `audit -o` and `report -o` both call."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from leakaudit.errors import ConfigError
from leakaudit.findings import FindingsDocument
from leakaudit.reports import RenderOptions, Reporter, renderer_for
from leakaudit.reports.terminal import terminal_text

Target = tuple[str | Path, str | None]  # a file and its format (None: from the extension)
_STDOUT_NAMES = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def resolve_targets(targets: Sequence[Target]) -> list[tuple[Path, Reporter]]:
    """Each target's reporter, checked before any work: an unknown format or extension, a
    file named twice, a folder, a file in a folder that is not there or that refuses new
    files is a ConfigError."""
    resolved: list[tuple[Path, Reporter]] = []
    seen: set[Path] = set()
    for target, fmt in targets:
        path = Path(target)
        where = real_path(path)
        if where in seen:
            raise ConfigError(f"The report file {path} is given twice.")
        seen.add(where)
        resolved.append((path, renderer_for(path, fmt)))
        _refuse_unwritable_place(path)
    return resolved


def _refuse_unwritable_place(path: Path) -> None:
    """A report that could never be written fails now, not after an hour of ingest and rules
    (and not after the reports before it were written)."""
    target = _stat(path)
    folder = _stat(path.parent) if target is None else None
    if target is not None and stat.S_ISDIR(target.st_mode):
        problem = errno.EISDIR
    elif target is None and folder is None:
        problem = errno.ENOENT
    elif folder is not None and not stat.S_ISDIR(folder.st_mode):
        problem = errno.ENOTDIR
    else:
        if target is None or stat.S_ISREG(target.st_mode):
            _probe(path)  # a folder that refuses files (permissions, a read-only mount)
        return
    raise _cannot_write(path, os.strerror(problem))


def _probe(path: Path) -> None:
    """Create and remove a temporary file beside the report now, as the write will later."""
    try:
        tmp, fd = _new_temp_file(path)
    except OSError as exc:
        raise _cannot_write(path, exc.strerror or str(exc)) from exc
    os.close(fd)
    _discard(tmp)


def _cannot_write(path: Path, reason: str) -> ConfigError:
    return ConfigError(f"Cannot write the report: {reason}.", path=path)


def real_path(path: Path) -> Path:
    """`path` with symlinks followed; a link that leads back to itself is a ConfigError."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError for a loop
        raise ConfigError(f"Cannot follow this path: {exc}.", path) from exc


def writes_to_stdout(target: str | Path) -> bool:
    """Whether a report written to `target` lands on this process's standard output."""
    return _standard_stream(_stat(Path(target))) is sys.stdout


def _stage(path: Path, data: bytes) -> Path | None:
    """Write one report to a temporary file beside its target, returned for `_land`; a
    standard stream or a device is written now instead (None). An OSError becomes a one-line
    ConfigError naming the report."""
    try:
        target = _stat(path)
        standard = _standard_stream(target)
        if getattr(standard, "closed_at_start", False) and str(path) not in _STDOUT_NAMES:
            # `>&-` holds descriptor 1 on the null device: `-o /dev/null` is that device,
            # not the closed standard output, and is written into like any device.
            standard = None
        if standard is not None:
            # /dev/stdout while the shell redirects it to a file: that file is regular, but
            # renaming over the path would replace /dev/stdout itself, and opening it anew
            # would start at offset 0, under what this process writes there next.
            write_whole(standard, _for_terminal(data) if _isatty(standard) else data)
            return None
        if target is not None and not (
            stat.S_ISREG(target.st_mode) or stat.S_ISDIR(target.st_mode)
        ):
            # /dev/stdout, /dev/null, a named pipe: renaming over it would replace the device
            # with a regular file (as root, for every later program), so write into it.
            with open(path, "wb") as out:
                out.write(_for_terminal(data) if out.isatty() else data)
            return None
        tmp, fd = _new_temp_file(path)
        try:
            with open(fd, "wb") as out:
                out.write(data)
        except BaseException:  # a Ctrl-C too: no stray temporary file
            _discard(tmp)
            raise
        return tmp
    except OSError as exc:
        raise _cannot_write(path, exc.strerror or str(exc)) from exc


def _land(tmp: Path, path: Path) -> None:
    """Rename a staged report over its target: a reader never sees half a report."""
    try:
        os.replace(tmp, real_path(path))
    except OSError as exc:
        raise _cannot_write(path, exc.strerror or str(exc)) from exc


def _new_temp_file(path: Path) -> tuple[Path, int]:
    """A new temporary file for a report, open for writing: beside the file a symlink `path`
    leads to (so the link stays a link, and a dangling one gets its file), with a random
    name made with O_EXCL, so no file or symlink planted there is written through, and two
    runs (or two containers that are both PID 1) never share one. Its mode is the umask's,
    as the report's own would be."""
    dest = real_path(path)
    stem = os.fsencode(dest.name)[:200].decode("utf-8", errors="ignore")  # 255-byte names
    while True:
        tmp = dest.with_name(f".{stem}.{secrets.token_hex(8)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def _discard(tmp: Path) -> None:
    # The cleanup can fail for the same reason as the write (the parent is a file, or gone);
    # that must not hide the one-line error behind a traceback.
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):  # closed
        return False


def _for_terminal(data: bytes) -> bytes:
    """A report bound for a terminal (`-o /dev/stdout` or `-o /dev/tty` on one): shown as
    standard output shows it, control characters from logs as \\xNN, never obeyed."""
    text = data.decode("utf-8", errors="surrogateescape")
    return terminal_text(text).encode("utf-8", errors="surrogateescape")


def write_whole(stream: TextIO, data: bytes) -> None:
    """All of `data` into the bytes under `stream`, after what was printed there before.

    Under PYTHONUNBUFFERED (`python -u`) those bytes go straight to the raw file, whose one
    write() may take only part (a reader that went away mid-way, a full disk) and raise
    nothing; the rest is written until all is, or the failure is raised."""
    stream.flush()
    out = stream.buffer
    rest = memoryview(data)
    while rest:
        written = out.write(rest)
        if written is None:  # a non-blocking stream that is full
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        rest = rest[written:]
    out.flush()


def _stat(path: Path) -> os.stat_result | None:
    """What `path` is, symlinks followed; None when nothing is there yet."""
    try:
        return os.stat(path)
    except OSError:
        return None


def _standard_stream(target: os.stat_result | None) -> TextIO | None:
    """This process's standard output or error when `target` is the very file it writes to,
    whatever that is: a terminal, a pipe, or a file it was redirected to."""
    if target is None:
        return None
    for stream in (sys.stdout, sys.stderr):
        try:
            if os.path.samestat(target, os.fstat(stream.fileno())):
                return stream
        except (OSError, ValueError, AttributeError):  # replaced (tests) or closed
            continue
    return None


def write_reports(
    doc: FindingsDocument,
    targets: Sequence[Target],
    options: RenderOptions,
    on_written: Callable[[Path, Reporter], None] | None = None,
) -> list[tuple[Path, Reporter]]:
    """Render `doc` once per target and write the files; returns what was written.

    Every report is rendered before any file is written, so a renderer failure writes nothing.
    Then every report file is written to a temporary file beside it, and only when all are
    there are they renamed over their targets: a full disk or a folder that refuses files
    leaves last night's reports as they were, none replaced, rather than a fresh JSON beside
    a stale SARIF (a rename failing after others landed can still leave a mix). A standard
    stream or device is written as its turn comes. `on_written` hears of each report as it
    lands, so after a failure the caller can say which exist. Renderer warnings (e.g.
    SARIF's result cap) are appended to `options.warnings`.
    """
    resolved = resolve_targets(targets)
    rendered = [(path, reporter, reporter.render(doc, options)) for path, reporter in resolved]
    staged: list[tuple[Path, Reporter, Path | None]] = []
    try:
        for path, reporter, data in rendered:
            tmp = _stage(path, data)
            staged.append((path, reporter, tmp))
            if tmp is None and on_written is not None:
                on_written(path, reporter)
        for path, reporter, tmp in staged:
            if tmp is not None:
                _land(tmp, path)
                if on_written is not None:
                    on_written(path, reporter)
    finally:
        for _, _, tmp in staged:
            if tmp is not None:
                _discard(tmp)
    return resolved
