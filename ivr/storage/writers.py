"""How writers share one SQLite file: they take turns, and a thread of their own checkpoints after them.

SQLite in WAL mode appends each commit to the write-ahead log and copies the
log back into the database (a *checkpoint*) when it has grown past 1,000
pages, inside the commit that crossed the line: that writer copies the pages
and waits for the disk to flush them, tens of milliseconds, while every
writer queued behind it waits too.  Under a steady stream of steps that is
a stall every few hundred steps, and it is what a caller's slowest steps
were made of.  :class:`Checkpointer` does the copying in a thread beside the
writers instead, a *passive* checkpoint, which takes no lock a writer or a
reader needs, so no step waits for the disk.

A passive checkpoint alone never lets the log start over, though: writers keep
appending while it copies, so it never finds the whole log copied, and the log
would grow until the commits' own checkpoint (:data:`BACKSTOP_PAGES`) took a
long stall.  So once the log is longer than :data:`RESTART_PAGES`, the thread
copies the few pages written meanwhile in the writers' turn, and the next
writer starts the log over from its beginning.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BACKSTOP_PAGES", "RESTART_PAGES", "Checkpointer", "WriterQueue"]

log = logging.getLogger("ivr.storage")

BACKSTOP_PAGES = 10_000
"""Log pages past which a checkpointed connection's commit still checkpoints (the thread fell behind or stopped)."""
RESTART_PAGES = 1_000
"""Log pages past which the thread finishes its checkpoint in the writers' turn, so the log starts over."""


class Checkpointer:
    """Copies an SQLite file's write-ahead log back into the database in a thread, after writes.

    :meth:`wrote` (a flag set, on every write) starts the thread if it is not
    running; every :attr:`interval` seconds that something was written it runs
    ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own (again in
    ``queue``'s turn when the log is long), and it ends after
    :attr:`idle_rounds` intervals with nothing written, so a process that
    stopped writing keeps no thread.  The connections it stands in for keep
    SQLite's own checkpoint at :data:`BACKSTOP_PAGES`.
    """

    interval = 0.5
    idle_rounds = 20

    def __init__(self, connect: Callable[[], Any], queue: WriterQueue | None = None) -> None:
        self._connect = connect
        self._queue = queue
        self._lock = threading.Lock()
        self._written = False
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def wrote(self) -> None:
        """Something was committed: checkpoint it soon."""
        self._written = True
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopped.is_set():
                    self._thread = threading.Thread(target=self._run, name="ivr-checkpoint", daemon=True)
                    self._thread.start()

    def close(self) -> None:
        """Stop the thread (at its next wake-up; a checkpoint under way finishes)."""
        self._stopped.set()

    def _run(self) -> None:
        conn = None
        idle = 0
        failing = False
        try:
            while not self._stopped.wait(self.interval):
                if not self._written:
                    idle += 1
                    if idle >= self.idle_rounds:
                        with self._lock:  # a write from now on starts a new thread; one before it keeps this one
                            if not self._written:
                                self._thread = None
                                return
                    continue
                idle, self._written = 0, False
                try:
                    if conn is None:
                        conn = self._connect()
                    if _checkpoint(conn) > RESTART_PAGES and self._queue is not None:
                        self._queue.acquire()
                        try:
                            _checkpoint(conn)  # only what was written since: quick, and then the log starts over
                        finally:
                            self._queue.release(quietly=True)
                    failing = False
                except Exception as exc:  # any failure: the commits' own checkpoint (the backstop) still runs
                    if not failing:
                        log.warning("checkpoint failed, the writers' own checkpoint stands in: %s", exc)
                    failing = True
                    with contextlib.suppress(Exception):
                        if conn is not None:
                            conn.close()
                    conn = None
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()


def _checkpoint(conn: Any) -> int:
    """A passive checkpoint on ``conn``; how many pages the log held."""
    cur = conn.cursor()
    cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
    row = cur.fetchone()
    cur.close()
    return int(row[1]) if row else 0


class WriterQueue:
    """Writers to one SQLite file take turns here, so a waiting one wakes the moment the lock is free.

    SQLite lets one writer in at a time; the others, told the file is busy,
    sleep and try again (a millisecond, then longer), which under load costs
    far more than the write itself.  Queued on a lock file (every process on
    the host) and a thread lock (every thread of one process, which share the
    file's lock), they wait in the kernel instead and go in one after another.
    Anything that writes without queueing still meets SQLite's busy timeout.
    """

    def __init__(self, path: Path | None, connect: Callable[[], Any] | None = None) -> None:
        self._threads = threading.Lock()
        self._file = None
        self.checkpoints = None if connect is None else Checkpointer(connect, self)
        """Told of every write once its writer lets go (None: SQLite checkpoints as it commits)."""
        if path is not None:
            with contextlib.suppress(OSError):  # no lock file: SQLite's busy timeout still orders the writers
                self._file = open(path, "a+")  # noqa: SIM115 - held for the life of the process

    def acquire(self) -> None:
        """Wait for this writer's turn."""
        self._threads.acquire()
        if self._file is not None:
            with contextlib.suppress(OSError):  # the lock file went bad: the busy timeout still applies
                fcntl.flock(self._file, fcntl.LOCK_EX)

    def release(self, *, quietly: bool = False) -> None:
        """Let the next writer in (``quietly``: nothing was written to checkpoint)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()
        if self.checkpoints is not None and not quietly:
            self.checkpoints.wrote()

    def take_in(self, conn: Any) -> None:
        """Leave the commits of ``conn`` (its writes queue here) to the checkpointer, up to the backstop."""
        if self.checkpoints is not None:
            cur = conn.cursor()
            cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            cur.close()

    def close(self) -> None:
        """Close the lock file and stop the checkpoints (a process that forked closes its parent's copies)."""
        if self.checkpoints is not None:
            self.checkpoints.close()
        if self._file is not None:
            self._file.close()
            self._file = None
