"""Ctrl-C and SIGTERM stop a running DuckDB statement at once, not when it finishes.

Python runs a signal handler only when the main thread is back in Python; DuckDB checks for
it only between its tasks (and does not always stop then), so a long task (a big join in
`leakaudit query`) ran to its end, and a CI timeout's grace period could run out before the
cleanup. The CLI (`enable()`) has the C-level handler also write each signal to a pipe
(`signal.set_wakeup_fd`); a watcher thread reads it and, for SIGINT and SIGTERM only,
interrupts every open connection. The statement fails at once and the Python handler raises
KeyboardInterrupt as before (exit 130 or 143, cleanup included). An interrupt that lands
between statements does not last; one that lands on the rollback after the handler is met
by a second rollback (`Store.transaction`). Library use (notebooks) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import duckdb

STOPS = frozenset({signal.SIGINT, signal.SIGTERM})

_lock = threading.Lock()
_connections: set[duckdb.DuckDBPyConnection] = set()
_enabled = False


def _watch(read_fd: int) -> None:
    while data := os.read(read_fd, 512):
        if not STOPS.intersection(data):
            continue  # SIGCHLD, SIGWINCH, … with a Python handler: not a stop
        with _lock:
            open_now = list(_connections)
        for con in open_now:
            with contextlib.suppress(duckdb.Error):
                con.interrupt()


def enable() -> None:
    """Install the wakeup pipe and its watcher: once, from the main thread (where signals are
    handled), never over a wakeup fd someone else set (an event loop)."""
    global _enabled
    if _enabled or threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    if previous != -1:
        signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)
        return
    watcher = threading.Thread(target=_watch, args=(read_fd,), name="la-interrupts", daemon=True)
    watcher.start()
    _enabled = True


def watch(con: duckdb.DuckDBPyConnection) -> None:
    """Interrupt `con`'s running statement on a stop signal (once `enable()` was called)."""
    with _lock:
        if _enabled:
            _connections.add(con)


def unwatch(con: duckdb.DuckDBPyConnection) -> None:
    with _lock:
        _connections.discard(con)
