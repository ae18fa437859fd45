"""SQLite writers queue for the database's writer lock (``gateway.db.writer_lock``); readers never do.

A second process (a real one: the lock is ``flock`` between processes) opens a
write transaction on the same file and keeps it open: this process still reads
at once, its write waits for the other's commit and then goes through (no
``database is locked``). A write that fails lets the lock go with its rollback.
Threads of two processes writing at the same time all get their rows in. A
thread that holds the lock and writes through a second connection is told
``database is locked`` once the lock's timeout is past, as SQLite would have
said, instead of waiting for itself for ever. A reception (``writer_lock.ahead``)
goes before a background writer of another process that queued first.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading

import pytest
import sqlalchemy as sa

from gateway.db import writer_lock
from gateway.db.session import make_engine

from tests.support.gateway_process import REPO
from tests.support.waiting import wait_for

HOLDER = textwrap.dedent("""
    import sys
    import sqlalchemy as sa
    from gateway.db.session import make_engine
    engine = make_engine(sys.argv[1])
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t (who) VALUES ('other process')"))
        print("holding", flush=True)
        sys.stdin.readline()
    print("committed", flush=True)
""")

WRITERS = textwrap.dedent("""
    import sys, threading
    import sqlalchemy as sa
    from gateway.db.session import make_engine
    engine = make_engine(sys.argv[1])
    def write(k):
        for i in range(40):
            with engine.begin() as conn:
                n = conn.execute(sa.text("SELECT count(*) FROM t")).scalar()
                conn.execute(sa.text("INSERT INTO t (who) VALUES (:w)"), {"w": f"child {k} {i} after {n}"})
    threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print("done", flush=True)
""")


BACKGROUND = textwrap.dedent("""
    import sys
    import sqlalchemy as sa
    from gateway.db.session import make_engine
    engine = make_engine(sys.argv[1])
    print("queueing", flush=True)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t (who) VALUES ('background')"))
    print("committed", flush=True)
""")


def _blocked_flock_waiters(path: str) -> set[int]:
    """Pids waiting (not holding) for a ``flock`` on ``path``, from /proc/locks."""
    ino = os.stat(path).st_ino
    pids = set()
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields and "FLOCK" in fields:
                rest = fields[fields.index("->") + 1:]
                if rest[4].split(":")[-1] == str(ino):
                    pids.add(int(rest[3]))
    return pids


def _held_exclusively(path: str) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'edigate.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT NOT NULL UNIQUE)"))
    yield url, engine
    engine.dispose()


def _python(code: str, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_readers_go_on_while_writers_queue_behind_another_process(database) -> None:
    url, engine = database
    lock = writer_lock.for_database(url[len("sqlite:///"):], 30)
    holder = _python(HOLDER, url)
    try:
        assert holder.stdout.readline().strip() == "holding", holder.stderr.read()
        with engine.connect() as conn:                # a read: no lock, and the other's row not seen yet
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
            assert not lock._threads.locked()
        wrote: list = []

        def write() -> None:
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO t (who) VALUES ('this process')"))
                wrote.append("ok")
            except Exception as e:                  # reported below
                wrote.append(e)

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and not wrote       # queued behind the other process's transaction
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "committed"
        writer.join(30)
        assert wrote == ["ok"]
    finally:
        holder.kill()
        holder.wait()
    with engine.connect() as conn:
        assert sorted(conn.execute(sa.text("SELECT who FROM t")).scalars()) == ["other process", "this process"]
    assert not lock._threads.locked()


def test_a_failed_write_lets_the_lock_go_and_concurrent_writers_all_get_in(database) -> None:
    url, engine = database
    lock = writer_lock.for_database(url[len("sqlite:///"):], 30)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t (who) VALUES ('first')"))
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO t (who) VALUES ('first')"))
    assert not lock._threads.locked()

    child = _python(WRITERS, url)
    errors: list = []

    def write(k: int) -> None:
        try:
            for i in range(40):
                with engine.begin() as conn:
                    n = conn.execute(sa.text("SELECT count(*) FROM t")).scalar()
                    conn.execute(sa.text("INSERT INTO t (who) VALUES (:w)"), {"w": f"parent {k} {i} after {n}"})
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    out, err = child.communicate(timeout=120)
    assert not errors and out.strip() == "done", (errors, err[-2000:])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 1 + 4 * 40


def test_a_second_connection_of_the_holding_thread_is_told_the_database_is_locked(database) -> None:
    url, engine = database
    lock = writer_lock.for_database(url[len("sqlite:///"):], 30)
    lock.timeout = 0.2
    try:
        with engine.begin() as first:
            first.execute(sa.text("INSERT INTO t (who) VALUES ('held')"))
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                with engine.begin() as second:
                    second.execute(sa.text("INSERT INTO t (who) VALUES ('nested')"))
        with engine.connect() as conn:
            assert list(conn.execute(sa.text("SELECT who FROM t")).scalars()) == ["held"]
    finally:
        lock.timeout = 30


def test_a_reception_goes_before_a_background_writer_that_queued_first(database) -> None:
    url, engine = database
    lock = writer_lock.for_database(url[len("sqlite:///"):], 30)
    holder = _python(HOLDER, url)
    background = None
    try:
        assert holder.stdout.readline().strip() == "holding", holder.stderr.read()
        background = _python(BACKGROUND, url)
        assert background.stdout.readline().strip() == "queueing"
        wait_for(lambda: background.pid in _blocked_flock_waiters(str(lock.path)), 30,
                 "the background writer to queue for the writer lock")
        wrote: list = []

        def receive() -> None:
            with writer_lock.ahead(), engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO t (who) VALUES ('reception')"))
            wrote.append("ok")

        reception = threading.Thread(target=receive)
        reception.start()
        wait_for(lambda: _held_exclusively(str(lock.gate_path)), 30, "the reception to hold the gate")
        assert not wrote                              # still behind the holder's transaction
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "committed"
        reception.join(30)
        assert background.stdout.readline().strip() == "committed", background.stderr.read()
        assert wrote == ["ok"]
    finally:
        for p in (holder, background):
            if p is not None:
                p.kill()
                p.wait()
    with engine.connect() as conn:       # ids follow commit order
        assert list(conn.execute(sa.text("SELECT who FROM t ORDER BY id")).scalars()) == [
            "other process", "reception", "background"]
    assert not lock._threads.locked() and not _held_exclusively(str(lock.gate_path))
