"""Delivery channels in the pipeline, against real parts: e-mail through a real SMTP server
(aiosmtpd on loopback), the portal and ERP pull, the fallback for a recipient that chose no
channel, credit notes linked to what they correct, and the life cycle steps the gateway sets.

The gateway runs in-process on SQLite (tmp_path). Processing is real and runs at enqueue; the
*send* prompts are recorded instead of queued, so each test drives the attempts itself
(``outbox.send_exchange``) and can place a crash exactly where it wants one. Every mail is
really sent over SMTP and read back from what the server received.
"""
from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from gateway.delivery.state import acknowledge_delivery
from gateway.config import load_settings
from gateway.db import Delivery, DocumentRecord, DocumentStatusEvent, Exchange, Partner, User, issue_token, utcnow
from gateway.syntaxes import read_document, write_document
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier, PrecedingInvoiceReference
from gateway.delivery.attempts import SENDING_LEASE, claim, due_sends, send_exchange
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.support.invoice_builder import build_invoice

MAIL_FROM = "invoices@edigate.example"
PUBLIC = "https://edigate.example"
VAT = ("VAT", "FR12345678901")          # the buyer of build_invoice()


def _gateway(tmp_path, smtp, **env) -> SimpleNamespace:
    settings = {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_SMTP_URL": smtp.url, "EDIGATE_MAIL_FROM": MAIL_FROM,
                "EDIGATE_PUBLIC_URL": PUBLIC, **env}
    gw = Gateway(load_settings(settings), immediate_jobs=True)
    prompts: list[tuple[int, object]] = []
    gw.jobs.send = lambda exchange_id, at=None: prompts.append((exchange_id, at))     # the recorder
    return SimpleNamespace(gw=gw, smtp=smtp, prompts=prompts)


@pytest.fixture
def w(tmp_path, smtp_server):
    world = _gateway(tmp_path, smtp_server)
    yield world
    world.gw.close()


def _partner(gw, *, channel=None, settings=None, contact=None, fmt=None, options=None) -> int:
    with gw.session() as s:
        p = Partner(name="Buyer SARL", preferred_channel=channel, channel_settings=settings or {},
                    contact_email=contact, preferred_format=fmt, as2_options=options or {})
        p.add_identifier(*VAT)
        s.add(p)
        s.flush()
        return p.id


def _receive(gw, inv=None, name="a.xml") -> int:
    inv = inv or build_invoice()
    return receive_file(gw, write_document(inv, "ubl").data, channel="api", filename=name).id


def _doc(gw, ex_id) -> DocumentRecord:
    with gw.session() as s:
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex_id))
        _ = [d.history for d in doc.deliveries], doc.renderings, doc.status_events
        for d in doc.deliveries:
            _ = d.exchange, d.recipient, d.rendering
        return doc


def _exchange(gw, ex_id) -> Exchange:
    with gw.session() as s:
        ex = s.get(Exchange, ex_id)
        _ = ex.history
        return ex


def _events(doc) -> list[str]:
    return [e.status for e in doc.status_events]


# --- e-mail --------------------------------------------------------------------------------------

def test_an_email_recipient_gets_the_recorded_renderings_attached_through_real_smtp(w):
    _partner(w.gw, channel="email", settings={"email": {
        "to": ["ap@buyer.example", "compta@buyer.example"], "attach": "facturx+ubl",
        "subject": "{{ title }} {{ number }} – {{ seller }} – {{ amount }}"}})
    ex_id = _receive(w.gw)
    doc = _doc(w.gw, ex_id)
    (d,) = doc.deliveries
    assert (d.channel, d.format, d.status, doc.status) == ("email", "facturx+ubl", "pending", "routed")
    out = d.exchange
    assert (out.channel, out.status, out.content_type) == ("email", "queued", "message/rfc822")
    assert d.history[-1].reason == ("routed to Buyer SARL by BT-48 VAT:FR12345678901; as facturx+ubl by e-mail to "
                                    f"ap@buyer.example, compta@buyer.example (exchange {out.id})")
    assert w.prompts == [(out.id, None)]

    assert send_exchange(w.gw, out.id) == "sent"
    (mail,) = w.smtp.wait_for()
    msg = mail.message
    assert sorted(mail.rcpt_tos) == ["ap@buyer.example", "compta@buyer.example"]
    assert mail.mail_from == MAIL_FROM and msg["From"] == MAIL_FROM
    assert msg["Subject"] == "Facture INV-2024-001 – Seller AG – 119,00\u00a0€"        # buyer in FR: French
    assert msg["Message-ID"] == out.message_id == _exchange(w.gw, out.id).message_id
    # the raw message kept is the one that went out
    assert read_raw_message_id(w.gw, out.id) == msg["Message-ID"]
    body = msg.get_body(("plain",)).get_content()
    assert "Seller AG vous adresse la facture INV-2024-001 du 01/03/2024." in body
    assert "Montant : 119,00\u00a0€" in body
    # each attachment is, byte for byte, the rendering on record
    by_syntax = {r.syntax: w.gw.payloads.get(r.payload_key) for r in doc.renderings}
    attached = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    assert attached == {"INV-2024-001.pdf": by_syntax["facturx"], "INV-2024-001.xml": by_syntax["ubl"]}
    assert read_document(attached["INV-2024-001.pdf"]).invoice.number == "INV-2024-001"

    doc = _doc(w.gw, ex_id)
    (d,) = doc.deliveries
    assert (d.status, doc.status, doc.business_status) == ("delivered", "delivered", "received")
    assert d.reason == "accepted by the SMTP server for ap@buyer.example, compta@buyer.example"
    assert _events(doc) == ["deposited", "received"]


def read_raw_message_id(gw, ex_id) -> str:
    from gateway.channels.email import parse
    return parse(gw.payloads.get(_exchange(gw, ex_id).payload_key))["Message-ID"]


def test_a_550_reply_fails_the_delivery_with_the_servers_words(w):
    _partner(w.gw, channel="email", settings={"email": {"to": ["nobody@buyer.example"], "attach": "ubl"}})
    w.smtp.refuse["nobody@buyer.example"] = "550 5.1.1 <nobody@buyer.example>: no such user"
    doc = _doc(w.gw, _receive(w.gw))
    out_id = doc.deliveries[0].exchange_id
    assert send_exchange(w.gw, out_id) == "failed"
    ex = _exchange(w.gw, out_id)
    assert "550 5.1.1 <nobody@buyer.example>: no such user" in ex.reason and ex.reason.endswith("(not retryable)")
    doc = _doc(w.gw, doc.exchange_id)
    assert (doc.deliveries[0].status, doc.status, doc.business_status) == ("failed", "failed", "deposited")
    assert doc.deliveries[0].reason == ex.reason
    assert w.smtp.messages == []
    assert len(w.prompts) == 1                                  # no retry scheduled


def test_a_451_reply_retries_with_the_partners_backoff_then_sends_the_same_message(w):
    _partner(w.gw, channel="email", settings={"email": {"to": ["ap@buyer.example"]}},
             options={"retry_backoff_seconds": [120], "max_attempts": 3})
    doc = _doc(w.gw, _receive(w.gw))
    out_id = doc.deliveries[0].exchange_id
    w.smtp.fail_data = "451 4.3.0 mailbox busy, try later"
    t0 = utcnow()
    assert send_exchange(w.gw, out_id, now=t0) == "retrying"
    ex = _exchange(w.gw, out_id)
    assert "451 4.3.0 mailbox busy, try later" in ex.reason and ex.reason.startswith("attempt 1 of 3: ")
    assert ex.next_attempt_at - ex.status_at == timedelta(seconds=120)
    assert w.prompts[-1] == (out_id, ex.next_attempt_at)
    assert _doc(w.gw, doc.exchange_id).deliveries[0].status == "retrying"
    assert send_exchange(w.gw, out_id, now=t0) is None          # not due yet: nothing sent
    w.smtp.fail_data = None
    assert send_exchange(w.gw, out_id, now=ex.next_attempt_at) == "sent"
    (mail,) = w.smtp.wait_for()
    assert mail.message["Message-ID"] == ex.message_id
    d = _doc(w.gw, doc.exchange_id).deliveries[0]
    assert (d.status, d.attempts) == ("delivered", 2)


class Crash(BaseException):
    """The worker process dying at this exact point."""


def test_a_crash_after_the_smtp_server_took_the_mail_never_sends_it_twice_unasked(w, monkeypatch):
    _partner(w.gw, channel="email", settings={"email": {"to": ["ap@buyer.example"]}})
    doc = _doc(w.gw, _receive(w.gw))
    out_id = doc.deliveries[0].exchange_id
    import gateway.channels.email as email_channel

    def die():
        raise Crash()
    monkeypatch.setattr(email_channel, "utcnow", die)           # right after the server's 250, before recording
    with pytest.raises(Crash):
        send_exchange(w.gw, out_id)
    monkeypatch.undo()
    w.smtp.wait_for()
    assert _exchange(w.gw, out_id).status == "sending"
    # the sweep after the lease: not resent (it may have gone), failed with why
    assert out_id not in due_sends(w.gw, now=utcnow() + SENDING_LEASE + timedelta(seconds=1))
    ex = _exchange(w.gw, out_id)
    assert ex.status == "failed" and "may have been sent" in ex.reason
    assert send_exchange(w.gw, out_id) is None
    assert len(w.smtp.messages) == 1
    # an operator who checked decides to resend: the same message, same Message-ID
    w.gw.retry_exchange(out_id, by="alice")
    assert send_exchange(w.gw, out_id) == "sent"
    first, second = w.smtp.wait_for(count=2)
    assert first.message["Message-ID"] == second.message["Message-ID"] == ex.message_id


def test_a_crash_before_the_handoff_is_retried_and_mails_once(w):
    _partner(w.gw, channel="email", settings={"email": {"to": ["ap@buyer.example"]}})
    doc = _doc(w.gw, _receive(w.gw))
    out_id = doc.deliveries[0].exchange_id
    assert claim(w.gw, out_id)                                  # the worker claimed it, then died
    later = utcnow() + SENDING_LEASE + timedelta(seconds=1)
    assert out_id in due_sends(w.gw, now=later)
    assert send_exchange(w.gw, out_id, now=later) == "sent"
    assert send_exchange(w.gw, out_id, now=later) is None       # a second prompt sends nothing
    (mail,) = w.smtp.wait_for()
    assert mail.message["Message-ID"] == _exchange(w.gw, out_id).message_id
    assert len(w.smtp.messages) == 1


# --- portal and ERP pull ----------------------------------------------------------------------------

def test_portal_delivery_is_available_at_once_and_notifies_once(w):
    _partner(w.gw, channel="portal", fmt="cii", settings={"portal": {"notify": ["ap@buyer.example"]}})
    ex_id = _receive(w.gw)
    doc = _doc(w.gw, ex_id)
    (d,) = doc.deliveries
    assert (d.channel, d.format, d.status, d.exchange_id) == ("portal", "cii", "delivered", None)
    assert (doc.status, doc.business_status) == ("delivered", "received")
    ((note_id, _),) = w.prompts
    assert d.reason == ("routed to Buyer SARL by BT-48 VAT:FR12345678901; available in the portal as cii; "
                        f"notification to ap@buyer.example (exchange {note_id})")
    assert read_document(w.gw.payloads.get(d.rendering.payload_key)).syntax == "cii"
    assert send_exchange(w.gw, note_id) == "sent"
    assert send_exchange(w.gw, note_id) is None                  # the prompt again (a job retried): nothing
    (mail,) = w.smtp.wait_for()
    assert mail.rcpt_tos == ["ap@buyer.example"]
    assert mail.message["Subject"] == "Nouvelle facture INV-2024-001 de Seller AG"
    assert f"{PUBLIC}/portal/documents/{doc.id}" in mail.message.get_body(("plain",)).get_content()
    assert len(w.smtp.messages) == 1
    # the recipient downloads it (what the portal calls): acknowledged
    with w.gw.session() as s:
        delivery = s.get(Delivery, d.id)
        assert acknowledge_delivery(s, delivery, "downloaded by alice in the portal")
        assert not acknowledge_delivery(s, delivery, "again")
    assert _doc(w.gw, ex_id).deliveries[0].status == "acknowledged"


