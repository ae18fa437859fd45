"""An identifier's problem on the operator pages, in the reader's language.

The partner form refuses a SIRET whose check digit is wrong; the model gives the problem a code
and values, the page words it from the catalogue: French for a French reader, the model's own
English words for an English one. Served by the Flask app (test client), its data in a fresh
database.
"""
from __future__ import annotations

import html

import pytest

from gateway.web import create_app

from tests.support.portal_seed import PASSWORD, seed_partners


@pytest.fixture
def client(make_gateway):
    gw = make_gateway()
    seed_partners(gw)
    app = create_app(gw, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    r = client.post("/login", data={"username": "olivia", "password": PASSWORD})
    assert r.status_code in (302, 303)
    return client


@pytest.mark.parametrize("lang,expected,not_expected", [
    ("fr-FR,fr;q=0.9", "Identifiant 0009:73282932000075 : le SIRET 73282932000075 ne respecte pas sa clé de contrôle "
                       "(Luhn) : une faute de frappe ?", "fails its check digit"),
    ("en-GB,en;q=0.9", "Identifier 0009:73282932000075: SIRET 73282932000075 fails its check digit (Luhn): a typo?",
     "ne respecte pas"),
])
def test_a_wrong_siret_is_refused_in_the_readers_language(client, lang, expected, not_expected) -> None:
    r = client.post("/partners/new", data={"name": "Typo SARL", "identifiers": "0009:73282932000075"},
                    headers={"Accept-Language": lang})
    assert r.status_code == 422
    page = html.unescape(r.get_data(as_text=True))
    assert expected in page and not_expected not in page
