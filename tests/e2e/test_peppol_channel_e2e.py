"""The peppol channel end to end: an invoice from one edigate to another over Peppol.

Gateway B is a real ``edigate serve``: its SMP publishes its member 0208:0123456789
with B's AS4 endpoint and access point certificate (a test CA's, as OpenPeppol's AP
CA issues them), its ``/as4`` receives. A real DNS server (dnsmasq) serves the SML
zone that points at B's SMP. Gateway A runs in this process: its peppol channel
finds B through DNS and the SMP (signature checked to the test CA), wraps the
Peppol BIS 3 invoice in an SBDH, signs and encrypts it to the certificate the SMP
published, and judges B's Receipt. B knows A's access point by its certificate on
record. Proven: one delivery acknowledged on A with the raw message and the receipt
kept; on B one inbound exchange, acknowledged, with the invoice as content; B down
then up: A retries under the same MessageId and B holds one copy; a participant the
SML does not know fails the delivery with discovery's reason.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.db import Certificate, Exchange, Partner
from gateway.delivery.attempts import send_exchange
from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol.sml import naptr_name
from gateway.transports.as4 import read_envelope
from tests.peers.dnsmasq import DnsServer, require_dnsmasq
from tests.support.corpus import CORPUS, requires_corpus
from tests.support.gateway_process import GatewayProcess
from tests.support.peppol_pki import PeppolTestCA
from tests.support.ports import free_port

ZONE = "sml.edigate.test"
MEMBER = ids.ParticipantId.parse("iso6523-actorid-upis::0208:0123456789")
UNKNOWN = ids.ParticipantId.parse("iso6523-actorid-upis::0208:999999999")
INVOICE = CORPUS / "ubl" / "peppol-bis3" / "base-example.xml"
pytestmark = requires_corpus


@pytest.fixture
def world(tmp_path, make_gateway, monkeypatch):
    require_dnsmasq()
    ca = PeppolTestCA("edigate TEST AP CA")
    smp_key, smp_cert = ca.issue("PSG000002").write(tmp_path / "pki", "smp")
    b_key, b_cert = ca.issue("PFR000002", ou="PEPPOL TEST AP").write(tmp_path / "pki", "ap-b")
    a_key, a_cert = ca.issue("PFR000001", ou="PEPPOL TEST AP").write(tmp_path / "pki", "ap-a")
    anchor = ca.write_anchor(tmp_path / "pki" / "ca.pem")
    port = free_port()
    b = GatewayProcess(tmp_path / "b", port=port, extra_env={
        "EDIGATE_PEPPOL_SMP_KEY": str(smp_key), "EDIGATE_PEPPOL_SMP_CERT": str(smp_cert),
        "EDIGATE_PEPPOL_AP_CERT": str(b_cert), "EDIGATE_PEPPOL_AP_KEY": str(b_key)})
    bgw = b.gateway()
    with bgw.session() as s:
        member = Partner(name="Member")
        member.add_identifier(*ids.partner_key(MEMBER))
        ap = Partner(name="Access point A")
        s.add_all([member, ap])
        s.flush()
        s.add(Certificate.from_pem(a_cert.read_bytes(), usage="signing", partner_id=ap.id))
    with DnsServer(ZONE, naptr=[(naptr_name(MEMBER, ZONE), f"http://127.0.0.1:{port}/smp")]) as dns:
        for k, v in {"SML_ZONE": ZONE, "DNS_SERVER": "127.0.0.1", "DNS_PORT": str(dns.port),
                     "SMP_TRUST": str(anchor), "ALLOW_PRIVATE": "true", "AP_CERT": str(a_cert),
                     "AP_KEY": str(a_key), "SMP_KEY": str(smp_key), "SMP_CERT": str(smp_cert),
                     "NEGATIVE_TTL": "1s", "CACHE_TTL": "1s"}.items():
            monkeypatch.setenv("EDIGATE_PEPPOL_" + k, v)
        a = make_gateway()
        with a.session() as s:
            recipient = Partner(name="Buyer over Peppol", preferred_channel="peppol")
            recipient.add_identifier(*ids.partner_key(MEMBER))
            stranger = Partner(name="Unknown to the SML", preferred_channel="peppol")
            stranger.add_identifier(*ids.partner_key(UNKNOWN))
            s.add_all([recipient, stranger])
            s.flush()
            ids_ = (recipient.id, stranger.id)
        b.start()
        try:
            yield a, b, bgw, ids_
        finally:
            b.stop()
            bgw.close()


def _queue(gw, partner_id: int) -> int:
    data = INVOICE.read_bytes()
    ref = gw.payloads.put(data)
    with gw.session() as s:
        ex = Exchange.outbound("peppol", partner_id=partner_id, filename="invoice.xml",
                               content_type="application/xml", content_sha256=ref.key, content_size=ref.size)
        s.add(ex)
        s.flush()
        return ex.id


def _inbound(bgw) -> list[Exchange]:
    with bgw.session() as s:
        rows = s.scalars(sa.select(Exchange).where(Exchange.direction == "in", Exchange.channel == "peppol",
                                                   Exchange.refused.is_(False))).all()
        for r in rows:
            s.expunge(r)
        return rows


def test_invoice_over_peppol_between_two_gateways(world):
    a, b, bgw, (recipient, stranger) = world
    ex_id = _queue(a, recipient)
    status = send_exchange(a, ex_id)
    with a.session() as s:
        ex = s.get(Exchange, ex_id)
        assert status == "acknowledged", (ex.reason, b.log_tail(1500))
        assert ex.as2_to == "PFR000002" and ex.mdn_disposition == "receipt"
        assert b"multipart/related" in a.payloads.get(ex.payload_key)[:400]
        assert read_envelope(a.payloads.get(ex.mdn_payload_key)).kind == "receipt"
        message_id = ex.message_id
    rows = _inbound(bgw)
    assert [r.message_id for r in rows] == [message_id]
    assert rows[0].status in ("acknowledged", "processed", "failed")      # processing is B's own business
    body = INVOICE.read_bytes().split(b"?>", 1)[1].strip()
    assert body in bgw.payloads.get(rows[0].content_sha256)                  # the invoice, byte for byte
    assert read_envelope(bgw.payloads.get(rows[0].mdn_payload_key)).ref_to == message_id


def test_receiver_down_then_up_one_copy_same_message_id(world):
    a, b, bgw, (recipient, stranger) = world
    b.stop()
    ex_id = _queue(a, recipient)
    status = send_exchange(a, ex_id)
    assert status == "retrying"                  # discovery (SMP down) or the POST: both pass
    b.start()
    with a.session() as s:
        ex = s.get(Exchange, ex_id)
        first_id = ex.message_id
        ex.next_attempt_at = None                # due now
    assert send_exchange(a, ex_id) == "acknowledged"
    with a.session() as s:
        assert s.get(Exchange, ex_id).message_id == first_id
    assert [r.message_id for r in _inbound(bgw)] == [first_id]


def test_unknown_participant_fails_with_discoverys_reason(world):
    a, b, bgw, (recipient, stranger) = world
    ex_id = _queue(a, stranger)
    assert send_exchange(a, ex_id) == "failed"
    with a.session() as s:
        reason = s.get(Exchange, ex_id).reason
    assert "0208:999999999" in reason and "SML" in reason
    assert _inbound(bgw) == []


def test_a_buyer_found_nowhere_else_is_reached_through_the_peppol_network(world):
    """An invoice on A's path whose buyer no member or directory answers: routed to the partner
    standing for the Peppol network, discovered through the SML and B's SMP, delivered over AS4,
    and on B routed to its member by the same address."""
    from gateway.db import Delivery, DocumentRecord
    from gateway.flow.process import process_exchange
    from gateway.flow.receive import receive_file
    from gateway.model.invoice import Identifier
    from gateway.syntaxes import write_document
    from tests.support.invoice_builder import build_invoice
    from tests.support.waiting import wait_for
    a, b, bgw, (recipient, stranger) = world
    with a.session() as s:
        s.get(Partner, recipient).active = False     # B's member is nobody A knows: found only through Peppol
        network = Partner(name="Réseau Peppol", preferred_channel="peppol",
                          channel_settings={"peppol": {"network": True}})
        sender = Partner(name="Supplier", preferred_channel="api")
        s.add_all([network, sender])
        s.flush()
        sender_id = sender.id
    invoice = build_invoice()
    invoice.number = "PEPPOL-ROUTED-1"
    invoice.seller.electronic_address = Identifier("0192837465", "0208")
    invoice.buyer.electronic_address = Identifier("0123456789", "0208")
    ex = receive_file(a, write_document(invoice, "ubl").data, channel="api", partner_id=sender_id,
                      filename="PEPPOL-ROUTED-1.xml")
    process_exchange(a, ex.id)
    with a.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.number == "PEPPOL-ROUTED-1"))
        delivery = s.scalar(sa.select(Delivery).where(Delivery.document_id == doc.id))
        assert (doc.recipient.name, delivery.channel) == ("Réseau Peppol", "peppol"), doc.findings
        assert any("Peppol participant iso6523-actorid-upis::0208:0123456789" in (e.reason or "")
                   for e in delivery.history)
        out_id = delivery.exchange_id
    send_exchange(a, out_id)                      # (the job queue of this gateway may have sent it already)
    with a.session() as s:
        out = s.get(Exchange, out_id)
        assert (out.status, out.mdn_disposition) == ("acknowledged", "receipt"), out.reason

    def on_b():
        with bgw.session() as s:
            d = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.number == "PEPPOL-ROUTED-1"))
            return (d.recipient.name, d.sender.name) if d is not None and d.recipient is not None else None
    assert wait_for(on_b, 60, "the invoice routed to B's member") == ("Member", "Access point A")
