"""Two certified platforms (PA) of the French reform, each a real ``edigate serve`` in its own
process with its job workers, and the PPF directory between them.

The directory is ``tests.support.ppf_annuaire``: a STAND-IN of the PPF annuaire API built from
its published OpenAPI 1.11.0 (the real service sits behind PISTE and cannot be reached from
here). It lists the buyer's lines: its SIREN received by a third platform (0003, which nobody
here is connected to) and its ``SIREN_SIRET_SERV1`` line received by platform B (0002): the
most specific line must win.

Platform A (0001) has the supplier as a member, subject to the reform, whose ERP talks to A
through the XP Z12-013 Flow Service (statuses as CDAR, its webhook on a loopback server that
checks nothing itself). A knows platform B as a partner on the ``pa`` channel (B's Flow
Service, with the token B gave A) and has subscribed its webhook there (``edigate partner
pa-subscribe``, the real command line). Platform B has the buyer as a member (its ERP on B's
REST API) and platform A as a partner on the ``flow_api`` channel, told of statuses by CDAR.

1. The supplier's ERP submits a French invoice addressed to ``SIREN_SIRET_SERV1`` (BT-49,
   scheme 0225). A checks it with the French rules, finds platform B in its mirror of the
   directory, and submits it to B's Flow Service; B routes it to the buyer by that address.
2. The buyer refuses it with a reason: B writes CDAR 210 to A (an In flow and a signed webhook
   call to A); A fetches it, moves its own document to refused, and the supplier's ERP gets
   CDAR 210 with the reason through A's webhook.
3. A second invoice is accepted, then marked paid by the buyer: the supplier's ERP gets CDAR 205,
   then 212 with the amount cashed.
4. A third, as the reform has it: the buyer's payment sent (211) reaches the supplier's ERP, which
   declares the invoice cashed (212, a CDAR flow on A); A tells platform B (the recipient's side,
   since the seller set it), where the buyer's invoice becomes paid.
5. An invoice that breaks a French rule never leaves A: its flow is acknowledged ``Error``
   naming the BR-FR rule, and B never sees it.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa

from gateway.db import DocumentRecord, Exchange, Partner, User, issue_token, utcnow
from gateway.model.invoice import Identifier
from gateway.syntaxes import cdar, write_document
from tests.support.flow_erp import Callbacks, Erp, signed_right
from tests.support.fr_invoice import BUYER_SIREN, SELLER_SIREN, build_french_invoice
from tests.support.gateway_process import REPO
from tests.support.ppf_annuaire import PpfAnnuaire
from tests.support.waiting import wait_for

A_ID, B_ID, C_ID = "0001", "0002", "0003"
BUYER_SIRET = "73282932000074"
ROUTING = "SERV1"
BUYER_ADDRESS = f"{BUYER_SIREN}_{BUYER_SIRET}_{ROUTING}"
API = "/api/v1"


def _user_token(s, name: str, partner: Partner) -> str:
    user = User.create(name, "erp-password-123", "recipient", partner_id=partner.id)
    s.add(user)
    s.flush()
    return issue_token(s, user, "erp")[1]


@pytest.fixture
def platforms(make_gateway_process, tmp_path):
    annuaire = PpfAnnuaire()
    annuaire.add(BUYER_SIREN, C_ID, platform_name="Plateforme C")
    annuaire.add(BUYER_SIREN, B_ID, siret=BUYER_SIRET, routing_code=ROUTING, platform_name="Plateforme B")
    a = make_gateway_process(extra_env=annuaire.env(EDIGATE_PLATFORM_ID=A_ID))
    b = make_gateway_process(extra_env={"EDIGATE_PLATFORM_ID": B_ID})
    gw_a, gw_b = a.gateway(), b.gateway()
    loopback = {"flow_api": {"callback_private": True}}     # every callback is on loopback here

    with gw_b.session() as s:                                # platform B: the buyer, and A as a partner
        buyer = Partner(name="Client SAS", preferred_channel="api", french_reform=True)
        buyer.add_identifier("0225", BUYER_ADDRESS)
        buyer.add_identifier("0002", BUYER_SIREN)
        pa_a = Partner(name="Plateforme A", preferred_channel="flow_api", status_syntax="cdar",
                       channel_settings=loopback)
        pa_a.add_identifier("PA", A_ID)
        s.add_all([buyer, pa_a])
        s.flush()
        buyer_token, a_on_b_token = _user_token(s, "client-erp", buyer), _user_token(s, "plateforme-a", pa_a)

    token_file = tmp_path / "b-token"
    token_file.write_text(a_on_b_token)
    token_file.chmod(0o600)
    with gw_a.session() as s:                                # platform A: the supplier, and B as a partner
        supplier = Partner(name="Fournisseur SARL", preferred_channel="flow_api", status_syntax="cdar",
                           french_reform=True, channel_settings=loopback)
        supplier.add_identifier("0002", SELLER_SIREN)
        pa_b = Partner(name="Plateforme B", preferred_channel="pa", status_syntax="cdar", channel_settings={
            "pa": {"flow_url": b.base + "/xp-z12-013/flow-service", "token": f"file:{token_file}",
                   "platform_id": B_ID, "allow_private": True}})
        pa_b.add_identifier("PA", B_ID)
        s.add_all([supplier, pa_b])
        s.flush()
        supplier_token, pa_b_id = _user_token(s, "fournisseur-erp", supplier), pa_b.id

    a.start()
    b.start()
    # A subscribes its webhook on B's Flow Service, as an operator would: the command line
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "partner", "pa-subscribe", "Plateforme B",
                           "--callback-url", f"{a.base}/pa/webhook/{pa_b_id}"],
                          cwd=REPO, env=a.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    callbacks = Callbacks({})
    try:
        yield {"a": a, "b": b, "gw_a": gw_a, "gw_b": gw_b, "annuaire": annuaire, "callbacks": callbacks,
               "supplier": Erp(a.base, supplier_token), "buyer_token": buyer_token}
    finally:
        callbacks.close()
        gw_a.close()
        gw_b.close()
        annuaire.close()


def _invoice(number: str):
    invoice = build_french_invoice()
    invoice.number = number
    invoice.buyer.electronic_address = Identifier(BUYER_ADDRESS, "0225")
    return invoice


def _submit(erp: Erp, invoice) -> str:
    data = write_document(invoice, "ubl").data
    r = erp.submit(data, {"flowSyntax": "UBL", "flowProfile": "CIUS", "name": f"{invoice.number}.xml",
                          "trackingId": f"ERP-{invoice.number}", "sha256": hashlib.sha256(data).hexdigest()})
    assert r.status_code == 202, r.text
    return r.json()["flowId"]


def _document(gw, number: str):
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.number == number))
        if doc is None:
            return None
        return {"id": doc.id, "status": doc.status, "business": doc.business_status,
                "recipient": doc.recipient.name if doc.recipient else None,
                "sender": doc.sender.name if doc.sender else None,
                "events": [(e.status, e.reason, e.reason_code) for e in doc.status_events]}


def _set_status(b, token: str, document_id: int, **body) -> None:
    r = requests.post(f"{b.base}{API}/documents/{document_id}/status", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text


def _cdar_flows(erp: Erp) -> dict[tuple[str, str], tuple[str, object]]:
    """The supplier's In CDAR flows: (invoice number, status code) -> (flow id, message read)."""
    out = {}
    for f in erp.search({"flowDirection": ["In"], "flowType": ["CustomerInvoiceLC"]}):
        message = cdar.read_cdar(erp.get(f["flowId"], "Original").content)
        for record in message.statuses:
            out[(record.invoice_number, record.code)] = (f["flowId"], message)
    return out


