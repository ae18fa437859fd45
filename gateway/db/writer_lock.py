"""One writer at a time on an SQLite database, queued in the kernel instead of SQLite's busy handler.

SQLite lets one connection write at a time. A connection that finds the lock
taken calls its busy handler, which *sleeps* (1, 2, 5 … up to 100 ms) between
tries: a worker whose turn came after 3 ms may sleep 25 ms more, and with four
workers recording documents most of their time went there. So every write
transaction on a file database first takes a lock of its own beside the
database (``<db>.write-lock``): a ``threading.Lock`` between the threads of a
process, then ``fcntl.flock`` between processes. Waiters are woken the moment the
lock is let go, in the order the kernel gives. Once it is held, the transaction
begins ``IMMEDIATE`` (SQLite's write lock taken at ``BEGIN``, not at the first
write after some reads).

Reads take nothing: the driver (``sqlite3``'s legacy transaction control, which
SQLAlchemy's pysqlite dialect keeps) begins a transaction only at the first
statement that writes, so a connection takes the lock there (``take``) and
lets it go when its transaction ends (``commit``, ``rollback``, ``close`` of
the connection class the engine is made with). Under WAL, readers never wait.

**Receptions go first** (``ahead()``): a transaction that records what a partner
is waiting for (an upload's close, an MDN, an HTTP answer) is marked so; while one
waits, background writers (the jobs) stand back. It holds a second lock beside the
database (``<db>.write-gate``) exclusively from the start of its wait to its end;
any other writer passes that gate (shared, let go at once) before queueing, and
one that got the lock while a reception waits lets it go and queues again. So a
reception waits at most for the transaction under way, not for every worker that
wins the kernel's race first.

A lock is never held past its transaction: a process that dies lets its
``flock`` go with its file descriptor. A thread that already holds the lock
and writes on a second connection (or any wait longer than the busy timeout)
gets ``database is locked``, as SQLite itself would have said.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

_READS = frozenset({"SELECT", "PRAGMA", "EXPLAIN", "WITH"})     # WITH: a read, nearly always here

_locks: dict[str, "WriterLock"] = {}
_locks_guard = threading.Lock()
_ahead = threading.local()


@contextmanager
def ahead() -> Iterator[None]:
    """The write transactions this thread begins inside go before background writers (see above).
    For the recording of a reception only: short, and someone waits for its answer."""
    before = getattr(_ahead, "on", False)
    _ahead.on = True
    try:
        yield
    finally:
        _ahead.on = before


class WriterLock:
    """The write lock of one database file, for this process (one per path: ``for_database``)."""

    def __init__(self, path: Path, timeout: float):
        self.path, self.timeout = path, timeout
        self.gate_path = path.with_name(path.name.removesuffix(".write-lock") + ".write-gate")
        self._threads = threading.Lock()
        self._fd: Optional[int] = None
        self._gate: Optional[int] = None
        self._pid = 0
        self._gated = False                 # the holder holds the gate too (a reception)
        self.waited = 0.0                   # seconds spent waiting for it in this process (benchmarks)
        self.taken = 0

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():      # a forked child opens its own
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._gate = os.open(self.gate_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        t0 = time.perf_counter()
        if not self._threads.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked (writer lock of this process)")
        try:
            fd = self._file()
            if getattr(_ahead, "on", False):
                fcntl.flock(self._gate, fcntl.LOCK_EX)     # background writers stand back
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    fcntl.flock(self._gate, fcntl.LOCK_UN)
                    raise
                self._gated = True
            else:
                self._queue_behind_receptions(fd)
        except BaseException:
            self._threads.release()
            raise
        self.waited += time.perf_counter() - t0
        self.taken += 1

    def _queue_behind_receptions(self, fd: int) -> None:
        while True:
            fcntl.flock(self._gate, fcntl.LOCK_SH)         # waits while a reception does
            fcntl.flock(self._gate, fcntl.LOCK_UN)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                fcntl.flock(self._gate, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:                        # a reception came to wait: its turn
                fcntl.flock(fd, fcntl.LOCK_UN)
                continue
            fcntl.flock(self._gate, fcntl.LOCK_UN)
            return

    def release(self) -> None:
        try:
            fcntl.flock(self._file(), fcntl.LOCK_UN)
            if self._gated:
                self._gated = False
                fcntl.flock(self._gate, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def for_database(database: str, timeout: float) -> WriterLock:
    """The writer lock of the SQLite file ``database`` (shared by every engine of this process on it)."""
    path = Path(database).expanduser().resolve()
    key = str(path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = WriterLock(path.with_name(path.name + ".write-lock"), timeout)
        return lock


def writes(statement: str) -> bool:
    """Whether a statement writes (the driver begins a transaction before it). A write taken for a
    read (``WITH … INSERT``) still works: SQLite's own lock and busy handler serve it."""
    word = statement.lstrip()[:8].split(None, 1)
    return bool(word) and word[0].upper() not in _READS


class LockingConnection(sqlite3.Connection):
    """An ``sqlite3`` connection that holds its database's writer lock from its first write
    (``take``, called before the statement) to the end of that transaction."""

    writer_lock: Optional[WriterLock] = None
    _holding = False

    def take(self) -> None:
        if not self._holding and self.writer_lock is not None:
            self.writer_lock.acquire()
            self._holding = True

    def _let_go(self) -> None:
        if self._holding:
            self._holding = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()
