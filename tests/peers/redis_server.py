"""A real Redis server for the tests (huey's scale-out queue): one per session, on loopback.

Debian's ``redis-server`` package; when it is absent the tests that need it are
skipped, saying so (``make test`` installs the package). The server runs in the
foreground as a child of the test process, in a temporary directory, with no
persistence (no RDB snapshots, no AOF): started in a few milliseconds, gone
without a trace when stopped.

Fixtures (registered in tests/conftest.py): ``redis_server`` (session; ``.url(db)``,
``.flush()``) and ``redis_url`` (``redis://127.0.0.1:PORT/0``, every database emptied first).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest
import redis

from tests.support.ports import free_port

INSTALL_HINT = "Debian package `redis-server` (make test installs it)"


def find_redis_server() -> Optional[str]:
    """$REDIS_SERVER, or redis-server on PATH (Debian: /usr/bin/redis-server)."""
    if os.environ.get("REDIS_SERVER"):
        path = os.environ["REDIS_SERVER"]
        return path if os.access(path, os.X_OK) else None
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None)



class RedisServer:
    def __init__(self, executable: str):
        self.executable = executable
        self.root = Path(tempfile.mkdtemp(prefix="edigate-redis-"))
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _ping(self) -> bool:
        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1,
                                    socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self, timeout: float = 10) -> None:
        for attempt in range(5):
            self.port = free_port()
            log = open(self.root / "redis.log", "ab")
            self.proc = subprocess.Popen(
                [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                 "--databases", "4", "--loglevel", "warning"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:      # e.g. the port was taken in the meantime
                    break
                if self._ping():
                    return
                time.sleep(0.02)
            self._kill()
        text = (self.root / "redis.log").read_text(errors="replace")
        raise RuntimeError(f"redis-server did not start:\n{text[-3000:]}")

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def flush(self) -> None:
        """Every key of every database gone (FLUSHALL): a clean server for the next test."""
        redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5).flushall()

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server for the session (per test process); ``redis_url`` empties it for each test."""
    executable = find_redis_server()
    if executable is None:
        pytest.skip(f"redis-server not found: {INSTALL_HINT}")
    server = RedisServer(executable)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """Database 0 of the session's server, emptied: each test starts with no keys at all."""
    redis_server.flush()
    return redis_server.url()
