"""The public pages speak the counterparty's language (``Counterparty.language``), from the
message catalogue in ``onboarding/web/messages.py`` (checked complete in
tests/unit/test_onboarding_web_i18n.py); ``?lang=`` switches."""
from __future__ import annotations

import pytest

from onboarding import links
from onboarding.models import Invitation
from tests.support.onboarding_web_seed import company_form, csrf_of, field_error, invite, text
from tests.support.web_seed import app, client, gw  # noqa: F401


def test_a_french_counterparty_gets_french_labels_and_french_errors(gw, client, app) -> None:
    link = invite(gw, app.secret_key, language="fr")
    page = client.get(link.url)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert '<html lang="fr">' in body
    assert "Recevez vos factures électroniquement" in text(page) and "Raison sociale" in text(page)
    assert "Receive your invoices electronically" not in text(page)
    # the formats an AS2 or SFTP counterparty may choose, in French too (the mapping files' summary_fr)
    assert '<option value="facturx" >PDF/A-3 Factur-X / ZUGFeRD avec son XML CII<' in body.replace('  ', ' ')
    assert '<option value="ubl" selected>OASIS UBL 2.1, facture et avoir (Peppol BIS 3)<' in body
    assert "with its CII XML" not in body and "Invoice/CreditNote" not in body
    bad = client.post(link.url, data=dict(company_form(name="", terms=None, contact_phone="abc"),
                                          csrf_token=csrf_of(page)))
    assert bad.status_code == 422
    assert field_error(bad, "name") == "indiquez la raison sociale de votre entreprise"
    assert field_error(bad, "terms") == "acceptez les conditions d'utilisation pour vous inscrire"
    assert field_error(bad, "contact_phone") == "'abc' n'est pas un numéro de téléphone (chiffres, espaces, + ( ) . - /)"
    assert "champ(s) à corriger" in text(bad)


def test_an_english_counterparty_gets_english_and_lang_switches(gw, client, app) -> None:
    link = invite(gw, app.secret_key, language="en")
    page = client.get(link.url)
    assert "Receive your invoices electronically" in text(page) and "Company name" in text(page)
    body = page.get_data(as_text=True).replace('  ', ' ')
    assert '<option value="ubl" selected>OASIS UBL 2.1 Invoice/CreditNote (Peppol BIS 3)<' in body
    assert "facture et avoir" not in body
    assert 'href="?lang=fr"' in page.get_data(as_text=True)           # the FR/EN switch, no script
    french = client.get(link.url + "?lang=fr")
    assert "Recevez vos factures électroniquement" in text(french)
    bad = client.post(link.url + "?lang=fr", data=dict(company_form(name=""), csrf_token=csrf_of(french)))
    assert field_error(bad, "name") == "indiquez la raison sociale de votre entreprise"
    bad = client.post(link.url, data=dict(company_form(name=""), csrf_token=csrf_of(page)))
    assert field_error(bad, "name") == "give your company's name"


@pytest.mark.parametrize("lang, title, ask", [
    ("fr", "Ne plus recevoir nos invitations", "Me désinscrire"),
    ("en", "Stop our invitations", "Unsubscribe")])
def test_opt_out_and_its_confirmation_in_the_counterpartys_language(gw, client, app, lang, title, ask) -> None:
    link = invite(gw, app.secret_key, language=lang)
    with gw.session() as s:
        token = links.optout_token(app.secret_key, s.get(Invitation, link.invitation_id))
    page = client.get(f"/optout/{token}")
    assert title in text(page) and ask in text(page)
    done = client.post(f"/optout/{token}", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 200
    assert ("Vous êtes désinscrit" if lang == "fr" else "You are unsubscribed") in text(done)


def test_refused_links_in_the_asked_or_the_browsers_language(client) -> None:
    assert "Ce lien n'est pas valide" in text(client.get("/register/nonsense?lang=fr"))
    assert "Ce lien n'est pas valide" in text(client.get("/register/nonsense",
                                                         headers={"Accept-Language": "fr-FR,fr;q=0.9"}))
    assert "This link is not valid" in text(client.get("/register/nonsense", headers={"Accept-Language": "en"}))
