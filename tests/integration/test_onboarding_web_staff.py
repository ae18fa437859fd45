"""Onboarding's staff pages on a real Gateway with CSRF on: who may see them, the CSV import and
its per-row report, campaigns, waves sent to a real SMTP server, templates with preview, the
funnel chart and its CSV export."""
from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.config import load_settings
from gateway.db import Partner, User, utcnow
from gateway.runtime import Gateway
from gateway.web import create_app
from onboarding.models import Campaign, CampaignTemplate, Counterparty, ImportBatch, Invitation, Wave
from tests.support.onboarding_web_seed import csrf_of, field_error, text
from tests.peers.smtp import SmtpServer
from tests.support.web_seed import PASSWORD, people  # noqa: F401


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def gw(tmp_path, smtp):
    g = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path), "EDIGATE_SMTP_URL": smtp.url,
                               "EDIGATE_MAIL_FROM": "onboarding@edigate.example",
                               "EDIGATE_PUBLIC_URL": "https://edigate.example"}), immediate_jobs=True)
    yield g
    g.close()


@pytest.fixture
def app(gw):
    return create_app(gw, testing=True)


@pytest.fixture
def client(app):
    return app.test_client()


def login(app, username: str):
    browser = app.test_client()
    page = browser.get("/login")
    r = browser.post("/login", data={"username": username, "password": PASSWORD, "next": "",
                                     "csrf_token": csrf_of(page)})
    assert r.status_code == 302, text(r)
    return browser


@pytest.fixture
def sam(app, people):
    return login(app, "sam")


def post(browser, url: str, data: dict, page_url: str | None = None, **kwargs):
    """Post a form with this browser's CSRF token (read from a page it may see)."""
    token = csrf_of(browser.get(page_url or "/onboarding/campaigns"))
    return browser.post(url, data=dict(data, csrf_token=token), **kwargs)


CSV_HEADER = "Raison sociale;SIRET;N° TVA;Courriel;Contact;Segment;Langue\n"
GOOD = [("Alpha SARL", "73282932000074", "FR44732829320", "ap@alpha.example", "Anne Alpha", "suppliers", "fr"),
        ("Beta Ltd", "", "", "ap@beta.example", "Bob Beta", "customers", "en")]


def upload(browser, body: str, filename: str = "suppliers.csv"):
    return post(browser, "/onboarding/imports", {"file": (io.BytesIO(body.encode("utf-8")), filename)},
                content_type="multipart/form-data")


def csv_text(rows) -> str:
    return CSV_HEADER + "".join(";".join(r) + "\n" for r in rows)


# --- who may see the pages -------------------------------------------------------------------------

STAFF_URLS = ("/onboarding/", "/onboarding/campaigns", "/onboarding/counterparties", "/onboarding/imports",
              "/onboarding/counterparties.csv")


def test_anonymous_visitors_go_to_the_login_page(gw, client) -> None:
    for url in STAFF_URLS + ("/onboarding/campaigns/1/funnel.csv", "/onboarding/imports/1"):
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), url
    token = csrf_of(client.get("/login"))
    r = client.post("/onboarding/campaigns", data={"name": "x", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_recipient_logins_are_refused(gw, app, people) -> None:
    with gw.session() as s:
        p = Partner(name="Buyer SARL")
        s.add(p)
        s.flush()
        s.add(User.create("rita", PASSWORD, "recipient", partner_id=p.id))
    rita = login(app, "rita")
    for url in STAFF_URLS:
        r = rita.get(url)
        assert r.status_code == 403, url
        assert "Alpha" not in text(r)
    token = csrf_of(rita.get("/portal/"))                   # her own pages carry her CSRF token
    r = rita.post("/onboarding/campaigns", data={"name": "Rita's", "reminder_count": "1", "csrf_token": token})
    assert r.status_code == 403
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


@pytest.mark.parametrize("who", ["admin", "olivia", "sam"])
def test_staff_operators_and_admins_see_them_with_the_navigation_link(app, people, who) -> None:
    browser = login(app, who)
    r = browser.get("/onboarding/campaigns")
    assert r.status_code == 200 and "Onboarding campaigns" in text(r)
    assert '<a href="/onboarding/" class="current">Onboarding</a>' in r.get_data(as_text=True)
    assert 'href="/onboarding/"' in browser.get("/").get_data(as_text=True)
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_staff_forms_want_the_csrf_token(gw, sam) -> None:
    r = sam.post("/onboarding/campaigns", data={"name": "No token"})
    assert r.status_code == 400 and "Form refused" in text(r)
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


# --- import --------------------------------------------------------------------------------------------

def test_a_csv_upload_imports_and_shows_each_rejected_row_and_why(gw, sam) -> None:
    rows = GOOD + [("Gamma SA", "73282932000075", "", "ap@gamma.example", "", "suppliers", "fr"),
                   ("", "", "", "nobody@x.example", "", "", ""),
                   ("Delta", "", "", "not-an-address", "", "", "de"),
                   ("Alpha again", "73282932000074", "", "other@alpha.example", "", "", "")]
    r = upload(sam, csv_text(rows))
    assert r.status_code == 303
    report = sam.get(r.headers["Location"])
    page = report.get_data(as_text=True)
    assert "6 rows: 2 accepted, 3 rejected, 1 duplicate" in text(report)

    def row(line: int) -> str:
        """'<outcome>: <the row's cells as read>'"""
        m = re.search(rf'<tr data-line="{line}" data-outcome="(\w+)">(.*?)</tr>', page, re.S)
        assert m, line
        return m.group(1) + ": " + html.unescape(" ".join(re.sub(r"<[^>]+>", " ", m.group(2)).split()))

    assert row(2) == "created: 2 Alpha SARL created" and row(3) == "created: 3 Beta Ltd created"
    assert row(4).startswith("rejected: 4 Gamma SA rejected bad SIRET") and "Luhn" in row(4)
    assert row(5).startswith("rejected: 5 — rejected missing company name")
    assert row(6).startswith("rejected: 6 Delta") and "bad e-mail" in row(6) and "unknown language 'de'" in row(6)
    assert row(7) == "duplicate: 7 Alpha again duplicate same company as line 2: ignored"
    listing = text(sam.get("/onboarding/counterparties"))
    assert "Alpha SARL" in listing and "Beta Ltd" in listing and "Gamma" not in listing
    only_customers = text(sam.get("/onboarding/counterparties?segment=customers"))
    assert "Beta Ltd" in only_customers and "Alpha SARL" not in only_customers
    by_siret = text(sam.get("/onboarding/counterparties?q=732 829 320 00074"))
    assert "Alpha SARL" in by_siret and "Beta Ltd" not in by_siret
    assert "Alpha SARL" in text(sam.get("/onboarding/counterparties?status=new"))
    assert "Nothing" not in text(sam.get("/onboarding/counterparties?status=enrolled"))
    assert "No counterparty matches" in text(sam.get("/onboarding/counterparties?status=enrolled"))
    bad = sam.get("/onboarding/counterparties?status=happy")
    assert bad.status_code == 400 and "'happy' is not one of" in text(bad)


def test_an_unreadable_file_is_refused_whole(gw, sam) -> None:
    r = post(sam, "/onboarding/imports", {"file": (io.BytesIO("Raison sociale;Courriel\nÉlan;a@b.fr\n"
                                                             .encode("latin-1")), "latin.csv")},
             content_type="multipart/form-data")
    assert r.status_code == 422 and "is not UTF-8 text" in text(r) and "Nothing was imported" in text(r)
    r = upload(sam, "SIRET;Phone\n1;2\n", "noheader.csv")
    assert r.status_code == 422 and "no company name" in text(r)
    r = post(sam, "/onboarding/imports", {}, content_type="multipart/form-data")
    assert r.status_code == 422 and "Choose the CSV file" in text(r)
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Counterparty)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0


# --- campaigns, waves, sending -----------------------------------------------------------------------

def test_campaign_settings_are_checked_field_by_field(gw, sam) -> None:
    r = post(sam, "/onboarding/campaigns", {"name": "Spring", "reminder_count": "many",
                                            "reminder_interval_days": "5", "link_valid_days": "30"})
    assert r.status_code == 422 and "'many' is not a whole number" in field_error(r, "reminder_count")
    r = post(sam, "/onboarding/campaigns", {"name": "Spring", "reminder_count": "2", "reminder_interval_days": "4",
                                            "link_valid_days": "20", "information_step": "yes",
                                            "information_lead_days": "3", "mail_rate_per_minute": "120"})
    assert r.status_code == 303
    with gw.session() as s:
        c = s.scalar(sa.select(Campaign))
        assert (c.name, c.status, c.reminder_count, c.reminder_interval_days, c.link_valid_days,
                c.information_lead_days, c.mail_rate_per_minute, c.created_by) == \
            ("Spring", "draft", 2, 4, 20, 3, 120, "sam")
    url = r.headers["Location"]
    r = post(sam, url, {"name": "Spring", "reminder_count": "11", "reminder_interval_days": "4",
                        "link_valid_days": "20"})
    assert r.status_code == 422 and "out of range (0 to 10)" in field_error(r, "reminder_count")
    r = post(sam, url, {"name": "Spring 2025", "reminder_count": "3", "reminder_interval_days": "7",
                        "link_valid_days": "45", "information_lead_days": "3"})     # information step unticked
    assert r.status_code == 303
    with gw.session() as s:
        c = s.scalar(sa.select(Campaign))
        assert (c.name, c.reminder_count, c.reminder_interval_days, c.link_valid_days, c.information_lead_days) == \
            ("Spring 2025", 3, 7, 45, None)
    r = post(sam, "/onboarding/campaigns", {"name": "Spring 2025", "reminder_count": "3",
                                            "reminder_interval_days": "5", "link_valid_days": "30"})
    assert r.status_code == 422 and "already exists" in field_error(r, "name")


def _campaign(gw, name: str = "Spring", **columns) -> int:
    with gw.session() as s:
        c = Campaign(name=name, **columns)
        s.add(c)
        s.flush()
        return c.id


def test_a_wave_started_now_sends_its_invitations_over_smtp(gw, sam, smtp) -> None:
    upload(sam, csv_text(GOOD))
    campaign_id = _campaign(gw)
    url = f"/onboarding/campaigns/{campaign_id}"
    r = post(sam, f"{url}/waves", {"name": "Suppliers", "segment": "suppliers", "send_at": "next tuesday"})
    assert r.status_code == 422 and "is not a date and time" in field_error(r, "send_at")
    later = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    assert post(sam, f"{url}/waves", {"name": "Suppliers", "segment": "suppliers", "send_at": later}).status_code == 303
    r = post(sam, f"{url}/waves", {"name": "Suppliers", "segment": "", "send_at": later})
    assert "already has a wave named" in field_error(r, "name")
    page = text(sam.get(url))
    assert "Suppliers suppliers" in page and "1 to invite" in page
    with gw.session() as s:
        wave_id = s.scalar(sa.select(Wave.id))
    r = post(sam, f"/onboarding/waves/{wave_id}/start", {})           # the campaign is a draft: not sent
    assert "start the campaign to send it" in text(sam.get(r.headers["Location"]))
    assert smtp.messages == []
    post(sam, f"{url}/status", {"action": "start"})                    # starting it sends the due wave
    [mail] = smtp.wait_for(lambda m: "ap@alpha.example" in m.rcpt_tos)
    assert "/register/" in mail.message.get_body(("plain",)).get_content()
    with gw.session() as s:
        assert s.scalar(sa.select(Wave.status)) == "running"
        inv = s.scalar(sa.select(Invitation))
        assert inv.counterparty.name == "Alpha SARL" and inv.status == "sent"
    assert len(smtp.messages) == 1                                     # Beta is a customer: not in this wave
    page = sam.get(url).get_data(as_text=True)
    assert '<g class="bar" data-stage="invited" data-count="1">' in page
    assert '<g class="bar" data-stage="sent" data-count="1">' in page


def test_start_now_sends_a_scheduled_wave_of_a_running_campaign(gw, sam, smtp) -> None:
    upload(sam, csv_text(GOOD))
    campaign_id = _campaign(gw, status="running")
    with gw.session() as s:
        s.add(Wave(campaign_id=campaign_id, name="Everyone", segment="", send_at=utcnow() + timedelta(days=9)))
        s.flush()
        wave_id = s.scalar(sa.select(Wave.id))
    r = post(sam, f"/onboarding/waves/{wave_id}/start", {})
    assert "Wave started: 2 invitation(s)" in text(sam.get(r.headers["Location"]))
    smtp.wait_for(count=2)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["ap@alpha.example", "ap@beta.example"]
    r = post(sam, f"/onboarding/waves/{wave_id}/start", {})          # twice: nothing more
    assert "already started" in text(sam.get(r.headers["Location"]))
    assert len(smtp.messages) == 2


# --- templates -----------------------------------------------------------------------------------------

def test_templates_are_previewed_for_a_chosen_counterparty_and_checked_when_saved(gw, sam) -> None:
    upload(sam, csv_text(GOOD))
    campaign_id = _campaign(gw)
    with gw.session() as s:
        alpha = s.scalar(sa.select(Counterparty.id).where(Counterparty.name == "Alpha SARL"))
    url = f"/onboarding/campaigns/{campaign_id}/templates/invitation/fr"
    r = sam.get(f"{url}?counterparty={alpha}")
    assert r.status_code == 200 and "Wording in use: the default wording" in text(r)
    preview = r.get_data(as_text=True).split('id="preview-text">')[1].split("</pre>")[0]
    assert "Alpha SARL" in preview and "Exemple SARL" not in preview and "/register/" in preview
    body = "Bonjour {{ company }},\nInscrivez-vous : {{ registration_url }}\nDésinscription : {{ optout_url }}\n"
    r = post(sam, url, {"action": "preview", "subject": "Rejoignez-nous, {{ company }}", "body_text": body,
                        "counterparty": str(alpha)}, page_url=url)
    assert r.status_code == 200 and "Rejoignez-nous, Alpha SARL" in text(r)
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CampaignTemplate)) == 0     # a preview saves nothing
    r = post(sam, url, {"action": "save", "subject": "Rejoignez-nous", "body_text": "Bonjour {{ company }}"},
             page_url=url)
    assert r.status_code == 422 and "must show the opt-out link" in text(r)
    assert "Bonjour {{ company }}" in r.get_data(as_text=True)          # the draft is kept on the page
    r = post(sam, url, {"action": "save", "subject": "{{ compagny }}", "body_text": body}, page_url=url)
    assert r.status_code == 422 and "'compagny' is undefined" in text(r)
    r = post(sam, url, {"action": "save", "subject": "Rejoignez-nous, {{ company }}", "body_text": body,
                        "segment": "suppliers", "counterparty": str(alpha)}, page_url=url)
    assert r.status_code == 303
    r = sam.get(r.headers["Location"])
    assert "Wording in use: the campaign's own wording for segment suppliers" in text(r) and "Rejoignez-nous, Alpha SARL" in text(r)
    with gw.session() as s:
        row = s.scalar(sa.select(CampaignTemplate))
        assert (row.step, row.language, row.segment, row.updated_by) == ("invitation", "fr", "suppliers", "sam")
    assert sam.get(f"/onboarding/campaigns/{campaign_id}/templates/invitation/de").status_code == 404
    assert sam.get(f"/onboarding/campaigns/{campaign_id}/templates/teaser/fr").status_code == 404


# --- funnel --------------------------------------------------------------------------------------------

def test_the_funnel_chart_and_its_csv_say_the_same(gw, sam) -> None:
    from onboarding.tracking import record_event
    upload(sam, csv_text(GOOD))
    campaign_id = _campaign(gw, status="running")
    with gw.session() as s:
        wave = Wave(campaign_id=campaign_id, name="W1", send_at=utcnow(), status="running")
        s.add(wave)
        s.flush()
        for n, cp in enumerate(s.scalars(sa.select(Counterparty).order_by(Counterparty.id))):
            inv = Invitation(campaign_id=campaign_id, wave_id=wave.id, counterparty_id=cp.id, status="sent",
                             token_nonce=f"n{n}", expires_at=utcnow() + timedelta(days=30))
            s.add(inv)
            s.flush()
            kinds = ["sent", "opened", "clicked"] if n == 0 else ["sent", "bounced"]
            for kind in kinds:
                record_event(s, inv, kind)
        wave_id = wave.id
    r = sam.get(f"/onboarding/campaigns/{campaign_id}/funnel?wave={wave_id}")
    page = r.get_data(as_text=True)
    shown = dict(re.findall(r'<g class="bar" data-stage="(\w+)" data-count="(\d+)">', page))
    assert shown == {"invited": "2", "sent": "2", "opened": "1", "clicked": "1", "registration_started": "0",
                     "enrolled": "0", "bounced": "1", "opted_out": "0"}
    widths = dict(re.findall(r'data-stage="(\w+)" data-count="\d+">\s*<text[^>]*>[^<]*</text>\s*<rect[^>]*/>\s*'
                             r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', page))
    assert float(widths["invited"]) == 2 * float(widths["clicked"]) > 0 and float(widths["enrolled"]) == 0
    assert "<script" not in page
    csv_r = sam.get(f"/onboarding/campaigns/{campaign_id}/funnel.csv?wave={wave_id}")
    assert csv_r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(csv_r.data.decode("utf-8-sig"))))
    assert {r["stage"]: r["count"] for r in rows} == shown
    people_csv = sam.get(f"/onboarding/campaigns/{campaign_id}/counterparties.csv").data.decode("utf-8-sig")
    assert "Alpha SARL" in people_csv and "Beta Ltd" in people_csv


