"""Onboarding's refusals and notes in the staff's language: an import's per-row reasons, why a
counterparty is not invited again, why its address bounced. Each is kept with its code and values
(``onboarding.reasons``) and worded from the catalogue on the staff pages (a real Gateway, its
Flask app, CSRF on), French judged by the catalogue, English as the record says it."""
from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import User, utcnow
from gateway.runtime import Gateway
from gateway.web import create_app
from onboarding.models import Campaign, Counterparty, ImportBatch, Invitation, Wave
from tests.support.french_text import FrenchJudge
from tests.support.onboarding_web_seed import csrf_of, text
from tests.support.web_seed import PASSWORD

CSV = ("Raison sociale;SIRET;N° TVA;Courriel;Langue;Téléphone\n"
       "Alpha SARL;73282932000074;FR44732829320;ap@alpha.example;fr;01\n"
       "Gamma SA;73282932000075;;ap@gamma.example;;02\n"          # the SIRET's check digit is wrong
       ";;;;;03\n"                                                # no name, no address
       "Delta;;;not-an-address;de;04\n"
       "Alpha again;73282932000074;;other@alpha.example;;05\n")   # the same company as line 2


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path_factory.mktemp("home"))}),
                 immediate_jobs=True)
    with gw.session() as s:
        for name, lang in (("sophie", "fr"), ("steve", "en")):
            user = User.create(name, PASSWORD, "staff")
            user.language = lang
            s.add(user)
        now = utcnow()
        campaign = Campaign(name="Suppliers 2026", status="running")
        wave = Wave(campaign=campaign, name="first", send_at=now, status="done")
        gone = Counterparty(name="Zeta SAS", dedupe_key="EM:ap@zeta.example", email="ap@zeta.example",
                            status="opted_out", opted_out_at=now)
        bounced = Counterparty(name="Eta SARL", dedupe_key="EM:ap@eta.example", email="ap@eta.example",
                               status="bounced", bounced_at=now,
                               bounce_reason="DSN: 5.1.1 smtp; 550 5.1.1 <ap@eta.example>: Recipient address rejected")
        s.add_all([campaign, wave, gone, bounced])
        s.flush()
        invitation = Invitation(campaign_id=campaign.id, wave_id=wave.id, counterparty_id=gone.id,
                                token_nonce="refusal-words-test", expires_at=now + timedelta(days=30))
        s.add(invitation)
        s.flush()
        ids = {"invitation": invitation.id, "bounced": bounced.id}
    app = create_app(gw, testing=True)
    yield gw, app, ids
    gw.close()


def login(app, username: str):
    browser = app.test_client()
    page = browser.get("/login")
    r = browser.post("/login", data={"username": username, "password": PASSWORD, "next": "",
                                     "csrf_token": csrf_of(page)})
    assert r.status_code == 302, text(r)
    return browser


def post(browser, url: str, data: dict, **kwargs):
    token = csrf_of(browser.get("/onboarding/campaigns"))
    return browser.post(url, data=dict(data, csrf_token=token), **kwargs)


def _rows(page: str) -> dict[int, list[str]]:
    """Each report row's reasons (its last cell, one per line)."""
    out = {}
    for line, cells in re.findall(r'<tr data-line="(\d+)" data-outcome="\w+">(.*?)</tr>', page, re.S):
        last = re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)[-1]
        out[int(line)] = [html.unescape(re.sub(r"<[^>]+>", "", part)).strip() for part in last.split("<br>")
                          if part.strip()]
    return out


@pytest.fixture(scope="module")
def report(world):
    gw, app, ids = world
    sophie = login(app, "sophie")
    r = post(sophie, "/onboarding/imports", {"file": (io.BytesIO(CSV.encode()), "suppliers.csv")},
             content_type="multipart/form-data")
    assert r.status_code == 303
    return r.headers["Location"]


def test_an_import_report_reads_in_french_for_a_french_reader(world, report) -> None:
    gw, app, ids = world
    rows = _rows(login(app, "sophie").get(report).get_data(as_text=True))
    assert rows[1] == ["colonne 'Téléphone' ignorée (nous ne l'importons pas)"]
    assert rows[3] == ["SIRET erroné : le SIRET 73282932000075 ne respecte pas sa clé de contrôle (Luhn) : une "
                       "faute de frappe ?"]
    assert rows[4] == ["raison sociale manquante", "adresse e-mail manquante (nécessaire pour inviter)"]
    assert rows[5][-1] == "langue inconnue 'de' : attendu l'une de fr, en (français, english…)"
    assert rows[6] == ["même entreprise qu'à la ligne 2 : ignorée"]
    judge = FrenchJudge.load()
    data = {"'Téléphone'", "73282932000075", "'de'", "fr, en", "not-an-address", "'not-an-address'"}
    wrong = [v for reasons in rows.values() for r in reasons if (v := judge.verdict(r, data))]
    assert wrong == []


def test_the_same_report_reads_as_recorded_for_an_english_reader(world, report) -> None:
    gw, app, ids = world
    rows = _rows(login(app, "steve").get(report).get_data(as_text=True))
    with gw.session() as s:
        recorded = {e["line"]: e["reasons"] for e in s.scalars(sa.select(ImportBatch)).one().report}
    assert rows == recorded
    assert rows[4] == ["missing company name", "missing e-mail address (needed to invite)"]
    assert rows[6] == ["same company as line 2: ignored"]


def test_why_a_counterparty_is_not_invited_again_in_each_language(world) -> None:
    gw, app, ids = world
    url = f"/onboarding/invitations/{ids['invitation']}/reinvite"
    for who, said in (("sophie", "Pas de nouvelle invitation pour Zeta SAS : ce tiers a demandé à ne plus "
                                 "recevoir de messages"),
                      ("steve", "Zeta SAS is not invited again: it opted out")):
        browser = login(app, who)
        page = post(browser, url, {}, follow_redirects=True)
        assert said in html.unescape(page.get_data(as_text=True)), who


def test_a_bounce_says_what_its_status_means_and_keeps_the_servers_words(world) -> None:
    gw, app, ids = world
    server = "5.1.1 smtp; 550 5.1.1 <ap@eta.example>: Recipient address rejected"
    french = html.unescape(login(app, "sophie").get(f"/onboarding/counterparties/{ids['bounced']}")
                           .get_data(as_text=True))
    assert f"la boîte aux lettres n'existe pas (5.1.1) ; réponse du serveur : {server}" in french
    english = html.unescape(login(app, "steve").get(f"/onboarding/counterparties/{ids['bounced']}")
                            .get_data(as_text=True))
    assert f"the mailbox does not exist (5.1.1); the server said: {server}" in english


def test_a_file_refused_as_a_whole_says_why_in_each_language(world, report) -> None:
    gw, app, ids = world
    body = "Raison sociale;Téléphone\nAlpha SARL;01\n".encode()
    for who, said in (("sophie", "en-tête : aucune colonne d'adresse e-mail (« Courriel », « E-mail ») ; colonnes "
                                 "trouvées : 'Raison sociale', 'Téléphone'"),
                      ("steve", "header: no e-mail (\"Courriel\", \"E-mail\") column; found 'Raison sociale', "
                                "'Téléphone'")):
        r = post(login(app, who), "/onboarding/imports", {"file": (io.BytesIO(body), "no-mail.csv")},
                 content_type="multipart/form-data")
        assert r.status_code == 422 and said in html.unescape(r.get_data(as_text=True)), who
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 1     # only the module's report
