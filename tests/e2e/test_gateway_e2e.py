"""End to end through a running gateway (``edigate serve`` in its own process).

Partner A and partner B are both an independent AS2 implementation, django-pyas2
(organisations STRANGER and PEER of one django-pyas2 server, see as2peer.py): A
sends a UBL invoice to our AS2 endpoint; the gateway stores it, answers with a
signed MDN, reads and checks it, routes it by the buyer's electronic address
(BT-49) to B, writes it as CII (B's preference) and sends it to B over AS2,
judging B's signed MDN. Everything is then looked at through the REST API, and
what B received is compared byte for byte with what the gateway recorded.
"""
from __future__ import annotations

import hashlib
import os
from types import SimpleNamespace

import pytest
from lxml import etree

from gateway import certs
from gateway.syntaxes import read_document, write_document

from tests.peers.pyas2 import DjangoPyas2Peer
from tests.support.ports import free_port
from tests.support.gateway_process import GatewayProcess, setup_records
from tests.support.waiting import wait_for
from tests.support.invoice_builder import build_invoice

from gateway.model.invoice import Identifier

B_GLN = "4000001000005"
NS_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"


def _invoice_ubl(number: str, *, buyer_gln: str = B_GLN) -> bytes:
    inv = build_invoice()
    inv.number = number
    inv.buyer.electronic_address = Identifier(buyer_gln, "0088")
    return write_document(inv, "ubl", validate=True).data


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, pyas2_python):
    python = pyas2_python
    work = tmp_path_factory.mktemp("e2e")
    keys = SimpleNamespace(ours=certs.ensure_dev_keypair(work / "keys", "edigate"),
                           peer=certs.ensure_dev_keypair(work / "keys", "peer", password="peer-pass"),
                           rogue=certs.ensure_dev_keypair(work / "keys", "rogue", password="rogue-pass"))

    def bundle(kp, name):
        path = work / name
        path.write_bytes(kp.bundle_pem)
        os.chmod(path, 0o600)
        return path

    server = GatewayProcess(work / "gateway")
    peer_port = free_port()
    peer = DjangoPyas2Peer(
        work / "peer", python=python, port=peer_port, our_cert=keys.ours.cert_path,
        peer_bundle=bundle(keys.peer, "peer.pem"), peer_pass="peer-pass",
        rogue_bundle=bundle(keys.rogue, "rogue.pem"), rogue_pass="rogue-pass",
        our_url=server.as2_url, tamper_url=server.base + "/nowhere")
    gw = server.gateway()
    rec = setup_records(gw, identity="EDIGATE", our_key=keys.ours.key_path, partners=[
        # it sends only (no URL of its own), from loopback: its profile allows MDN URLs there
        dict(name="Supplier A", as2_id="STRANGER", cert_pem=keys.peer.cert_pem,
             identifiers=[("0088", "3012345000010")], preferred_format="ubl",
             as2_options={"mdn_url_private": True}),
        dict(name="Buyer B", as2_id="PEER", as2_url=peer.url, cert_pem=keys.peer.cert_pem,
             identifiers=[("0088", B_GLN)], preferred_format="cii", preferred_channel="as2"),
    ])
    from gateway.db import AS2Identity, Organisation
    import sqlalchemy as sa
    with gw.session() as s:                  # a second AS2 identity of ours: partners ask it async MDNs
        org = s.scalar(sa.select(Organisation))
        org.as2_identities.append(AS2Identity(as2_name="EDIGATE-ASYNC", signing_key_ref=str(keys.ours.key_path),
                                              encryption_key_ref=str(keys.ours.key_path)))
    gw.close()
    server.token = rec.token
    try:
        peer.setup()
        peer.start()
        server.start()
        yield SimpleNamespace(server=server, peer=peer, keys=keys, ids=rec.partner_ids)
    finally:
        server.stop()
        peer.stop()


