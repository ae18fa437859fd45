"""Members' ERPs on the XP Z12-013 Flow Service of a real gateway (``edigate serve`` in its own
process, its job workers running), each called back by a real HTTP server on loopback that
checks nothing itself: the test verifies every ``Afnor-Signature`` with the signing key the
ERP was given, as the specification describes the signature.

A supplier's ERP submits a French invoice as a flow: 202 and a ``flowId``; it finds the flow by
search and by its ``trackingId``, and the acknowledgement moves from ``Pending`` to ``Ok``. An
invalid invoice ends ``Error`` with the rule that refused it; a wrong ``sha256`` is refused at
the door. The buyer chose the flow API as its channel: the invoice is an In flow for it, its
webhook is called once the callback answers 2xx (the first answer is a 503: retried, then
never again), and it downloads the invoice. The buyer's ERP refuses the invoice by posting a
CDAR (210 Refusée with its reason code): the document's life cycle moves, and the supplier,
who chose CDAR statuses, gets the refusal as an In flow (``CustomerInvoiceLC``) through its
own webhook. Another organisation's ERP sees none of it: a 404.
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa

from gateway.db import DocumentRecord, Partner, User, WebhookEvent, issue_token, utcnow
from gateway.syntaxes import cdar, read_document, write_document
from gateway.syntaxes.cdar import CdarParty, StatusChange
from tests.support.flow_erp import Callbacks, Erp, signed_right
from tests.support.fr_invoice import BUYER_SIREN, SELLER_SIREN, build_french_invoice
from tests.support.waiting import wait_for

OTHER_SIREN = "552100554"


@pytest.fixture
def world(make_gateway_process):
    server = make_gateway_process()
    gw = server.gateway()
    tokens = {}
    with gw.session() as s:
        loopback = {"flow_api": {"callback_private": True}}       # the callbacks are on loopback here
        seller = Partner(name="Fournisseur SARL", preferred_channel="flow_api", status_syntax="cdar",
                         channel_settings=loopback)
        seller.add_identifier("0002", SELLER_SIREN)
        buyer = Partner(name="Client SAS", preferred_channel="flow_api", preferred_format="ubl",
                        channel_settings=loopback)
        buyer.add_identifier("0225", BUYER_SIREN)
        other = Partner(name="Autre SA", preferred_channel="flow_api")
        other.add_identifier("0002", OTHER_SIREN)
        s.add_all([seller, buyer, other])
        s.flush()
        for name, partner in (("seller", seller), ("buyer", buyer), ("other", other)):
            user = User.create(f"{name}-erp", "erp-password-123", "recipient", partner_id=partner.id)
            s.add(user)
            s.flush()
            tokens[name] = issue_token(s, user, "erp")[1]
    server.start()
    callbacks = Callbacks({"/buyer": [503, 200]})
    erps = {name: Erp(server.base, token) for name, token in tokens.items()}
    try:
        yield server, gw, erps, callbacks
    finally:
        callbacks.close()
        gw.close()


def test_erps_exchange_invoices_and_statuses_through_the_flow_service(world) -> None:
    server, gw, erps, callbacks = world
    seller, buyer, other = erps["seller"], erps["buyer"], erps["other"]
    seller_hook = seller.webhook(callbacks.url + "/seller")
    buyer_hook = buyer.webhook(callbacks.url + "/buyer")
    listed = requests.get(seller.base + "/webhooks", headers=seller.auth, timeout=30).json()
    assert listed["count"] == 1 and listed["webhookIds"] == [seller_hook["webhookId"]]
    assert "signingKey" not in listed["webhooks"][0] and len(base64.b64decode(seller_hook["signingKey"])) == 32

    # the supplier's ERP submits an invoice: 202, found by search and by trackingId, then Ok
    invoice = build_french_invoice()
    data = write_document(invoice, "ubl").data
    r = seller.submit(data, {"flowSyntax": "UBL", "name": "FA-2026-001.xml", "trackingId": "ERP-FA-2026-001",
                             "sha256": hashlib.sha256(data).hexdigest()})
    assert r.status_code == 202, r.text
    submitted = r.json()
    flow_id = submitted["flowId"]
    assert (submitted["trackingId"], submitted["sha256"]) == ("ERP-FA-2026-001", hashlib.sha256(data).hexdigest())
    assert [f["flowId"] for f in seller.search({"trackingId": "ERP-FA-2026-001"})] == [flow_id]
    wait_for(lambda: seller.ack(flow_id)["status"] == "Ok", 60, "the invoice flow acknowledged Ok")
    flow = seller.get(flow_id).json()
    assert (flow["flowDirection"], flow["flowType"], flow["flowSyntax"]) == ("Out", "CustomerInvoice", "UBL")
    assert [f["flowId"] for f in seller.search({"flowDirection": ["Out"], "ackStatus": "Ok"})] == [flow_id]
    assert seller.get(flow_id, "Original").content == data

    # a wrong fingerprint is refused at the door; an invalid invoice is taken in, then Error with its rule
    r = seller.submit(data, {"flowSyntax": "UBL", "name": "x.xml", "sha256": "0" * 64})
    assert (r.status_code, r.json()["errorCode"]) == (422, "CHECKSUM_MISMATCH")
    bad = build_french_invoice()
    bad.number = "FA-2026-002"
    bad.totals.total_with_vat += Decimal("1.00")
    bad.totals.amount_due += Decimal("1.00")
    r = seller.submit(write_document(bad, "ubl").data, {"flowSyntax": "UBL", "name": "FA-2026-002.xml",
                                                        "trackingId": "ERP-FA-2026-002"})
    assert r.status_code == 202, r.text
    bad_id = r.json()["flowId"]
    ack = wait_for(lambda: (a := seller.ack(bad_id))["status"] != "Pending" and a, 60, "the bad invoice's ack")
    assert ack["status"] == "Error", ack
    assert "BR-CO-15" in {d["reasonCode"] for d in ack["details"]}, ack
    assert all(d["level"] in ("Error", "Warning") and d["reasonMessage"] for d in ack["details"])

    # the buyer's ERP has it as an In flow; its webhook is called until it answers 2xx, then never again
    incoming = wait_for(lambda: buyer.search({"flowDirection": ["In"], "flowType": ["SupplierInvoice"]}), 60,
                        "the invoice as the buyer's In flow")
    assert len(incoming) == 1 and incoming[0]["acknowledgement"]["status"] == "Ok"
    in_id = incoming[0]["flowId"]
    calls = wait_for(lambda: (c := callbacks.of("/buyer", in_id)) and c[-1]["status"] == 200 and c, 90,
                     "the buyer's webhook answered 200")
    assert [c["status"] for c in calls] == [503, 200]
    assert all(signed_right(c, buyer_hook["signingKey"]) for c in calls)
    assert calls[0]["body"] == calls[1]["body"] and json.loads(calls[1]["body"])["flowType"] == "SupplierInvoice"
    assert not signed_right({**calls[1], "body": calls[1]["body"] + b" "}, buyer_hook["signingKey"])
    converted = buyer.get(in_id, "Converted")
    assert converted.status_code == 200 and read_document(converted.content).invoice.number == "FA-2026-001"

    # the buyer's ERP refuses it with a CDAR: the life cycle moves, the supplier's ERP hears of it
    refusal = cdar.build_cdar(StatusChange(
        status="refused", at=utcnow().replace(microsecond=0) + timedelta(minutes=1), invoice_number="FA-2026-001",
        invoice_date=date(2026, 9, 1), seller=CdarParty(SELLER_SIREN, "0002"),
        recipients=(CdarParty(SELLER_SIREN, "0002", "Fournisseur SARL", "SE", SELLER_SIREN, "0225"),),
        issuer=CdarParty(BUYER_SIREN, "0002", "Client SAS", "BY"), reason_code="TX_TVA_ERR",
        reason="TVA à 10 %, 20 % attendus"))
    r = buyer.submit(refusal, {"flowSyntax": "CDAR", "name": "refus-FA-2026-001.xml"})
    assert r.status_code == 202, r.text
    cdar_id = r.json()["flowId"]
    wait_for(lambda: buyer.ack(cdar_id)["status"] == "Ok", 60, "the buyer's CDAR acknowledged Ok")
    assert buyer.get(cdar_id).json()["flowType"] == "SupplierInvoiceLC"
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.number == "FA-2026-001"))
        assert (doc.business_status, doc.status_events[-1].reason_code) == ("refused", "TX_TVA_ERR")

    def refusal_flow():
        for f in seller.search({"flowDirection": ["In"], "flowType": ["CustomerInvoiceLC"]}):
            message = cdar.read_cdar(seller.get(f["flowId"], "Original").content)
            if message.statuses[0].code == "210":
                return f["flowId"], message
        return None

    lc_id, message = wait_for(refusal_flow, 90, "the refusal as the supplier's In flow")
    assert (message.statuses[0].reason_code, message.statuses[0].invoice_number) == ("TX_TVA_ERR", "FA-2026-001")
    told = wait_for(lambda: callbacks.of("/seller", lc_id), 60, "the supplier's webhook told of the refusal")
    assert len(told) == 1 and signed_right(told[0], seller_hook["signingKey"])
    assert json.loads(told[0]["body"])["flowType"] == "CustomerInvoiceLC"

    # each event once: the buyer's invoice flow was called twice (503, then 200) and no more, though
    # later events (its CDAR's acknowledgement) reached the same webhook since
    wait_for(lambda: callbacks.of("/buyer", cdar_id), 60, "the buyer's webhook told of its CDAR's acknowledgement")
    assert [c["status"] for c in callbacks.of("/buyer", in_id)] == [503, 200]
    with gw.session() as s:
        done = s.scalars(sa.select(WebhookEvent)).all()
        assert all(e.status == "delivered" for e in done), [(e.id, e.status, e.reason) for e in done]
        invoice_event = next(e for e in done if json.loads(e.body)["flowId"] == in_id)
        assert [a.status_code for a in invoice_event.history] == [503, 200]

    # another organisation's ERP sees none of it
    assert other.get(flow_id).status_code == 404 and other.get(in_id, "Original").status_code == 404
    assert other.search({"trackingId": "ERP-FA-2026-001"}) == []
    assert other.get(flow_id).json()["errorCode"] == "MISSING_RESOURCE"
