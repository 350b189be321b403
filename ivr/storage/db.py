"""The database handle: one SQLAlchemy engine per process, and schema migrations.

SQLite is the embedded default (one file, WAL mode, so readers never wait for
the writer); PostgreSQL is what several hosts share.  Engines are made lazily
in each process, because a connection pool must not cross a fork (gunicorn
forks its workers after loading the app).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import ConfigError

__all__ = ["MIGRATIONS", "Database", "StoreUnavailable"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the work; the back end's fault."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers go on while one writer commits; NORMAL sync is safe in WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _drop_read_only_connections(context: Any) -> None:
    # SQLite opens a file it may not write read-only, and such a connection stays
    # read-only for ever.  Treat it as broken so the pool replaces it, and calls go
    # through again as soon as the file is writable.
    if "readonly database" in str(context.original_exception):
        context.is_disconnect = True


class Database:
    """A database by URL: sessions, a health check, and migrations."""

    def __init__(self, url: str) -> None:
        try:
            self.url = make_url(url)
        except ArgumentError:
            # The operator's mistake, found before any connection is tried.
            raise ConfigError(f"IVR_DATABASE_URL: {url!r} is not a database URL (e.g. sqlite:///ivr.db)") from None
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._pid = 0
        self._sessions: sessionmaker[Session] | None = None

    @property
    def is_sqlite(self) -> bool:
        """Whether this is an SQLite database."""
        return self.url.get_backend_name() == "sqlite"

    @property
    def engine(self) -> Engine:
        """This process's engine, made on first use."""
        pid = os.getpid()
        if self._engine is None or self._pid != pid:
            with self._lock:
                if self._engine is None or self._pid != pid:
                    self._engine = self._make_engine()
                    self._sessions = sessionmaker(self._engine, expire_on_commit=False)
                    self._pid = pid
        return self._engine

    def _make_engine(self) -> Engine:
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                # If the folder cannot be made, SQLite's own "unable to open" error says so on first use.
                with contextlib.suppress(OSError):
                    Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(self.url, connect_args={"timeout": 10, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "handle_error", _drop_read_only_connections)
            return engine
        return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_timeout=5)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        Database failures come out as :class:`StoreUnavailable`.
        """
        self.engine  # noqa: B018 - makes the engine and session factory for this process
        assert self._sessions is not None
        try:
            with self._sessions() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction, for the webhook's hot path (no ORM overhead).

        Database failures come out as :class:`StoreUnavailable`.
        """
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers."""
        with self.session() as s:
            s.execute(text("SELECT 1"))

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; safe when several processes start at once."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%"))
        try:
            with self._migration_lock() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except (SQLAlchemyError, OSError) as exc:
            # OSError: the SQLite file's folder cannot be made or its lock file opened.
            raise StoreUnavailable(f"cannot migrate the database: {str(exc).splitlines()[0][:200]}") from exc

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[Any]:
        # Two workers starting together must not both create the tables.
        if self.is_sqlite:
            lock_path = None
            if self.url.database and self.url.database != ":memory:":
                lock_path = Path(self.url.database + ".migrate.lock")
                lock_path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(lock_path, "a+") if lock_path else None  # noqa: SIM115 - held for the whole block
            try:
                if fh:
                    fcntl.flock(fh, fcntl.LOCK_EX)
                with self.engine.begin() as conn:
                    yield conn
            finally:
                if fh:
                    fcntl.flock(fh, fcntl.LOCK_UN)
                    fh.close()
        else:
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(123330001)"))
                yield conn

    def drop_tables(self, tables: Sequence[str]) -> None:
        """Drop ``tables`` if they exist, on a connection of their own (tests of a missing table)."""
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                for table in tables:
                    cascade = "" if self.is_sqlite else " CASCADE"
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"{cascade}')
        finally:
            engine.dispose()

    def dispose(self) -> None:
        """Close this process's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
