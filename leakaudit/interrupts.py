"""Ctrl-C and SIGTERM stop a running DuckDB statement at once, not when it finishes.

Python runs a signal handler only when the main thread is back in Python; DuckDB checks for
it only between its tasks, so a long task (a big join in `leakaudit query`) ran to its end,
and a CI timeout's grace period could run out before the cleanup. Here the C-level handler
also writes the signal to a pipe (`signal.set_wakeup_fd`); a watcher thread then interrupts
every open connection, the statement fails at once, and the Python handler raises
KeyboardInterrupt as before (exit 130 or 143, cleanup included). An interrupt that lands
between statements sets nothing that lasts: DuckDB clears it when the next one starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import duckdb

_lock = threading.Lock()
_connections: set[duckdb.DuckDBPyConnection] = set()
_installed = False


def _watch(read_fd: int) -> None:
    while os.read(read_fd, 512):
        with _lock:
            open_now = list(_connections)
        for con in open_now:
            with contextlib.suppress(duckdb.Error):
                con.interrupt()


def _install() -> bool:
    """The wakeup pipe and its watcher, once per process, from the main thread only (where
    signals are handled), and never over a wakeup fd someone else set (an event loop)."""
    global _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    if previous != -1:
        signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)
        return False
    watcher = threading.Thread(target=_watch, args=(read_fd,), name="la-interrupts", daemon=True)
    watcher.start()
    _installed = True
    return True


def watch(con: duckdb.DuckDBPyConnection) -> None:
    """Interrupt `con`'s running statement when SIGINT or SIGTERM arrives."""
    with _lock:
        if _install():
            _connections.add(con)


def unwatch(con: duckdb.DuckDBPyConnection) -> None:
    with _lock:
        _connections.discard(con)
