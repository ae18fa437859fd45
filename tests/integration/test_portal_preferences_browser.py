"""A recipient chooses French (and its time zone) on the portal's preferences page, in headless Chromium.

The buyer's login reads English first (the gateway's language is English here and its browser asks
for English); on ``/portal/preferences`` it chooses Français and New York's time; from the next
page on, the portal speaks French, every text judged against the catalogue (tests/support/french_text.py),
whatever its browser asks, and the choice is on its login (``User.language``, ``User.time_zone``)
with an audit line. A POST without the form's CSRF token changes nothing.

Data: real files through the real pipeline (tests/support/portal_seed.py).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import AuditEvent, DocumentRecord, User
from gateway.runtime import Gateway

from tests.integration.test_french_pages_browser import judge_page, log_in, record_data
from tests.support.french_text import FrenchJudge
from tests.support.live_app import served
from tests.support.portal_seed import seed_documents, seed_partners


@pytest.fixture
def live(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path / "home")}),
                 immediate_jobs=True)
    seeded = seed_documents(gw, seed_partners(gw))
    with served(gw) as base:
        yield gw, seeded, base


def test_a_recipient_switches_its_portal_to_french(live, browser, tmp_path) -> None:
    gw, seeded, base = live
    judge = FrenchJudge.load()
    data = record_data(gw) | {"EST", "EDT"}      # New York's zone abbreviations, as times show them
    with gw.session() as s:
        document = s.scalar(sa.select(DocumentRecord.id).where(
            DocumentRecord.recipient_partner_id == seeded.partners["buyer"]).order_by(DocumentRecord.id))
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, base, "/portal", "buyer-user", "/portal/")
        assert page.evaluate("document.documentElement.lang") == "en"
        page.click("header nav >> text=Preferences")
        assert page.locator("h1").inner_text() == "Preferences"

        page.select_option("select[name=language]", "fr")
        page.select_option("select[name=time_zone]", "America/New_York")
        page.click("form.edit button[type=submit]")
        page.wait_for_url(f"{base}/portal/preferences")
        assert page.locator("h1").inner_text() == "Préférences"
        assert "America/New_York" in page.locator("p.flash").inner_text()
        judge_page(page, judge, data, "portal-preferences", tmp_path)

        page.goto(f"{base}/portal/")
        judge_page(page, judge, data, "portal-list", tmp_path)
        assert page.locator("h1").inner_text().startswith("Factures reçues")
        page.goto(f"{base}/portal/documents/{document}")
        judge_page(page, judge, data, "portal-document", tmp_path)

        with gw.session() as s:
            user = s.scalar(sa.select(User).where(User.username == "buyer-user"))
            assert (user.language, user.time_zone) == ("fr", "America/New_York")
            trail = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "user.preferences")).all()
            assert [(e.actor, e.subject_id) for e in trail] == [("buyer-user", user.id)]

        # without the form's CSRF token: refused, nothing changed
        refused = page.request.post(f"{base}/portal/preferences", form={"language": "en", "time_zone": "UTC"},
                                    max_redirects=0)
        assert refused.status == 400, refused.status
        with gw.session() as s:
            assert s.scalar(sa.select(User.language).where(User.username == "buyer-user")) == "fr"
    finally:
        context.close()
