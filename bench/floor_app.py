"""The floor for the webhook benchmark: Flask answering fixed TwiML after one read and one write transaction.

What any persisted webhook must do at least, with the raw driver and no
framework on top: read a row (a call's state) in one transaction, write it
back (its new state and TwiML, about a kilobyte) in another, then answer.
``IVR_BENCH_FLOOR_URL`` names the database, ``sqlite:///path`` (the
``sqlite3`` module, with ivr's pragmas: WAL, synchronous NORMAL, a 10 s busy
timeout) or ``postgresql+psycopg://...`` (psycopg).  Each worker thread keeps
one connection.  ``python bench/floor_app.py URL`` creates the table.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import threading
from typing import Any

from flask import Flask, Response

from bench.fixed_app import TWIML

ROWS = 1000
PAYLOAD = "x" * 1024
URL = os.environ.get("IVR_BENCH_FLOOR_URL", "")

app = Flask(__name__)
_local = threading.local()


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _libpq(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def connect(url: str) -> Any:
    """A connection to ``url`` with autocommit off, as ivr's store has it."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(_sqlite_path(url), timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn
    import psycopg

    return psycopg.connect(_libpq(url))


def _conn() -> Any:
    conn = getattr(_local, "conn", None)
    if conn is None or getattr(_local, "pid", None) != os.getpid():
        conn = _local.conn = connect(URL)
        _local.pid = os.getpid()
    return conn


def _begin(conn: Any) -> None:
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN")


@app.post("/voice")
def voice() -> Response:
    """Read one row in a transaction, write it in another, answer fixed TwiML."""
    conn = _conn()
    row = random.randrange(ROWS)
    mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    _begin(conn)
    state = conn.execute(f"SELECT state FROM floor_rows WHERE id = {mark}", (row,)).fetchone()
    conn.commit()
    _begin(conn)
    conn.execute(
        f"UPDATE floor_rows SET n = n + 1, state = {mark} WHERE id = {mark}", (state[0][:512] + PAYLOAD[512:], row)
    )
    conn.commit()
    return Response(TWIML, mimetype="text/xml")


def create(url: str) -> None:
    """Create ``floor_rows`` with :data:`ROWS` rows."""
    conn = connect(url)
    mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    _begin(conn)
    conn.execute("DROP TABLE IF EXISTS floor_rows")
    conn.execute("CREATE TABLE floor_rows (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, state TEXT NOT NULL)")
    cur = conn.cursor()
    cur.executemany(
        f"INSERT INTO floor_rows (id, n, state) VALUES ({mark}, 0, {mark})", [(i, PAYLOAD) for i in range(ROWS)]
    )
    conn.commit()
    conn.close()


if __name__ == "__main__":
    create(sys.argv[1])
