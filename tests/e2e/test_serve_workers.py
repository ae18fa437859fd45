"""``edigate serve`` with its job consumers in worker processes (``gateway.processes.supervise``).

Started with ``--processes 2`` (what a machine with two cores gets by default),
the server starts two ``edigate worker`` processes of its own and consumes
nothing itself: a received file is processed by one of the workers, as the
"by pid" line of the log says. Then the two ways a server ends:

* SIGKILL of the server (nothing runs in it any more to stop anyone): each
  worker notices its parent is gone and ends, none is left behind;
* SIGTERM: the server stops its workers before it exits.
"""
from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Optional

import sqlalchemy as sa

from gateway.db import Exchange
from gateway.flow.receive import receive_file
from gateway.syntaxes import write_document

from tests.support.gateway_process import GatewayProcess, setup_records
from tests.support.invoice_builder import build_invoice
from tests.support.waiting import wait_for

STARTED = re.compile(r"worker process (\d+) started \(pid (\d+)")
PROCESSED = re.compile(r"exchange (\d+) (\w+) by pid (\d+) \((\d+) SQL statements\)")


class ServerWithWorkers(GatewayProcess):
    """``edigate serve --no-demo --processes N`` and the worker pids its log names."""

    def __init__(self, home: Path, processes: int):
        super().__init__(home, processes=processes)

    def worker_pids(self) -> list[int]:
        return [int(pid) for _, pid in STARTED.findall(self.log_tail(10 ** 9))]


def _parent_of(pid: int) -> Optional[int]:
    """The parent pid of a live process; None when it is gone (or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == "Z" else int(fields[1])


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if _parent_of(pid) is not None]


def _start(tmp_path: Path, name: str) -> ServerWithWorkers:
    server = ServerWithWorkers(tmp_path / name, processes=2)
    server.start()
    pids = wait_for(lambda: len(server.worker_pids()) == 2 and server.worker_pids(), 30, "two worker processes")
    assert all(_parent_of(pid) == server.proc.pid for pid in pids), [(pid, _parent_of(pid)) for pid in pids]
    return server


def test_workers_do_the_processing_and_die_with_a_killed_server(tmp_path) -> None:
    server = _start(tmp_path, "killed")
    try:
        workers = server.worker_pids()
        gw = server.gateway()
        from gateway import certs
        ours = certs.ensure_dev_keypair(tmp_path / "keys", "edigate")
        rec = setup_records(gw, identity="EDIGATE", our_key=ours.key_path, partners=[dict(name="Sender")])
        ex_id = receive_file(gw, write_document(build_invoice(), "ubl").data, channel="api",
                             partner_id=rec.partner_ids["Sender"], filename="one.xml").id

        def processed() -> bool:
            with gw.session() as s:
                return s.scalar(sa.select(Exchange.status).where(Exchange.id == ex_id)) == "processed"
        wait_for(processed, 60, "the exchange to be processed")
        lines = wait_for(lambda: [m for m in PROCESSED.findall(server.log_tail(10 ** 9)) if int(m[0]) == ex_id],
                         10, "the worker's log line")
        assert [(status, int(pid)) for _, status, pid, _ in lines] in ([("processed", w)] for w in workers), lines
        assert int(lines[0][3]) > 0                 # the statements it took are counted
        gw.close()

        server.kill()                               # SIGKILL: the server cannot tell anyone
        assert server.proc.returncode == -signal.SIGKILL
        wait_for(lambda: not _alive(workers), 30, f"the workers {workers} to end after their server's SIGKILL")
    finally:
        for pid in _alive(server.worker_pids()):    # never leave one behind, whatever failed
            os.kill(pid, signal.SIGKILL)
        server.stop()


def test_a_stopped_server_stops_its_workers_first(tmp_path) -> None:
    server = _start(tmp_path, "stopped")
    workers = server.worker_pids()
    try:
        server.proc.terminate()
        assert server.proc.wait(60) == 0, server.log_tail()
        assert not _alive(workers), [(pid, _parent_of(pid)) for pid in workers]
    finally:
        for pid in _alive(workers):
            os.kill(pid, signal.SIGKILL)
        server.stop()
