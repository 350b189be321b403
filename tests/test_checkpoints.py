"""SQLite's write-ahead log copied back by a thread beside the writers, not inside a caller's commit."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.storage.db import Database
from ivr.storage.writers import BACKSTOP_PAGES, RESTART_PAGES, Checkpointer


def _until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class _Recorder:
    """A connection that records what it is asked to run (and can fail its first tries)."""

    def __init__(self, failures: int = 0, pages: int = 10) -> None:
        self.ran: list[str] = []
        self.pages = pages
        self.failures = failures
        self.closed = 0

    def connect(self) -> Any:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return self

    def cursor(self) -> Any:
        return _Cursor(self)

    def close(self) -> None:
        self.closed += 1


class _Cursor:
    def __init__(self, conn: _Recorder) -> None:
        self.conn = conn

    def execute(self, sql: str) -> None:
        self.conn.ran.append(sql)

    def fetchone(self) -> tuple[int, int, int]:
        return (0, self.conn.pages, self.conn.pages)  # busy, pages in the log, pages copied

    def close(self) -> None:
        pass


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Checkpointer, "interval", 0.01)
    monkeypatch.setattr(Checkpointer, "idle_rounds", 5)


@pytest.mark.usefixtures("quick")
def test_a_write_is_checkpointed_by_the_thread_which_ends_when_nothing_more_is_written() -> None:
    conn = _Recorder()
    checkpoints = Checkpointer(conn.connect)
    checkpoints.wrote()
    assert _until(lambda: conn.ran == ["PRAGMA wal_checkpoint(PASSIVE)"])
    # Nothing more written: no more checkpoints, and the thread ends, closing its connection.
    assert _until(lambda: not any(t.name == "ivr-checkpoint" for t in threading.enumerate()))
    assert conn.ran == ["PRAGMA wal_checkpoint(PASSIVE)"] and conn.closed == 1
    checkpoints.wrote()  # a later write starts it again
    assert _until(lambda: len(conn.ran) == 2)
    checkpoints.close()


@pytest.mark.usefixtures("quick")
def test_a_failing_checkpoint_is_logged_once_and_tried_again_after_the_next_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = _Recorder(failures=3)
    checkpoints = Checkpointer(conn.connect)
    with caplog.at_level(logging.WARNING, logger="ivr.storage"):
        for _ in range(4):
            checkpoints.wrote()
            time.sleep(0.03)
        assert _until(lambda: conn.ran == ["PRAGMA wal_checkpoint(PASSIVE)"])
    checkpoints.close()
    warnings = [r for r in caplog.records if "checkpoint failed" in r.getMessage()]
    assert len(warnings) == 1 and "disk I/O error" in warnings[0].getMessage()


class _Turns:
    """A writers' queue that records its turns into the connection's log."""

    def __init__(self, conn: _Recorder) -> None:
        self.conn = conn

    def acquire(self) -> None:
        self.conn.ran.append("turn")

    def release(self, *, quietly: bool = False) -> None:
        self.conn.ran.append(f"done, quietly={quietly}")


@pytest.mark.usefixtures("quick")
def test_a_long_log_is_finished_in_the_writers_turn_so_it_starts_over() -> None:
    short, long = _Recorder(pages=RESTART_PAGES), _Recorder(pages=RESTART_PAGES + 1)
    for conn in (short, long):
        checkpoints = Checkpointer(conn.connect, _Turns(conn))  # type: ignore[arg-type]
        checkpoints.wrote()
        assert _until(lambda conn=conn: len(conn.ran) >= (1 if conn is short else 4))  # type: ignore[misc]
        checkpoints.close()
    passive = "PRAGMA wal_checkpoint(PASSIVE)"
    assert short.ran == [passive]  # a short log waits for the next round, no writer held up
    assert long.ran == [passive, "turn", passive, "done, quietly=True"]


@pytest.mark.usefixtures("quick")
def test_a_stopped_checkpointer_starts_no_thread() -> None:
    conn = _Recorder()
    checkpoints = Checkpointer(conn.connect)
    checkpoints.close()
    checkpoints.wrote()
    time.sleep(0.05)
    assert conn.ran == []


def _write_rows(db: Database, rows: int) -> None:
    def create(cur: Any) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    def insert(n: int) -> Callable[[Any], None]:
        return lambda cur: cur.execute("INSERT INTO filler (id, body) VALUES (?, ?)", (n, "x" * 3000))

    db.write(create)
    for n in range(rows):
        db.write(insert(n))


@pytest.mark.usefixtures("quick")
def test_the_webhooks_commits_leave_the_log_to_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.held():
            kept = db._held.conn
            assert kept.execute("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP_PAGES,)
            _write_rows(db, 1500)  # 1,500 pages and more: SQLite alone would checkpoint inside a commit
        # In the database file itself, not only in its log: the thread copied them back.
        assert _until(lambda: os.path.getsize(path) > 1500 * 3000)
        # What is not the webhook's keeps SQLite's own checkpoint.
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        db.dispose()
    assert _until(lambda: not any(t.name == "ivr-checkpoint" for t in threading.enumerate()))


def test_without_the_thread_the_log_keeps_the_writes_until_the_backstop(tmp_path: Path) -> None:
    """What the test above rules out: with the thread stopped, the pages stay in the log (under the backstop)."""
    path = tmp_path / "ivr.db"
    db = Database(f"sqlite:///{path}")
    try:
        checkpoints = db._writers.checkpoints
        assert checkpoints is not None
        checkpoints.close()
        with db.held():
            _write_rows(db, 1500)
        time.sleep(0.2)
        assert os.path.getsize(path) < 1500 * 3000
        assert os.path.getsize(f"{path}-wal") > 1500 * 3000
    finally:
        db.dispose()
