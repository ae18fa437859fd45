"""An approval in French, in headless Chromium: the approver's queue, the invoice's approval page with
its decision form and trail on the recipient portal, and the approval section of the operator's
document page, every text judged against the catalogue (tests/support/french_text.py).

alice (an approver of the buyer organisation) and the operator olivia both have browsers asking
for French. The first approver approves in French; the case then waits for the second, so the
trail has a decision, its capacity and the state in words. A real UBL invoice through the real
pipeline (tests/support/approval_seed.py).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import User
from gateway.runtime import Gateway

from tests.integration.test_french_pages_browser import judge_page, log_in, record_data
from tests.support import approval_seed
from tests.support.approval_seed import invoice, send
from tests.support.french_text import FrenchJudge
from tests.support.live_app import served


@pytest.fixture
def live(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path / "home")}),
                 immediate_jobs=True)
    centre = approval_seed.seed(gw)            # its operator: olivia
    with served(gw) as base:
        yield gw, centre, base


def test_an_approval_reads_in_french(live, browser, tmp_path) -> None:
    gw, centre, base = live
    document = send(gw, centre, invoice("BIG-1", "1500.00"))        # waits for alice, then bob
    judge = FrenchJudge.load()
    data = record_data(gw) | {"large invoices", "alice", "bob", "carol", "dave", "BIG-1", "application/xml"}
    context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, base, "/portal", "alice", "/portal/")
        page.goto(f"{base}/portal/approvals")
        judge_page(page, judge, data, "approvals-queue", tmp_path)
        page.goto(f"{base}/portal/approvals/{document}")
        judge_page(page, judge, data, "approval-form", tmp_path)
        from gateway.delivery.statuses import REASONS        # the norm names each reason in both languages
        options = page.eval_on_selector_all("select[name=reason_code] option[value]:not([value=''])",
                                            "os => os.map(o => [o.value, o.textContent.trim()])")
        assert options and all(text == f"{code} — {REASONS[code].fr}" for code, text in options), options
        assert "dans l'ordre" in page.inner_text("#approval-approvers")
        page.check("input[name=action][value=approve]")
        page.click("#approval-form button[type=submit]")
        page.wait_for_load_state()
        judge_page(page, judge, data, "approval-after", tmp_path)
        trail = page.inner_text("#approval-trail")
        assert "approuvée" in trail and "approbateur" in trail, trail
        page.goto(f"{base}/logout")
    finally:
        context.close()

    context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, base, "", "olivia", "/")
        page.goto(f"{base}/documents/{document}")
        judge_page(page, judge, data, "document-approval", tmp_path)
        section = page.inner_text("#approval")
        assert "Approbation" in section and "en attente de bob" in section, section
    finally:
        context.close()
    with gw.session() as s:
        assert s.scalar(sa.select(User.language).where(User.username == "alice")) is None   # the browser's French
