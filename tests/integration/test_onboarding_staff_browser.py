"""Onboarding as staff choose it, in headless Chromium against the gateway's app served on loopback,
mails to a real SMTP server (aiosmtpd) and the catalogue judging the French pages.

* a French counterparty gets its invitation in French, both parts from the one wording, from
  the inviting company (its From display name);
* the wording page previews the text part and the HTML part (a sandboxed frame) of a draft;
* "Pause" and "Close campaign" are apart: closing is a separate, danger-styled form that wants
  its confirmation box ticked (the browser refuses it unticked, the server too);
* a counterparty whose mail bounced is corrected and invited again (the mail reaches its new
  address), its timeline reads as sentences with times in Europe/Paris, and a wave's date is
  read in the staff's time zone;
* a supplier campaign's registration asks how the supplier sends us its invoices; the answer
  (Peppol, its participant id) is recorded on the counterparty, becomes an identifier of the
  new partner, and staff see it;
* a French staff user reads the onboarding pages without a word of English
  (tests/support/french_text.py).

One gateway and one server for the module (each test uses its own campaign). Screenshots go to
the module's tmp dir (``onboarding-*.png``) for a person to look at; they are not committed.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from babel.dates import format_datetime

from gateway.config import load_settings
from gateway.db import Organisation, Partner, User, utcnow
from gateway.runtime import Gateway
from gateway.web import create_app
from onboarding import campaigns as camp
from onboarding import tasks
from onboarding.models import Campaign, Counterparty, Invitation, TrackingEvent, Wave
from onboarding.templating import VARIABLES
from tests.peers.smtp import SmtpServer
from tests.support.french_text import VISIBLE_TEXTS, FrenchJudge
from tests.support.live_app import served
from tests.support.onboarding_web_seed import GLN, invite
from tests.support.web_seed import PASSWORD

INVITER = "Groupe Exemple Achats"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("onboarding-browser")
    with SmtpServer() as smtp:
        gw = Gateway(load_settings({"EDIGATE_HOME": str(home / "home"), "EDIGATE_SMTP_URL": smtp.url,
                                    "EDIGATE_MAIL_FROM": "onboarding@edigate.test",
                                    "EDIGATE_PUBLIC_URL": "https://edigate.test"}), immediate_jobs=True)
        with gw.session() as s:
            s.add(Organisation(name=INVITER))
            s.add(User.create("sam", PASSWORD, "staff"))                   # English, Europe/Paris by default
            camille = User.create("camille", PASSWORD, "staff")
            camille.language = "fr"
            s.add(camille)
        app = create_app(gw)
        with served(gw, app) as base:
            yield gw, app, base, smtp, home


@pytest.fixture(scope="module")
def judge() -> FrenchJudge:
    return FrenchJudge.load()


def _campaign(gw, name: str, *, kind: str = "customers", status: str = "running") -> int:
    with gw.session() as s:
        c = camp.create_campaign(s, name, kind=kind, reminder_count=1)
        c.status = status
        return c.id


def _counterparty(gw, name: str, email: str, *, language: str = "fr", segment: str = "") -> int:
    with gw.session() as s:
        cp = Counterparty(name=name, email=email, contact_name="Claire Martin", language=language, segment=segment,
                          dedupe_key=f"EM:{email}", siret=None)
        s.add(cp)
        s.flush()
        return cp.id


def _send_wave(gw, campaign_id: int, name: str = "Vague 1") -> None:
    with gw.session() as s:
        camp.add_wave(s, s.get(Campaign, campaign_id), name, utcnow())
    tasks.extension(gw).sweep(utcnow())


def _page(browser, base: str, username: str, locale: str = "en-GB"):
    context = browser.new_context(locale=locale, viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{base}/")
    return context, page


def _words(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_french_counterparty_gets_the_french_mail_both_parts_from_one_wording(world) -> None:
    gw, app, base, smtp, home = world
    cid = _campaign(gw, "Clients 2027")
    _counterparty(gw, "Dupont Fournitures SARL", "compta@dupont.example")
    _send_wave(gw, cid)
    got = smtp.wait_for(lambda m: m.rcpt_tos == ["compta@dupont.example"])[-1].message
    assert got["From"].addresses[0].display_name == INVITER             # who invites
    assert got["Subject"] == f"{INVITER} invite Dupont Fournitures SARL à passer à la facture électronique"
    text, html = got.get_body(("plain",)).get_content(), got.get_body(("html",)).get_content()
    assert text.startswith("Bonjour Claire Martin,") and "vous invite à inscrire Dupont Fournitures SARL" in text
    assert "Cordialement," in text and "Pour ne plus recevoir ces messages" in text
    shown = _words(html)
    for line in text.splitlines():                                      # the HTML says what the text says
        if line.strip() and line.strip() != "--":
            assert " ".join(line.split()) in shown, line
    assert "Accéder à mon inscription" in shown and '<html lang="fr">' in html


def test_the_wording_page_previews_the_text_and_the_html_part_of_a_draft(world, browser) -> None:
    gw, app, base, smtp, home = world
    cid = _campaign(gw, "Clients aperçu", status="draft")
    context, page = _page(browser, base, "sam")
    try:
        page.goto(f"{base}/onboarding/campaigns/{cid}/templates/invitation/en")
        assert page.locator("textarea[name=body_html]").count() == 0          # one wording: no second source
        body = page.input_value("#f-body_text")
        page.fill("#f-body_text", body.replace("{{ greeting }}", "{{ greeting }}\n\nOur new terms apply from 1 March.", 1))
        page.click("button[value=preview]")
        assert "Our new terms apply from 1 March." in page.inner_text("#preview-text")
        frame = page.frame_locator("#preview-html")
        assert "Our new terms apply from 1 March." in frame.locator("body").inner_text()
        assert frame.locator("a", has_text="Open my registration page").count() == 1
        assert page.get_attribute("#preview-html", "sandbox") == ""            # no script, no form, no navigation
        # the frame's inline styles are allowed by their hashes: the button looks as it will in the mail
        colour = frame.locator("a", has_text="Open my registration page").evaluate(
            "e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(29, 78, 216)"
        page.screenshot(path=str(home / "onboarding-preview.png"), full_page=True)
        with gw.session() as s:
            assert s.get(Campaign, cid).templates == []                        # a preview saves nothing
    finally:
        context.close()


def test_close_is_a_separate_confirmed_danger_form_apart_from_pause(world, browser) -> None:
    gw, app, base, smtp, home = world
    cid = _campaign(gw, "Clients à clore")
    context, page = _page(browser, base, "sam")
    try:
        page.goto(f"{base}/onboarding/campaigns/{cid}")
        assert page.locator("form.actions button[value=close]").count() == 0
        page.click("form.actions button[value=pause]")
        assert "Campaign paused" in page.inner_text("p.flash")
        close = page.locator("form#close-campaign")
        button = close.locator("button.danger")
        assert button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(180, 35, 24)"
        button.click()                                          # unticked: the browser does not send it
        assert close.locator("input[name=confirm]").evaluate("e => e.validity.valueMissing")
        with gw.session() as s:
            assert s.get(Campaign, cid).status == "paused"
        page.screenshot(path=str(home / "onboarding-close.png"), full_page=True)
        # the server wants the confirmation too: the form posted without the box is refused
        close.locator("input[name=confirm]").evaluate("e => { e.required = false; }")
        button.click()
        page.wait_for_selector("p.flash.error")
        assert "Not closed" in page.inner_text("p.flash.error")
        with gw.session() as s:
            assert s.get(Campaign, cid).status == "paused"
        close = page.locator("form#close-campaign")
        close.locator("input[name=confirm]").check()
        close.locator("button.danger").click()
        page.wait_for_selector("p.flash")
        assert "Campaign closed" in page.inner_text("p.flash")
        with gw.session() as s:
            assert s.get(Campaign, cid).status == "closed"
        assert page.locator("form#close-campaign").count() == 0 and page.locator("form.actions").count() == 0
    finally:
        context.close()


def test_a_bounced_counterparty_is_corrected_invited_again_and_its_timeline_reads(world, browser) -> None:
    gw, app, base, smtp, home = world
    cid = _campaign(gw, "Clients relance")
    cp_id = _counterparty(gw, "Martin Transports", "ap@martin.example", language="en")
    _send_wave(gw, cid)
    smtp.wait_for(lambda m: m.rcpt_tos == ["ap@martin.example"])
    with gw.session() as s:            # the address bounced (as a DSN would have said)
        cp = s.get(Counterparty, cp_id)
        cp.bounced_at, cp.bounce_reason, cp.status = utcnow(), "550 5.1.1 no such user", "bounced"
        inv = s.scalar(sa.select(Invitation).where(Invitation.counterparty_id == cp_id))
        inv.status = "bounced"
        old_nonce = inv.token_nonce
    context, page = _page(browser, base, "sam")
    try:
        page.goto(f"{base}/onboarding/counterparties/{cp_id}")
        page.click("details.edit summary")
        page.fill("#edit-counterparty input[name=email]", "factures@martin.example")
        page.click("#edit-counterparty button[type=submit]")
        assert "Counterparty saved." in page.inner_text("p.flash")
        page.click("form.reinvite button")
        assert "Invited again" in page.inner_text("p.flash")
        again = smtp.wait_for(lambda m: m.rcpt_tos == ["factures@martin.example"])[-1].message
        assert "/register/" in again.get_body(("plain",)).get_content()
        with gw.session() as s:
            inv = s.scalar(sa.select(Invitation).where(Invitation.counterparty_id == cp_id))
            assert inv.token_nonce != old_nonce and inv.status == "sent"       # the old links stop working
            assert [m.step for m in inv.mails] == ["invitation", "invitation-2"]
            events = {e.kind: e for e in s.scalars(sa.select(TrackingEvent).where(
                TrackingEvent.counterparty_id == cp_id))}
        page.reload()
        rows = page.locator("table.timeline tbody tr")
        sentences = [rows.nth(i).locator("td.what").inner_text() for i in range(rows.count())]
        assert "Details corrected by sam: e-mail" in sentences
        assert "Invited again by sam: a new link, the old ones no longer work" in sentences
        assert "Mail sent: invitation (sent again)" in sentences
        assert not any(ch in s for s in sentences for ch in "{}[]'")           # no Python dict anywhere
        at = events["reinvited"].at.astimezone(PARIS)
        expected = f"{format_datetime(at, 'yyyy-MM-dd HH:mm:ss', locale='en_GB')} {at.strftime('%Z')}"
        assert page.locator("tr[data-kind=reinvited] td.when").inner_text() == expected
        page.screenshot(path=str(home / "onboarding-counterparty.png"), full_page=True)

        # a wave's date is read in the staff's time zone (Europe/Paris), shown back in it
        page.goto(f"{base}/onboarding/campaigns/{cid}")
        page.fill("form.stacked input[name=name]", "Janvier")
        page.fill("input[name=send_at]", "2027-01-15T09:30")
        page.click("form.stacked:has(input[name=send_at]) button[type=submit]")
        with gw.session() as s:
            wave = s.scalar(sa.select(Wave).where(Wave.campaign_id == cid, Wave.name == "Janvier"))
            assert wave.send_at == datetime(2027, 1, 15, 8, 30, tzinfo=timezone.utc)
        assert "2027-01-15 09:30:00 CET" in page.inner_text(f"tr[data-wave='{wave.id}']")
    finally:
        context.close()


def test_a_supplier_says_how_it_sends_its_invoices_and_staff_see_it(world, browser, judge) -> None:
    gw, app, base, smtp, home = world
    _campaign(gw, "Fournisseurs 2027", kind="suppliers")
    link = invite(gw, app.secret_key, campaign="Fournisseurs 2027", language="fr", email="compta@dupuis.example",
                  name="Dupuis Emballages SAS")
    context = browser.new_context(locale="fr-FR", viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(base + link.url)
        assert page.locator("fieldset#sending legend").inner_text() == "Comment nous transmettrez-vous vos factures ?"
        found = page.evaluate(VISIBLE_TEXTS)
        data = {"Dupuis Emballages SAS", "compta@dupuis.example", "Claire Dupont", "73282932000074", "732829320",
                "English", "Français", "onboarding@edigate.test"}
        wrong = sorted({v for t in found["texts"] if (v := judge.verdict(t, data))})
        assert not wrong, "\n".join(wrong)
        page.check("input[name=channel][value=email]")
        page.fill("input[name=email_to]", "factures@dupuis.example")
        page.fill("input[name=contact_email]", "claire@dupuis.example")
        page.check("input[name=sends_by][value=peppol]")
        page.fill("input[name=sends_participant]", "bad")
        page.check("input[name=terms]")
        page.click("form.register button[type=submit]")
        assert "indiquez votre identifiant Peppol" in page.inner_text("#form-errors")
        page.fill("input[name=sends_participant]", f"0088:{GLN}")
        page.check("input[name=terms]")
        page.click("form.register button[type=submit]")
        page.wait_for_url(re.compile(r".*/register/done.*"))
        page.screenshot(path=str(home / "onboarding-supplier-done.png"), full_page=True)
    finally:
        context.close()
    with gw.session() as s:
        cp = s.get(Counterparty, link.counterparty_id)
        assert cp.sends_by == "peppol" and cp.sends_detail["participant"] == f"0088:{GLN}"
        partner = s.get(Partner, cp.partner_id)
        assert ("0088", GLN) in {(i.scheme, i.value) for i in partner.identifiers}     # its inbound identifier
    context, page = _page(browser, base, "sam")
    try:
        page.goto(f"{base}/onboarding/counterparties/{link.counterparty_id}")
        shown = page.inner_text("#sends-by")
        assert shown.startswith("Peppol") and f"0088:{GLN}" in shown
        assert "its Peppol participant is now one of its identifiers" in shown
        assert "{" not in page.inner_text("table.registration")
    finally:
        context.close()


def test_a_french_staff_user_reads_the_onboarding_pages_in_french(world, browser, judge) -> None:
    gw, app, base, smtp, home = world
    cid = _campaign(gw, "Fournisseurs printemps", kind="suppliers")
    cp_id = _counterparty(gw, "Leroy Bâtiment SAS", "compta@leroy.example", segment="btp")
    _send_wave(gw, cid, "Vague printemps")
    with gw.session() as s:
        data = {v for v in s.scalars(sa.select(Campaign.name))} | {v for v in s.scalars(sa.select(Counterparty.name))}
        data |= {v or "" for v in s.scalars(sa.select(Counterparty.email))} | set(s.scalars(sa.select(Wave.name)))
        data |= {v for v in s.scalars(sa.select(Counterparty.segment)) if v} | {"sam", "camille", INVITER}
        data |= {v for v in s.scalars(sa.select(Counterparty.contact_name)) if v}
        data |= {p.name for p in s.scalars(sa.select(Partner))} | {"English", "Français"}
    data |= {" ".join(VARIABLES), "Europe/Paris", "onboarding@edigate.test"}
    context, page = _page(browser, base, "camille", locale="en-GB")     # French by her preference
    try:
        for name, url in (("campaigns", "/onboarding/campaigns"), ("campaign", f"/onboarding/campaigns/{cid}"),
                          ("counterparties", "/onboarding/counterparties"),
                          ("counterparty", f"/onboarding/counterparties/{cp_id}"),
                          ("wording", f"/onboarding/campaigns/{cid}/templates/invitation/fr?counterparty={cp_id}"),
                          ("funnel", f"/onboarding/campaigns/{cid}/funnel"), ("imports", "/onboarding/imports")):
            page.goto(base + url)
            if name == "wording":           # the mail itself is the wording under test: data here
                data |= {page.input_value("#f-body_text").strip(), page.inner_text("#preview-text").strip(),
                         page.input_value("#f-subject"), page.inner_text("#preview-subject")}
            found = page.evaluate(VISIBLE_TEXTS)
            page.screenshot(path=str(home / f"onboarding-fr-{name}.png"), full_page=True)
            assert found["lang"] == "fr", name
            wrong = sorted({v for t in found["texts"] if (v := judge.verdict(t, data))})
            assert not wrong, f"{name}: " + "\n".join(wrong)
            assert len(found["texts"]) > 10, name
        page.goto(f"{base}/onboarding/campaigns/{cid}")
        assert page.locator("form#close-campaign button.danger").inner_text() == "Clôturer la campagne"
    finally:
        context.close()