def test_an_invoice_crosses_two_platforms_by_the_directory_and_its_statuses_come_back(platforms) -> None:
    p = platforms
    a, b, gw_a, gw_b, supplier, callbacks = p["a"], p["b"], p["gw_a"], p["gw_b"], p["supplier"], p["callbacks"]
    hook = supplier.webhook(callbacks.url + "/fournisseur")

    # A's mirror of the directory is filled by its own sweep (routing never asks the network)
    from gateway.networks import annuaire
    wait_for(lambda: annuaire.state(gw_a).line_count == 2, 90, "A's mirror of the directory filled")

    # 1. the supplier's invoice: checked by the French rules on A, routed by the directory to B
    flow_id = _submit(supplier, _invoice("FA-2026-101"))
    wait_for(lambda: supplier.ack(flow_id)["status"] == "Ok", 60, "the invoice flow acknowledged Ok on A")
    on_a = wait_for(lambda: _document(gw_a, "FA-2026-101"), 60, "the invoice recorded on A")
    assert on_a["recipient"] == "Plateforme B"
    with gw_a.session() as s:
        reasons = [e.reason or "" for d in s.get(DocumentRecord, on_a["id"]).deliveries for e in d.history]
    assert any(f"annuaire: {BUYER_ADDRESS} received by platform {B_ID}" in r for r in reasons), reasons
    on_b = wait_for(lambda: _document(gw_b, "FA-2026-101"), 90, "the invoice received on B")
    assert (on_b["sender"], on_b["recipient"], on_b["status"]) == ("Plateforme A", "Client SAS", "delivered"), on_b
    with gw_a.session() as s:                    # B acknowledged A's flow: our submission is acknowledged
        wait_for(lambda: s.scalar(sa.select(Exchange.status).where(
            Exchange.channel == "pa", Exchange.direction == "out")) == "acknowledged", 60,
            "A's flow acknowledged Ok by B")
    assert [h.path for h in p["annuaire"].hits if h.method == "POST"].count("/ppf/annuaire-public/v1/"
                                                                           "ligne-annuaire/recherche") >= 1

    # 2. the buyer refuses it on B: CDAR 210 to A, then to the supplier's ERP through A's webhook
    _set_status(b, p["buyer_token"], on_b["id"], status="refused", reason_code="TX_TVA_ERR",
                reason="TVA à 10 %, 20 % attendus")
    refused = wait_for(lambda: (d := _document(gw_a, "FA-2026-101"))["business"] == "refused" and d, 120,
                       "A's document refused by B's CDAR")
    assert ("refused", "TVA à 10 %, 20 % attendus", "TX_TVA_ERR") in refused["events"], refused["events"]
    flows = wait_for(lambda: (f := _cdar_flows(supplier)).get(("FA-2026-101", "210")) and f, 90,
                     "CDAR 210 among the supplier's In flows")
    lc_id, message = flows[("FA-2026-101", "210")]
    record = message.statuses[0]
    assert (record.reason_code, record.reason, record.seller.id) == \
        ("TX_TVA_ERR", "TVA à 10 %, 20 % attendus", SELLER_SIREN)
    told = wait_for(lambda: callbacks.of("/fournisseur", lc_id), 60, "the supplier's webhook told of the 210")
    assert len(told) == 1 and signed_right(told[0], hook["signingKey"])

    # 3. a second invoice accepted, then paid: CDAR 205 then 212 (with the amount cashed) for the supplier
    second = _submit(supplier, _invoice("FA-2026-102"))
    wait_for(lambda: supplier.ack(second)["status"] == "Ok", 60, "the second invoice acknowledged Ok on A")
    on_b = wait_for(lambda: _document(gw_b, "FA-2026-102"), 90, "the second invoice received on B")
    _set_status(b, p["buyer_token"], on_b["id"], status="accepted")
    wait_for(lambda: _cdar_flows(supplier).get(("FA-2026-102", "205")), 120, "CDAR 205 for the supplier")
    _set_status(b, p["buyer_token"], on_b["id"], status="paid")
    flows = wait_for(lambda: (f := _cdar_flows(supplier)).get(("FA-2026-102", "212")) and f, 120,
                     "CDAR 212 for the supplier")
    paid = flows[("FA-2026-102", "212")][1].statuses[0]
    cashed = [c for d in paid.details for c in d.characteristics if c.type_code == "MEN"]
    assert [(c.amount, c.percent) for c in cashed] == [(Decimal("120.00"), Decimal("20"))], paid.details
    assert _document(gw_a, "FA-2026-102")["business"] == "paid"

    # 4. as the reform has it, payment sent by the buyer (211), then cashed as the seller declares it
    #    (212, its ERP's CDAR on A): A tells platform B, where the buyer's invoice becomes paid
    third = _submit(supplier, _invoice("FA-2026-104"))
    wait_for(lambda: supplier.ack(third)["status"] == "Ok", 60, "the third invoice acknowledged Ok on A")
    on_b = wait_for(lambda: _document(gw_b, "FA-2026-104"), 90, "the third invoice received on B")
    _set_status(b, p["buyer_token"], on_b["id"], status="accepted")
    # set at once, one after the other: B's two CDAR flows may reach A the other way round, and A
    # waits for the 205 before applying the 211 instead of refusing it
    _set_status(b, p["buyer_token"], on_b["id"], status="payment_sent")
    wait_for(lambda: _cdar_flows(supplier).get(("FA-2026-104", "211")), 120, "CDAR 211 for the supplier")
    cashed = cdar.build_cdar(cdar.StatusChange(
        status="paid", at=utcnow().replace(microsecond=0), invoice_number="FA-2026-104", invoice_date=date(2026, 9, 1),
        seller=cdar.CdarParty(SELLER_SIREN, "0002"), issuer=cdar.CdarParty(SELLER_SIREN, "0002", "Fournisseur SARL",
                                                                             "SE"),
        recipients=(cdar.CdarParty(BUYER_SIREN, "0002", "Client SAS", "BY", BUYER_ADDRESS, "0225"),),
        characteristics=(cdar.Characteristic("MEN", amount=Decimal("120.00"), currency="EUR",
                                             percent=Decimal("20")),)))
    r = supplier.submit(cashed, {"flowSyntax": "CDAR", "name": "CDAR_FA-2026-104_212.xml"})
    assert r.status_code == 202, r.text
    wait_for(lambda: supplier.ack(r.json()["flowId"])["status"] == "Ok", 60, "the supplier's 212 acknowledged Ok")
    assert wait_for(lambda: _document(gw_a, "FA-2026-104")["business"] == "paid", 60, "A's document paid")
    paid_on_b = wait_for(lambda: (d := _document(gw_b, "FA-2026-104"))["business"] == "paid" and d, 120,
                         "B's document paid by the seller's CDAR 212 through A")
    assert paid_on_b["events"][-1][0] == "paid"

    # 5. an invoice breaking a French rule never leaves A
    broken = _invoice("FA-2026-103")
    broken.seller.legal_registration_identifier = None        # BR-FR-10_BT-30
    bad = _submit(supplier, broken)
    ack = wait_for(lambda: (x := supplier.ack(bad))["status"] != "Pending" and x, 60, "the broken invoice's ack")
    assert ack["status"] == "Error" and "BR-FR-10_BT-30" in {d["reasonCode"] for d in ack["details"]}, ack
    assert _document(gw_b, "FA-2026-103") is None