def test_a_counterparty_page_shows_its_timeline(gw, sam) -> None:
    upload(sam, csv_text(GOOD[:1]))
    with gw.session() as s:
        cp_id = s.scalar(sa.select(Counterparty.id))
    r = sam.get(f"/onboarding/counterparties/{cp_id}")
    assert r.status_code == 200
    assert "Alpha SARL" in text(r) and '<tr data-kind="imported">' in r.get_data(as_text=True)
    assert "Not invited yet" in text(r)
    assert sam.get("/onboarding/counterparties/999").status_code == 404


def test_numbers_past_the_largest_id_are_not_a_server_error(gw, sam) -> None:
    """An offset or a wave id past a signed 64-bit integer reached SQLite (OverflowError: a 500);
    like any unusable number it now counts as not given."""
    too_big = 2 ** 63
    upload(sam, csv_text(GOOD))
    campaign_id = _campaign(gw, status="running")
    assert sam.get(f"/onboarding/counterparties?offset={too_big}").status_code == 200
    for url in (f"/onboarding/campaigns/{campaign_id}/funnel?wave={too_big}",
                f"/onboarding/campaigns/{campaign_id}/funnel.csv?wave={too_big}",
                f"/onboarding/campaigns/{campaign_id}/counterparties.csv?wave={too_big}",
                f"/onboarding/campaigns/{too_big}/funnel"):
        assert sam.get(url).status_code in (200, 404), url
