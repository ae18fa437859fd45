"""An invoice answered over Peppol: two gateways, each the other's counterpart, Invoice Responses back.

Gateway B is a real ``edigate serve`` whose SMP publishes its member (the buyer,
0208:0123456749); gateway A runs in this process, its web app (its own SMP and
``/as4``) served on loopback, and its SMP publishes its member (the supplier,
1928374648). One dnsmasq serves the SML zone naming both SMPs; one test CA
issues both access point certificates and the SMP certificate, as OpenPeppol's CAs
do. Each access point knows the other by its certificate on record.

Proven: the supplier's two UBL invoices go through A's path, are discovered (SML,
B's SMP), sent over AS4 and receipted; on B they reach the buyer, who accepts the
first and refuses the second with a reason through B's API (a recipient login's
token, as the buyer's own system would); B answers each decision with an Invoice
Response sent over Peppol (A's participant discovered through the SML and A's SMP,
AS4), and A applies them: its first invoice ``accepted`` (AP), its second ``refused``
with the buyer's reason (RE), set by B's access point. Every AS4 payload crossing
(two invoices, the responses) is an SBDH valid against the SBDH XSD whose document
is valid against its UBL 2.1 XSD and passes the rules: OpenPeppol's BIS 3 stylesheet
and our ``peppol`` rule set for the invoices, the T111 stylesheet and our
``peppol_t111`` rules for the responses.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from gateway.db import Certificate, DocumentRecord, DocumentStatusEvent, Exchange, ExchangeEvent, Partner, utcnow
from gateway.db.access import User, issue_token
from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol.sml import naptr_name
from gateway.xml import safe
from tests.peers.dnsmasq import DnsServer, require_dnsmasq
from tests.support.corpus import CORPUS
from tests.support.gateway_process import GatewayProcess
from tests.support.peppol_pki import PeppolTestCA
from tests.support.ports import free_port
from tests.support.waiting import wait_for

ZONE = "sml.edigate.test"
BUYER = ids.ParticipantId.parse("iso6523-actorid-upis::0208:0123456749")
SELLER = ids.ParticipantId.parse("iso6523-actorid-upis::0208:1928374648")
SBDH_XSD = CORPUS / "peppol" / "sbdh" / "xsd" / "StandardBusinessDocumentHeader.xsd"
UBL_XSD = {"Invoice": CORPUS / "xsd" / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd",
           "ApplicationResponse": CORPUS / "xsd" / "ubl-2.1" / "maindoc" / "UBL-ApplicationResponse-2.1.xsd"}
T111_XSLT = CORPUS / "peppol" / "invoice-response" / "PEPPOLBIS-T111.xslt"
REFUSAL = "Delivered goods do not match the order / marchandise non conforme"


@pytest.fixture
def world(tmp_path, make_gateway, monkeypatch):
    require_dnsmasq()
    from gateway.web import create_app
    ca = PeppolTestCA("edigate TEST AP CA")
    pki = tmp_path / "pki"
    smp_key, smp_cert = ca.issue("PSG000002").write(pki, "smp")
    a_key, a_cert = ca.issue("PFR000001", ou="PEPPOL TEST AP").write(pki, "ap-a")
    b_key, b_cert = ca.issue("PFR000002", ou="PEPPOL TEST AP").write(pki, "ap-b")
    anchor = ca.write_anchor(pki / "ca.pem")
    a_port, b_port = free_port(), free_port()
    naptr = [(naptr_name(BUYER, ZONE), f"http://127.0.0.1:{b_port}/smp"),
             (naptr_name(SELLER, ZONE), f"http://127.0.0.1:{a_port}/smp")]
    with DnsServer(ZONE, naptr=naptr) as dns:
        network = {"SML_ZONE": ZONE, "DNS_SERVER": "127.0.0.1", "DNS_PORT": str(dns.port),
                   "SMP_TRUST": str(anchor), "ALLOW_PRIVATE": "true", "SMP_KEY": str(smp_key),
                   "SMP_CERT": str(smp_cert), "CACHE_TTL": "1s", "NEGATIVE_TTL": "1s"}
        b = GatewayProcess(tmp_path / "b", port=b_port, extra_env={
            **{"EDIGATE_PEPPOL_" + k: v for k, v in network.items()},
            "EDIGATE_PEPPOL_AP_CERT": str(b_cert), "EDIGATE_PEPPOL_AP_KEY": str(b_key)})
        bgw = b.gateway()
        with bgw.session() as s:
            buyer = Partner(name="Buyer on B")
            buyer.add_identifier(*ids.partner_key(BUYER))
            ap_a = Partner(name="Access point A")
            s.add_all([buyer, ap_a])
            s.flush()
            s.add(Certificate.from_pem(a_cert.read_bytes(), usage="signing", partner_id=ap_a.id))
            login = User.create("buyer", "buyer-password-1234", "recipient", partner_id=buyer.id)
            s.add(login)
            s.flush()
            _, b.token = issue_token(s, login, "buyer's system")
        for k, v in {**network, "AP_CERT": str(a_cert), "AP_KEY": str(a_key)}.items():
            monkeypatch.setenv("EDIGATE_PEPPOL_" + k, v)
        a = make_gateway(EDIGATE_PUBLIC_URL=f"http://127.0.0.1:{a_port}")
        with a.session() as s:
            supplier = Partner(name="Supplier on A", preferred_channel="api")
            supplier.add_identifier(*ids.partner_key(SELLER))
            customer = Partner(name="Buyer over Peppol", preferred_channel="peppol")
            customer.add_identifier(*ids.partner_key(BUYER))
            ap_b = Partner(name="Access point B")
            s.add_all([supplier, customer, ap_b])
            s.flush()
            s.add(Certificate.from_pem(b_cert.read_bytes(), usage="signing", partner_id=ap_b.id))
            supplier_id = supplier.id
        server = make_server("127.0.0.1", a_port, create_app(a), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        b.start()
        try:
            yield a, b, bgw, supplier_id
        finally:
            b.stop()
            server.shutdown()
            thread.join(timeout=10)
            bgw.close()


def _send_invoice(a, supplier_id: int, number: str) -> int:
    """The supplier's invoice on A's path (deposited through the API channel), routed to the buyer
    over Peppol and sent; returns A's document id."""
    from gateway.delivery.attempts import send_exchange
    from gateway.db import Delivery
    from gateway.flow.process import process_exchange
    from gateway.flow.receive import receive_file
    from gateway.model.invoice import Identifier
    from gateway.syntaxes import write_document
    from tests.support.invoice_builder import build_invoice
    invoice = build_invoice()
    invoice.number, invoice.buyer_reference = number, "PO-4711"        # BT-10: Peppol asks for one
    invoice.seller.electronic_address = Identifier(SELLER.value.split(":")[1], "0208")
    invoice.buyer.electronic_address = Identifier(BUYER.value.split(":")[1], "0208")
    ex = receive_file(a, write_document(invoice, "ubl").data, channel="api", partner_id=supplier_id,
                      filename=f"{number}.xml")
    process_exchange(a, ex.id)
    with a.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.number == number))
        delivery = s.scalar(sa.select(Delivery).where(Delivery.document_id == doc.id))
        assert (doc.recipient.name, delivery.channel) == ("Buyer over Peppol", "peppol"), doc.findings
        doc_id, out_id = doc.id, delivery.exchange_id
    send_exchange(a, out_id)                    # (the job queue may have sent it already)
    with a.session() as s:
        out = s.get(Exchange, out_id)
        assert (out.status, out.mdn_disposition) == ("acknowledged", "receipt"), out.reason
    return doc_id