def test_erp_pull_delivery_is_available_at_once_without_any_send(w):
    _partner(w.gw, channel="erp", fmt="ubl")
    doc = _doc(w.gw, _receive(w.gw))
    (d,) = doc.deliveries
    assert (d.channel, d.status, doc.status, doc.business_status) == ("erp", "delivered", "delivered", "received")
    assert d.reason == "routed to Buyer SARL by BT-48 VAT:FR12345678901; available to pull (erp) as ubl"
    assert w.prompts == []


# --- the fallback for a recipient that chose no channel ----------------------------------------------

def _api_deliveries(gw, doc_id) -> list[dict]:
    """The document's deliveries as its sender sees them through the REST API."""
    with gw.session() as s:
        user = User.create("sender", "sender password 1", "staff")
        s.add(user)
        s.flush()
        _, token = issue_token(s, user, "t")
    client = create_app(gw, testing=True).test_client()
    r = client.get(f"/api/v1/documents/{doc_id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    return r.get_json()["deliveries"]


def test_no_channel_default_email_goes_to_the_contact_and_the_sender_is_told(tmp_path, smtp_server):
    w = _gateway(tmp_path, smtp_server, EDIGATE_DEFAULT_CHANNEL="email")
    _partner(w.gw, contact="boss@buyer.example")
    doc = _doc(w.gw, _receive(w.gw))
    ((out_id, _),) = w.prompts
    assert send_exchange(w.gw, out_id) == "sent"
    (mail,) = smtp_server.wait_for()
    assert mail.rcpt_tos == ["boss@buyer.example"]
    assert [p.get_filename() for p in mail.message.iter_attachments()] == ["INV-2024-001.pdf"]
    (d,) = _api_deliveries(w.gw, doc.id)
    assert (d["channel"], d["format"], d["status"]) == ("email", "facturx", "delivered")
    assert d["history"][1]["reason"] == (
        "routed to Buyer SARL by BT-48 VAT:FR12345678901; no channel chosen: default e-mail to boss@buyer.example "
        f"(its contact e-mail); as facturx by e-mail to boss@buyer.example (exchange {out_id})")
    w.gw.close()


def test_no_channel_default_email_writes_to_the_buyers_bt49_when_there_is_no_contact(tmp_path, smtp_server):
    w = _gateway(tmp_path, smtp_server, EDIGATE_DEFAULT_CHANNEL="email")
    _partner(w.gw)
    inv = build_invoice()
    inv.buyer.electronic_address = Identifier("AP@Buyer.example", "EM")
    doc = _doc(w.gw, _receive(w.gw, inv))
    (d,) = doc.deliveries
    assert "no channel chosen: default e-mail to AP@buyer.example (the buyer's electronic address (BT-49, " \
           "scheme EM))" in d.history[-1].reason
    assert send_exchange(w.gw, d.exchange_id) == "sent"
    assert smtp_server.wait_for()[0].rcpt_tos == ["AP@buyer.example"]
    w.gw.close()


def test_no_channel_and_no_address_for_email_goes_to_paper_at_the_buyers_postal_address(tmp_path, smtp_server):
    w = _gateway(tmp_path, smtp_server, EDIGATE_DEFAULT_CHANNEL="email")
    _partner(w.gw)
    inv = build_invoice()
    inv.buyer.postal_address.line1, inv.buyer.postal_address.post_code = "3 quai Voltaire", "75007"
    doc = _doc(w.gw, _receive(w.gw, inv))
    (d,) = doc.deliveries
    assert (d.channel, d.format, d.status) == ("paper", "facturx", "pending")
    assert d.history[-1].reason == (
        "routed to Buyer SARL by BT-48 VAT:FR12345678901; no channel chosen: default e-mail, but no address (no "
        "contact e-mail, no BT-49 with scheme EM): paper; on paper to Buyer SARL, 3 quai Voltaire, 75007 Paris, FR "
        "(the buyer's postal address, BG-8); as facturx: waiting for the next print batch")
    assert w.prompts == [] and smtp_server.messages == []
    w.gw.close()


def test_paper_without_any_usable_address_fails_with_a_clear_reason(w):
    _partner(w.gw)                                              # default paper, no address; BG-8 has only a city
    doc = _doc(w.gw, _receive(w.gw))
    (d,) = doc.deliveries
    assert (d.channel, d.status, doc.status, doc.business_status) == ("paper", "failed", "failed", "deposited")
    assert d.reason.startswith("routed to Buyer SARL by BT-48 VAT:FR12345678901; no channel chosen: default paper; "
                               "paper: no postal address for Buyer SARL: none in its settings (paper.address;")
    assert "lacks a street line (BT-50) or a city (BT-52)" in d.reason


def test_unusable_stored_settings_fail_the_delivery_naming_the_setting(w):
    _partner(w.gw, channel="email", settings={"email": {"to": ["not-an-address"]}})     # written around the checks
    (d,) = _doc(w.gw, _receive(w.gw)).deliveries
    assert d.status == "failed"
    assert d.reason.endswith("the email channel settings of Buyer SARL cannot be used: email.to[0]: "
                             "'not-an-address' is not an e-mail address (expected name@domain.example)")


# --- credit notes and the life cycle -------------------------------------------------------------------

def _credit_note(number: str, corrects: str, *, seller_vat="DE123456789", year=2024):
    inv = build_invoice()
    inv.number, inv.type_code = number, "381"
    inv.seller.vat_identifier = seller_vat
    inv.preceding_invoices = [PrecedingInvoiceReference(corrects, date(year, 3, 1))]
    return inv


def test_a_credit_note_is_linked_to_the_invoice_it_corrects_from_the_same_seller(w):
    _partner(w.gw, channel="erp")
    invoice = _doc(w.gw, _receive(w.gw, name="inv.xml"))
    other = build_invoice()
    other.seller.vat_identifier = "DE999999999"                 # another seller, the same number
    _receive(w.gw, other, name="other.xml")
    note = _doc(w.gw, _receive(w.gw, _credit_note("CN-1", "INV-2024-001"), name="cn.xml"))
    assert (note.type_code, note.preceding_number, note.corrects_id) == ("381", "INV-2024-001", invoice.id)
    stranger = _doc(w.gw, _receive(w.gw, _credit_note("CN-2", "INV-2024-001", seller_vat="DE111111111"),
                                   name="cn2.xml"))
    assert (stranger.preceding_number, stranger.corrects_id) == ("INV-2024-001", None)
    unknown = _doc(w.gw, _receive(w.gw, _credit_note("CN-3", "INV-0000"), name="cn3.xml"))
    assert (unknown.preceding_number, unknown.corrects_id) == ("INV-0000", None)


def test_a_held_document_is_deposited_and_says_who_set_it(w):
    doc = _doc(w.gw, _receive(w.gw))                            # nobody known: held
    assert (doc.status, doc.business_status, doc.deliveries) == ("held", "deposited", [])
    (event,) = doc.status_events
    assert (event.status, event.set_by, event.reason) == ("deposited", "gateway", "accepted by the gateway")
    with w.gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DocumentStatusEvent)) == 1


def test_invoice_fields_cannot_inject_headers_or_markup(w):
    """A seller name is the sender's to choose: it must not add headers or HTML to our mail."""
    _partner(w.gw, channel="email", settings={"email": {
        "to": ["ap@buyer.example"], "subject": "{{ title }} {{ number }} {{ seller }}",
        "body_html": "<p>{{ seller }} — <b>{{ amount }}</b></p>"}})
    inv = build_invoice()
    inv.seller.name = "Evil <script>x</script>\r\nBcc: victim@elsewhere.example"
    doc = _doc(w.gw, _receive(w.gw, inv))
    assert send_exchange(w.gw, doc.deliveries[0].exchange_id) == "sent"
    (mail,) = w.smtp.wait_for()
    assert mail.rcpt_tos == ["ap@buyer.example"] and mail.message["Bcc"] is None
    # one line (folded by the generator; Python's parser keeps the fold's leading blank)
    assert mail.message["Subject"].strip() == "Facture INV-2024-001 Evil <script>x</script> Bcc: victim@elsewhere.example"
    html = mail.message.get_body(("html",)).get_content()
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    assert "<b>119,00\u00a0€</b>" in html
