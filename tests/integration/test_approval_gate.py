"""An approval holds the invoice's delivery to the buyer organisation whatever its channel, and
releases it once: AS2, SFTP, e-mail and the XP Z12-013 flow API, each against a real part.

One gateway for the module (SQLite and payload store under a temporary folder, jobs run at
enqueue), with four buyer organisations, one per channel family, each with an approval rule
that makes every invoice wait for its approver:

* AS2: the buyer's AS2 server is our transport's endpoint on a loopback HTTP server, with its
  own keys (every message really goes over HTTP, signed and encrypted, its MDN judged);
* SFTP: the buyer's account on our SFTP server, whose ``outbound/`` it picks up from;
* e-mail: a real SMTP server on loopback (aiosmtpd);
* the flow API: the buyer's ERP asks our Flow Service (the Flask app under a real server
  thread) for its In flows with its own bearer token.

Each test proves that nothing of the invoice reaches the buyer before the approval (no
exchange, no file, no mail, no flow; the delivery ``pending_approval`` on the API), and that it
arrives exactly once after it, the sweep's catch-up and a second release adding nothing.
A refusal cancels the delivery (nothing ever leaves) and the supplier gets the refusal (CDAR
210) in its status syntax.
"""
from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from types import SimpleNamespace
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
import sqlalchemy as sa

from gateway import certs
from gateway.approvals import decide, rules, sweep
from gateway.channels.sftp import accounts_root
from gateway.config import load_settings
from gateway.db import Delivery, DocumentRecord, Exchange, Partner, SftpAccount, User, issue_token
from gateway.flow import release
from gateway.flow.receive import receive_file
from gateway.runtime import Gateway
from gateway.syntaxes import write_document
from gateway.transports.as2 import As2Endpoint, As2Identity, As2Partner, DuplicateMessage, wsgi_app
from gateway.web import create_app

from tests.peers.smtp import SmtpServer
from tests.support.approval_seed import invoice
from tests.support.flow_erp import Erp
from tests.support.gateway_process import setup_records
from tests.support.portal_seed import PASSWORD

