"""The choruspro channel on a real Gateway, against a STAND-IN of the PISTE API.

Chorus Pro cannot be reached from here: ``tests.support.choruspro_standin`` is a stand-in
built from the second-hand notes on its API (corpus/choruspro/NOTES.md and the open-source
client they cite), a real WSGI server on loopback with a token endpoint, the deposit, the
deposit reports, the invoice search and the structure services; it records what our
requests get wrong (``invalid``, asserted empty). Our side is a real gateway: its database,
pipeline and jobs in this process, its REST API through the Flask app.

What is shown: an invoice to a public buyer deposited once (its file, its syntaxeFlux),
polled to integrated, then through Chorus Pro's statuses to payment, our life cycle moving
with them and the sender seeing the deposit through the API; a flow rejected with two
errors on the invoice, both findings on the document; an invoice lacking the service code
its buyer requires held before any deposit, the reason naming BT-10 (and BT-13 for a
commitment number); a token expired early renewed once; Chorus Pro down, then answering
503, then slow to answer a deposit it kept: the same content deposited exactly once.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from gateway.channels import choruspro
from gateway.db import Delivery, DocumentRecord, Exchange, Partner, User, issue_token, utcnow
from gateway.delivery.attempts import send_exchange
from gateway.delivery.channel import registry
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.syntaxes import write_document
from gateway.web import create_app
from tests.support.choruspro_standin import ChorusProStandIn
from tests.support.invoice_builder import build_invoice

BUYER = "11000201100044"              # a public buyer's SIRET (Luhn-valid)
OTHER_BUYER = "21750001600019"
LATER = timedelta(hours=3)


@pytest.fixture
def piste():
    server = ChorusProStandIn().start()
    yield server
    server.stop()
    assert server.invalid == [], "our requests broke what the notes describe"


@pytest.fixture
def gw(make_gateway, tmp_path, monkeypatch, piste):
    choruspro.structures.clear()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "piste").write_text(piste.client_secret + "\n")
    monkeypatch.setenv("CPRO_TECH_PASSWORD", "mot-de-passe-technique")
    gw = make_gateway(EDIGATE_CERTS_DIR=str(tmp_path / "certs"))
    with gw.session() as s:
        seller = Partner(name="Fournisseur SAS", preferred_channel="sftp", status_syntax="none")
        cpro = Partner(name="Chorus Pro", preferred_channel="choruspro",
                       as2_options={"retry_backoff_seconds": [60], "max_attempts": 5},
                       channel_settings={"choruspro": {
                           "api_url": piste.api, "token_url": piste.token_url, "allow_private": True,
                           "client_id": piste.client_id, "client_secret": f"file:{secrets / 'piste'}",
                           "account_login": "TECH_edigate@cpro.fr", "account_password": "env:CPRO_TECH_PASSWORD",
                           "timeout_seconds": 2}})
        cpro.add_identifier("0009", BUYER)
        cpro.add_identifier("0009", OTHER_BUYER)
        s.add_all([seller, cpro])
        s.flush()
        gw.test_ids = {"seller": seller.id, "cpro": cpro.id}
    return gw


def invoice_bytes(number: str, *, buyer: str = BUYER, service: str | None = "SERV-COMPTA",
                  commitment: str | None = None) -> bytes:
    inv = build_invoice()
    inv.number, inv.issue_date = number, date(2026, 11, 2)
    inv.buyer.name = "Ministère des Essais"
    inv.buyer.legal_registration_identifier = Identifier(buyer, "0009")
    inv.buyer_reference = service
    inv.purchase_order_reference = commitment
    return write_document(inv, "ubl").data


def send(gw, number: str, **kw) -> tuple[int, int]:
    """The supplier sends an invoice for a public buyer: (document id, choruspro exchange id)."""
    ex = receive_file(gw, invoice_bytes(number, **kw), channel="sftp", partner_id=gw.test_ids["seller"],
                      filename=f"{number}.xml", message_id=f"sftp:/in/{number}.xml")
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert doc is not None and doc.recipient_partner_id == gw.test_ids["cpro"], s.get(Exchange, ex.id).reason
        delivery = s.scalar(sa.select(Delivery).where(Delivery.document_id == doc.id))
        assert delivery.channel == "choruspro" and delivery.exchange_id is not None, delivery.history
        return doc.id, delivery.exchange_id


def exchange(gw, exchange_id: int) -> Exchange:
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        _ = [e.reason for e in ex.history]
        s.expunge(ex)
        return ex


def document(gw, doc_id: int) -> DocumentRecord:
    with gw.session() as s:
        doc = s.get(DocumentRecord, doc_id)
        _ = [d.status for d in doc.deliveries]
        s.expunge_all()
        return doc


def follow(gw, hours: int = 3) -> dict:
    return registry["choruspro"].due(gw, utcnow() + timedelta(hours=hours))


def api_document(gw, doc_id: int) -> dict:
    with gw.session() as s:
        user = User.create("olivia", "correct horse battery staple 42", "operator")
        s.add(user)
        s.flush()
        token = issue_token(s, user, "test")[1]
    client = create_app(gw, testing=True).test_client()
    r = client.get(f"/api/v1/documents/{doc_id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def test_an_invoice_is_deposited_polled_to_integrated_then_followed_to_payment(gw, piste) -> None:
    piste.add_structure(BUYER, service_required=True, services=("SERV-COMPTA",))
    doc_id, ex_id = send(gw, "FA-2026-0001")
    ex = exchange(gw, ex_id)
    assert ex.status == "awaiting_mdn", ex.reason
    assert piste.deposited() == 1
    (flow,) = piste.deposits.values()
    assert flow.data == gw.payloads.get(ex.content_sha256) and flow.syntax == "IN_DP_E1_UBL_INVOICE"
    assert flow.name == "FA-2026-0001.xml" and ex.mdn_message_id == flow.number
    assert follow(gw) == {"choruspro_follows": 1}                     # still being processed
    assert exchange(gw, ex_id).status == "awaiting_mdn"
    piste.integrate(flow.number)
    follow(gw)
    ex = exchange(gw, ex_id)
    assert ex.status == "acknowledged" and ex.mdn_disposition == "IN_INTEGRE"
    doc = document(gw, doc_id)
    assert (doc.status, doc.deliveries[0].status, doc.business_status) == ("delivered", "acknowledged", "received")
    walk = [("MISE_A_DISPOSITION", "made_available"), ("MANDATEE", "accepted"), ("MISE_EN_PAIEMENT", "payment_sent")]
    for cpro_status, ours in walk:
        piste.set_status(flow.number, cpro_status)
        follow(gw, hours=30)
        assert document(gw, doc_id).business_status == ours, exchange(gw, ex_id).history[-1].reason
    ex = exchange(gw, ex_id)
    assert ex.next_attempt_at is None and ex.mdn_disposition == "MISE_EN_PAIEMENT"   # final: no longer followed
    assert follow(gw, hours=60) == {"choruspro_follows": 0}
    said = " ".join(e.reason or "" for e in ex.history)
    assert f'"numeroFluxDepot": "{flow.number}"' in said and '"statut": "MISE_EN_PAIEMENT"' in said   # raw answers
    assert piste.deposited() == 1 and piste.tokens_issued == 1       # one token for every call
    seen = api_document(gw, doc_id)
    assert seen["business_status"] == "payment_sent"
    assert seen["deliveries"][0]["deposit"] == {"id": flow.number, "status": "MISE_EN_PAIEMENT", "error": None,
                                                "reference": ex.message_id}
    secrets = ("mot-de-passe-technique", piste.client_secret)
    assert not any(x in said or x in (ex.reason or "") for x in secrets)
    client = choruspro.client_for(choruspro.partner_settings(_partner(gw)), gw.settings.certs_dir)
    assert not any(x in repr(client) or x in repr(client.account) or x in repr(client.auth) for x in secrets)


def _partner(gw) -> Partner:
    with gw.session() as s:
        p = s.get(Partner, gw.test_ids["cpro"])
        s.expunge(p)
        return p


def test_a_rejected_deposit_puts_each_error_on_the_document(gw, piste) -> None:
    piste.add_structure(BUYER)
    doc_id, ex_id = send(gw, "FA-2026-0002")
    (flow,) = piste.deposits
    piste.reject(flow, ["Le numéro de SIRET du destinataire est inactif",
                        "Le montant TTC est incohérent avec les lignes"])
    follow(gw)
    ex = exchange(gw, ex_id)
    assert ex.status == "failed"
    assert ex.reason.startswith(f"Chorus Pro rejected flow {flow} (IN_REJETE): Le numéro de SIRET")
    doc = document(gw, doc_id)
    found = [f for f in doc.findings if f["rule"].startswith("CPRO-")]
    assert [f["message"] for f in found] == ["Le numéro de SIRET du destinataire est inactif",
                                             "Le montant TTC est incohérent avec les lignes"]
    assert all(f["location"] == "invoice FA-2026-0002" and f["severity"] == "fatal" for f in found)
    assert doc.status == "failed" and doc.deliveries[0].status == "failed"
    deposit = api_document(gw, doc_id)["deliveries"][0]["deposit"]
    assert deposit["id"] == flow and deposit["status"] == "IN_REJETE"
    assert "SIRET du destinataire est inactif" in deposit["error"]
    assert piste.count("POST", "/cpro/transverses/v1/consulterCRDetaille") == 1
    page = operator_page(gw, f"/documents/{doc_id}")
    assert f'Deposit <span class="ident">{flow}</span>' in page and "<strong>IN_REJETE</strong>" in page
    assert "Le montant TTC est incohérent avec les lignes" in page


def operator_page(gw, path: str) -> str:
    """A page of the operator's web app, as an operator logged in sees it."""
    import re
    with gw.session() as s:
        s.add(User.create("oscar", "correct horse battery staple 42", "operator"))
    client = create_app(gw, testing=True).test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    client.post("/login", data={"username": "oscar", "password": "correct horse battery staple 42",
                                "csrf_token": token})
    r = client.get(path)
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def test_an_invoice_lacking_what_its_buyer_requires_is_held_before_any_deposit(gw, piste) -> None:
    piste.add_structure(BUYER, service_required=True, services=("SERV-COMPTA",))
    piste.add_structure(OTHER_BUYER, commitment_required=True)
    doc_id, ex_id = send(gw, "FA-2026-0003", service=None)
    ex = exchange(gw, ex_id)
    assert ex.status == "failed" and ex.reason.startswith("held before deposit")
    assert "BT-10" in ex.reason and "service code" in ex.reason
    doc = document(gw, doc_id)
    assert [(f["rule"], f["terms"]) for f in doc.findings if f["rule"].startswith("CPRO")] == [("CPRO-BT-10", ["BT-10"])]
    doc2, ex2 = send(gw, "FA-2026-0004", buyer=OTHER_BUYER, service=None)
    assert "BT-13" in exchange(gw, ex2).reason and "commitment number" in exchange(gw, ex2).reason
    doc3, ex3 = send(gw, "FA-2026-0005", service="SERV-INCONNU")
    assert "'SERV-INCONNU' (BT-10) is not an active service" in exchange(gw, ex3).reason
    assert piste.deposited() == 0 and piste.count("POST", "/cpro/factures/v1/deposer/flux") == 0
    assert api_document(gw, doc_id)["deliveries"][0]["deposit"]["status"] == "held"
    # the structure's requirements are cached: three invoices, two structures, each looked up once
    assert piste.count("POST", "/cpro/structures/v1/consulter") == 2


