"""A French counterparty registers in headless Chromium, from its invitation link to "done", and
never reads English: the form, its errors, the terms, the "done" page and the "already used"
page are judged against the catalogue on every step (tests/support/french_text.py), though the
browser itself asks for English; the visitor's own values (company, names, addresses) are data.

A real HTTP server thread serves the gateway's app on a free loopback port (the onboarding
pages are the installed extension's); the invitation is made as a campaign's wave makes it
(tests/support/onboarding_web_seed.py). Screenshots go to the test's tmp dir (``fr-register-*.png``).
"""
from __future__ import annotations


import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import Partner
from gateway.runtime import Gateway
from gateway.web import create_app

from tests.support.french_text import VISIBLE_TEXTS, FrenchJudge
from tests.support.onboarding_web_seed import SIRET, invite
from tests.support.live_app import served

VALUES = {"contact_name": "Claire Dupont", "contact_email": "claire@dupont.example",
          "contact_phone": "+33 1 23 45 67 89", "email_to": "factures@dupont.example"}


@pytest.fixture
def live(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_MAIL_FROM": "onboarding@edigate.test"}),
                 immediate_jobs=True)
    app = create_app(gw)
    with served(gw, app) as base:
        yield gw, app, base


def judged(page, judge: FrenchJudge, data: set[str], name: str, tmp_path) -> str:
    found = page.evaluate(VISIBLE_TEXTS)
    page.screenshot(path=str(tmp_path / f"fr-register-{name}.png"), full_page=True)
    assert found["lang"] == "fr", (name, found["lang"])
    wrong = sorted({v for t in found["texts"] if (v := judge.verdict(t, data))})
    assert not wrong, f"{name}: {len(wrong)} text(s) not French:\n" + "\n".join(wrong)
    return page.inner_text("main")


def test_a_french_counterparty_registers_in_french_from_start_to_done(live, browser, tmp_path) -> None:
    gw, app, base = live
    judge = FrenchJudge.load()
    link = invite(gw, app.secret_key, language="fr", name="Dupont Fournitures SARL")
    data = {"Dupont Fournitures SARL", "compta@dupont.example", "onboarding@edigate.test", SIRET, SIRET[:9],
            "English",                                # the switch to the other language names it in English
            *VALUES.values(), "Peppol BIS 3", "UN/CEFACT", "EDIFACT INVOIC D96A", "EDIFACT INVOIC D01B"}
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(base + link.url)
        text = judged(page, judge, data, "form", tmp_path)
        assert "Recevez vos factures électroniquement" in text

        # a first submission with what is missing: French errors beside the fields, the rest kept
        page.fill("#f-contact_name", VALUES["contact_name"])
        page.click("form.register button[type=submit]")
        text = judged(page, judge, data, "errors", tmp_path)
        assert "champ(s) à corriger" in text
        assert page.locator("#e-terms").inner_text() == "acceptez les conditions d'utilisation pour vous inscrire"
        assert page.input_value("#f-contact_name") == VALUES["contact_name"]

        # the terms, in French too
        with context.expect_page() as terms_page:
            page.click("a[href*='/register/terms']")
        terms = terms_page.value
        terms.wait_for_load_state()
        judged(terms, judge, data, "terms", tmp_path)
        assert terms.locator("h1").inner_text() == "Conditions d'utilisation"
        terms.close()

        # complete and register by e-mail
        page.fill("#f-contact_email", VALUES["contact_email"])
        page.fill("#f-contact_phone", VALUES["contact_phone"])
        page.check("input[name=channel][value=email]")
        page.fill("#f-email_to", VALUES["email_to"])
        page.check("#f-terms")
        page.click("form.register button[type=submit]")
        page.wait_for_url("**/register/done**")
        text = judged(page, judge, data, "done", tmp_path)
        assert "Dupont Fournitures SARL est inscrite" in text
        assert "Vos factures seront envoyées à factures@dupont.example." in text
        with gw.session() as s:
            partner = s.scalar(sa.select(Partner).where(Partner.name == "Dupont Fournitures SARL"))
            assert partner is not None and partner.active and partner.preferred_channel == "email"

        # the link again: "already used", in French still
        page.goto(base + link.url)
        text = judged(page, judge, data, "already-used", tmp_path)
        assert "Ce lien a déjà été utilisé" in text
    finally:
        context.close()