def test_ubl_from_a_reaches_b_as_cii_over_as2(e2e):
    server, peer = e2e.server, e2e.peer
    ubl = _invoice_ubl("E2E-0001")
    sent = peer.send("STRANGER", "EDIGATE", ubl, "E2E-0001.xml")
    # A got our signed MDN and accepted it.
    assert sent["status"] == "S", sent
    assert sent["mdn"] and sent["mdn"]["signed"], sent

    inbound = wait_for(lambda: server.api("/exchanges", direction="in", message_id=sent["message_id"])["items"],
                    30, "the inbound exchange")[0]
    assert inbound["partner"]["id"] == e2e.ids["Supplier A"]
    ex_in = wait_for(lambda: (lambda e: e if e["status"] == "processed" else None)(
        server.api(f"/exchanges/{inbound['id']}")), 60, "processing")
    assert [h["status"] for h in ex_in["history"]] == ["received", "stored", "acknowledged", "processed"]
    assert ex_in["mdn"]["disposition"] == "processed" and ex_in["mdn"]["mode"] == "sync" and ex_in["mic"]
    # The raw AS2 message and the business content are on record (django-pyas2 sends MIME
    # canonical CRLF line ends; the MIC we verified covers exactly these bytes).
    content = server.api(f"/exchanges/{inbound['id']}/content")
    assert content.replace(b"\r\n", b"\n") == ubl and content.count(b"\r\n") == ubl.count(b"\n")
    assert b"application/pkcs7-mime" in server.api(f"/exchanges/{inbound['id']}/raw")

    (doc_id,) = ex_in["documents"]
    doc = wait_for(lambda: (lambda d: d if d["status"] == "delivered" else None)(server.api(f"/documents/{doc_id}")),
                90, "delivery to B")
    assert doc["number"] == "E2E-0001"
    assert doc["recipient_partner_id"] == e2e.ids["Buyer B"]
    (delivery,) = doc["deliveries"]
    assert delivery["format"] == "cii" and delivery["channel"] == "as2" and delivery["status"] == "acknowledged"

    out = server.api(f"/exchanges/{delivery['exchange_id']}")
    assert out["direction"] == "out" and out["status"] == "acknowledged"
    assert out["partner"]["id"] == e2e.ids["Buyer B"]
    assert [h["status"] for h in out["history"]] == ["queued", "sending", "acknowledged"]
    assert "MIC verified" in out["reason"]

    # What B holds is exactly the CII rendering we recorded, and it is the same invoice.
    cii = server.api(f"/exchanges/{out['id']}/content")
    assert etree.QName(etree.fromstring(cii)).namespace == NS_CII
    got = peer.message(out["message_id"], "IN")
    assert got is not None and got["status"] == "S", got
    assert got["payload_sha256"] == hashlib.sha256(cii).hexdigest()
    assert read_document(cii).invoice.number == "E2E-0001"
    (rendering,) = doc["renderings"]
    assert server.api(f"/documents/{doc_id}/renderings/{rendering['id']}") == cii

    # Searching documents by number finds it, by another number does not.
    assert [d["id"] for d in server.api("/documents", number="E2E-0001")["items"]] == [doc_id]
    assert server.api("/documents", number="E2E-0002")["items"] == []


def test_invalid_invoice_is_rejected_with_its_findings_and_not_delivered(e2e):
    server, peer = e2e.server, e2e.peer
    inv = build_invoice()
    inv.number = "E2E-BAD"
    inv.buyer.electronic_address = Identifier(B_GLN, "0088")
    inv.totals.amount_due += 1                 # BR-CO-16: amount due ≠ total − paid + rounding
    bad = write_document(inv, "ubl").data
    sent = peer.send("STRANGER", "EDIGATE", bad, "E2E-BAD.xml")
    assert sent["status"] == "S"               # acknowledged: we have it (then we judge it)
    inbound = wait_for(lambda: [e for e in server.api("/exchanges", direction="in", message_id=sent["message_id"])
                             ["items"] if e["status"] == "rejected"], 60, "rejection")[0]
    ex = server.api(f"/exchanges/{inbound['id']}")
    assert "BR-CO-16" in ex["reason"]
    (doc_id,) = ex["documents"]
    doc = server.api(f"/documents/{doc_id}")
    assert doc["status"] == "invalid" and doc["deliveries"] == []
    rules = {f["rule"] for f in doc["findings"] if f["severity"] == "fatal"}
    assert rules == {"BR-CO-16"}
    finding = next(f for f in doc["findings"] if f["rule"] == "BR-CO-16")
    assert "BT-115" in finding["terms"] and finding["line"]
    content = server.api(f"/exchanges/{inbound['id']}/content")        # the bytes stay on record
    assert content.replace(b"\r\n", b"\n") == bad


