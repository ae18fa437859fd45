"""``edigate worker`` in its own process, beside a ``GatewayProcess`` (scale-out tests).

It runs with exactly the server's environment (same database, job queue, payload
store and certificates), so it is one more consumer on the same queue. Its
output goes to ``<home>-worker-<name>-<n>.log`` beside the server's logs.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from tests.support.gateway_process import REPO, ChildProcess, GatewayProcess


class WorkerProcess(ChildProcess):
    """``kill()``: jobs it holds die with it."""

    def __init__(self, server: GatewayProcess, *, name: str = "w1", workers: int = 2):
        self.server = server
        self.name = name
        self.workers = workers
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self.log_path: Optional[Path] = None
        self.pids: list[int] = []                  # one per start

    def start(self, timeout: float = 30, *, wait: bool = True) -> None:
        """Start and (``wait``) wait for its "edigate worker" line (schema migrated, consumer about
        to run); ``wait=False`` returns at once: call ``wait_started()`` later."""
        self.starts += 1
        home = self.server.home
        self.log_path = home.parent / f"{home.name}-worker-{self.name}-{self.starts}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "--workers", str(self.workers)],
                                     cwd=REPO, env=self.server.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.pids.append(self.proc.pid)
        if wait:
            self.wait_started(timeout)

    def wait_started(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("edigate worker exited: " + self.log_text()[-4000:])
            if "edigate worker:" in self.log_text():
                return
            time.sleep(0.05)
        raise RuntimeError("edigate worker did not start: " + self.log_text()[-4000:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def logs(self) -> str:
        """Every start's log, in order."""
        home = self.server.home
        return "".join(p.read_text(errors="replace")
                       for p in sorted(home.parent.glob(f"{home.name}-worker-{self.name}-*.log")))

    def tcp_ports(self) -> set[int]:
        """Local ports of its IPv4 TCP sockets (its Redis connections among them), from /proc."""
        if self.proc is None or self.proc.poll() is not None:
            return set()
        inodes = set()
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        ports = set()
        for line in Path(f"/proc/{self.proc.pid}/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) > 9 and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        return ports
