"""The gateway's own mails to partners (an invoice by e-mail, a portal notification) in the
partner's language, text and HTML from one wording (``gateway.channels.wording``), read back from
a real SMTP server (aiosmtpd on loopback).

Which language: the channel's ``lang`` setting, else what the partner's portal users chose,
else the buyer's country, else the gateway's ``EDIGATE_LANGUAGE``. A French mail is judged by the
catalogue (``tests.support.french_text``: every line a French message once the invoice's values
are out), an English one is the code's own words, line for line; the HTML part says, paragraph by
paragraph, what the text part says.
"""
from __future__ import annotations

import html as htmllib
import re
from types import SimpleNamespace

import pytest

from gateway.config import load_settings
from gateway.db import Partner, User
from gateway.delivery.attempts import send_exchange
from gateway.flow.receive import receive_file
from gateway.runtime import Gateway
from gateway.syntaxes import write_document
from tests.support.french_text import FrenchJudge
from tests.support.invoice_builder import build_invoice

MAIL_FROM = "invoices@edigate.example"
PUBLIC = "https://edigate.example"


@pytest.fixture(scope="module")
def judge() -> FrenchJudge:
    return FrenchJudge.load()


def _world(tmp_path, smtp, **env) -> SimpleNamespace:
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_SMTP_URL": smtp.url,
                                "EDIGATE_MAIL_FROM": MAIL_FROM, "EDIGATE_PUBLIC_URL": PUBLIC, **env}),
                 immediate_jobs=True)
    prompts: list[int] = []
    gw.jobs.send = lambda exchange_id, at=None: prompts.append(exchange_id)      # sent by the test itself
    return SimpleNamespace(gw=gw, smtp=smtp, prompts=prompts)


@pytest.fixture
def w(tmp_path, smtp_server):
    world = _world(tmp_path, smtp_server)
    yield world
    world.gw.close()


def _partner(gw, channel: str, settings: dict, *, users: tuple[str | None, ...] = ()) -> int:
    """The buyer of build_invoice() (VAT FR12345678901), with portal logins speaking ``users``."""
    with gw.session() as s:
        p = Partner(name="Käufer GmbH", preferred_channel=channel, channel_settings=settings)
        p.add_identifier("VAT", "FR12345678901")
        s.add(p)
        s.flush()
        for i, lang in enumerate(users):
            user = User.create(f"buyer{i}", "a long enough password", "recipient", partner_id=p.id)
            user.language = lang
            s.add(user)
        return p.id


def _mail(w, invoice) -> object:
    receive_file(w.gw, write_document(invoice, "ubl").data, channel="api", filename="a.xml")
    (exchange_id,) = w.prompts
    assert send_exchange(w.gw, exchange_id) == "sent"
    (mail,) = w.smtp.wait_for()
    return mail.message


def _parts(msg) -> tuple[list[list[str]], list[list[str]]]:
    """The text part's paragraphs and the HTML part's, each a list of its lines."""
    text = msg.get_body(("plain",)).get_content()
    page = msg.get_body(("html",)).get_content()
    said = [[line.strip() for line in para.split("\n") if line.strip()]
            for para in re.split(r"\n\s*\n", text.strip())]
    shown = [[htmllib.unescape(re.sub(r"<[^>]+>", "", line)).strip() for line in re.split(r"<br>\s*", p)]
             for p in re.findall(r"<p[^>]*>(.*?)</p>", page, re.S)]
    return said, shown


def _german_buyer(invoice):
    invoice.buyer.postal_address.country_code = "DE"       # the country alone would say English
    return invoice


