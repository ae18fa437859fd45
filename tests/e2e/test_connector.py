"""The ERP connector (``edigate-connector pull``) against a real gateway (``edigate serve`` in
its own process, tests/support/gateway_process.py), run as its own process too, writing into a real
folder. Invoices reach the recipient through the real pipeline (uploaded to the REST API).

The kill test: an HTTP relay between the connector and the gateway holds the connector's
first acknowledgement (so its files are written and nothing is acknowledged yet), the
connector is SIGKILLed right then, and a second run straight to the gateway must leave
each invoice in the folder exactly once, under the same name with the same bytes, and
acknowledged on the gateway.
"""
from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import pytest
import requests
import sqlalchemy as sa

from connectors.pull import LOCK_NAME, TEMP_SUFFIX, file_name
from gateway.db import Delivery, DocumentRecord, Partner, User, issue_token
from gateway.syntaxes import read_documents, write_document
from gateway.model.invoice import Identifier
from gateway.model.json_form import from_dict

from tests.support.gateway_process import REPO, GatewayProcess
from tests.support.ports import free_port
from tests.support.waiting import wait_for
from tests.support.invoice_builder import build_invoice

D = Decimal
_gln = itertools.count(4100000000001)


# --- a running gateway, shared by the tests of this module -----------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("connector")
    server = GatewayProcess(work / "gateway")
    gw = server.gateway()
    with gw.session() as s:
        user = User.create("operator", "operator-password", "operator")
        s.add(user)
        s.flush()
        server.token = issue_token(s, user, "tests")[1]
    server.start()
    server.gw = gw
    yield server
    server.stop()
    gw.close()


def _recipient(server, tmp_path, *, fmt: str = "csv-lines") -> SimpleNamespace:
    """A partner of its own for each test (ERP channel), a recipient login and its token file."""
    gln = str(next(_gln))
    with server.gw.session() as s:
        p = Partner(name=f"ERP buyer {gln}", preferred_format=fmt, preferred_channel="erp")
        p.add_identifier("0088", gln)
        s.add(p)
        s.flush()
        user = User.create(f"erp-{gln}", "erp-password", "recipient", partner_id=p.id)
        s.add(user)
        s.flush()
        token = issue_token(s, user, "connector")[1]
        partner_id, username = p.id, user.username
    token_file = tmp_path / f"token-{gln}"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    folder = tmp_path / f"erp-inbox-{gln}"
    folder.mkdir()
    return SimpleNamespace(gln=gln, partner_id=partner_id, token=token, token_file=token_file,
                           username=username, folder=folder)


