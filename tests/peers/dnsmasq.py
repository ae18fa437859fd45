"""A real DNS server for the tests: dnsmasq on 127.0.0.1, serving a test SML zone.

Debian's ``dnsmasq-base`` (the program without the system service); when it is
absent the tests that need it are skipped, saying so (``make`` installs it).
dnsmasq answers NAPTR records (``--naptr-record``), CNAMEs (``--cname``) and
addresses (``--host-record``) from its command line, so a test hands it the
records of its zone and gets a server on a free port, in the foreground as a
child of the test process, reading no configuration file, no /etc/hosts and no
upstream server: a name of the zone it was not given is NXDOMAIN
(``--local``), anything else is refused.

    with DnsServer(zone="sml.test", naptr=[(name, url)], cnames=[...], hosts=[...]) as dns:
        dns.port
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import pytest

from tests.support.ports import free_port

INSTALL_HINT = "Debian package `dnsmasq-base` (packaging/debian-packages.txt; make installs it)"


def find_dnsmasq() -> Optional[str]:
    return shutil.which("dnsmasq") or next(
        (p for p in ("/usr/sbin/dnsmasq", "/usr/bin/dnsmasq") if os.access(p, os.X_OK)), None)


def require_dnsmasq() -> str:
    path = find_dnsmasq()
    if path is None:
        pytest.skip(f"dnsmasq not found: {INSTALL_HINT}")
    return path


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class DnsServer:
    """dnsmasq serving ``zone``: NAPTR records ``(name, url)`` with flag U and service
    ``Meta:SMP`` (or ``(name, order, preference, flags, service, regexp)``), ``cnames``
    ``(alias, target)`` and ``hosts`` ``(name, address)``."""

    def __init__(self, zone: str, *, naptr: Sequence[tuple] = (), cnames: Sequence[tuple[str, str]] = (),
                 hosts: Sequence[tuple[str, str]] = ()):
        self.executable = require_dnsmasq()
        self.zone = zone.strip(".")
        self.naptr, self.cnames, self.hosts = list(naptr), list(cnames), list(hosts)
        self.root = Path(tempfile.mkdtemp(prefix="edigate-dnsmasq-"))
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None

    def _args(self) -> list[str]:
        args = [self.executable, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--no-poll", "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
                "--pid-file", f"--local=/{self.zone}/", "--log-facility=-", "--cache-size=0"]
        if os.geteuid() == 0:
            args.append(f"--user={getpass.getuser()}")      # root stays root: no dnsmasq user needed
        for record in self.naptr:
            if len(record) == 2:
                name, url = record
                record = (name, 10, 10, "U", "Meta:SMP", f"!^.*$!{url}!")
            args.append("--naptr-record=" + ",".join(str(x) for x in record))
        for alias, target in self.cnames:
            args.append(f"--cname={alias},{target}")
        for name, address in self.hosts:
            args.append(f"--host-record={name},{address}")
        return args

    def _answers(self) -> bool:
        import dns.message
        import dns.query
        try:
            dns.query.udp(dns.message.make_query(f"probe.{self.zone}", "A"), "127.0.0.1", port=self.port,
                          timeout=0.5)
            return True
        except Exception:       # noqa: BLE001 - not up yet
            return False

    def start(self, timeout: float = 10) -> "DnsServer":
        for _ in range(5):
            self.port = free_port()
            if not _udp_port_free(self.port):
                continue
            log = open(self.root / "dnsmasq.log", "ab")
            self.proc = subprocess.Popen(self._args(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return self
                time.sleep(0.05)
            self._kill()
        raise RuntimeError("dnsmasq did not start:\n" + (self.root / "dnsmasq.log").read_text(errors="replace")[-3000:])

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
