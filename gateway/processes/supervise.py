"""Worker processes of ``edigate serve``: started with it, restarted when they die, gone with it.

Why processes: reading, checking and recording a document is Python work that
holds the interpreter lock. In the server's own process it competes with the
SFTP server, AS2 and the web pages, which partners are waiting on; in a process
of its own it runs on another core. So on a machine with more than one core,
``edigate serve`` runs its job consumers as ``edigate worker`` processes (one
per core by default, each with its threads), reading the same ``EDIGATE_*``
environment, and consumes nothing in-process. On one core it keeps its
in-process threads, as before.

No worker outlives its server, however the server ends:

* a stop (SIGTERM, SIGINT) stops the workers first: SIGINT, which huey takes
  as "finish the job in hand", then SIGKILL past a deadline;
* a server killed outright (SIGKILL, a crash, the OOM killer) cannot say
  anything: each worker asks Linux for a SIGTERM when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``) and, everywhere, watches its parent's pid and
  stops when it changes. A job cut that way leaves its exchange
  ``acknowledged``; the next sweep prompts it again (``gateway.jobs``).

Workers are niced a little (``WORKER_NICENESS``): when both are busy, taking a
partner's upload (which the partner waits for) goes before processing one
(which nobody waits for).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Optional

log = logging.getLogger("edigate.server")

PARENT_ENV = "EDIGATE_SUPERVISOR_PID"     # set for the workers of a server: the pid they watch
WORKER_NICENESS = 5
STOP_SECONDS = 20.0                       # a worker finishing its job on stop, before SIGKILL
RESTART_PAUSE = 1.0                       # between a worker dying and its replacement
_PR_SET_PDEATHSIG = 1


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_processes() -> int:
    """Worker processes ``edigate serve`` starts: one per usable core when there is more than one
    (the server's own threads mostly wait on sockets and disks); none on one core."""
    cores = usable_cores()
    return cores if cores > 1 else 0


class Workers:
    """``processes`` ``edigate worker`` processes with ``threads`` threads each, for this process."""

    def __init__(self, processes: int, threads: int):
        self.processes, self.threads = processes, threads
        self._procs: list[Optional[subprocess.Popen]] = [None] * processes
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watch: Optional[threading.Thread] = None

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs if p is not None and p.poll() is None]

    def _spawn(self, slot: int) -> None:
        env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
        proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker", "--workers", str(self.threads)],
                                env=env, stdin=subprocess.DEVNULL)
        self._procs[slot] = proc
        log.info("worker process %d started (pid %d, %d threads)", slot + 1, proc.pid, self.threads)

    def start(self) -> None:
        with self._lock:
            for slot in range(self.processes):
                self._spawn(slot)
        # Restarts come from this thread, which lives as long as the server: the death signal a
        # worker asks for follows the thread that started it.
        self._watch = threading.Thread(target=self._keep, name="edigate-workers", daemon=True)
        self._watch.start()

    def _keep(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                for slot, proc in enumerate(self._procs):
                    if proc is None or proc.poll() is None or self._stopping.is_set():
                        continue
                    log.error("worker process %d (pid %d) ended with %s: starting another", slot + 1, proc.pid,
                              proc.returncode)
                    time.sleep(RESTART_PAUSE)
                    if not self._stopping.is_set():
                        self._spawn(slot)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGINT (huey: finish the job in hand and leave), SIGKILL for what is left at ``timeout``."""
        self._stopping.set()
        with self._lock:
            procs = [p for p in self._procs if p is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop within %.0f s: killed", p.pid, timeout)
                p.kill()
                p.wait()


def watch_parent() -> None:
    """In a worker started by a server (``PARENT_ENV`` set): end when that server is gone. Asks for
    SIGTERM at the parent's death where Linux offers it, and watches the parent pid in a thread
    everywhere (SIGTERM to itself, then a hard exit if that was not enough)."""
    expected = os.environ.pop(PARENT_ENV, None)
    if not expected:
        return
    parent = int(expected)
    _ask_death_signal()
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass
    if os.getppid() != parent:          # it died before we asked
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        log.warning("edigate worker: its server (pid %d) is gone: stopping", parent)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="edigate-parent-watch", daemon=True).start()


def _ask_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass
