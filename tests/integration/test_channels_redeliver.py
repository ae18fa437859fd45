"""Redelivery: a failed delivery planned again once the operator has fixed the partner.

Real parts: the pipeline in-process on SQLite, a real SMTP server on loopback (aiosmtpd), real
print batches (PDF), the REST API and the operator page through the Flask app.
"""
from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from gateway.channels import paper
from gateway.flow.redeliver import redeliver
from gateway.db import Delivery, DocumentRecord, Partner, StatusError, User, issue_token
from gateway.syntaxes import write_document
from gateway.flow.receive import receive_file
from gateway.web import create_app

from tests.support.invoice_builder import build_invoice

VAT = ("VAT", "FR12345678901")          # the buyer of build_invoice()
ADDRESS = {"name": "Buyer SARL", "lines": ["12 rue de la Paix"], "postcode": "75002", "city": "Paris",
           "country": "FR"}


@pytest.fixture
def gw(make_gateway, smtp_server):
    return make_gateway(EDIGATE_SMTP_URL=smtp_server.url, EDIGATE_MAIL_FROM="invoices@edigate.example")


def _partner(gw, channel, settings) -> int:
    with gw.session() as s:
        p = Partner(name="Buyer SARL", preferred_channel=channel, channel_settings=settings)
        p.add_identifier(*VAT)
        s.add(p)
        s.flush()
        return p.id


def _set_settings(gw, partner_id, settings) -> None:
    with gw.session() as s:
        s.get(Partner, partner_id).channel_settings = settings


def _delivery(gw) -> Delivery:
    with gw.session() as s:
        d = s.scalar(sa.select(Delivery))
        _ = d.history, d.document.status
        return d


def _receive(gw) -> None:
    receive_file(gw, write_document(build_invoice(), "ubl").data, channel="api", filename="a.xml")


def _token(gw, role) -> str:
    with gw.session() as s:
        user = User.create(role + "1", "a long password 1", role)
        s.add(user)
        s.flush()
        return issue_token(s, user, "t")[1]


@pytest.mark.skipif(not shutil.which("pdfinfo"), reason="poppler-utils not installed")
def test_a_paper_delivery_without_address_goes_into_the_next_batch_once_the_address_is_set(gw):
    partner_id = _partner(gw, "paper", {})
    _receive(gw)
    failed = _delivery(gw)
    assert (failed.channel, failed.status) == ("paper", "failed") and "no postal address" in failed.reason
    assert paper.build_print_batch(gw).document_count == 0

    _set_settings(gw, partner_id, {"paper": {"address": ADDRESS}})
    d = redeliver(gw, failed.id, "olivia")
    assert (d.status, d.channel) == ("pending", "paper")
    d = _delivery(gw)
    assert d.id == failed.id
    assert [e.status for e in d.history] == ["pending", "failed", "pending", "pending"]
    assert d.history[2].reason.startswith("redelivery requested by olivia after: ")
    assert "on paper to Buyer SARL, 12 rue de la Paix" in d.history[3].reason
    assert d.document.status == "routed"

    batch = paper.build_print_batch(gw)
    assert (batch.document_count, batch.failed) == (1, [])
    with gw.session() as s:
        again = s.get(Delivery, failed.id)
        assert (again.status, again.print_batch_id) == ("delivered", batch.batch_id)


def test_only_a_failed_delivery_is_redelivered_and_the_refusal_says_why(gw):
    _partner(gw, "api", {})
    _receive(gw)
    d = _delivery(gw)
    assert d.status == "delivered"
    with pytest.raises(StatusError, match=rf"delivery {d.id} is delivered: only a failed delivery can be redelivered"):
        redeliver(gw, d.id, "olivia")
    with pytest.raises(LookupError):
        redeliver(gw, d.id + 100, "olivia")
    assert [e.status for e in _delivery(gw).history] == ["pending", "delivered"]


def test_a_mail_refused_550_arrives_once_at_the_fixed_address_after_redelivery_through_the_api(gw, smtp_server):
    partner_id = _partner(gw, "email", {"email": {"to": ["nobody@buyer.example"], "attach": "ubl"}})
    smtp_server.refuse["nobody@buyer.example"] = "550 5.1.1 <nobody@buyer.example>: no such user"
    _receive(gw)
    failed = _delivery(gw)
    assert failed.status == "failed" and "550 5.1.1" in failed.reason
    client = create_app(gw, testing=True).test_client()
    url = f"/api/v1/deliveries/{failed.id}/redeliver"

    staff = {"Authorization": f"Bearer {_token(gw, 'staff')}"}
    assert client.post(url, headers=staff).status_code == 403
    _set_settings(gw, partner_id, {"email": {"to": ["ap@buyer.example"], "attach": "ubl"}})
    operator = {"Authorization": f"Bearer {_token(gw, 'operator')}"}
    r = client.post(url, headers=operator)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["id"] == failed.id and body["exchange_id"] != failed.exchange_id
    (mail,) = smtp_server.wait_for(count=1)
    assert mail.rcpt_tos == ["ap@buyer.example"]
    d = _delivery(gw)
    assert d.status == "delivered" and d.document.status == "delivered"
    assert any(e.reason and e.reason.startswith("redelivery requested by operator1") for e in d.history)

    r = client.post(url, headers=operator)                         # delivered now: refused, nothing sent
    assert r.status_code == 409 and "only a failed delivery" in r.get_json()["error"]
    assert client.post("/api/v1/deliveries/999/redeliver", headers=operator).status_code == 404
    assert len(smtp_server.messages) == 1


def test_the_operator_page_offers_redeliver_for_a_failed_delivery_behind_csrf(gw):
    _partner(gw, "email", {"email": {"to": ["not-an-address"]}})    # unusable: fails at planning time
    _receive(gw)
    d = _delivery(gw)
    assert d.status == "failed"
    with gw.session() as s:
        s.add(User.create("olivia", "a long password 1", "operator"))
    app = create_app(gw)
    app.config["TESTING"] = True
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "olivia", "password": "a long password 1", "csrf_token": token})
    html = client.get(f"/documents/{d.document_id}").get_data(as_text=True)
    action = f'action="/deliveries/{d.id}/redeliver"'
    assert action in html
    assert client.post(f"/deliveries/{d.id}/redeliver").status_code == 400             # no CSRF token
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post(f"/deliveries/{d.id}/redeliver", data={"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert f"Delivery {d.id} planned again, and failed again." in page      # still unusable: says so
    assert [e.status for e in _delivery(gw).history] == ["pending", "failed", "pending", "failed"]