def _seed(server, rcpt, numbers: list[str]) -> list[int]:
    """Upload one UBL invoice per number for ``rcpt`` and wait until each is a delivery on the
    ERP channel; returns their document ids in upload order."""
    for n, number in enumerate(numbers):
        inv = build_invoice(net=D("100.00") + n)
        inv.number = number
        inv.buyer.electronic_address = Identifier(rcpt.gln, "0088")
        r = requests.post(f"{server.base}/api/v1/documents", params={"filename": f"{number}.xml"},
                          data=write_document(inv, "ubl").data, timeout=30,
                          headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/xml"})
        assert r.status_code == 202, r.text

    def routed():
        with server.gw.session() as s:
            rows = s.execute(sa.select(Delivery.id, Delivery.status, DocumentRecord.id, DocumentRecord.number)
                             .join(Delivery.document)
                             .where(Delivery.recipient_partner_id == rcpt.partner_id, Delivery.channel == "erp")
                             .order_by(Delivery.id)).all()
            # the pipeline makes an ERP delivery available (delivered) at once: the ERP pulls
            return rows if len(rows) == len(numbers) and {r[1] for r in rows} == {"delivered"} else None

    rows = wait_for(routed, 120, f"{len(numbers)} ERP deliveries available")
    by_number = {number: doc_id for _, _, doc_id, number in rows}
    return [by_number[n] for n in numbers]


def _connector(url: str, rcpt, fmt: str, *extra: str, token_file: Optional[Path] = None,
               env: Optional[dict] = None) -> list[str]:
    return [sys.executable, "-m", "connectors.cli", "pull", "--url", url,
            "--token-file", str(token_file or rcpt.token_file), "--to", str(rcpt.folder), "--format", fmt, *extra]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDIGATE_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def _run(args, *, env=None, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env or _env(), capture_output=True, text=True, timeout=timeout)


def _files(folder: Path) -> dict[str, bytes]:
    """What the ERP sees in its folder (hidden files are the connector's own)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def _api(server, rcpt, path: str, **params):
    r = requests.get(f"{server.base}/api/v1/erp{path}", params=params, timeout=60,
                     headers={"Authorization": f"Bearer {rcpt.token}"})
    r.raise_for_status()
    return r


def _deliveries(server, rcpt) -> dict[int, tuple[str, list]]:
    with server.gw.session() as s:
        return {d.document_id: (d.status, [(e.status, e.reason) for e in d.history])
                for d in s.scalars(sa.select(Delivery).where(Delivery.recipient_partner_id == rcpt.partner_id))}


# --- an HTTP relay in front of the gateway -----------------------------------------------------

class Relay:
    """Forwards the connector's requests to the gateway; can answer 503 to the first few
    (``down``) and hold acknowledgements (``hold_acks``) until released."""

    def __init__(self, upstream: str, *, hold_acks: bool = False, down: int = 0, refuse: frozenset[int] = frozenset()):
        self.upstream, self.hold_acks, self.down, self.refuse = upstream, hold_acks, down, refuse
        self.acks: list[dict] = []
        self.ack_held = threading.Event()
        self.release = threading.Event()
        self.refused = 0
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str, body: Optional[bytes] = None) -> None:
                if relay.down > 0:
                    relay.down -= 1
                    relay.refused += 1
                    self._answer(503, b'{"error": "down for the test", "details": null}',
                                 {"Content-Type": "application/json"})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                r = requests.request(method, relay.upstream + self.path, headers=headers, data=body, timeout=60)
                keep = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "content-disposition")}
                self._answer(r.status_code, r.content, keep)

            def do_GET(self):
                m = re.match(r"/api/v1/erp/invoices/(\d+)/content", self.path)
                if m and int(m.group(1)) in relay.refuse:
                    self._answer(422, b'{"error": "cannot write it for the test", "details": null}',
                                 {"Content-Type": "application/json"})
                    return
                self._forward("GET")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if relay.hold_acks and self.path.startswith("/api/v1/erp/invoices/ack"):
                    relay.acks.append(json.loads(body))
                    relay.ack_held.set()
                    relay.release.wait(120)          # never forwarded: the gateway never hears of it
                    try:
                        self._answer(503, b"{}", {"Content-Type": "application/json"})
                    except OSError:
                        pass
                    return
                self._forward("POST", body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# --- tests ---------------------------------------------------------------------------------

def test_pull_writes_each_invoice_once_then_acknowledges(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    ids = _seed(server, rcpt, ["C-001", "C-002", "C-003"])
    done = _run(_connector(server.base, rcpt, "csv", "--once"))
    assert done.returncode == 0, done.stderr
    assert "3 file(s) written, 0 already there, 3 invoice(s) acknowledged" in done.stderr
    files = _files(rcpt.folder)
    assert sorted(files) == sorted(f"{i}-C-00{n}.csv" for n, i in enumerate(ids, start=1))
    for n, doc_id in enumerate(ids, start=1):
        data = files[f"{doc_id}-C-00{n}.csv"]
        assert data == _api(server, rcpt, f"/invoices/{doc_id}/content", format="csv").content
        (doc,) = read_documents(data)
        assert doc.syntax == "csv-lines" and doc.invoice.number == f"C-00{n}"
        assert doc.invoice.totals.total_without_vat == D("100.00") + n - 1
    deliveries = _deliveries(server, rcpt)
    assert {doc_id: status for doc_id, (status, _) in deliveries.items()} == {i: "acknowledged" for i in ids}
    assert all(history[-1][1].startswith(f"acknowledged over the ERP pull API by {rcpt.username}")
               for _, history in deliveries.values())
    assert _api(server, rcpt, "/invoices").json()["items"] == []
    state = json.loads((rcpt.folder / ".edigate-connector-state.json").read_text())
    assert state["error"] is None and sorted(state["acknowledged"]) == sorted(ids)

    again = _run(_connector(server.base, rcpt, "csv", "--once"))           # nothing new: nothing touched
    assert again.returncode == 0, again.stderr
    assert "0 file(s) written, 0 already there, 0 invoice(s) acknowledged" in again.stderr
    assert _files(rcpt.folder) == files


def test_killed_between_writing_and_acknowledging_then_restarted_delivers_exactly_once(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    numbers = [f"K-{n:03d}" for n in range(1, 6)]
    ids = _seed(server, rcpt, numbers)
    name_of = {i: f"{i}-{number}.csv" for i, number in zip(ids, numbers)}
    listed = [item["id"] for item in _api(server, rcpt, "/invoices").json()["items"]]    # oldest first
    assert sorted(listed) == sorted(ids)
    relay = Relay(server.base, hold_acks=True)
    try:
        proc = subprocess.Popen(_connector(relay.url, rcpt, "csv", "--once", "--page-size", "2"), cwd=REPO,
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert relay.ack_held.wait(120), "the connector never acknowledged"
            proc.kill()                                         # SIGKILL, with its first ack in flight
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -9
    finally:
        relay.close()
    (held,) = relay.acks
    assert held == {"ids": listed[:2]}                          # the first page
    first = _files(rcpt.folder)
    assert set(first) == {name_of[i] for i in listed[:2]}      # written before the ack
    assert {s for s, _ in _deliveries(server, rcpt).values()} == {"delivered"}     # nothing acknowledged
    assert [item["id"] for item in _api(server, rcpt, "/invoices").json()["items"]] == listed
    inodes = {name: (rcpt.folder / name).stat().st_ino for name in first}
    # what a crash in the middle of a write leaves: a hidden temporary, never an invoice file
    leftover = rcpt.folder / f".{name_of[listed[2]]}.abc123{TEMP_SUFFIX}"
    leftover.write_bytes(b"half an invoi")

    done = _run(_connector(server.base, rcpt, "csv", "--once", "--page-size", "2"))
    assert done.returncode == 0, done.stderr
    assert "3 file(s) written, 2 already there, 5 invoice(s) acknowledged" in done.stderr
    files = _files(rcpt.folder)
    assert set(files) == set(name_of.values())                  # no loss, no duplicate
    assert {name: files[name] for name in first} == first       # same names, same bytes
    assert {name: (rcpt.folder / name).stat().st_ino for name in first} == inodes    # not even rewritten
    assert not leftover.exists()
    assert not [p for p in rcpt.folder.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    for doc_id, number in zip(ids, numbers):
        data = files[f"{doc_id}-{number}.csv"]
        assert data == _api(server, rcpt, f"/invoices/{doc_id}/content", format="csv").content
        assert read_documents(data)[0].invoice.number == number
    deliveries = _deliveries(server, rcpt)
    assert {doc_id: status for doc_id, (status, _) in deliveries.items()} == {i: "acknowledged" for i in ids}
    assert all(sum(1 for s, _ in history if s == "acknowledged") == 1 for _, history in deliveries.values())
    assert _api(server, rcpt, "/invoices").json()["items"] == []


def test_an_invoice_that_cannot_be_fetched_is_left_for_the_next_pull(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    ids = _seed(server, rcpt, ["P-1", "P-2", "P-3"])
    relay = Relay(server.base, refuse=frozenset({ids[1]}))
    try:
        done = _run(_connector(relay.url, rcpt, "csv", "--once"))
    finally:
        relay.close()
    assert done.returncode == 1
    assert f"invoice {ids[1]} (P-2): not fetched as csv: 422: cannot write it for the test" in done.stderr
    assert "2 file(s) written, 0 already there, 2 invoice(s) acknowledged, 1 left for the next pull" in done.stderr
    assert set(_files(rcpt.folder)) == {f"{ids[0]}-P-1.csv", f"{ids[2]}-P-3.csv"}
    statuses = {doc_id: status for doc_id, (status, _) in _deliveries(server, rcpt).items()}
    assert statuses == {ids[0]: "acknowledged", ids[1]: "delivered", ids[2]: "acknowledged"}
    done = _run(_connector(server.base, rcpt, "csv", "--once"))
    assert done.returncode == 0, done.stderr
    assert set(_files(rcpt.folder)) == {f"{ids[0]}-P-1.csv", f"{ids[1]}-P-2.csv", f"{ids[2]}-P-3.csv"}
    assert {status for status, _ in _deliveries(server, rcpt).values()} == {"acknowledged"}


@pytest.mark.parametrize("fmt, number, suffix", [("json", "J/2025/7", ".json"), ("ubl", "J/2025/8", ".xml"),
                                                 ("edifact-d97a", "J/2025/9", ".edi")])
def test_json_ubl_and_edifact_files_are_the_apis_bytes(server, tmp_path, fmt, number, suffix) -> None:
    """Any flavour the gateway writes can be pulled, named with the extension the gateway gives
    its download: the connector lists none (D.97A came after it)."""
    rcpt = _recipient(server, tmp_path, fmt="cii")
    (doc_id,) = _seed(server, rcpt, [number])
    done = _run(_connector(server.base + "/api/v1/", rcpt, fmt))              # --once is the default
    assert done.returncode == 0, done.stderr
    name = f"{doc_id}-{number.replace('/', '_')}{suffix}"
    assert list(_files(rcpt.folder)) == [name] == [file_name({"id": doc_id, "number": number}, suffix)]
    data = (rcpt.folder / name).read_bytes()
    assert data == _api(server, rcpt, f"/invoices/{doc_id}/content", format=fmt).content
    invoice = from_dict(json.loads(data)) if fmt == "json" else read_documents(data)[0].invoice
    if fmt.startswith("edifact"):
        assert b"INVOIC:D:97A:UN" in data
    assert (invoice.number, invoice.totals.amount_due) == (number, D("119.00"))


def test_a_format_the_gateway_does_not_offer_stops_the_pull_as_a_usage_error(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    (doc_id,) = _seed(server, rcpt, ["F-1"])
    done = _run(_connector(server.base, rcpt, "edifact-d42z"))
    assert done.returncode == 2, done.stderr
    assert "the gateway does not offer the format 'edifact-d42z'" in done.stderr
    assert list(_files(rcpt.folder)) == []
    assert {status for status, _ in _deliveries(server, rcpt).values()} == {"delivered"}   # not acknowledged
    done = _run(_connector(server.base, rcpt, "../ubl"))
    assert done.returncode == 2 and "is not a format name" in done.stderr


def test_the_token_may_come_from_the_environment(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    (doc_id,) = _seed(server, rcpt, ["E-1"])
    args = [sys.executable, "-m", "connectors.cli", "pull", "--url", server.base, "--to", str(rcpt.folder),
            "--format", "csv", "--once"]
    done = _run(args, env=_env(EDIGATE_CONNECTOR_TOKEN=rcpt.token))
    assert done.returncode == 0, done.stderr
    assert list(_files(rcpt.folder)) == [f"{doc_id}-E-1.csv"]
    assert _run(args).returncode == 2                                # no token at all: usage
    assert "no token" in _run(args).stderr


def test_a_refused_token_exits_3_and_writes_nothing(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    _seed(server, rcpt, ["R-1"])
    bogus = tmp_path / "bogus-token"
    bogus.write_text("edg_" + "x" * 43)
    bogus.chmod(0o600)
    done = _run(_connector(server.base, rcpt, "csv", "--once", token_file=bogus))
    assert done.returncode == 3
    assert "the gateway refused the token (401)" in done.stderr
    assert _files(rcpt.folder) == {}
    assert {s for s, _ in _deliveries(server, rcpt).values()} == {"delivered"}
    # --every stops too: a refused token does not fix itself
    done = _run(_connector(server.base, rcpt, "csv", "--every", "1s", token_file=bogus), timeout=60)
    assert done.returncode == 3 and "a new token is needed" in done.stderr


def test_an_unreachable_gateway_exits_4_once_and_is_retried_every(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    (doc_id,) = _seed(server, rcpt, ["U-1"])
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = _run(_connector(nowhere, rcpt, "csv", "--once"))
    assert done.returncode == 4
    assert f"cannot reach the gateway at {nowhere}/api/v1/erp" in done.stderr
    state = json.loads((rcpt.folder / ".edigate-connector-state.json").read_text())
    assert state["error"].startswith("cannot reach the gateway")

    relay = Relay(server.base, down=3)                # answers 503 three times, then relays
    proc = subprocess.Popen(_connector(relay.url, rcpt, "csv", "--every", "2s"), cwd=REPO, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _files(rcpt.folder), 120, "the invoice written after the gateway came back")
        wait_for(lambda: {s for s, _ in _deliveries(server, rcpt).values()} == {"acknowledged"}, 60,
                 "the acknowledgement")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        relay.close()
    assert relay.refused == 3
    retries = [line.rsplit("trying again in ", 1)[1] for line in err.splitlines() if "trying again in" in line]
    assert retries == ["1s", "2s", "2s"]              # doubling, never longer than --every
    assert err.count("the gateway answered 503 on GET /invoices: down for the test") == 3
    assert list(_files(rcpt.folder)) == [f"{doc_id}-U-1.csv"]


def test_one_connector_per_folder_and_the_folder_must_exist(server, tmp_path) -> None:
    rcpt = _recipient(server, tmp_path)
    _seed(server, rcpt, ["L-1"])
    with open(rcpt.folder / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = _run(_connector(server.base, rcpt, "csv", "--once"))
    assert done.returncode == 5 and f"another connector is pulling into {rcpt.folder}" in done.stderr
    assert _files(rcpt.folder) == {}
    rcpt.folder = tmp_path / "no-such-folder"
    done = _run(_connector(server.base, rcpt, "csv", "--once"))
    assert done.returncode == 5 and "is not a folder" in done.stderr
    assert not rcpt.folder.exists()