BUYERS = {"as2": "FR11000000001", "sftp": "FR22000000002", "email": "FR33000000003", "flow_api": "FR44000000004"}
MAILBOX = "ap@buyer-mail.example"
RULE = "rules:\n  - name: every invoice\n    approvers: [{user}]\n    order: any_of\n"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class As2Buyer:
    """The AS2 buyer's server: our transport's endpoint, its own identity and keys, keeping what
    it accepts by Message-ID."""

    def __init__(self, keys, our_cert: bytes):
        self.stored: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.app = wsgi_app(As2Endpoint(identities={"BUYER": As2Identity("BUYER", "buyer.test", keys)},
                                        partners={"EDIGATE": As2Partner("EDIGATE", [our_cert], mdn_url_private=True)},
                                        store=self._store, is_duplicate=lambda mid: mid in self.stored))
        self.httpd = make_server("127.0.0.1", 0, self.app, server_class=_Server, handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/as2"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _store(self, data: bytes, meta: dict) -> None:
        with self.lock:
            if meta["message_id"] in self.stored:
                raise DuplicateMessage(meta["message_id"])
            self.stored[meta["message_id"]] = data

    def holding(self, number: str) -> int:
        with self.lock:
            return sum(1 for data in self.stored.values() if number.encode() in data)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    keys = certs.ensure_dev_keypair(root / "keys", "edigate")
    buyer_keys = certs.ensure_dev_keypair(root / "keys", "buyer")
    as2 = As2Buyer(buyer_keys, keys.cert_pem)
    smtp = SmtpServer()
    smtp.__enter__()
    gw = Gateway(load_settings({"EDIGATE_HOME": str(root / "home"), "EDIGATE_LANGUAGE": "en",
                                "EDIGATE_SMTP_URL": smtp.url, "EDIGATE_MAIL_FROM": "invoices@edigate.example",
                                "EDIGATE_PUBLIC_URL": "https://edigate.example"}), immediate_jobs=True)
    made = setup_records(gw, identity="EDIGATE", our_key=keys.key_path, partners=[
        dict(name="Buyer AS2", as2_id="BUYER", as2_url=as2.url, cert_pem=buyer_keys.cert_pem,
             preferred_channel="as2", preferred_format="ubl", identifiers=[("9957", BUYERS["as2"])])])
    buyers, approvers, tokens = {"as2": made.partner_ids["Buyer AS2"]}, {}, {}
    with gw.session() as s:
        supplier = Partner(name="Vendeur SA", preferred_channel="sftp", preferred_format="ubl", status_syntax="cdar")
        s.add(supplier)
        for family in ("sftp", "email", "flow_api"):
            p = Partner(name=f"Buyer {family}", preferred_channel=family, preferred_format="ubl",
                        channel_settings={"email": {"to": [MAILBOX]}} if family == "email" else {})
            p.add_identifier("9957", BUYERS[family])
            s.add(p)
            s.flush()
            buyers[family] = p.id
        s.flush()
        s.add_all([SftpAccount(partner_id=supplier.id, username="vendeur"),
                   SftpAccount(partner_id=buyers["sftp"], username="buyer-sftp")])
        for family, partner_id in buyers.items():
            user = User.create(f"approver-{family}", PASSWORD, "recipient", partner_id=partner_id)
            s.add(user)
            s.flush()
            approvers[family] = user.id
            tokens[family] = issue_token(s, user, "tests")[1]
            rules.save(s, partner_id, RULE.format(user=user.username), by="test")
        supplier_id = supplier.id
    app = create_app(gw)
    httpd = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    tokens["operator"] = made.token
    yield SimpleNamespace(gw=gw, as2=as2, smtp=smtp, buyers=buyers, approvers=approvers, tokens=tokens,
                          supplier=supplier_id, base=base)
    httpd.shutdown()
    httpd.server_close()
    gw.close()
    smtp.__exit__(None, None, None)
    as2.close()


def send(world, family: str, number: str) -> int:
    """An invoice from the supplier to the ``family`` buyer, through the pipeline; its document id."""
    inv = invoice(number, "120.00")
    inv.buyer.name, inv.buyer.vat_identifier = f"Buyer {family}", BUYERS[family]
    ex = receive_file(world.gw, write_document(inv, "ubl").data, channel="api", partner_id=world.supplier,
                      filename=f"{number}.xml")
    with world.gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert doc is not None and doc.recipient_partner_id == world.buyers[family], s.get(Exchange, ex.id).reason
        return doc.id


def delivery_of(world, doc: int) -> SimpleNamespace:
    """The document's delivery as the operator's API shows it, and its outbound exchanges on record."""
    r = requests.get(f"{world.base}/api/v1/documents/{doc}", timeout=10,
                     headers={"Authorization": f"Bearer {world.tokens['operator']}"})
    assert r.status_code == 200, r.text
    (shown,) = r.json()["deliveries"]
    with world.gw.session() as s:
        (d,) = s.scalars(sa.select(Delivery).where(Delivery.document_id == doc)).all()
        sent = s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(
            Exchange.direction == "out", Exchange.id.in_(sa.select(Delivery.exchange_id).where(
                Delivery.document_id == doc))))
        return SimpleNamespace(status=d.status, shown=shown, exchanges=sent, reason=d.reason)