def test_cli_send_queues_a_durable_job_the_running_server_delivers(e2e, tmp_path):
    from click.testing import CliRunner
    from gateway.cli import main

    server, peer = e2e.server, e2e.peer
    f = tmp_path / "handmade.xml"
    f.write_bytes(_invoice_ubl("E2E-CLI-1"))
    env = {k: v for k, v in server.env.items() if k.startswith("EDIGATE_")}
    r = CliRunner().invoke(main, ["send", str(f), "--to", "Buyer B", "--wait", "60"], env=env)
    assert r.exit_code == 0, r.output
    ex_id = int(r.output.split()[1].rstrip(":"))
    assert r.output.strip().splitlines()[-1].startswith(f"exchange {ex_id}: acknowledged")
    out = server.api(f"/exchanges/{ex_id}")
    assert out["filename"] == "handmade.xml" and out["content_type"] == "application/xml"
    got = peer.message(out["message_id"], "IN")
    assert got["status"] == "S" and got["payload_sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()

    r = CliRunner().invoke(main, ["send", str(f), "--to", "nobody"], env=env)
    assert r.exit_code == 2 and "no partner 'nobody'" in r.output


def _exchange_for(server, message_id: str, direction: str = "in"):
    items = server.api("/exchanges", direction=direction, message_id=message_id)["items"]
    return server.api(f"/exchanges/{items[0]['id']}") if items else None


def test_async_mdn_we_owe_is_posted_by_a_job_and_accepted_by_the_peer(e2e):
    server, peer = e2e.server, e2e.peer
    ubl = _invoice_ubl("E2E-ASYNC-IN")
    sent = peer.send("STRANGER", "EDIGATE-ASYNC", ubl, "async.xml")     # asks an asynchronous MDN
    ours = wait_for(lambda: (lambda e: e if e and e["mdn"]["at"] else None)(
        _exchange_for(server, sent["message_id"])), 60, "our asynchronous MDN to be delivered")
    assert ours["mdn"]["mode"] == "async" and ours["mdn"]["url"] and ours["as2_to"] == "EDIGATE-ASYNC"
    assert any("asynchronous MDN delivered" in (h["reason"] or "") for h in ours["history"])
    got = wait_for(lambda: (lambda m: m if m["status"] == "S" else None)(peer.message(sent["message_id"], "OUT")),
                30, "the peer to accept our MDN")
    assert got["mdn"]["signed"]


def test_async_mdn_from_the_peer_settles_our_send(e2e, tmp_path):
    from click.testing import CliRunner
    from gateway.cli import main

    server, peer = e2e.server, e2e.peer
    b = e2e.ids["Buyer B"]
    server.api(f"/partners/{b}", method="PATCH", json={"as2": {"mdn_mode": "async"}})
    try:
        f = tmp_path / "async-out.xml"
        f.write_bytes(_invoice_ubl("E2E-ASYNC-OUT"))
        env = {k: v for k, v in server.env.items() if k.startswith("EDIGATE_")}
        r = CliRunner().invoke(main, ["send", str(f), "--to", "Buyer B"], env=env)      # queued: the server sends it
        ex_id = int(r.output.split()[1].rstrip(":"))
        wait_for(lambda: server.api(f"/exchanges/{ex_id}")["status"] == "awaiting_mdn", 30, "awaiting_mdn")
        peer.send_pending_async_mdns()                  # django-pyas2 posts its MDN to our /as2
        out = wait_for(lambda: (lambda e: e if e["status"] == "acknowledged" else None)(
            server.api(f"/exchanges/{ex_id}")), 30, "the asynchronous MDN")
        assert out["mdn"]["mode"] == "async" and out["mdn"]["disposition"] == "processed"
        assert [h["status"] for h in out["history"]] == ["queued", "sending", "awaiting_mdn", "acknowledged"]
        assert "MIC verified" in out["reason"]
        assert server.api(f"/exchanges/{ex_id}/mdn")       # the signed MDN itself is kept
    finally:
        server.api(f"/partners/{b}", method="PATCH", json={"as2": {"mdn_mode": "sync"}})


def test_forged_signature_is_refused_with_the_right_disposition_and_kept_on_record(e2e):
    server, peer = e2e.server, e2e.peer
    sent = peer.send("STRANGER", "EDIGATE", _invoice_ubl("E2E-FORGED"), "forged.xml", signing_key="rogue")
    assert sent["status"] == "E" and sent["mdn"]["signed"], sent
    # Found by the Message-ID it claimed (a refused attempt keeps it, outside the duplicate key).
    rejected = server.api("/exchanges", direction="in", message_id=sent["message_id"])["items"]
    assert [e["status"] for e in rejected] == ["rejected"] and rejected[0]["message_id"] == sent["message_id"]
    ex = server.api(f"/exchanges/{rejected[0]['id']}")
    assert "authentication-failed" in ex["reason"] and ex["documents"] == []
    assert ex["mdn"]["disposition"] == "processed/error: authentication-failed"
    assert len(server.api(f"/exchanges/{ex['id']}/raw")) > 1000       # the refused bytes stay on record
    # Nothing of it was processed or delivered.
    assert server.api("/documents", number="E2E-FORGED")["items"] == []


def test_a_resend_after_a_lost_mdn_is_judged_by_the_duplicate_unproven_policy(e2e, tmp_path):
    """We sent, the peer stored, our worker died before recording the MDN; the lease expires, we
    send again (same Message-ID) and django-pyas2 answers duplicate-document without our MIC."""
    from datetime import timedelta
    import sqlalchemy as sa
    from click.testing import CliRunner
    from gateway.cli import main
    from gateway.db import Exchange, Partner, utcnow

    server = e2e.server
    f = tmp_path / "lost-mdn.xml"
    f.write_bytes(_invoice_ubl("E2E-LOST-MDN"))
    env = {k: v for k, v in server.env.items() if k.startswith("EDIGATE_")}
    r = CliRunner().invoke(main, ["send", str(f), "--to", "Buyer B", "--wait", "30"], env=env)
    ex_id = int(r.output.split()[1].rstrip(":"))
    assert server.api(f"/exchanges/{ex_id}")["status"] == "acknowledged"
    gw = server.gateway()
    try:
        with gw.session() as s:                  # as if the worker died mid-send an hour ago
            s.execute(sa.update(Exchange).where(Exchange.id == ex_id)
                      .values(status="sending", status_at=utcnow() - timedelta(hours=1)))
        gw.jobs.sweep()                          # the lease expired: queued again, for the server's workers
        out = wait_for(lambda: (lambda e: e if e["status"] == "failed" else None)(
            server.api(f"/exchanges/{ex_id}")), 60, "the resend to be judged")
        assert "duplicate-document without our MIC" in out["reason"]
        assert "stopped mid-send" in out["history"][-3]["reason"]
        with gw.session() as s:
            p = s.get(Partner, e2e.ids["Buyer B"])
            p.as2_options = {**(p.as2_options or {}), "duplicate_unproven": "accept"}
        server.api(f"/exchanges/{ex_id}/retry", method="POST")
        out = wait_for(lambda: (lambda e: e if e["status"] == "acknowledged" else None)(
            server.api(f"/exchanges/{ex_id}")), 60, "the operator's retry")
        assert "duplicate_unproven=accept" in out["reason"]
    finally:
        with gw.session() as s:
            p = s.get(Partner, e2e.ids["Buyer B"])
            p.as2_options = {k: v for k, v in (p.as2_options or {}).items() if k != "duplicate_unproven"}
        gw.close()