def _on_b(bgw, number: str):
    with bgw.session() as s:
        d = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.number == number))
        return d.id if d is not None and d.recipient is not None and d.recipient.name == "Buyer on B" else None


def _sbdhs(gw) -> list[bytes]:
    """The SBDH of each Peppol message ``gw`` received (kept beside the document, named in the
    exchange's history)."""
    out = []
    with gw.session() as s:
        rows = s.scalars(sa.select(ExchangeEvent.reason).join(Exchange, ExchangeEvent.exchange_id == Exchange.id)
                         .where(Exchange.direction == "in", Exchange.channel == "peppol",
                                Exchange.refused.is_(False), ExchangeEvent.status == "stored")).all()
    for reason in rows:
        key = re.search(r"SBDH kept as (\S+);", reason or "")
        assert key, reason
        out.append(gw.payloads.get(key.group(1)))
    return out


def _judge(sbd: bytes) -> tuple[str, list]:
    """The document's root and every finding on the message: SBDH XSD, UBL XSD, the official
    stylesheet and our rule set for that document."""
    from gateway.rules import peppol_t111
    from gateway.syntaxes.sbdh import read_sbdh
    from gateway.xml.schema import load_schema
    from gateway.xml.schematron import load_schematron, peppol_ubl
    findings = []
    if SBDH_XSD.is_file():
        findings += [("sbdh-xsd", f) for f in load_schema(SBDH_XSD).validate(safe.parse(sbd))]
    document = read_sbdh(sbd).payload_document()
    root = safe.parse(document)
    kind = root.tag.rsplit("}", 1)[1]
    if UBL_XSD[kind].is_file():
        findings += [("ubl-xsd", f) for f in load_schema(UBL_XSD[kind]).validate(root)]
    if kind == "Invoice":
        from gateway.rules import validate
        from gateway.syntaxes import read_document
        findings += [("peppol-bis3", f) for f in peppol_ubl().run(document) if f.fatal]
        findings += [("peppol", f) for f in validate(read_document(document).invoice, profile="peppol") if f.fatal]
    else:
        if T111_XSLT.is_file():
            findings += [("t111", f) for f in load_schematron(T111_XSLT, ruleset="PEPPOLBIS-T111").run(document)
                         if f.fatal]
        findings += [("peppol_t111", f) for f in peppol_t111.validate(document)]
    return kind, findings


