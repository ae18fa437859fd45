"""A real PostgreSQL server for the tests: started once per session on loopback.

Debian's ``postgresql`` package (binaries under /usr/lib/postgresql/<v>/bin);
when they are absent the tests that need the server are skipped, saying so
(``make test`` installs the package). As root the server runs as ``postgres``
(``runuser``), with a data directory it owns. ``fsync=off``: test data need
no durability, and startup stays well under a second.

Fixtures: ``postgres_server`` (session; ``.url(db)``, ``.create_database()``)
and ``postgres_url`` (session; a URL to database ``edigate``).
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from tests.support.ports import free_port

INSTALL_HINT = "Debian package `postgresql` (make test installs it)"


def find_bindir() -> Optional[Path]:
    """The newest /usr/lib/postgresql/<v>/bin with initdb, or $PG_BINDIR, or initdb on PATH."""
    if os.environ.get("PG_BINDIR"):
        d = Path(os.environ["PG_BINDIR"])
        return d if (d / "initdb").exists() else None
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None



class PostgresServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="edigate-pg-"))   # under /tmp: reachable by postgres
        self.datadir = self.root / "data"
        self.port = 0
        self.user = "postgres"
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        r = self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", self.user, "-E", "UTF8",
                      "--locale=C", "--no-sync")
        if r.returncode:
            raise RuntimeError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        for attempt in range(5):
            self.port = free_port()
            opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off")
            r = self._run("pg_ctl", "-w", "-t", "30", "-D", str(self.datadir), "-l", str(self.root / "log"),
                          "-o", opts, "start")
            if r.returncode == 0:
                return
        log = (self.root / "log").read_text(errors="replace") if (self.root / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed:\n{r.stdout}\n{r.stderr}\n{log[-3000:]}")

    def stop(self) -> None:
        if self.datadir.exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: Optional[str] = None) -> str:
        """A new empty database; its URL."""
        name = name or f"t{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    pytest.importorskip("psycopg", reason="psycopg 3 (pip install 'psycopg[binary]') is needed for PostgreSQL tests")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(f"PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): {INSTALL_HINT}")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(f"no `postgres` user to run the server as: {INSTALL_HINT}")
    server = PostgresServer(bindir)
    t0 = time.perf_counter()
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    server.startup_seconds = time.perf_counter() - t0
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database("edigate")