def held_then_released(world, family: str, number: str, arrived) -> None:
    """The common proof: held (nothing arrived), approved, arrived once, nothing more after."""
    doc = send(world, family, number)
    before = delivery_of(world, doc)
    assert (before.status, before.shown["status"], before.exchanges) == ("pending_approval", "pending_approval", 0)
    assert "waits for approval (rule every invoice)" in before.reason
    assert arrived(number) == 0
    assert release.release(world.gw, doc) == []                         # not approved: nothing leaves
    assert release.settle(world.gw) == {"approval_releases": 0, "approval_cancels": 0}
    assert arrived(number) == 0
    out = decide.decide(world.gw, doc, world.approvers[family], "approve")
    assert (out.state, out.status) == ("approved", "accepted")
    after = delivery_of(world, doc)
    assert after.status in ("delivered", "acknowledged") and after.exchanges == 1, after
    assert arrived(number) == 1
    assert release.release(world.gw, doc) == []                         # once
    assert release.settle(world.gw)["approval_releases"] == 0
    assert arrived(number) == 1


def test_as2_buyer_receives_nothing_before_approval_and_once_after(world) -> None:
    held_then_released(world, "as2", "GATE-AS2-1", world.as2.holding)


def test_sftp_buyer_finds_nothing_to_pick_up_before_approval_and_one_file_after(world) -> None:
    outbound = accounts_root(world.gw) / "buyer-sftp" / "outbound"

    def arrived(number: str) -> int:
        return sum(1 for f in outbound.iterdir() if number.encode() in f.read_bytes()) if outbound.exists() else 0

    held_then_released(world, "sftp", "GATE-SFTP-1", arrived)


def test_email_buyer_gets_no_mail_before_approval_and_one_after(world) -> None:
    def arrived(number: str) -> int:
        return sum(1 for m in world.smtp.messages if MAILBOX in m.rcpt_tos and number.encode() in m.data)

    held_then_released(world, "email", "GATE-MAIL-1", arrived)


def test_flow_api_erp_sees_no_in_flow_before_approval_and_one_after(world) -> None:
    erp = Erp(world.base, world.tokens["flow_api"])

    def arrived(number: str) -> int:
        found = 0
        for flow in erp.search({"flowDirection": ["In"], "flowType": ["SupplierInvoice"]}):
            r = erp.get(flow["flowId"], "Original")
            assert r.status_code == 200, r.text
            found += number.encode() in r.content
        return found

    held_then_released(world, "flow_api", "GATE-FLOW-1", arrived)


def test_a_refused_invoice_never_leaves_and_the_supplier_gets_the_refusal(world) -> None:
    from gateway.syntaxes import cdar
    doc = send(world, "email", "GATE-REF-1")
    out = decide.decide(world.gw, doc, world.approvers["email"], "refuse", reason="no order for this",
                        reason_code="CMD_ERR")
    assert (out.state, out.status) == ("refused", "refused")
    d = delivery_of(world, doc)
    assert (d.status, d.exchanges) == ("cancelled", 0) and "refused at approval" in d.reason
    assert release.release(world.gw, doc) == [] and release.settle(world.gw)["approval_releases"] == 0
    assert not any(b"GATE-REF-1" in m.data for m in world.smtp.messages)
    placed = [cdar.read_cdar(f.read_bytes()).status for f in (accounts_root(world.gw) / "vendeur" / "outbound").iterdir()]
    refusals = [st for st in placed if st.invoice_number == "GATE-REF-1" and st.code == "210"]
    assert [(st.reason_code, st.reason) for st in refusals] == [("CMD_ERR", "no order for this")]


def test_a_release_missed_after_the_decision_is_caught_by_the_sweep(world, monkeypatch) -> None:
    doc = send(world, "sftp", "GATE-SWEEP-1")
    monkeypatch.setattr(release, "release", lambda *a, **kw: [])    # the decision's own call lost (a stop)
    decide.decide(world.gw, doc, world.approvers["sftp"], "approve")
    monkeypatch.undo()
    assert delivery_of(world, doc).status == "pending_approval"
    counts = sweep.run(world.gw)                                    # the approvals' part of the sweep
    assert counts["approval_releases"] == 1
    assert delivery_of(world, doc).status in ("delivered", "acknowledged")
