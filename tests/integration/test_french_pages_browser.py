"""A French user's pages in headless Chromium: nothing in English, judged against the catalogue.

The operator olivia reads the pages in French because her browser asks for French
(Accept-Language fr-FR); the recipient buyer-user because French is the preference on its
login (``User.language``), whatever its browser says; the staff user sam, with an English
browser, still gets English. On each page visited (the dashboard and its exception queue, a
document with findings beside the rendered invoice, the partners, the recipient portal's
list and one invoice), every text a person reads, the options of the selects and the
titles and placeholders included, must be a French entry of the catalogue, data from the
record (names, numbers, ids), or a brand or technical word (tests/support/french_text.py).
The official rules' own messages, published in English, are marked ``lang="en"`` on the
page and left out of the judgement (the test says how many).

Data: real files through the real pipeline (tests/support/operator_seed.py). Screenshots go
to the test's tmp dir (``fr-*.png``) for a person to look at; they are not committed.
"""
from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import Certificate, DocumentRecord, Exchange, Organisation, Partner, User
from gateway.delivery.channel import registry
from gateway.runtime import Gateway

from tests.support.french_text import VISIBLE_TEXTS, FrenchJudge
from tests.support.operator_seed import seed_exceptions
from tests.support.portal_seed import PASSWORD, Spec, invoice_for
from tests.support.live_app import served


@pytest.fixture
def live(tmp_path):
    # no EDIGATE_LANGUAGE: the product's own default (French) when nobody says
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path / "home")}), immediate_jobs=True)
    seeded = seed_exceptions(gw)
    with gw.session() as s:
        s.add(Organisation(name="Our Platform"))
        s.scalar(sa.select(User).where(User.username == "buyer-user")).language = "fr"
    with served(gw) as base:
        yield gw, seeded, base


@pytest.fixture(scope="module")
def judge() -> FrenchJudge:
    return FrenchJudge.load()


def record_data(gw) -> set[str]:
    """What the pages show from the record, as it is in the record: names, numbers, ids, codes."""
    from gateway.web.kit.display import time_zones
    out: set[str] = set(registry.names()) | set(time_zones())     # IANA zone ids are identifiers
    out.update({"English", "Français"})     # the language select names each language in that language
    with gw.session() as s:
        for p in s.scalars(sa.select(Partner)):
            out.update({p.name, p.as2_id or "", p.preferred_format or "", p.preferred_channel or "",
                        p.validation_profile or "", p.contact_email or ""})
            out.update(f"{i.label} {i.value}" for i in p.identifiers)
            out.update(i.value for i in p.identifiers)
            out.update(i.label for i in p.identifiers)
        for d in s.scalars(sa.select(DocumentRecord)):
            out.update({d.number or "", d.seller_name or "", d.buyer_name or "", d.currency or "", d.syntax or "",
                        d.mapping or "", d.type_code or "", d.seller_vat_id or "", d.buyer_vat_id or ""})
            out.update(f["rule"] for f in d.findings or [] if f.get("rule"))
            out.update(f.get("rule_set") or "" for f in d.findings or [])
            out.update(f.get("location") or "" for f in d.findings or [])
            out.update(t for f in d.findings or [] for t in f.get("terms") or [])
            # what people typed: a refusal's reason, who set a status
            out.update(f"“{e.reason}”" for e in d.status_events if e.reason)
            out.update(e.reason or "" for e in d.status_events)
            out.update(e.set_by or "" for e in d.status_events)
        for e in s.scalars(sa.select(Exchange)):
            out.update({e.filename or "", (e.filename or "").rsplit("/", 1)[-1], e.message_id or "",
                        e.as2_from or "", e.channel or ""})
        out.update(u.username for u in s.scalars(sa.select(User)))
        out.update(o.name for o in s.scalars(sa.select(Organisation)))
        out.update(c.subject for c in s.scalars(sa.select(Certificate)))
    return {v for v in out if v}


def judge_page(page, judge: FrenchJudge, data: set[str], name: str, tmp_path) -> int:
    found = page.evaluate(VISIBLE_TEXTS)
    page.screenshot(path=str(tmp_path / f"fr-{name}.png"), full_page=True)
    assert found["lang"] == "fr", (name, found["lang"])
    wrong = sorted({v for t in found["texts"] if (v := judge.verdict(t, data))})
    assert not wrong, f"{name}: {len(wrong)} text(s) not French:\n" + "\n".join(wrong)
    assert len(found["texts"]) > 10, found         # the page was there, with words on it
    return found["skipped"]


