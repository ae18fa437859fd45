"""A real edigate server in its own process (``edigate serve``), for end-to-end tests.

The test process prepares the database (organisation, partners, a user and an
API token) through the same models the server uses, starts ``python -m
gateway.cli.documents serve --no-demo`` on a free loopback port, and talks to it over HTTP
like a partner or an operator would. ``kill()`` is a SIGKILL: nothing is
flushed, nothing is said goodbye.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import requests

from gateway.config import load_settings
from gateway.runtime import Gateway

from tests.support.ports import free_port
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


class ChildProcess:
    """A process of ours started by a test: ``kill()`` (SIGKILL: the crash a power cut or the OOM
    killer gives; nothing flushed) and ``stop()`` (SIGTERM, then SIGKILL after 20 s)."""
    proc: Optional[subprocess.Popen] = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class GatewayProcess(ChildProcess):
    def __init__(self, home: Path, *, port: Optional[int] = None, extra_env: Optional[dict] = None,
                 demo: bool = False, processes: Optional[int] = 0):
        """``processes``: ``--processes`` of ``edigate serve``. 0 by default: the jobs run on the
        server's own threads (what serve does on one core), which spares each test two interpreter
        start-ups; None: serve's own default (a worker process per core), for the tests of the worker
        processes themselves and of crashes (``test_serve_workers``, ``test_scale_out``, the
        crash tests)."""
        self.processes = processes
        self.home = Path(home)
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.as2_url = self.base + "/as2"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGATE_")}
        self.sftp_port = free_port()
        self.env.update({"EDIGATE_HOME": str(self.home), "EDIGATE_HTTP_PORT": str(self.port),
                         "EDIGATE_SFTP_PORT": str(self.sftp_port),
                         "EDIGATE_CERTS_DIR": str(self.home / "certs"), "PYTHONUNBUFFERED": "1",
                         "EDIGATE_LANGUAGE": "en"})     # the suite reads English pages (extra_env may say fr)
        self.env.update(extra_env or {})
        self.settings = load_settings({k: v for k, v in self.env.items() if k.startswith("EDIGATE_")})
        self.proc: Optional[subprocess.Popen] = None
        self.demo = demo
        self.starts = 0
        self.token: Optional[str] = None

    def gateway(self) -> Gateway:
        """The same database and payload store, opened from the test process (jobs not run here)."""
        return Gateway(self.settings)

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        log = open(self.home.parent / f"{self.home.name}-server-{self.starts}.log", "wb")
        args = [sys.executable, "-m", "gateway.cli", "serve"] + ([] if self.demo else ["--no-demo"]) \
            + ([] if self.processes is None else ["--processes", str(self.processes)])
        self.proc = subprocess.Popen(args,
                                     cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("edigate serve exited: " + self.log_tail())
            try:
                if requests.get(self.as2_url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("edigate serve did not start: " + self.log_tail())

    def log_tail(self, n: int = 4000) -> str:
        logs = sorted(self.home.parent.glob(f"{self.home.name}-server-*.log"))
        return logs[-1].read_text(errors="replace")[-n:] if logs else ""

    # --- the REST API as an operator --------------------------------------------------
    def api(self, path: str, *, method: str = "GET", json=None, **params):
        r = requests.request(method, self.base + "/api/v1" + path, params=params, json=json, timeout=30,
                             headers={"Authorization": f"Bearer {self.token}"})
        r.raise_for_status()
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r.content


def setup_records(gw: Gateway, *, identity: str, our_key: Path, partners: list[dict]) -> SimpleNamespace:
    """Our organisation with AS2 identity ``identity`` (key at ``our_key``, certificate beside it),
    the partners (dicts of Partner columns plus ``cert_pem`` and ``identifiers``), an operator and
    an API token. Returns the token and the partner ids by name."""
    from gateway.db import AS2Identity, Certificate, Organisation, Partner
    from gateway.db.access import User, issue_token

    ids = {}
    with gw.session() as s:
        org = Organisation(name="edigate test")
        org.as2_identities.append(AS2Identity(as2_name=identity, signing_key_ref=str(our_key),
                                              encryption_key_ref=str(our_key)))
        s.add(org)
        s.flush()
        cert_path = Path(str(our_key).replace(".key.pem", ".cert.pem"))
        s.add(Certificate.from_pem(cert_path.read_bytes(), organisation=org, key_ref=str(our_key)))
        for spec in partners:
            spec = dict(spec)
            cert, idents = spec.pop("cert_pem", None), spec.pop("identifiers", ())
            p = Partner(**spec)
            for scheme, value in idents:
                p.add_identifier(scheme, value)
            s.add(p)
            s.flush()
            if cert:
                s.add(Certificate.from_pem(cert, partner=p))
            ids[p.name] = p.id
        user = User.create("operator", "operator-password", "operator")
        s.add(user)
        s.flush()
        _, token = issue_token(s, user, "tests")
    return SimpleNamespace(token=token, partner_ids=ids)
