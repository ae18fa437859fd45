"""The controls' findings and holds said in each reader's language, from the code and parameters
stored with them (``gateway.controls.wording``): real invoices through the real pipeline trip the
amount, date and bank account controls; an operator reading French and one reading
English see the same findings on the document page, the controls page and the API, each in their
own language (the French judged by the catalogue). A finding stored before codes existed keeps
its English words, marked as English on a French page."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from markupsafe import escape

from gateway.config import load_settings
from gateway.db import DocumentRecord, User, issue_token
from gateway.runtime import Gateway
from gateway.web import create_app
from tests.support.controls_seed import IBAN_B, invoice, send
from tests.support.french_text import FrenchJudge
from tests.support.portal_seed import PASSWORD, seed_partners

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One gateway for the module (English by default: the readers' own choices must decide), its
    supplier's history and three invoices that trip a control each."""
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path_factory.mktemp("home"))}),
                 immediate_jobs=True)
    seeded = seed_partners(gw)
    with gw.session() as s:
        s.get(User, seeded.users["olivia"]).language = "fr"
        oscar = User.create("oscar", PASSWORD, "operator")      # an operator reading English
        oscar.language = "en"
        s.add(oscar)
        s.flush()
        seeded.tokens["oscar"] = issue_token(s, oscar, "oscar-test")[1]
    supplier = seeded.partners["globex"]
    for i in range(5):
        send(gw, supplier, invoice(f"H-{i}", TODAY - timedelta(days=200 - i * 10), f"{100 + i}.00"))
    docs = {"amount": send(gw, supplier, invoice("A-1", TODAY - timedelta(days=3), "1000.00")),
            "date": send(gw, supplier, invoice("D-1", TODAY + timedelta(days=10), "101.50")),
            "bank": send(gw, supplier, invoice("B-1", TODAY - timedelta(days=2), "102.50", iban=IBAN_B))}
    docs["again"] = send(gw, supplier, invoice("A-2", TODAY - timedelta(days=2), "1000.00"))    # A-1 again
    app = create_app(gw, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    yield gw, seeded, docs, app
    gw.close()


def _finding(doc, rule: str) -> dict:
    (f,) = [f for f in doc.findings if f["rule"] == rule]
    return f


def _page(app, who: str, path: str) -> str:
    client = app.test_client()
    client.post("/login", data={"username": who, "password": PASSWORD})
    page = client.get(path)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _cell(html: str, text: str) -> str:
    """The opening tag of the element whose text starts with ``text``."""
    m = re.search(r"(<(?:td|span)[^>]*>)" + re.escape(str(escape(text))), html)
    assert m, f"{text!r} not on the page"
    return m.group(1)


def test_a_finding_keeps_its_code_and_evidence_and_its_english_sentence(world) -> None:
    gw, seeded, docs, app = world
    f = _finding(docs["amount"], "CTRL-AMOUNT-01")
    assert f["extra"]["code"] == "amount_above"
    params = f["extra"]["params"]
    assert (params["amount"], params["currency"], params["count"], params["factor"]) == ("1190.00", "EUR", 5, 5)
    assert f["message"] == (f"amount €1,190.00 is {params['ratio']} times the median €{params['median']} of this "
                            "supplier's last 5 invoices (more than 5 times)")
    bank = _finding(docs["bank"], "CTRL-BANK-01")
    assert bank["extra"]["code"] == "bank_account_changed"
    assert bank["extra"]["params"] == {"account": IBAN_B.replace(" ", ""), "previous": "****0189",
                                       "since": bank["extra"]["evidence"]["previous"][0]["since"][:10]}


def test_the_document_page_says_the_findings_in_each_readers_language(world) -> None:
    gw, seeded, docs, app = world
    judge = FrenchJudge.load()
    doc = docs["date"]
    ahead = TODAY + timedelta(days=10)
    french = (f"Date d'émission du {ahead:%d/%m/%Y} postérieure de 10 jours à la date de réception "
              f"({TODAY:%d/%m/%Y} ; tolérance : 1 jour(s))")
    html = _page(app, "olivia", f"/documents/{doc.id}")
    assert 'lang="en"' not in _cell(html, french)                 # French, and not marked English
    assert judge.verdict(french, {ahead.strftime("%d/%m/%Y"), TODAY.strftime("%d/%m/%Y")}) is None
    english = (f"Issue date {ahead.isoformat()} is 10 days after the day it was received ({TODAY.isoformat()}; "
               "more than 1 accepted)")
    assert english in _page(app, "oscar", f"/documents/{doc.id}")

    amount = _page(app, "olivia", f"/documents/{docs['amount'].id}")
    params = _finding(docs["amount"], "CTRL-AMOUNT-01")["extra"]["params"]
    ratio = params["ratio"].replace(".", ",")
    assert (f"Montant de 1\u202f190,00\u00a0€, soit {ratio} fois la médiane ({params['median'].replace('.', ',')}"
            f"\u00a0€) des 5 dernières factures de ce fournisseur (seuil : 5 fois)") in amount.replace("&#39;", "'")


def test_the_controls_page_and_the_api_say_why_an_invoice_is_held(world) -> None:
    gw, seeded, docs, app = world
    bank = docs["bank"]
    since = _finding(bank, "CTRL-BANK-01")["extra"]["params"]["since"]
    iban = IBAN_B.replace(" ", "")
    french = (f"le compte bancaire {iban} n'est pas celui enregistré pour ce fournisseur (****0189, depuis le "
              f"{since[8:10]}/{since[5:7]}/{since[:4]}) : facture retenue jusqu'à ce qu'un opérateur confirme le "
              "changement")
    english = (f"bank account {iban} is not the one on record for this supplier (****0189, since {since}): held "
               "until an operator confirms the change")
    assert str(escape(french)) in _page(app, "olivia", "/controls")
    assert english in _page(app, "oscar", "/controls")

    client = app.test_client()
    for who, said in (("olivia", french), ("oscar", english)):
        holds = client.get("/api/v1/controls/holds", headers=seeded.auth(who))
        assert holds.status_code == 200, holds.json
        assert [h["message"] for h in holds.json["items"] if h["document"] == bank.id] == [said]
        detail = client.get(f"/api/v1/documents/{bank.id}", headers=seeded.auth(who)).json
        (f,) = [f for f in detail["findings"] if f["rule"] == "CTRL-BANK-01"]
        assert f["message"] == said and f["extra"]["code"] == "bank_account_changed"


def test_a_near_duplicate_names_the_first_invoice_in_each_language(world) -> None:
    gw, seeded, docs, app = world
    first = docs["amount"]
    issued = TODAY - timedelta(days=3)
    client = app.test_client()
    said = {}
    for who in ("olivia", "oscar"):
        detail = client.get(f"/api/v1/documents/{docs['again'].id}", headers=seeded.auth(who)).json
        (said[who],) = [f["message"] for f in detail["findings"] if f["rule"] == "CTRL-NEARDUP-01"]
    assert said["olivia"] == (f"même fournisseur et même montant (1\u202f190,00\u00a0€) que la facture A-1 (document "
                              f"{first.id}, émise le {issued:%d/%m/%Y}), sous un autre numéro")
    assert said["oscar"] == (f"same supplier and amount €1,190.00 as invoice A-1 (document {first.id}, issued "
                             f"{issued.isoformat()}), under another number")


def test_a_finding_stored_before_codes_existed_shows_its_english_words(world) -> None:
    gw, seeded, docs, app = world
    old = "amount 1190.00 EUR is 9.9 times the median 120.00 of this supplier's last 5 invoices (more than 5 times)"
    doc_id = docs["amount"].id
    with gw.session() as s:
        doc = s.get(DocumentRecord, doc_id)
        doc.findings = [f if f["rule"] != "CTRL-AMOUNT-01" else
                        {**f, "message": old, "extra": {"control": "CTRL-AMOUNT-01", "history": 5}}
                        for f in doc.findings]
    html = _page(app, "olivia", f"/documents/{doc_id}")
    assert 'lang="en"' in _cell(html, old[0].upper() + old[1:])
    detail = app.test_client().get(f"/api/v1/documents/{doc_id}", headers=seeded.auth("olivia")).json
    assert [f["message"] for f in detail["findings"] if f["rule"] == "CTRL-AMOUNT-01"] == [old]