def log_in(page, base: str, door: str, username: str, home: str) -> None:
    page.goto(f"{base}{door}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base}{home}")


def test_a_french_operator_and_a_french_recipient_read_no_english(live, browser, judge, tmp_path) -> None:
    gw, ex, base = live
    from gateway.flow.receive import receive_file
    from gateway.syntaxes import write_document
    # a document with findings: values the mapping does not read, and a wrong total (fatal)
    inv = invoice_for(Spec("NOISY-1", date(2025, 4, 5), "1234.50", "globex", seller_name="Globex Corp"))
    xml = write_document(inv, "ubl").data.decode()
    xml = xml.replace("</cbc:ID>", "</cbc:ID>" + "".join(f"<cbc:UUID>u-{i}</cbc:UUID>" for i in range(12)), 1)
    xml = re.sub(r"(<cbc:PayableAmount[^>]*>)[^<]+", r"\g<1>9999.99", xml, count=1)
    exchange = receive_file(gw, xml.encode(), channel="api", partner_id=ex.seeded.partners["globex"],
                            filename="NOISY-1.xml")
    with gw.session() as s:
        noisy = s.scalar(sa.select(DocumentRecord.id).where(DocumentRecord.exchange_id == exchange.id))
        buyer_doc = s.scalar(sa.select(DocumentRecord.id).where(
            DocumentRecord.recipient_partner_id == ex.seeded.partners["buyer"]).order_by(DocumentRecord.id))
    data = record_data(gw)

    # the operator: French because her browser asks for it
    context = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, base, "", "olivia", "/")
        judge_page(page, judge, data, "dashboard", tmp_path)
        assert page.locator("h1").inner_text() == "Tableau de bord"
        assert page.locator("tr.exception").count() >= 7
        page.goto(f"{base}/documents/{noisy}")
        skipped = judge_page(page, judge, data, "document-findings", tmp_path)
        assert skipped >= 1                     # the rules' own English messages, marked lang="en"
        assert "bloquant" in page.locator("section.findings-and-view").inner_text()
        page.goto(f"{base}/documents/{noisy}/view")     # the rendered invoice beside the findings
        assert "Facture" in page.inner_text("body") and "Total TTC" in page.inner_text("body")
        page.goto(f"{base}/partners")
        judge_page(page, judge, data, "partners", tmp_path)
        page.goto(f"{base}/partners/{ex.seeded.partners['initech']}")
        judge_page(page, judge, data, "partner", tmp_path)
        page.goto(f"{base}/exchanges")
        judge_page(page, judge, data, "exchanges", tmp_path)
        page.goto(f"{base}/documents")
        judge_page(page, judge, data, "documents", tmp_path)
        page.goto(f"{base}/preferences")
        judge_page(page, judge, data, "preferences", tmp_path)
    finally:
        context.close()

    # the recipient: French by its login's preference, though its browser asks for English
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, base, "/portal", "buyer-user", "/portal/")
        judge_page(page, judge, data, "portal", tmp_path)
        assert page.locator("h1").inner_text().startswith("Factures reçues")
        page.goto(f"{base}/portal/documents/{buyer_doc}")
        judge_page(page, judge, data, "portal-invoice", tmp_path)
    finally:
        context.close()


def test_an_english_user_still_reads_english(live, browser, judge, tmp_path) -> None:
    gw, ex, base = live
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, base, "", "sam", "/")
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.locator("h1").inner_text() == "Dashboard"
        body = page.inner_text("body")
        assert "Exchanges by status" in body and "Tableau de bord" not in body and "Échanges" not in body
        page.screenshot(path=str(tmp_path / "en-dashboard.png"), full_page=True)
        # the same user choosing French on the preferences page reads French from then on
        page.goto(f"{base}/preferences")
        page.select_option("select[name=language]", "fr")
        page.click("form.edit button[type=submit]")
        assert page.locator("h1").inner_text() == "Préférences"
        assert "fuseau" in page.locator("p.flash").inner_text()
        with gw.session() as s:
            assert s.scalar(sa.select(User.language).where(User.username == "sam")) == "fr"
    finally:
        context.close()
