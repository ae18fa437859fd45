"""The ``http`` deposit channel configured twice, for two differently shaped buyer portals, as data only.

Both portals are STAND-INS (``tests.support.portal_standins``; no real buyer portal can be
reached from here), real WSGI servers on loopback: portal A takes a multipart upload with
an API key and an idempotency key, and tells the status at a status URL; portal B takes
JSON with the file in base64 behind OAuth2 client credentials, and tells its outcome in
the deposit's answer. Each is one partner created through our REST API with its
``channel_settings.http`` (the profile below): no line of code names either portal.
Our side is a real gateway (database, pipeline, jobs in this process, the Flask app).

What is shown: A gets the invoice once (the same bytes, the fields from the invoice) and
its statuses move our life cycle (received → accepted → payment sent); B accepts one
invoice at once and rejects another with two errors, which the sender reads through the
API; a settings profile with a bad template or pointer is refused naming the setting;
after a timeout A is sent the same deposit again under the same idempotency key (kept
once), while B, which offers no way to tell, is left ``uncertain`` for an operator and
never re-posted by the gateway itself.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from gateway.db import Delivery, DocumentRecord, Exchange, Partner, User, issue_token, utcnow
from gateway.delivery.attempts import send_exchange
from gateway.delivery.channel import registry
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.syntaxes import write_document
from gateway.web import create_app
from tests.support.invoice_builder import build_invoice
from tests.support.portal_standins import JsonPortal, MultipartPortal

BUYER_A = "FR40303265045"
BUYER_B = "FR23334175221"
LATER = timedelta(hours=3)


def profile_a(portal: MultipartPortal, key_file) -> dict:
    return {"url": f"{portal.base}/api/v2/invoices", "allow_private": True, "timeout_seconds": 2,
            "auth": {"type": "api_key", "header": "X-Api-Key", "key": f"file:{key_file}"},
            "body": {"type": "multipart", "file_field": "document", "file_name": "{number}.xml",
                     "fields": {"invoiceNumber": "{number}", "supplierVat": "{seller_vat_id}"}},
            "idempotency_header": "Idempotency-Key",
            "deposit_id": "/id",
            "status": {"url": f"{portal.base}/api/v2/invoices/{{deposit_id}}/status", "pointer": "/state/code",
                       "accepted": ["APPROVED"], "rejected": ["REJECTED"], "paid": ["PAID"],
                       "error": "/messages"}}


def profile_b(portal: JsonPortal) -> dict:
    return {"url": f"{portal.base}/submissions", "allow_private": True, "timeout_seconds": 2,
            "auth": {"type": "oauth2", "token_url": f"{portal.base}/oauth/token", "client_id": portal.client_id,
                     "client_secret": "env:PORTAL_B_SECRET"},
            "body": {"type": "json", "document": "/content/base64",
                     "fields": {"/content/filename": "{filename}", "/invoice/number": "{number}",
                                "/invoice/total": "{total_with_vat}", "/supplier/vat": "{seller_vat_id}"}},
            "deposit_id": "/result/ticket",
            "status": {"pointer": "/result/state", "accepted": ["ACCEPTED"], "rejected": ["REJECTED"],
                       "error": "/result/errors"}}


@pytest.fixture
def portals():
    a, b = MultipartPortal().start(), JsonPortal().start()
    yield a, b
    a.stop()
    b.stop()
    assert a.invalid == [] and b.invalid == [], "our requests broke what the portals take"


@pytest.fixture
def gw(make_gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_B_SECRET", "secret-portail-b")
    return make_gateway(EDIGATE_CERTS_DIR=str(tmp_path / "certs"))


@pytest.fixture
def api(gw):
    with gw.session() as s:
        user = User.create("olivia", "correct horse battery staple 42", "operator")
        s.add(user)
        s.flush()
        token = issue_token(s, user, "test")[1]
    client = create_app(gw, testing=True).test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def call(method: str, path: str, **kw):
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kw)
    return call


@pytest.fixture
def parties(gw, api, portals, tmp_path) -> dict[str, int]:
    a, b = portals
    key = tmp_path / "portal-a.key"
    key.write_text(a.api_key + "\n")
    ids = {}
    for name, vat, settings in (("Portail A", BUYER_A, profile_a(a, key)), ("Portail B", BUYER_B, profile_b(b))):
        r = api("POST", "/partners", json={"name": name, "preferred_channel": "http",
                                           "identifiers": [{"scheme": "9957", "value": vat}],
                                           "channel_settings": {"http": settings}})
        assert r.status_code == 201, r.get_json()
        shown = r.get_json()["channel_settings"]["http"]
        assert a.api_key not in str(shown) and "secret-portail-b" not in str(shown)
        ids[name] = r.get_json()["id"]
    with gw.session() as s:
        seller = Partner(name="Fournisseur SAS", preferred_channel="sftp", status_syntax="none",
                         as2_options={"retry_backoff_seconds": [60], "max_attempts": 5})
        s.add(seller)
        s.flush()
        ids["seller"] = seller.id
        for pid in (ids["Portail A"], ids["Portail B"]):
            s.get(Partner, pid).as2_options = {"retry_backoff_seconds": [60], "max_attempts": 5}
    return ids


def invoice_bytes(number: str, buyer_vat: str) -> bytes:
    inv = build_invoice()
    inv.number, inv.issue_date = number, date(2026, 11, 2)
    inv.seller.vat_identifier = "FR61722051002"
    inv.buyer.vat_identifier = buyer_vat
    inv.buyer.legal_registration_identifier = Identifier("303265045", "0002")
    return write_document(inv, "ubl").data


def send(gw, parties, number: str, buyer_vat: str) -> tuple[int, int]:
    ex = receive_file(gw, invoice_bytes(number, buyer_vat), channel="sftp", partner_id=parties["seller"],
                      filename=f"{number}.xml", message_id=f"sftp:/in/{number}.xml")
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert doc is not None, s.get(Exchange, ex.id).reason
        delivery = s.scalar(sa.select(Delivery).where(Delivery.document_id == doc.id))
        assert delivery.channel == "http" and delivery.exchange_id is not None, delivery.history
        return doc.id, delivery.exchange_id


def exchange(gw, exchange_id: int) -> Exchange:
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        _ = [e.reason for e in ex.history]
        s.expunge(ex)
        return ex


def business(gw, doc_id: int) -> tuple[str, str, str]:
    with gw.session() as s:
        doc = s.get(DocumentRecord, doc_id)
        return doc.status, doc.deliveries[0].status, doc.business_status


def follow(gw, hours: int = 3) -> dict:
    return registry["http"].due(gw, utcnow() + timedelta(hours=hours))


def test_portal_a_multipart_api_key_and_status_url(gw, parties, portals, api) -> None:
    a, _ = portals
    doc_id, ex_id = send(gw, parties, "PA-2026-001", BUYER_A)
    ex = exchange(gw, ex_id)
    assert ex.status == "awaiting_mdn" and ex.mdn_message_id == "A-000001", ex.reason
    (kept,) = a.deposits.values()
    assert kept["data"] == gw.payloads.get(ex.content_sha256) and kept["filename"] == "PA-2026-001.xml"
    assert (kept["number"], kept["supplier_vat"]) == ("PA-2026-001", "FR61722051002")
    assert a.keys == {ex.message_id: "A-000001"}                         # our reference as the idempotency key
    assert follow(gw) == {"http_follows": 1}
    assert exchange(gw, ex_id).mdn_disposition == "RECEIVED"             # pending: followed on
    a.set_state("A-000001", "APPROVED")
    follow(gw)
    assert exchange(gw, ex_id).status == "acknowledged"
    assert business(gw, doc_id) == ("delivered", "acknowledged", "accepted")
    a.set_state("A-000001", "PAID")
    follow(gw, hours=30)
    assert business(gw, doc_id)[2] == "payment_sent"
    assert exchange(gw, ex_id).next_attempt_at is None and follow(gw, hours=60) == {"http_follows": 0}
    assert len(a.deposits) == 1 and a.count("POST", "/api/v2/invoices") == 1
    deposit = api("GET", f"/documents/{doc_id}").get_json()["deliveries"][0]["deposit"]
    assert deposit == {"id": "A-000001", "status": "PAID", "error": None, "reference": exchange(gw, ex_id).message_id}


def test_portal_b_json_base64_oauth2_status_in_the_answer(gw, parties, portals, api) -> None:
    _, b = portals
    b.reject["PB-2026-002"] = ["Bon de commande inconnu", "Montant supérieur à l'engagement"]
    doc_ok, ex_ok = send(gw, parties, "PB-2026-001", BUYER_B)
    doc_ko, ex_ko = send(gw, parties, "PB-2026-002", BUYER_B)
    ok, ko = exchange(gw, ex_ok), exchange(gw, ex_ko)
    assert ok.status == "acknowledged" and ok.mdn_disposition == "ACCEPTED"
    assert business(gw, doc_ok) == ("delivered", "acknowledged", "accepted")
    assert ko.status == "failed"
    assert ko.reason == (f"the portal rejected deposit {ko.mdn_message_id} (REJECTED): Bon de commande inconnu; "
                         "Montant supérieur à l'engagement")
    assert business(gw, doc_ko)[:2] == ("failed", "failed")
    first = b.deposits[0]
    assert first["data"] == gw.payloads.get(ok.content_sha256) and first["number"] == "PB-2026-001"
    assert first["vat"] == "FR61722051002" and first["total"] == "119.0000" and first["filename"] == "PB-2026-001.xml"
    assert b.kept() == 2 and b.tokens_issued == 1                          # the token reused
    deposit = api("GET", f"/documents/{doc_ko}").get_json()["deliveries"][0]["deposit"]
    assert deposit["status"] == "REJECTED" and deposit["error"] == ("Bon de commande inconnu; Montant supérieur "
                                                                    "à l'engagement")
    assert follow(gw) == {"http_follows": 0}                              # nothing to ask: no status URL


def test_profiles_are_checked_naming_the_setting(gw, parties, api, portals) -> None:
    a, _ = portals
    bad = [({"url": f"{a.base}/x/{{nope}}"}, "channel_settings.http.url"),
           ({"deposit_id": "id"}, "channel_settings.http.deposit_id"),
           ({"auth": {"type": "api_key", "header": "X-Api-Key", "key": "la-cle-en-clair"}},
            "channel_settings.http.auth.key"),
           ({"body": {"type": "json", "fields": {"/a": "{__class__}"}}}, "channel_settings.http.body.fields./a")]
    for change, where in bad:
        settings = {**profile_a(a, "k"), **change}
        r = api("PATCH", f"/partners/{parties['Portail A']}", json={"channel_settings": {"http": settings}})
        assert r.status_code == 422, r.get_json()
        assert where in str(r.get_json()), (where, r.get_json())
    described = api("GET", "/openapi.json")
    assert described.status_code == 200
    spec = described.get_json()
    schemas = spec["components"]["schemas"]
    http = next(s["properties"]["channel_settings"]["properties"]["http"] for s in schemas.values()
                if "channel_settings" in s.get("properties", {}) and "properties" in s["properties"]["channel_settings"])
    assert "idempotency_header" in http["oneOf"][0]["properties"]
    assert "deposit" in schemas["Delivery"]["properties"]


def test_after_a_timeout_a_deposit_is_never_posted_blindly(gw, parties, portals) -> None:
    a, b = portals
    a.stall_after_store = 4                        # keeps it, answers after our 2 s timeout
    _, ex_a = send(gw, parties, "PA-2026-009", BUYER_A)
    ex = exchange(gw, ex_a)
    assert ex.status == "retrying" and "uncertain" in ex.reason and len(a.deposits) == 1
    a.stall_after_store = 0
    assert send_exchange(gw, ex_a, now=utcnow() + LATER) == "awaiting_mdn"
    assert len(a.deposits) == 1 and exchange(gw, ex_a).mdn_message_id == "A-000001"   # same key: kept once
    assert a.count("POST", "/api/v2/invoices") == 2

    b.stall_after_store = 4
    _, ex_b = send(gw, parties, "PB-2026-009", BUYER_B)
    ex = exchange(gw, ex_b)
    assert ex.status == "failed" and ex.reason.startswith("uncertain: the portal may have this deposit")
    assert ex.mdn_disposition == "uncertain" and b.kept("PB-2026-009") == 1
    b.stall_after_store = 0
    assert send_exchange(gw, ex_b, now=utcnow() + LATER) is None          # the gateway does not post it again
    assert b.kept("PB-2026-009") == 1
