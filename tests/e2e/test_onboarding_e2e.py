"""Onboarding end to end, as the people involved would do it, against real servers:

* a real ``edigate serve`` (its own process: web app, job consumer, sweep) whose mail goes to
* a real SMTP server (aiosmtpd, in this process), and
* headless Chromium (Playwright on Debian's chromium) for both the staff member and the company.

Staff import 50 counterparties by uploading a CSV file, create a campaign with a wave and start
it; the 50 invitations arrive at the SMTP server; one company opens the link from its mail,
registers (AS2, with its certificate uploaded), and the gateway then has it as an active partner
(REST API), while the staff's funnel says clicked, registration started and enrolled.
"""
from __future__ import annotations

import re
import pytest

from gateway.db import User, issue_token
from tests.support.gateway_process import GatewayProcess
from tests.support.onboarding_web_seed import GLN, certificate
from tests.peers.smtp import SmtpServer

STAFF, PASSWORD = "sophie", "onboarding staff password"
COMPANIES = 50


def luhn_siret(n: int) -> str:
    """The n-th made-up SIRET that passes both checks (its SIREN and itself: Luhn)."""
    from gateway.model.identifiers import luhn_ok
    siren = next(s for k in range(n * 10 + 100000000, n * 10 + 100000010)
                 if luhn_ok(s := f"{k:09d}"))
    return next(siret for k in range(100) if luhn_ok(siret := f"{siren}{k:05d}"))