def test_an_expired_token_is_renewed_once(gw, piste) -> None:
    piste.add_structure(BUYER)
    doc_id, ex_id = send(gw, "FA-2026-0006")
    assert piste.tokens_issued == 1
    piste.expire_tokens()
    (flow,) = piste.deposits
    piste.integrate(flow)
    follow(gw)
    assert exchange(gw, ex_id).status == "acknowledged"
    assert piste.tokens_issued == 2 and piste.refused_401 == 1
    follow(gw, hours=30)
    assert piste.tokens_issued == 2 and piste.refused_401 == 1


def test_chorus_pro_down_then_up_gets_the_invoice_deposited_once(gw, piste) -> None:
    piste.add_structure(BUYER)
    piste.stop()
    doc_id, ex_id = send(gw, "FA-2026-0007")
    ex = exchange(gw, ex_id)
    assert ex.status == "retrying" and "Connection refused" in ex.reason, ex.reason
    reference = ex.message_id
    piste.start()                                     # the same port
    piste.down = True                                 # up, but answering 503
    assert send_exchange(gw, ex_id, now=utcnow() + LATER) == "retrying"
    assert "HTTP 503" in exchange(gw, ex_id).reason
    piste.down = False
    piste.stall_after_store = 4                       # keeps the deposit, answers after our 2 s timeout
    assert send_exchange(gw, ex_id, now=utcnow() + 2 * LATER) == "retrying"
    ex = exchange(gw, ex_id)
    assert "uncertain" in ex.reason and ex.mdn_disposition == "uncertain"
    assert piste.deposited() == 1
    piste.stall_after_store = 0
    # not yet integrated, so not yet found by its number: we look again, we do not deposit again
    assert send_exchange(gw, ex_id, now=utcnow() + 3 * LATER) == "retrying"
    assert "looking again before any new deposit" in exchange(gw, ex_id).reason
    (flow,) = piste.deposits
    piste.integrate(flow)
    assert send_exchange(gw, ex_id, now=utcnow() + 4 * LATER) == "awaiting_mdn"
    ex = exchange(gw, ex_id)
    assert ex.status == "acknowledged"                # its report read at once: integrated
    assert ex.mdn_message_id == flow and ex.message_id == reference
    assert any("not deposited again" in (e.reason or "") for e in ex.history)
    assert piste.deposited() == 1 and piste.count("POST", "/cpro/factures/v1/deposer/flux") == 1
    assert piste.deposits[flow].data == gw.payloads.get(ex.content_sha256)
    assert send_exchange(gw, ex_id, now=utcnow() + 5 * LATER) is None
