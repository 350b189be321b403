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
import operator
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from ivr.config import ConfigError
from ivr.storage.writers import WriterQueue

__all__ = ["MIGRATIONS", "AlreadyStored", "Database", "Prepared", "StoreUnavailable"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

T = TypeVar("T")

KEPT_PING_AFTER = 2.0
"""Seconds a thread's kept PostgreSQL connection may sit idle before it is pinged on its next use."""
_FORKED_AWAY: list[Any] = []
"""Kept connections a forked process inherited: held, never touched."""


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the work; the back end's fault."""


class _Held:
    """:meth:`Database.held`'s block (a class: a generator's block costs every webhook a few microseconds)."""

    __slots__ = ("db", "outer")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.outer = False

    def __enter__(self) -> None:
        local = self.db._held
        self.outer = getattr(local, "conn", None) is None  # not already held further up
        if self.outer:
            local.conn = self.db._kept().dbapi_connection  # the driver's own: no proxy between a step and it

    def __exit__(self, *exc: object) -> None:
        if self.outer:
            local = self.db._held
            local.conn = None
            local.used = time.monotonic()


class _Kept:
    """A thread's kept connection, closed when the thread ends (its local goes) or the database is disposed.

    ``ivr serve`` answers each request on a new thread: without the closing, every
    request would leave a connection open for the life of the process.
    """

    __slots__ = ("__weakref__", "closer", "conn", "pid")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pid = os.getpid()
        self.closer = weakref.finalize(self, _close, conn)
        # At exit the OS closes what is left; a forked child must never close its parent's.
        self.closer.atexit = False


class AlreadyStored(StoreUnavailable):
    """The row a write would add is there already (another worker wrote it first)."""


class Prepared:
    """A Core statement compiled once for a dialect, to run on a driver cursor with :meth:`args`."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        names = compiled.positiontup  # None for a named paramstyle (psycopg's pyformat)
        self._pick = None if names is None else operator.itemgetter(*names)
        # Values the statement holds itself (a literal compared against), merged under each call's.
        self._fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}

    def args(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """The driver's parameters for ``values`` (by bind name)."""
        merged = {**self._fixed, **values} if self._fixed else values
        if self._pick is None:
            return merged
        picked = self._pick(merged)
        return picked if isinstance(picked, tuple) else (picked,)


def _close(kept: Any) -> None:
    """Close a kept (detached) connection: out of the pool, nothing else will."""
    raw = kept.dbapi_connection
    with contextlib.suppress(Exception):
        kept.invalidate()
    if raw is not None:
        with contextlib.suppress(Exception):
            raw.close()


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
        self._queue: WriterQueue | None = None
        self._queue_pid = 0
        self._held = threading.local()
        """This thread's kept connection (``kept``), and the one :meth:`held` lends :meth:`cursor` (``conn``)."""
        self._kept_all: set[weakref.finalize[Any, Any]] = set()
        """What closes each thread's kept connection in this process (:meth:`dispose` runs them all)."""

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

    @property
    def _writers(self) -> WriterQueue:
        """This process's place in the queue of SQLite writers (see :class:`WriterQueue`)."""
        pid = os.getpid()
        if self._queue is None or self._queue_pid != pid:
            with self._lock:
                if self._queue is None or self._queue_pid != pid:
                    if self._queue is not None:
                        self._queue.close()
                    path = self._queue_path()
                    self._queue = WriterQueue(path, None if path is None else self._own_connection)
                    self._queue_pid = pid
        return self._queue

    def _queue_path(self) -> Path | None:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database + ".writers.lock")

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

    def read(self, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        """The rows of one read statement, in a transaction of their own (a step's read of its call).

        Within :meth:`held`, on this thread's kept connection; else on one from
        the pool.  The statements of a step are compiled once (:class:`Prepared`)
        and run on the driver: SQLAlchemy's per-statement work is most of what a
        step would otherwise cost.
        """
        return self.write(lambda cur: cur.execute(prepared.sql, prepared.args(values)).fetchall(), queued=False)

    def write(self, work: Callable[[Any], T], *, queued: bool = True) -> T:
        """``work(cursor)`` in one transaction on a driver cursor, committed when it returns; what it returned.

        On SQLite the transaction takes the write lock at its start (``BEGIN
        IMMEDIATE``), so a writer waits its turn (:class:`WriterQueue`) instead
        of failing on an upgrade; ``queued=False`` is for reads.  Database
        failures come out as :class:`StoreUnavailable` (:class:`AlreadyStored`
        for a duplicate key); the connection is then dropped unless only the
        statement was refused.
        """
        held = getattr(self._held, "conn", None)
        conn = held if held is not None else self._checkout()
        queue = self._writers if queued and self.is_sqlite else None
        try:
            if queue is not None:
                queue.acquire()
            try:
                cur = conn.cursor()
                if queue is not None:
                    cur.execute("BEGIN IMMEDIATE")
                result = work(cur)
                conn.commit()
                return result
            except self._dbapi_error as exc:
                with contextlib.suppress(self._dbapi_error):
                    conn.rollback()
                raise self._failed(exc, conn, held is not None) from exc
            except BaseException:
                with contextlib.suppress(self._dbapi_error):
                    conn.rollback()
                raise
            finally:
                if queue is not None:
                    queue.release()
        finally:
            if held is None:
                conn.close()

    def _failed(self, exc: Exception, conn: Any, kept: bool) -> StoreUnavailable:
        """What a driver error on ``conn`` comes out as; a broken connection is dropped for a new one."""
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        if isinstance(exc, self.engine.dialect.loaded_dbapi.IntegrityError):
            return AlreadyStored(message)
        if kept:
            self._drop_kept()
        else:
            conn.invalidate()  # a broken or read-only connection is replaced on the next checkout
        return StoreUnavailable(message)

    @property
    def _dbapi_error(self) -> type[Exception]:
        error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        return error

    def held(self) -> _Held:
        """Within the block, this thread's :meth:`read` and :meth:`write` use the connection this thread keeps.

        A webhook reads its call and writes the step back on every step: a
        connection kept by each thread (out of the pool, like the floor of the
        webhook benchmark) spares both a checkout and a return.  Each read and
        write is still its own transaction.  On PostgreSQL a connection idle for
        :data:`KEPT_PING_AFTER` seconds is pinged first, as the pool would on
        every checkout, so a server restarted meanwhile costs no caller a step.
        """
        return _Held(self)

    def _kept(self) -> Any:
        """This thread's kept connection, made (or made again) when it has none that works."""
        local = self._held
        kept: _Kept | None = getattr(local, "kept", None)
        if kept is not None and kept.pid != os.getpid():
            # The parent's, across a fork: never used nor closed here (closing the last SQLite
            # connection may checkpoint the parent's database), only kept from the collector.
            kept.closer.detach()
            _FORKED_AWAY.append(kept.conn)
            kept = local.kept = None
        if kept is not None and not self.is_sqlite and time.monotonic() - getattr(local, "used", 0.0) > KEPT_PING_AFTER:
            try:
                cur = kept.conn.cursor()
                cur.execute("SELECT 1")
                cur.close()
                kept.conn.rollback()
            except self.engine.dialect.loaded_dbapi.Error:
                self._drop_kept()
                kept = None
        if kept is None:
            conn = self._own_connection()
            if self.is_sqlite:
                self._writers.take_in(conn)  # a webhook's writes queue, and the checkpointer copies them back
            kept = local.kept = _Kept(conn)
            local.used = time.monotonic()
            with self._lock:
                self._kept_all.add(kept.closer)
        return kept.conn

    def _drop_kept(self) -> None:
        """Close this thread's kept connection (it failed): the next webhook makes a new one."""
        kept: _Kept | None = getattr(self._held, "kept", None)
        self._held.kept = self._held.conn = None
        if kept is not None:
            with self._lock:
                self._kept_all.discard(kept.closer)
            kept.closer()

    def _own_connection(self) -> Any:
        """A connection out of the pool for good (the pool makes others as it needs them)."""
        conn = self._checkout()
        conn.detach()
        return conn

    def _checkout(self) -> Any:
        try:
            return self.engine.raw_connection()
        except (SQLAlchemyError, self._dbapi_error) as exc:  # the pool hands on a failed connect unwrapped
            raise StoreUnavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc

    def prepare(self, statement: ClauseElement) -> Prepared:
        """``statement`` compiled once for this database, for :meth:`cursor`."""
        return Prepared(statement, self.engine.dialect)

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
        with self._lock:
            kept, self._kept_all = self._kept_all, set()
        for closer in kept:
            closer()
        self._held = threading.local()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._queue is not None:
            self._queue.close()
            self._queue = None