def test_a_french_partner_gets_its_invoice_mail_in_french_both_parts_one_wording(w, judge):
    """Its portal users chose French: that wins over the buyer's country (Germany)."""
    _partner(w.gw, "email", {"email": {"to": ["ap@buyer.example"], "attach": "facturx"}}, users=("fr", None))
    msg = _mail(w, _german_buyer(build_invoice()))
    assert msg["Subject"] == "Facture INV-2024-001 de Seller AG"
    said, shown = _parts(msg)
    assert said == shown                                     # the HTML says what the text says
    assert said == [["Bonjour,"],
                    ["Seller AG vous adresse la facture INV-2024-001 du 01/03/2024."],
                    ["Montant : 119,00\u00a0€"],
                    ["La facture est en pièce jointe (INV-2024-001.pdf)."],
                    ["Ce message est envoyé par une plateforme de facturation électronique pour le compte de "
                     "Seller AG.", "Merci de ne pas y répondre : écrivez à Seller AG au sujet de cette facture."]]
    data = {"Seller AG", "INV-2024-001", "01/03/2024", "119,00\u00a0€", "INV-2024-001.pdf"}
    wrong = [v for line in [msg["Subject"], *sum(said, [])] if (v := judge.verdict(line, data))]
    assert wrong == []
    assert '<html lang="fr">' in msg.get_body(("html",)).get_content()
    assert [p.get_filename() for p in msg.iter_attachments()] == ["INV-2024-001.pdf"]


def test_an_english_partner_gets_its_credit_note_mail_in_english(w):
    """Its users chose English although the buyer is in France; a credit note says so."""
    _partner(w.gw, "email", {"email": {"to": ["ap@buyer.example"], "attach": "ubl"}}, users=("en",))
    note = build_invoice()
    note.type_code = "381"
    note.number = "CN-7"
    msg = _mail(w, note)
    assert msg["Subject"] == "Credit note CN-7 from Seller AG"
    said, shown = _parts(msg)
    assert said == shown
    assert said == [["Hello,"],
                    ["Seller AG sends you credit note CN-7 of 1 Mar 2024."],
                    ["Amount: €119.00"],
                    ["The credit note is attached (CN-7.xml)."],
                    ["This message was sent by an e-invoicing gateway on behalf of Seller AG.",
                     "Please do not answer it: write to Seller AG about this credit note."]]
    assert '<html lang="en">' in msg.get_body(("html",)).get_content()


def test_a_french_partner_is_notified_of_a_credit_note_in_its_portal_in_french(w, judge):
    """The channel's own ``lang`` beats the users' choice; the portal link is a link in the HTML part."""
    _partner(w.gw, "portal", {"portal": {"notify": ["ap@buyer.example"], "lang": "fr"}}, users=("en",))
    note = build_invoice()
    note.type_code = "381"
    msg = _mail(w, note)
    assert msg["Subject"] == "Nouvel avoir INV-2024-001 de Seller AG"
    said, shown = _parts(msg)
    assert said == shown
    link = next(line for para in said for line in para if "/portal/documents/" in line)
    url = link.split(" : ", 1)[1]
    assert link == f"Pour le consulter : {url}" and url.startswith(f"{PUBLIC}/portal/documents/")
    assert said[:3] == [["Bonjour,"], ["Un nouvel avoir vous attend dans votre portail :"],
                        ["Avoir INV-2024-001 de Seller AG", "Montant : 119,00\u00a0€"]]
    data = {"Seller AG", "INV-2024-001", "119,00\u00a0€", url}
    assert [v for line in [msg["Subject"], *sum(said, [])] if (v := judge.verdict(line, data))] == []
    assert f'<a href="{url}">{url}</a>' in msg.get_body(("html",)).get_content()


def test_without_a_choice_the_buyers_country_then_the_gateways_language_decide(w):
    """No channel ``lang``, no user's choice: a buyer in Germany reads English; an invoice giving no
    buyer's country (not a valid one: BR-11, so asked directly) the gateway's language."""
    from gateway.channels.templating import reader_language
    _partner(w.gw, "portal", {"portal": {"notify": ["ap@buyer.example"]}}, users=(None,))
    msg = _mail(w, _german_buyer(build_invoice()))
    assert msg["Subject"] == "New invoice INV-2024-001 from Seller AG"
    nowhere = build_invoice()
    nowhere.buyer.postal_address.country_code = None
    with w.gw.session() as s:
        partner = s.query(Partner).one()
        assert [reader_language(s, partner, nowhere, None, lang) for lang in ("fr", "en")] == ["fr", "en"]
