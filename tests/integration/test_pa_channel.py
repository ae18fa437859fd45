"""The pa channel on a real Gateway: edigate as a client of another certified platform's
XP Z12-013 Flow Service.

The other platform is ``tests.support.xp_z12013_standin``: a STAND-IN (no other platform's
software runs here) that answers as AFNOR's published Flow Service description says and
judges each of our requests against that description's request schemas (``invalid`` stays
empty). Our side is a real gateway: its database, pipeline and jobs in this process, its
web app (with the webhook endpoint) in a real WSGI server on loopback, the partner
commands through the command line.

What is shown: an invoice for a company the other platform receives is submitted as one
flow (the spec's flowInfo: syntax, sha256, our trackingId) and followed to delivered; a
flow it marks Error fails our delivery with its details; a platform down, then up, gets
the flow once, and so does one that kept the flow but answered too late (found again by
its trackingId, never submitted twice); search pages are bounded. The webhook we register
(``edigate partner pa-subscribe``) keeps its key out of the settings; a callback badly
signed, unsigned or stale is refused and nothing is stored; a signed one carrying a CDAR
210 moves our document to refused with its reason, stored once when it comes twice; an
invoice the platform sends for our member is processed, and the member's decision goes
back to the platform as a CDAR flow.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from datetime import date, timedelta
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.cli import main
from gateway.db import Delivery, DocumentRecord, Exchange, Partner, SftpAccount, utcnow
from gateway.delivery.attempts import send_exchange
from gateway.delivery.channel import registry
from gateway.flow import lifecycle
from gateway.model.invoice import Identifier
from gateway.syntaxes import cdar, write_document
from gateway.syntaxes.cdar import CdarParty, StatusChange
from gateway.flow.receive import receive_file
from gateway.transports.xp_z12013 import BearerToken, FlowClient, sign_webhook
from gateway.web import create_app
from tests.support.invoice_builder import build_invoice
from tests.support.portal_seed import BUYER_VAT, pickup_dir
from tests.support.ports import free_port
from tests.support.xp_z12013_standin import FlowServiceStandIn, spec_or_skip

SIREN = "100000009"                      # our member, the seller
BUYER_SIREN = BUYER_VAT[4:]              # the other platform's customer
MEMBER_VAT = "FR40303265045"             # our member buying from the other platform's customer
LATER = timedelta(hours=2)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def standin():
    server = FlowServiceStandIn(spec_or_skip()).start()
    yield server
    server.stop()
    assert server.invalid == [], "our requests broke the Flow Service description's schemas"


@pytest.fixture
def ours(make_gateway, tmp_path, monkeypatch):
    """Our gateway, its web app served on loopback (the webhook's public URL), the CLI pointed at it."""
    port = free_port()
    env = {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_CERTS_DIR": str(tmp_path / "certs"),
           "EDIGATE_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_JOBS_URL", "EDIGATE_PAYLOAD_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    gw = make_gateway(tmp_path / "home", EDIGATE_CERTS_DIR=env["EDIGATE_CERTS_DIR"],
                      EDIGATE_PUBLIC_URL=env["EDIGATE_PUBLIC_URL"])
    httpd = make_server("127.0.0.1", port, create_app(gw), server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield gw
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def parties(ours, standin, tmp_path) -> dict[str, int]:
    token = tmp_path / "pa-token"
    token.write_text(standin.token + "\n")
    with ours.session() as s:
        seller = Partner(name="Vendeur SA", preferred_channel="sftp", status_syntax="cdar")
        platform = Partner(name="PA Tierce", preferred_channel="pa", status_syntax="cdar",
                           as2_options={"retry_backoff_seconds": [60], "max_attempts": 4},
                           channel_settings={"pa": {"flow_url": standin.base, "token": f"file:{token}",
                                                    "allow_private": True, "platform_id": "0145",
                                                    "timeout_seconds": 2}})
        platform.add_identifier("9957", BUYER_VAT)
        member = Partner(name="Acheteur Membre", preferred_channel="portal")
        member.add_identifier("9957", MEMBER_VAT)
        s.add_all([seller, platform, member])
        s.flush()
        s.add(SftpAccount(partner_id=seller.id, username="vendeur"))
        return {"seller": seller.id, "platform": platform.id, "member": member.id}


def invoice_bytes(number: str, *, buyer_vat: str = BUYER_VAT) -> bytes:
    inv = build_invoice()
    inv.number, inv.issue_date = number, date(2026, 9, 1)
    inv.seller.name = "Vendeur SA"
    inv.seller.legal_registration_identifier = Identifier(SIREN, "0002")
    inv.buyer.vat_identifier = buyer_vat
    return write_document(inv, "ubl").data


def send_invoice(gw, parties, number: str) -> tuple[int, int]:
    """Our member sends an invoice for the other platform's customer: (document id, pa exchange id)."""
    ex = receive_file(gw, invoice_bytes(number), channel="sftp", partner_id=parties["seller"],
                      filename=f"{number}.xml", message_id=f"sftp:/inbound/{number}.xml")
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert doc is not None and doc.recipient_partner_id == parties["platform"], s.get(Exchange, ex.id).reason
        delivery = s.scalar(sa.select(Delivery).where(Delivery.document_id == doc.id))
        assert delivery.channel == "pa" and delivery.exchange_id is not None, delivery.history
        return doc.id, delivery.exchange_id


def exchange(gw, exchange_id: int) -> Exchange:
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        _ = [e.reason for e in ex.history]
        s.expunge(ex)
        return ex


def follow_now(gw) -> dict:
    """The sweep's follow-ups of submitted flows (its catch-up searches are tested on their own)."""
    counts = registry["pa"].due(gw, utcnow() + LATER)
    counts.pop("pa_catch_ups", None)
    return counts


def states(gw, doc_id: int) -> tuple[str, str, str]:
    with gw.session() as s:
        doc = s.get(DocumentRecord, doc_id)
        return doc.status, doc.deliveries[0].status, doc.business_status


# --- out ------------------------------------------------------------------------------------------

def test_an_invoice_is_submitted_as_one_flow_and_followed_to_delivered(ours, parties, standin) -> None:
    doc, ex_id = send_invoice(ours, parties, "F2026-200")
    ex = exchange(ours, ex_id)
    assert ex.channel == "pa" and ex.status == "awaiting_mdn", ex.reason
    assert standin.submitted() == 1
    info = standin.submissions[0]
    content = ours.payloads.get(ex.content_sha256)
    assert info == {"name": "F2026-200.xml", "flowSyntax": "UBL", "sha256": hashlib.sha256(content).hexdigest(),
                    "trackingId": ex.message_id}
    flow_id = ex.mdn_message_id
    assert standin.flows[flow_id].data == content
    assert follow_now(ours) == {"pa_follows": 1}                   # still Pending: looked at, nothing settled
    assert exchange(ours, ex_id).status == "awaiting_mdn"
    assert states(ours, doc)[1] == "awaiting_ack"
    standin.acknowledge(flow_id, "Ok")
    follow_now(ours)
    ex = exchange(ours, ex_id)
    assert ex.status == "acknowledged" and ex.mdn_disposition == "Ok"
    assert json.loads(ours.payloads.get(ex.mdn_payload_key))["acknowledgement"] == {"status": "Ok"}
    said = [e.reason or "" for e in ex.history]
    assert any(f'"flowId": "{flow_id}"' in r and "submitted as flow" in r for r in said)   # the raw answers
    assert states(ours, doc) == ("delivered", "acknowledged", "received")
    assert follow_now(ours) == {"pa_follows": 0}
    assert standin.submitted() == 1


def test_a_flow_the_platform_marks_error_fails_the_delivery_with_its_details(ours, parties, standin) -> None:
    doc, ex_id = send_invoice(ours, parties, "F2026-201")
    flow_id = exchange(ours, ex_id).mdn_message_id
    standin.acknowledge(flow_id, "Error", [{"level": "Error", "item": "BT-48", "reasonCode": "InvalidSchema",
                                            "reasonMessage": "numéro de TVA de l'acheteur inconnu"}])
    follow_now(ours)
    ex = exchange(ours, ex_id)
    assert ex.status == "failed"
    assert ex.reason == (f"the platform refused flow {flow_id}: Error InvalidSchema on BT-48: "
                         "numéro de TVA de l'acheteur inconnu")
    with ours.session() as s:
        delivery = s.get(DocumentRecord, doc).deliveries[0]
        assert delivery.status == "failed" and "InvalidSchema" in delivery.reason
    assert states(ours, doc)[0] == "failed"
    # an operator's retry submits it anew (the platform refused the first): never the same flow twice
    ours.retry_exchange(ex_id)
    ex = exchange(ours, ex_id)
    assert standin.submitted() == 2 and ex.status == "awaiting_mdn" and ex.mdn_message_id != flow_id
    assert standin.submissions[1]["trackingId"] == ex.message_id != standin.submissions[0]["trackingId"]


def test_a_platform_down_then_up_gets_the_flow_once(ours, parties, standin) -> None:
    standin.stop()
    doc, ex_id = send_invoice(ours, parties, "F2026-202")
    ex = exchange(ours, ex_id)
    assert ex.status == "retrying" and "Connection refused" in ex.reason and ex.attempts == 1
    tracking = ex.message_id
    standin.start()                                   # the same port
    standin.down = True                               # up, but answering 503 for a while
    assert send_exchange(ours, ex_id, now=utcnow() + LATER) == "retrying"
    assert "HTTP 503" in exchange(ours, ex_id).reason and "RESOURCE_ERROR" in exchange(ours, ex_id).reason
    standin.down = False
    assert send_exchange(ours, ex_id, now=utcnow() + 2 * LATER) == "awaiting_mdn"
    assert standin.submitted() == 1 and standin.submissions[0]["trackingId"] == tracking
    assert send_exchange(ours, ex_id, now=utcnow() + 3 * LATER) is None       # nothing left to send
    assert standin.submitted() == 1


def test_a_flow_kept_but_answered_too_late_is_found_again_not_submitted_twice(ours, parties, standin) -> None:
    standin.stall_after_store = 4                     # longer than the partner's timeout_seconds (2)
    doc, ex_id = send_invoice(ours, parties, "F2026-203")
    ex = exchange(ours, ex_id)
    assert ex.status == "retrying" and "Timeout" in ex.reason
    assert standin.submitted() == 1                   # it has the flow; we do not know its id
    standin.stall_after_store = 0
    assert send_exchange(ours, ex_id, now=utcnow() + LATER) == "awaiting_mdn"
    ex = exchange(ours, ex_id)
    assert standin.submitted() == 1
    (flow_id,) = standin.flows
    assert ex.mdn_message_id == flow_id and "not submitted again" in ex.history[-1].reason
    assert ("POST", "/flow-service/v1/flows/search") in standin.requests
    standin.acknowledge(flow_id, "Ok")
    follow_now(ours)
    assert states(ours, doc)[:2] == ("delivered", "acknowledged")


def test_search_pages_are_followed_by_cursor_within_a_bound(standin) -> None:
    client = FlowClient(standin.base, BearerToken(standin.token), allow_private=True)
    for n in range(23):
        client.submit_flow(b"<Invoice>%d</Invoice>" % n, name=f"{n}.xml", syntax="UBL", tracking_id=f"t-{n}")
    before = standin.search_pages_served
    assert len(list(client.search_flows(flow_direction=["Out"], limit=5))) == 23
    assert standin.search_pages_served - before == 5
    assert len(list(client.search_flows(flow_direction=["Out"], limit=5, max_pages=2))) == 10
    assert client.find_by_tracking_id("t-17")["trackingId"] == "t-17"
    assert client.find_by_tracking_id("t-99") is None
    refused = FlowClient(standin.base, BearerToken(standin.token))          # no switch: loopback refused
    with pytest.raises(Exception, match="loopback"):
        refused.get_flow("x")


# --- in: the webhook ----------------------------------------------------------------------------------

def subscribe(ours, parties, standin) -> dict:
    r = CliRunner().invoke(main, ["partner", "pa-subscribe", "PA Tierce"])
    assert r.exit_code == 0, r.output
    (hook,) = standin.webhooks.values()
    assert hook["callbackUrl"] == f"{ours.settings.public_url}/pa/webhook/{parties['platform']}"
    assert hook["signingKey"] not in r.output
    shown = CliRunner().invoke(main, ["partner", "show", "PA Tierce", "--json"])
    settings = json.loads(shown.stdout)["channel_settings"]["pa"]
    assert settings["webhook_id"] == hook["webhookId"] and hook["signingKey"] not in shown.stdout
    key_file = settings["webhook_secret"].partition(":")[2]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    return hook


def inbound(gw, partner_id: int) -> list[Exchange]:
    with gw.session() as s:
        rows = s.scalars(sa.select(Exchange).where(Exchange.direction == "in", Exchange.channel == "pa",
                                                   Exchange.partner_id == partner_id)).all()
        for r in rows:
            s.expunge(r)
        return rows


def status_message(number: str, status: str, **kw) -> bytes:
    values = dict(status=status, at=utcnow().replace(microsecond=0) + timedelta(minutes=10), invoice_number=number,
                  invoice_date=date(2026, 9, 1), seller=CdarParty(SIREN, "0002"),
                  recipients=(CdarParty(SIREN, "0002", "Vendeur SA", "SE", "seller@example.com", "EM"),),
                  issuer=CdarParty(BUYER_SIREN, "0002", "Buyer SARL", "BY"))
    values.update(kw)
    return cdar.build_cdar(StatusChange(**values))


def test_a_badly_signed_unsigned_or_stale_callback_is_refused_and_nothing_stored(ours, parties, standin) -> None:
    hook = subscribe(ours, parties, standin)
    flow_id = standin.publish(status_message("F2026-210", "in_hand"), name="cdv.xml", syntax="CDAR",
                              flow_type="CustomerInvoiceLC")
    body = standin.callback_body(flow_id)
    other_key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    signed = sign_webhook(body, hook["signingKey"])
    attempts = {
        "another key": sign_webhook(body, other_key),
        "unsigned": {"Afnor-Signature-Timestamp": signed["Afnor-Signature-Timestamp"]},
        "stale": sign_webhook(body, hook["signingKey"], int(signed["Afnor-Signature-Timestamp"]) - 3600),
    }
    for what, headers in attempts.items():
        (answer,) = standin.notify(flow_id, headers=headers)
        assert answer.status_code == 401, what
        assert answer.json()["errorCode"] == "INVALID_SIGNATURE"
    (answer,) = standin.notify(flow_id, body=body.replace(b'"Ok"', b'"Pending"'), headers=signed)   # tampered
    assert answer.status_code == 401
    url = hook["callbackUrl"]
    stranger = requests.post(url.rsplit("/", 1)[0] + "/999999", data=body, headers=signed, timeout=30)
    assert stranger.status_code == 401
    assert inbound(ours, parties["platform"]) == []
    assert not any(p == f"/flow-service/v1/flows/{flow_id}" for _, p in standin.requests)   # nothing fetched
    assert requests.get(url, timeout=30).status_code == 405


def test_a_cdar_210_by_webhook_refuses_our_document_once(ours, parties, standin) -> None:
    subscribe(ours, parties, standin)
    doc, ex_id = send_invoice(ours, parties, "F2026-211")
    flow_out = exchange(ours, ex_id).mdn_message_id
    standin.acknowledge(flow_out, "Ok")
    (answer,) = standin.notify(flow_out)              # news of our own flow: followed at once
    assert answer.status_code == 200 and answer.json()["taken"] == "followed"
    assert states(ours, doc) == ("delivered", "acknowledged", "received")
    lifecycle.report_pending(ours)
    before = set(p.name for p in pickup_dir(ours, "vendeur").iterdir())
    refusal = status_message("F2026-211", "refused", reason_code="TX_TVA_ERR", reason="Taux de TVA erroné")
    flow_id = standin.publish(refusal, name="CDAR_F2026-211_210.xml", syntax="CDAR", flow_type="CustomerInvoiceLC")
    (answer,) = standin.notify(flow_id)
    assert answer.status_code == 200, answer.text
    (ex,) = inbound(ours, parties["platform"])
    assert ex.status == "processed" and f"document {doc} is refused" in ex.reason
    assert ex.message_id == f"pa-flow:{flow_id}" and ours.payloads.get(ex.content_sha256) == refusal
    with ours.session() as s:
        last = lifecycle.history(s, doc)[-1]
        assert (last.status, last.reason, last.reason_code, last.set_by) == \
            ("refused", "Taux de TVA erroné", "TX_TVA_ERR", "partner:PA Tierce")
    # the same callback again: answered, stored once, the file not fetched again
    (again,) = standin.notify(flow_id)
    assert again.status_code == 200 and "already received" in again.json()["taken"]
    assert len(inbound(ours, parties["platform"])) == 1
    assert standin.requests.count(("GET", f"/flow-service/v1/flows/{flow_id}")) == 1
    # our member hears of it by CDAR, as it chose
    lifecycle.report_pending(ours)
    told = [cdar.read_cdar(p.read_bytes()).status.code for p in pickup_dir(ours, "vendeur").iterdir()
            if p.name not in before]
    assert told == ["210"]


def test_an_invoice_from_the_platform_is_processed_and_the_decision_goes_back_as_a_cdar_flow(
        ours, parties, standin) -> None:
    subscribe(ours, parties, standin)
    data = invoice_bytes("F2026-220", buyer_vat=MEMBER_VAT)
    flow_id = standin.publish(data, name="F2026-220.xml", syntax="UBL", flow_type="SupplierInvoice")
    (answer,) = standin.notify(flow_id)
    assert answer.status_code == 200, answer.text
    (ex,) = inbound(ours, parties["platform"])
    assert ex.status == "processed", ex.reason
    with ours.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert (doc.sender_partner_id, doc.recipient_partner_id) == (parties["platform"], parties["member"])
        lifecycle.set_business_status(s, doc, "accepted", by="user:acheteur")
        doc_id = doc.id
    lifecycle.report_pending(ours)
    codes = sorted(cdar.read_cdar(f.data).status.code for f in standin.flows.values()
                   if f.direction == "Out" and f.info["flowSyntax"] == "CDAR")
    assert "205" in codes                              # accepted, told to the platform by a CDAR flow
    assert all("flowProfile" not in info for info in standin.submissions if info["flowSyntax"] == "CDAR")
    with ours.session() as s:
        outs = s.scalars(sa.select(Exchange).where(Exchange.direction == "out", Exchange.channel == "pa")).all()
        assert outs and all(o.status == "awaiting_mdn" for o in outs)
        assert s.get(DocumentRecord, doc_id).business_status == "accepted"


def test_a_flow_whose_webhook_was_lost_is_found_by_the_catch_up_search_and_taken_once(ours, parties, standin) -> None:
    from gateway.channels.pa import CATCH_UP, catch_up
    from gateway.channels.pa_catchup import EVERY_WITH_WEBHOOK, due_catch_ups
    subscribe(ours, parties, standin)
    doc, ex_id = send_invoice(ours, parties, "F2026-230")
    standin.acknowledge(exchange(ours, ex_id).mdn_message_id, "Ok")
    follow_now(ours)
    # the platform publishes the buyer's refusal, but its webhook call never reaches us
    refusal = status_message("F2026-230", "refused", reason_code="TX_TVA_ERR", reason="Taux de TVA erroné")
    flow_id = standin.publish(refusal, name="CDAR_F2026-230_210.xml", syntax="CDAR", flow_type="CustomerInvoiceLC")
    assert inbound(ours, parties["platform"]) == []
    now = utcnow() + LATER + EVERY_WITH_WEBHOOK        # after any search the sweep made so far
    assert parties["platform"] in due_catch_ups(ours, CATCH_UP, now=now)
    assert catch_up(ours, parties["platform"], now) == {"found": 1, "taken": 1}
    (ex,) = inbound(ours, parties["platform"])
    assert ex.message_id == f"pa-flow:{flow_id}" and ex.status == "processed", ex.reason
    with ours.session() as s:
        assert s.get(DocumentRecord, doc).business_status == "refused"
    # searched again: not due before its interval; when due, the flow is found but not taken twice
    assert parties["platform"] not in due_catch_ups(ours, CATCH_UP, now=now + EVERY_WITH_WEBHOOK / 2)
    assert catch_up(ours, parties["platform"], now + EVERY_WITH_WEBHOOK) == {"found": 1, "taken": 0}
    # and the webhook arriving late is answered without a second exchange
    (late,) = standin.notify(flow_id)
    assert late.status_code == 200 and "already received" in late.json()["taken"]
    assert len(inbound(ours, parties["platform"])) == 1
    searches = [r for r in standin.requests if r == ("POST", "/flow-service/v1/flows/search")]
    assert len(searches) >= 2
