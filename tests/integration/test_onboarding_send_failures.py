"""A campaign mail that cannot be sent reads, on the counterparty's page, as what failed and what
to do, in the staff member's language (``onboarding.send_failures``, ``onboarding.reasons``); the
transport's own text (the SMTP reply, the socket error) is one click away, in a <details>. Sent
through a real SMTP server on loopback (aiosmtpd) that refuses the recipient, and to a port where
nothing listens; an older event, recorded before the reasons had codes, keeps its text."""
from __future__ import annotations

import html
import re
from types import SimpleNamespace

import sqlalchemy as sa

from gateway.db import User, utcnow
from gateway.web import create_app
from onboarding.campaigns import add_wave, create_campaign, start_campaign
from onboarding.importer import import_csv
from onboarding.mailing import RETRY, start_wave
from onboarding.models import CampaignMail, Counterparty, Invitation, TrackingEvent
from onboarding.tasks import extension
from tests.support.onboarding_fixtures import counterparty_csv, onboarding_gateway
from tests.support.onboarding_web_seed import csrf_of, text
from tests.support.ports import free_port
from tests.support.web_seed import PASSWORD


def _last_try(gw, t0) -> int:
    """One counterparty, a running campaign whose wave has started; its invitation mail is at its
    last attempt (so one failure is final, and recorded as such). The counterparty's id."""
    with gw.session() as s:
        import_csv(s, counterparty_csv(1), now=t0)
        c = create_campaign(s, "Suppliers")
        start_campaign(s, c)
        wave = add_wave(s, c, "first", t0, "")
        wave.status = "running"
        start_wave(s, wave, t0)
        for m in s.scalars(sa.select(CampaignMail)):
            m.attempts = RETRY.max_attempts - 1
        for name, lang in (("sophie", "fr"), ("steve", "en")):
            user = User.create(name, PASSWORD, "staff")
            user.language = lang
            s.add(user)
        return s.scalar(sa.select(Counterparty.id))


def _page(app, username: str, counterparty_id: int) -> str:
    browser = app.test_client()
    login = browser.get("/login")
    r = browser.post("/login", data={"username": username, "password": PASSWORD, "next": "",
                                     "csrf_token": csrf_of(login)})
    assert r.status_code == 302, text(r)
    page = browser.get(f"/onboarding/counterparties/{counterparty_id}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _failed_row(page: str) -> tuple[str, str]:
    """The timeline's "failed" row: its words outside the <details>, and the technical detail."""
    row = re.search(r'<tr data-kind="failed">(.*?)</tr>', page, re.S).group(1)
    detail = re.search(r'<details class="technical"><summary>[^<]*</summary><pre>(.*?)</pre></details>', row, re.S)
    said = html.unescape(re.sub(r"<[^>]+>", "", row.replace(detail.group(0), "") if detail else row))
    return " ".join(said.split()), html.unescape(detail.group(1)) if detail else ""


def _sent_and_read(gw, t0, counterparty_id: int) -> dict[str, tuple[str, str]]:
    assert extension(gw).sweep(t0).get("mails_prompted", 0) <= 1
    with gw.session() as s:
        mail = s.scalar(sa.select(CampaignMail))
        assert mail.status == "failed", (mail.status, mail.error)
        [event] = s.scalars(sa.select(TrackingEvent).where(TrackingEvent.kind == "failed"))
        assert event.detail["said"]["code"] and event.detail["reason"]
    app = create_app(gw, testing=True)
    return {who: _failed_row(_page(app, who, counterparty_id)) for who in ("sophie", "steve")}


def test_a_refused_recipient_reads_as_what_to_check_with_the_servers_reply_one_click_away(tmp_path, smtp_server):
    smtp_server.refuse["c0@example.test"] = "450 4.2.1 Mailbox busy, try later"
    gw = onboarding_gateway(tmp_path / "home", smtp_server)
    try:
        t0 = utcnow()
        cp = _last_try(gw, t0)
        read = _sent_and_read(gw, t0, cp)
        server = f"127.0.0.1:{smtp_server.port}"
        said, detail = read["sophie"]
        assert (f"Message non envoyé (invitation) : le serveur de messagerie {server} a refusé l'adresse "
                f"c0@example.test (réponse 450 4.2.1 Mailbox busy, try later) : vérifiez l'adresse e-mail du "
                "tiers") in said, said
        assert "every recipient refused" not in said and "Technical" not in said
        assert "every recipient refused: c0@example.test: 450 4.2.1 Mailbox busy" in detail
        said, detail = read["steve"]
        assert (f"the mail server {server} refused the address c0@example.test (reply 450 4.2.1 Mailbox busy, "
                "try later): check the counterparty's e-mail address") in said, said
        assert "every recipient refused" not in said
        assert "after 6 attempts: every recipient refused" in detail
    finally:
        extension(gw).sender.close()
        gw.close()


def test_no_server_listening_reads_as_unreachable_with_the_socket_error_one_click_away(tmp_path):
    port = free_port()                                  # nothing listens there
    gw = onboarding_gateway(tmp_path / "home", SimpleNamespace(url=f"smtp://127.0.0.1:{port}"))
    try:
        t0 = utcnow()
        cp = _last_try(gw, t0)
        read = _sent_and_read(gw, t0, cp)
        said, detail = read["sophie"]
        assert (f"le serveur de messagerie 127.0.0.1:{port} est injoignable (connexion refusée ou hôte inconnu) : "
                "vérifiez l'adresse SMTP de la passerelle") in said, said
        assert "Errno" not in said and "ConnectionRefusedError" not in said
        assert "ConnectionRefusedError" in detail and "Connection refused" in detail
        assert "<details" in _page(create_app(gw, testing=True), "sophie", cp)
        said, detail = read["steve"]
        assert f"the mail server 127.0.0.1:{port} could not be reached" in said and "Errno" not in said
        assert "Connection refused" in detail
    finally:
        extension(gw).sender.close()
        gw.close()


def test_an_older_failure_without_a_code_keeps_its_text(tmp_path, smtp_server):
    gw = onboarding_gateway(tmp_path / "home", smtp_server)
    try:
        t0 = utcnow()
        cp = _last_try(gw, t0)
        with gw.session() as s:
            inv = s.scalar(sa.select(Invitation))
            s.add(TrackingEvent(campaign_id=inv.campaign_id, wave_id=inv.wave_id, counterparty_id=cp,
                                invitation_id=inv.id, kind="failed", at=t0,
                                detail={"step": "invitation", "reason": "after 6 attempts: [Errno 111] refused"}))
        app = create_app(gw, testing=True)
        said, detail = _failed_row(_page(app, "steve", cp))
        assert said.endswith("Mail not sent (invitation): after 6 attempts: [Errno 111] refused") and detail == "", said
    finally:
        extension(gw).sender.close()
        gw.close()