def test_invoices_answered_by_invoice_responses_over_peppol(world):
    a, b, bgw, supplier_id = world
    first = _send_invoice(a, supplier_id, "PEPPOL-IR-1")
    second = _send_invoice(a, supplier_id, "PEPPOL-IR-2")
    on_b = [wait_for(lambda n=n: _on_b(bgw, n), 30, f"{n} on B for its buyer") for n in ("PEPPOL-IR-1", "PEPPOL-IR-2")]

    # the buyer decides through B's API, as its own system would
    b.api(f"/documents/{on_b[0]}/status", method="POST", json={"status": "accepted"})
    b.api(f"/documents/{on_b[1]}/status", method="POST", json={"status": "refused", "reason": REFUSAL})

    def decided():
        # what A's sweep does in ``edigate serve``: a response that came while the one before it was
        # being applied waited for it (statuses are applied in the order they came)
        from gateway.flow.process import awaiting_processing, process_exchange
        for ex_id in awaiting_processing(a, before=utcnow() + timedelta(seconds=1)):
            process_exchange(a, ex_id)
        with a.session() as s:
            got = (s.get(DocumentRecord, first).business_status, s.get(DocumentRecord, second).business_status)
        return got if got == ("accepted", "refused") else None
    try:
        wait_for(decided, 60, "A's invoices accepted and refused by the responses")
    except AssertionError:
        with a.session() as s:
            got = [(e.filename, e.status, e.reason) for e in s.scalars(sa.select(Exchange).where(
                Exchange.direction == "in", Exchange.channel == "peppol"))]
        raise AssertionError(f"A received {got}; B says {b.log_tail(2000)}") from None
    with a.session() as s:
        events = {d: s.scalars(sa.select(DocumentStatusEvent).where(DocumentStatusEvent.document_id == d)
                               .order_by(DocumentStatusEvent.id)).all() for d in (first, second)}
        accepted = [e for e in events[first] if e.status == "accepted"][-1]
        refused = [e for e in events[second] if e.status == "refused"][-1]
        assert accepted.set_by == refused.set_by == "partner:Access point B"
        assert REFUSAL in (refused.reason or "")

    def receipted():             # B told its decisions over Peppol, each receipted by A (the received
        with bgw.session() as s:  # AB may still be on its way: it does not move A's invoices)
            told = s.scalars(sa.select(Exchange).where(Exchange.direction == "out",
                                                       Exchange.channel == "peppol")).all()
            done = all((e.status, e.mdn_disposition) == ("acknowledged", "receipt") for e in told)
            return [e.filename for e in told] if told and done else None
    told = wait_for(receipted, 30, "B's Invoice Responses receipted by A")
    names = sorted(n.split("_")[2] for n in told)
    assert "accepted" in names and "refused" in names

    judged = [_judge(m) for m in _sbdhs(bgw)] + [_judge(m) for m in _sbdhs(a)]
    kinds = sorted(k for k, _ in judged)
    assert kinds.count("Invoice") == 2 and kinds.count("ApplicationResponse") == len(told) >= 2
    assert [f for _, fs in judged for f in fs] == []
