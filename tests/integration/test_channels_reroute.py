"""An unknown recipient never loses a document (gateway/channels/reroute.py), and interconnected
networks as a delivery channel (gateway/channels/plan.py): a held document is delivered once its
recipient enrols or a network directory lists it — once, even with two reroutes at once — and a
document for a network's participant reaches that network's access point, a real AS2 receiver on
loopback, in the network's format with the addressing it needs."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from gateway import certs
from gateway.flow import reroute
from gateway.config import load_settings
from gateway.db import DocumentRecord, Exchange, Network, NetworkParticipant, Partner, utcnow
from gateway.syntaxes import read_document, write_document
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.delivery.attempts import send_exchange
from gateway.runtime import Gateway

from tests.support.gateway_process import setup_records
from tests.support.invoice_builder import build_invoice
from tests.integration.test_outbox import Receiver

GLN = "5790000435951"


@pytest.fixture
def w(tmp_path, smtp_server):
    keys = certs.ensure_dev_keypair(tmp_path / "keys", "edigate")
    recv_keys = certs.ensure_dev_keypair(tmp_path / "keys", "recv")
    receiver = Receiver(recv_keys, keys.cert_pem)
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_SMTP_URL": smtp_server.url,
                                "EDIGATE_MAIL_FROM": "invoices@edigate.example"}), immediate_jobs=True)
    prompts: list[int] = []
    gw.jobs.send = lambda exchange_id, at=None: prompts.append(exchange_id)
    rec = setup_records(gw, identity="EDIGATE", our_key=keys.key_path, partners=[
        dict(name="Peppol AP", as2_id="RECV", as2_url=receiver.url, cert_pem=recv_keys.cert_pem)])
    yield SimpleNamespace(gw=gw, smtp=smtp_server, receiver=receiver, prompts=prompts,
                          access_point=rec.partner_ids["Peppol AP"])
    receiver.close()
    gw.close()


def _network(gw, access_point: int, *participants, formats=("cii", "ubl"), addressing=None) -> int:
    with gw.session() as s:
        n = Network(code="PEPPOL-X", name="Peppol X", partner_id=access_point, formats=list(formats),
                    addressing=addressing if addressing is not None else {"endpoint": "BT-49"})
        for scheme, value in participants:
            n.participants.append(NetworkParticipant(scheme=scheme, value=value, name="Listed"))
        s.add(n)
        s.flush()
        return n.id


def _invoice(number="INV-2024-001"):
    inv = build_invoice()
    inv.number = number
    inv.buyer.vat_identifier = None
    inv.buyer.identifier = Identifier(GLN, "0088")               # BT-46, no BT-49
    return inv


def _receive(gw, inv) -> int:
    ex = receive_file(gw, write_document(inv, "ubl").data, channel="api", filename=f"{inv.number}.xml")
    with gw.session() as s:
        return s.scalar(sa.select(DocumentRecord.id).where(DocumentRecord.exchange_id == ex.id))


def _doc(gw, doc_id) -> DocumentRecord:
    with gw.session() as s:
        doc = s.get(DocumentRecord, doc_id)
        for d in doc.deliveries:
            _ = d.history, d.rendering, d.exchange
        _ = doc.status_events
        return doc


def _enrol(gw, *, channel="email", settings=None) -> int:
    with gw.session() as s:
        p = Partner(name="Buyer SARL", preferred_channel=channel,
                    channel_settings=settings or {"email": {"to": ["ap@buyer.example"], "attach": "ubl"}})
        p.add_identifier("0088", GLN)
        s.add(p)
        s.flush()
        return p.id


# --- held, then known ------------------------------------------------------------------------------

def test_a_held_document_is_delivered_once_when_its_recipient_enrols_even_with_two_reroutes_at_once(w):
    doc_id = _receive(w.gw, _invoice())
    doc = _doc(w.gw, doc_id)
    assert (doc.status, doc.deliveries, doc.business_status) == ("held", [], "deposited")
    assert reroute.reroute_held(w.gw) == []                     # still nobody: nothing happens
    partner = _enrol(w.gw)
    results, barrier = [], threading.Barrier(2)

    def run():
        barrier.wait()
        results.append(reroute.reroute_held(w.gw, partner_id=partner))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [[], [doc_id]]                    # one call delivered it, the other nothing
    doc = _doc(w.gw, doc_id)
    (d,) = doc.deliveries
    assert (doc.status, doc.recipient_partner_id, d.channel, d.format) == ("routed", partner, "email", "ubl")
    assert d.history[-1].reason.startswith("was held, recipient now known: routed to Buyer SARL by BT-46 "
                                           "0088:5790000435951; as ubl by e-mail to ap@buyer.example")
    with w.gw.session() as s:
        outs = s.scalars(sa.select(Exchange).where(Exchange.direction == "out")).all()
        assert [o.id for o in outs] == w.prompts == [d.exchange_id]
    assert send_exchange(w.gw, d.exchange_id) == "sent"
    (mail,) = w.smtp.wait_for()
    (attachment,) = mail.message.iter_attachments()
    assert attachment.get_content() == w.gw.payloads.get(d.rendering.payload_key)
    assert read_document(attachment.get_content()).invoice.number == "INV-2024-001"
    assert reroute.reroute_held(w.gw) == []                     # nothing held any more
    doc = _doc(w.gw, doc_id)
    assert (doc.status, doc.business_status) == ("delivered", "received")


def test_the_sweep_reroutes_when_routing_changed_and_reads_nothing_when_it_did_not(w, monkeypatch):
    doc_id = _receive(w.gw, _invoice())
    reads = []
    real = reroute._invoice
    monkeypatch.setattr(reroute, "_invoice", lambda *a: reads.append(a) or real(*a))
    assert w.gw.jobs.sweep(utcnow())["rerouted"] == 0
    assert w.gw.jobs.sweep(utcnow())["rerouted"] == 0
    assert reads == []                                          # an unknown buyer: no file read
    _enrol(w.gw, channel="erp")
    assert w.gw.jobs.sweep(utcnow())["rerouted"] == 1
    (d,) = _doc(w.gw, doc_id).deliveries
    assert (d.channel, d.status) == ("erp", "delivered")
    assert len(reads) == 1


def test_the_reroute_job_only_takes_what_is_routed_to_the_partner_named(w):
    mine = _receive(w.gw, _invoice("A-1"))
    other = build_invoice()
    other.number = "B-1"
    other.buyer.vat_identifier = "FR99999999999"
    theirs = _receive(w.gw, other)
    partner = _enrol(w.gw, channel="erp")
    with w.gw.session() as s:
        p = Partner(name="Other", preferred_channel="erp")
        p.add_identifier("VAT", "FR99999999999")
        s.add(p)
    w.gw.jobs.reroute_held(partner)                              # a job (run at once here)
    assert (_doc(w.gw, mine).status, _doc(w.gw, theirs).status) == ("delivered", "held")
    w.gw.jobs.reroute_held()
    assert _doc(w.gw, theirs).status == "delivered"


# --- networks --------------------------------------------------------------------------------------

def test_a_network_participant_gets_the_invoice_through_the_networks_as2_access_point(w):
    _network(w.gw, w.access_point, ("0088", GLN), formats=("edifact-x", "cii", "ubl"))
    doc_id = _receive(w.gw, _invoice())
    doc = _doc(w.gw, doc_id)
    (d,) = doc.deliveries
    with w.gw.session() as s:
        network = s.scalar(sa.select(Network))
    assert (d.channel, d.format, d.network_id, d.recipient_partner_id) == ("network", "cii", network.id, w.access_point)
    out = d.exchange
    assert (out.channel, out.partner_id, out.status) == ("as2", w.access_point, "queued")
    assert d.history[-1].reason == (
        "reachable through network PEPPOL-X as 0088:5790000435951 (by BT-46 0088:5790000435951); forwarded to "
        f"network PEPPOL-X as cii over as2 (exchange {out.id})")
    written = w.gw.payloads.get(d.rendering.payload_key)
    back = read_document(written).invoice
    assert back.buyer.electronic_address == Identifier(GLN, "0088")        # the addressing the network needs
    assert back.number == "INV-2024-001"

    assert send_exchange(w.gw, out.id) == "acknowledged"
    assert list(w.receiver.stored.values()) == [written]                   # the receiver got exactly those bytes
    doc = _doc(w.gw, doc_id)
    assert (doc.deliveries[0].status, doc.status, doc.business_status) == ("acknowledged", "delivered", "received")


def test_a_document_held_until_a_directory_lists_its_buyer_then_goes_to_the_network(w):
    network_id = _network(w.gw, w.access_point)
    doc_id = _receive(w.gw, _invoice())
    assert _doc(w.gw, doc_id).status == "held"
    with w.gw.session() as s:
        s.add(NetworkParticipant(network_id=network_id, scheme="0088", value=GLN))
    assert reroute.reroute_held(w.gw) == [doc_id]
    (d,) = _doc(w.gw, doc_id).deliveries
    assert (d.channel, d.network_id, d.format) == ("network", network_id, "cii")
    assert send_exchange(w.gw, d.exchange_id) == "acknowledged"
    assert len(w.receiver.stored) == 1


def test_a_member_that_chose_a_network_is_reached_through_it(w):
    _network(w.gw, w.access_point, ("0088", GLN), formats=("ubl",))
    partner = _enrol(w.gw, channel="network", settings={"network": {"network": "PEPPOL-X"}})
    doc_id = _receive(w.gw, _invoice())
    doc = _doc(w.gw, doc_id)
    (d,) = doc.deliveries
    assert (doc.recipient_partner_id, d.recipient_partner_id, d.channel, d.format) == \
        (partner, w.access_point, "network", "ubl")
    assert send_exchange(w.gw, d.exchange_id) == "acknowledged"


def test_a_network_that_accepts_nothing_we_write_fails_the_delivery_with_why(w):
    _network(w.gw, w.access_point, ("0088", GLN), formats=("pdf-a", "xrechnung-json"))
    (d,) = _doc(w.gw, _receive(w.gw, _invoice())).deliveries
    assert (d.channel, d.status) == ("network", "failed")
    assert "network PEPPOL-X accepts pdf-a, xrechnung-json, none of which we write" in d.reason
    assert w.prompts == []
