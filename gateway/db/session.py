"""Engines and sessions for SQLite (embedded default) and PostgreSQL (scale-out).

SQLite is opened in WAL mode (readers never block the writer), with foreign
keys enforced, ``synchronous=FULL`` (a committed exchange survives a power
cut, as the acknowledgement promised), and its writers queue for a lock of
their own beside the database file (``writer_lock``: woken as soon as it is let
go, where SQLite's busy handler sleeps), their transactions ``BEGIN IMMEDIATE``;
the busy timeout stays for writers from elsewhere. ``postgresql://`` URLs use
psycopg 3.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Union

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from . import writer_lock

SQLITE_BUSY_TIMEOUT_MS = 30_000

_counted = threading.local()


def statements() -> int:
    """SQL statements this thread has sent through our engines so far (take the difference
    around a piece of work to know what it cost; transaction control is not counted)."""
    return getattr(_counted, "n", 0)


def _count_statement(conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any,
                     executemany: bool) -> None:
    _counted.n = getattr(_counted, "n", 0) + 1


def _take_writer_lock(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                      executemany: bool) -> None:
    """Before the statement that begins a write transaction: queue for the database's writer lock."""
    dbapi_conn = cursor.connection
    if not dbapi_conn.in_transaction and writer_lock.writes(statement):
        take = getattr(dbapi_conn, "take", None)
        if take is not None:
            take()


def normalise_url(url: Union[str, URL]) -> URL:
    """``postgresql://`` / ``postgres://`` → ``postgresql+psycopg://``; other URLs unchanged."""
    u = make_url(url) if isinstance(url, str) else url
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def make_engine(url: Union[str, URL], *, foreign_keys: bool = True, echo: bool = False, **kwargs: Any) -> sa.Engine:
    """An engine set up for the gateway. ``foreign_keys=False`` is for SQLite migrations only
    (table rebuilds must not cascade)."""
    u = normalise_url(url)
    if u.get_backend_name() == "sqlite":
        database = u.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        lock = None
        if database and database != ":memory:" and not database.startswith("file:"):
            lock = writer_lock.for_database(database, SQLITE_BUSY_TIMEOUT_MS / 1000)
            connect_args.setdefault("factory", writer_lock.LockingConnection)
        engine = sa.create_engine(u, echo=echo, connect_args=connect_args, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                if database and database != ":memory:":
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
                cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cur.execute("PRAGMA synchronous=FULL")
            finally:
                cur.close()
            if lock is not None and isinstance(dbapi_conn, writer_lock.LockingConnection):
                dbapi_conn.writer_lock = lock
                dbapi_conn.isolation_level = "IMMEDIATE"    # the driver's implicit BEGIN, at the first write

        @sa.event.listens_for(engine, "checkin")
        def _durable_again(dbapi_conn: Any, _record: Any) -> None:
            if getattr(dbapi_conn, "_edigate_derived", False):     # see derived_commit
                dbapi_conn.execute("PRAGMA synchronous=FULL")
                dbapi_conn._edigate_derived = False

        sa.event.listen(engine, "before_cursor_execute", _count_statement)
        if lock is not None:
            sa.event.listen(engine, "before_cursor_execute", _take_writer_lock)
        return engine
    if u.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    engine = sa.create_engine(u, echo=echo, **kwargs)
    sa.event.listen(engine, "before_cursor_execute", _count_statement)
    return engine


def make_sessionmaker(engine: sa.Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects stay readable after the transaction that loaded them.
    return sessionmaker(bind=engine, expire_on_commit=False)


@lru_cache(maxsize=None)
def _default_factory(url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(url))


@contextmanager
def session_scope(bind: Union[sa.Engine, sessionmaker[Session], str, None] = None) -> Iterator[Session]:
    """One unit of work: commit if the block ends normally, roll back if it raises.

    ``bind``: an engine, a sessionmaker, a URL, or nothing (the configured
    ``EDIGATE_DATABASE_URL``; one engine per URL per process).
    """
    if bind is None:
        from ..config import load_settings
        bind = load_settings().database_url
    if isinstance(bind, str):
        factory = _default_factory(bind)
    elif isinstance(bind, sa.Engine):
        factory = make_sessionmaker(bind)
    else:
        factory = bind
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def derived_commit(session: Session) -> None:
    """This transaction records only what can be worked out again from what is already durable
    (a received file's processing: its bytes and its exchange were committed, and fsynced, when
    it was acknowledged): its commit does not wait for the disk. A power cut may undo it, never
    corrupt anything: the exchange is then ``acknowledged`` again and the sweep processes it
    anew, as after a crash just before the commit. Whatever acts on it outside commits durably
    first (a send claims its exchange before it transmits, an MDN is recorded before it is
    answered), and that commit makes this one durable too: SQLite's WAL is synced as one file,
    PostgreSQL's WAL up to the later commit. Call it before the transaction's first write.

    SQLite: ``synchronous=NORMAL`` for this connection until it goes back to the pool (the
    setting cannot change inside a transaction); PostgreSQL: ``synchronous_commit`` off for
    this transaction only."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction and hasattr(raw, "__dict__"):   # ours: it can be marked
            raw._edigate_derived = True         # put back to FULL when it goes back to the pool
            raw.execute("PRAGMA synchronous=NORMAL")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def compare_and_set(session: Session, model: Any, *conditions: Any, **values: Any) -> int:
    """``UPDATE model SET values WHERE conditions``; the number of rows it changed.

    This is how a worker claims a row (or moves its status) when others may be at it too: the
    WHERE clause states the state the caller expects (``status == "queued"``, ``used_at IS
    NULL``…), and the row count says whether it still held, that is whether this worker won
    (1) or someone else got there first (0). The database decides, in one statement, under its
    own row lock; nothing is read first. The session's identity map is deliberately not
    synchronised (``synchronize_session=False``): objects already loaded keep the values they
    had, and the caller reloads (``session.get`` after a win, ``refresh``) or sets what the
    UPDATE wrote when it reads them again.
    """
    return session.execute(sa.update(model).where(*conditions).values(**values)
                           .execution_options(synchronize_session=False)).rowcount