def counterparties_csv() -> str:
    lines = ["Raison sociale;SIRET;Courriel;Contact;Segment;Langue"]
    for n in range(1, COMPANIES + 1):
        lines.append(f"Société {n:02d} SARL;{luhn_siret(n)};compta{n:02d}@societe{n:02d}.example;"
                     f"Contact {n:02d};{'suppliers' if n % 2 else 'customers'};{'fr' if n % 3 else 'en'}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def server(tmp_path, smtp):
    proc = GatewayProcess(tmp_path / "gw", extra_env={
        "EDIGATE_SMTP_URL": smtp.url, "EDIGATE_MAIL_FROM": "onboarding@edigate.example",
        "EDIGATE_MAIL_RATE": "6000"})
    gw = proc.gateway()
    with gw.session() as s:
        s.add(User.create(STAFF, PASSWORD, "staff"))
        operator = User.create("olivia", PASSWORD, "operator")
        s.add(operator)
        s.flush()
        _, proc.token = issue_token(s, operator, "e2e")
    gw.close()
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def bar(p, stage: str) -> int:
    """The count a funnel chart's bar shows for ``stage``."""
    return int(p.locator(f'figure.funnel-chart g.bar[data-stage="{stage}"]').get_attribute("data-count"))


def test_import_invite_register_and_see_the_partner_and_the_funnel(server, smtp, browser, tmp_path) -> None:
    staff = browser.new_context(java_script_enabled=False).new_page()     # the pages need no script
    staff.set_default_timeout(20_000)
    base = server.base
    refused: list[str] = []                                            # what the CSP blocked, if anything
    staff.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    # staff log in and import 50 counterparties from a CSV file
    staff.goto(f"{base}/onboarding/imports")
    assert "/login" in staff.url
    staff.fill("input[name=username]", STAFF)
    staff.fill("input[name=password]", PASSWORD)
    staff.click("form.login button[type=submit]")
    staff.wait_for_url(re.compile(r".*/onboarding/imports$"))
    csv_file = tmp_path / "counterparties.csv"
    csv_file.write_text(counterparties_csv(), encoding="utf-8")
    staff.set_input_files("input[name=file]", str(csv_file))
    staff.click("form.stacked button[type=submit]")
    staff.wait_for_url(re.compile(r".*/onboarding/imports/\d+$"))
    assert staff.inner_text("#summary") == f"{COMPANIES} rows: {COMPANIES} accepted, 0 rejected, 0 duplicate"

    # a campaign with one wave for everyone, started: the 50 invitations go out
    staff.click("nav.subnav >> text=Campaigns")
    staff.fill("#f-name", "Suppliers and customers 2025")
    staff.fill("#f-reminder_count", "2")
    staff.click("button:text('Create')")
    staff.wait_for_url(re.compile(r".*/onboarding/campaigns/\d+$"))
    campaign_url = staff.url
    staff.fill("form:has(h3:text('Add a wave')) #f-name", "Everyone")
    staff.click("button:text('Add wave')")
    staff.wait_for_url(campaign_url)
    staff.click("button:text('Start campaign')")
    staff.wait_for_url(campaign_url)
    mails = smtp.wait_for(count=COMPANIES, timeout=90)
    assert len({m.rcpt_tos[0] for m in mails}) == COMPANIES

    # one company reads its invitation and follows the link in it
    target = "compta07@societe07.example"
    [mail] = smtp.to(target)
    assert "onboarding@edigate.example" in mail.message["From"]
    body = mail.message.get_body(("plain",)).get_content()
    link = re.search(r"(http://127\.0\.0\.1:\d+/register/[A-Za-z0-9_.\-]+)", body).group(1)
    company = browser.new_context(java_script_enabled=False).new_page()
    company.set_default_timeout(20_000)
    company.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    company.goto(link)
    assert company.input_value("#f-name") == "Société 07 SARL"
    assert company.input_value("#f-siret") == luhn_siret(7)
    company.fill("#f-gln", GLN)
    company.fill("#f-contact_name", "Camille Sept")
    company.fill("#f-contact_email", "camille@societe07.example")
    company.check("input[name=channel][value=as2]")
    assert company.is_visible("#f-as2_url") and not company.is_visible("#f-sftp_key")    # CSS-only, no script
    company.fill("#f-as2_url", "https://as2.societe07.example/receive")
    company.fill("#f-as2_id", "SOCIETE07")
    cert = tmp_path / "societe07.pem"
    cert.write_bytes(certificate(name="societe07"))
    company.set_input_files("#f-as2_certificate", str(cert))
    company.click("form.register button[type=submit]")                # terms not accepted yet
    assert "acceptez les conditions d'utilisation" in company.inner_text("#e-terms")   # a French company
    assert company.input_value("#f-contact_name") == "Camille Sept"   # input kept
    assert "Certificat reçu : CN=societe07" in company.inner_text("form.register")
    company.check("#f-terms")
    company.click("form.register button[type=submit]")
    company.wait_for_url(re.compile(r".*/register/done\?r=\d+$"))
    done = company.inner_text("main")
    assert "Société 07 SARL est inscrite" in done and f"{base}/as2" in done
    company.goto(link)                                                # the link is single-use
    assert "Ce lien a déjà été utilisé" in company.inner_text("h1")   # said in French still

    # the gateway has it as an active AS2 partner, with its identifiers and certificate
    [partner] = [p for p in server.api("/partners", limit=100)["items"] if p["name"] == "Société 07 SARL"]
    assert partner["active"] is True and partner["preferred_channel"] == "as2"
    assert {(i["scheme"], i["value"]) for i in partner["identifiers"]} >= {("0009", luhn_siret(7)), ("0088", GLN)}
    detail = server.api(f"/partners/{partner['id']}")
    assert (detail["as2"]["id"], detail["as2"]["url"]) == ("SOCIETE07", "https://as2.societe07.example/receive")
    assert [c["subject"] for c in detail["certificates"]] == ["CN=societe07"]

    # and the staff's funnel shows it
    staff.goto(campaign_url)
    assert bar(staff, "invited") == COMPANIES and bar(staff, "sent") == COMPANIES
    assert bar(staff, "clicked") == 1 and bar(staff, "registration_started") == 1 and bar(staff, "enrolled") == 1
    staff.click("nav.subnav >> text=Counterparties")
    staff.fill("input[name=q]", luhn_siret(7))
    staff.click("form.filters button[type=submit]")
    assert "enrolled" in staff.inner_text("table.counterparties tbody tr")
    assert refused == []
