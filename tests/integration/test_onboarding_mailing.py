"""Campaign sending through a real SMTP server (aiosmtpd), with an injected clock: exactly the
configured reminders go to those who have not enrolled, none after enrolment, opt-out or bounce
(an SMTP 550 refusal, a DSN in the return Maildir); information step first; 4xx retried; a row left
``sending`` becomes ``uncertain`` and is never resent; throttling; pause and close."""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.db import utcnow
from onboarding import tracking
from onboarding.campaigns import add_wave, close_campaign, create_campaign, pause_campaign, start_campaign
from onboarding.importer import import_csv
from onboarding.links import optout_token
from onboarding.mailing import SENDING_LEASE, Throttle, audience, resend_uncertain
from onboarding.models import Campaign, CampaignMail, Counterparty, Invitation, TrackingEvent, Wave
from onboarding.tasks import extension

from tests.support.onboarding_fixtures import counterparty_csv, dsn, onboarding_gateway, siret

DAY = timedelta(days=1)


@pytest.fixture
def maildir(tmp_path, monkeypatch):
    d = tmp_path / "bounces"
    for sub in ("new", "cur", "tmp"):
        (d / sub).mkdir(parents=True)
    monkeypatch.setenv("EDIGATE_BOUNCE_MAILDIR", str(d))
    return d


@pytest.fixture
def gw(tmp_path, smtp_server, maildir):  # noqa: F811
    g = onboarding_gateway(tmp_path / "home", smtp_server)
    yield g
    extension(g).sender.close()
    g.close()


def campaign(gw, n: int, t0, *, name: str = "Suppliers", wave_segment: str = "", **settings) -> int:
    """``n`` counterparties imported (c<i>@example.test) and a running campaign with one wave at t0."""
    with gw.session() as s:
        if not s.scalar(sa.select(sa.func.count()).select_from(Counterparty)):
            import_csv(s, counterparty_csv(n), now=t0)
        c = create_campaign(s, name, **settings)
        start_campaign(s, c)
        add_wave(s, c, "first", t0, wave_segment)
        return c.id


def steps_received(gw, smtp) -> dict[str, list[str]]:
    """Recipient → the steps of the mails the SMTP server received for it, in order (the step
    found by each message's Message-ID)."""
    with gw.session() as s:
        steps = dict(s.execute(sa.select(CampaignMail.message_id, CampaignMail.step)).all())
    out: dict[str, list[str]] = defaultdict(list)
    for m in smtp.messages:
        out[m.rcpt_tos[0]].append(steps[m.message["Message-ID"]])
    return dict(out)


def sweep(gw, now):
    return extension(gw).sweep(now)


def enrol(gw, email: str, now):
    """The counterparty registers through its link, as the public pages do (onboarding.enrol)."""
    from onboarding.enrol import Enrolment, enrol as do_enrol
    with gw.session() as s:
        cp = s.scalar(sa.select(Counterparty).where(Counterparty.email == email))
        inv = s.scalar(sa.select(Invitation).where(Invitation.counterparty_id == cp.id))
        do_enrol(s, inv.id, Enrolment(name=cp.name, identifiers=(("0009", cp.siret),), company_email=cp.email,
                                      contact_name="Registered Person", contact_email=cp.email, channel="portal"),
                 now=now)


def test_reminders_follow_the_cadence_and_stop_after_enrolment_opt_out_and_bounces(gw, smtp_server, maildir):  # noqa: F811
    reminders_scenario(gw, smtp_server, maildir)


def test_the_same_on_postgresql(tmp_path, smtp_server, maildir, postgres_server):  # noqa: F811
    g = onboarding_gateway(tmp_path / "home", smtp_server, EDIGATE_DATABASE_URL=postgres_server.create_database())
    try:
        assert g.engine.dialect.name == "postgresql"
        reminders_scenario(g, smtp_server, maildir)
    finally:
        extension(g).sender.close()
        g.close()


def reminders_scenario(gw, smtp_server, maildir):  # noqa: F811
    """Six counterparties, three reminders five days apart; c0 enrols, c1 opts out after the
    first reminder, c2 is refused (550), c3 bounces later (DSN); c4 and c5 never answer."""
    t0 = utcnow()
    cid = campaign(gw, 6, t0, reminder_count=3, reminder_interval_days=5)
    smtp_server.refuse["c2@example.test"] = "550 5.1.1 <c2@example.test>: no such user"

    assert sweep(gw, t0) == {"waves_started": 1, "invitations": 6, "mails_prompted": 6}
    assert steps_received(gw, smtp_server) == {f"c{i}@example.test": ["invitation"] for i in (0, 1, 3, 4, 5)}

    enrol(gw, "c0@example.test", t0 + DAY)                         # c0 registers the next day
    c3 = next(m for m in smtp_server.messages if m.rcpt_tos == ["c3@example.test"])
    assert re.fullmatch(r"bounces\+\d+-[0-9a-f]{10}@edigate\.test", c3.mail_from)
    (maildir / "new" / "1700000000.dsn1.relay").write_bytes(dsn(c3.mail_from, "c3@example.test"))
    assert sweep(gw, t0 + 2 * DAY) == {"dsn_read": 1, "dsn_bounced": 1}
    assert sweep(gw, t0 + 3 * DAY) == {}                          # the DSN is not read twice
    assert list((maildir / "new").iterdir()) == [] and len(list((maildir / "cur").iterdir())) == 1

    assert sweep(gw, t0 + 5 * DAY - timedelta(minutes=1)) == {}     # not yet
    assert sweep(gw, t0 + 5 * DAY + timedelta(hours=1)) == {"reminders": 3, "mails_prompted": 3}
    with gw.session() as s:                                       # c1 opts out after the first reminder
        inv = s.scalar(sa.select(Invitation).join(Counterparty).where(Counterparty.email == "c1@example.test"))
        from onboarding.tasks import extension as ext
        tracking.record_opt_out(s, ext(gw).secret, optout_token(ext(gw).secret, inv), t0 + 6 * DAY)
    for day in (7, 9):
        assert sweep(gw, t0 + day * DAY) == {}
    assert sweep(gw, t0 + 10 * DAY + timedelta(hours=2))["reminders"] == 2
    assert sweep(gw, t0 + 15 * DAY + timedelta(hours=3))["reminders"] == 2
    for day in (20, 25, 30):                                      # three reminders were configured: no fourth
        assert sweep(gw, t0 + day * DAY + timedelta(hours=4)).get("reminders") is None

    assert steps_received(gw, smtp_server) == {
        "c0@example.test": ["invitation"],
        "c1@example.test": ["invitation", "reminder-1"],
        "c3@example.test": ["invitation"],
        "c4@example.test": ["invitation", "reminder-1", "reminder-2", "reminder-3"],
        "c5@example.test": ["invitation", "reminder-1", "reminder-2", "reminder-3"],
    }
    with gw.session() as s:
        status = {c.email: (c.status, c.bounce_reason) for c in s.scalars(sa.select(Counterparty))}
        assert status["c0@example.test"] == ("enrolled", None)
        assert status["c1@example.test"] == ("opted_out", None)
        assert status["c2@example.test"][0] == "bounced" and "550 5.1.1" in status["c2@example.test"][1]
        assert status["c3@example.test"] == ("bounced", "DSN: 5.1.1 550 5.1.1 user unknown")
        assert status["c4@example.test"][0] == "invited"
        stages = {f.stage: f.count for f in tracking.funnel(s, cid)}
        assert stages == {"invited": 6, "sent": 5, "opened": 1, "clicked": 1, "registration_started": 1,
                          "enrolled": 1, "bounced": 2, "opted_out": 1}
        bounce_events = s.scalars(sa.select(TrackingEvent).where(TrackingEvent.kind == "bounced")).all()
        assert sorted(e.detail["source"] for e in bounce_events) == ["dsn", "smtp"]


def test_each_mail_carries_its_links_headers_and_fixed_message_id(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    campaign(gw, 1, t0, reminder_count=1, reminder_interval_days=2)
    sweep(gw, t0)
    sweep(gw, t0 + 2 * DAY + timedelta(hours=1))
    invitation, reminder = [m.message for m in smtp_server.messages]
    text = invitation.get_body(("plain",)).get_content()
    register = re.search(r"https://edigate\.test/register/\S+", text).group(0)
    optout = re.search(r"https://edigate\.test/optout/\S+", text).group(0)
    assert invitation["List-Unsubscribe"].strip() == f"<{optout}>"     # (folded: a long URL)
    assert invitation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"     # RFC 8058
    # who invites: the inviting company (here the campaign's name: no organisation on record) as display name
    assert invitation["From"] == "Suppliers <onboarding@edigate.test>" and invitation["To"] == "Contact 0 <c0@example.test>"
    html = invitation.get_body(("html",)).get_content()
    assert re.search(r'<img src="https://edigate\.test/t/[^"]+\.gif"', html)
    assert register in reminder.get_body(("plain",)).get_content()        # the same personal link
    with gw.session() as s:
        rows = {m.step: m for m in s.scalars(sa.select(CampaignMail))}
        assert invitation["Message-ID"] == rows["invitation"].message_id
        assert reminder["Message-ID"] == rows["reminder-1"].message_id != rows["invitation"].message_id
        inv = rows["invitation"].invitation                               # the link lives 30 days from the last mail
        assert inv.expires_at >= rows["reminder-1"].sent_at + timedelta(days=30) - timedelta(seconds=1)


def test_an_information_mail_goes_first_and_the_invitation_after_the_lead_days(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    campaign(gw, 2, t0, information_lead_days=3, reminder_count=1, reminder_interval_days=4)
    sweep(gw, t0)
    assert steps_received(gw, smtp_server) == {"c0@example.test": ["information"], "c1@example.test": ["information"]}
    assert "/register/" not in smtp_server.messages[0].message.get_body(("plain",)).get_content()
    assert sweep(gw, t0 + 2 * DAY) == {}
    sweep(gw, t0 + 3 * DAY + timedelta(minutes=1))
    sweep(gw, t0 + 6 * DAY)                                       # 3 days after the invitation: no reminder yet
    sweep(gw, t0 + 7 * DAY + timedelta(minutes=2))
    assert steps_received(gw, smtp_server)["c0@example.test"] == ["information", "invitation", "reminder-1"]


def test_a_temporary_refusal_is_retried_with_backoff_and_sent_once(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    campaign(gw, 1, t0)
    smtp_server.fail_data = "451 4.3.0 try again later"
    sweep(gw, t0)
    assert smtp_server.messages == []
    with gw.session() as s:
        m = s.scalar(sa.select(CampaignMail))
        assert (m.status, m.attempts) == ("scheduled", 1) and "451 4.3.0" in m.error
        retry_at = m.next_attempt_at
        assert retry_at > t0 + timedelta(minutes=4)
    smtp_server.fail_data = None
    assert sweep(gw, retry_at - timedelta(seconds=5)) == {}
    assert sweep(gw, retry_at)["mails_prompted"] == 1
    assert sweep(gw, retry_at + timedelta(minutes=30)) == {}
    assert steps_received(gw, smtp_server) == {"c0@example.test": ["invitation"]}
    with gw.session() as s:
        m = s.scalar(sa.select(CampaignMail))
        assert (m.status, m.attempts, m.error) == ("sent", 2, None)


def test_a_row_left_sending_becomes_uncertain_is_not_resent_and_reminders_still_follow(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    cid = campaign(gw, 2, t0, reminder_count=1, reminder_interval_days=5)
    with gw.session() as s:                       # start the wave, then "crash" mid-send of c1's invitation
        from onboarding.mailing import start_wave
        wave = s.scalar(sa.select(Wave))
        wave.status = "running"
        start_wave(s, wave, t0)
        crashed = s.scalar(sa.select(CampaignMail).join(Invitation).join(Counterparty)
                           .where(Counterparty.email == "c1@example.test"))
        crashed.status, crashed.claimed_at, crashed.attempts = "sending", t0, 1
        crashed_id = crashed.id
    sweep(gw, t0)
    assert steps_received(gw, smtp_server) == {"c0@example.test": ["invitation"]}
    assert sweep(gw, t0 + SENDING_LEASE - timedelta(seconds=1)) == {}
    assert sweep(gw, t0 + SENDING_LEASE + timedelta(seconds=1)) == {"mails_uncertain": 1}
    with gw.session() as s:
        m = s.get(CampaignMail, crashed_id)
        assert m.status == "uncertain" and "not sent again automatically" in m.error
    sweep(gw, t0 + 5 * DAY + timedelta(hours=1))
    assert steps_received(gw, smtp_server) == {"c0@example.test": ["invitation", "reminder-1"],
                                               "c1@example.test": ["reminder-1"]}
    with gw.session() as s:                       # staff decide it did not go out
        resend_uncertain(s, crashed_id, now=t0 + 6 * DAY)
    sweep(gw, t0 + 6 * DAY)
    sweep(gw, t0 + 7 * DAY)
    assert steps_received(gw, smtp_server)["c1@example.test"] == ["reminder-1", "invitation"]
    with gw.session() as s:
        assert s.get(CampaignMail, crashed_id).status == "sent"
        assert {f.stage: f.count for f in tracking.funnel(s, cid)}["sent"] == 2


def test_the_counterparty_is_checked_again_right_before_the_send(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    campaign(gw, 2, t0, mail_rate_per_minute=1)     # one mail a minute: the second waits in the throttle
    ext = extension(gw)
    with gw.session() as s:
        w = s.scalar(sa.select(Wave))
        w.status = "running"
        from onboarding.mailing import start_wave
        start_wave(s, w, t0)
        rows = {m.invitation.counterparty.email: m.id for m in s.scalars(sa.select(CampaignMail))}
    assert ext.sender.send(rows["c0@example.test"], t0) == "sent"
    with gw.session() as s:       # opted out meanwhile, recorded without cancelling the row
        s.execute(sa.update(Counterparty).where(Counterparty.email == "c1@example.test")
                  .values(opted_out_at=t0, status="opted_out"))
    ext.sender.throttle = Throttle(sleep=lambda seconds: None)      # do not wait a minute in a test
    assert ext.sender.send(rows["c1@example.test"], t0) == "cancelled"
    assert ext.sender.send(rows["c1@example.test"], t0) is None      # a second prompt: nothing to do
    assert steps_received(gw, smtp_server) == {"c0@example.test": ["invitation"]}
    with gw.session() as s:
        assert s.get(CampaignMail, rows["c1@example.test"]).error == "not sent: the counterparty opted out"


def test_dsn_matching_is_by_signed_return_path_or_our_message_id_and_only_failures_count(gw, smtp_server,  # noqa: F811
                                                                                      maildir):
    t0 = utcnow()
    campaign(gw, 4, t0)
    sweep(gw, t0)
    by_rcpt = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    c0, c1, c2, c3 = (by_rcpt[f"c{i}@example.test"] for i in range(4))
    forged = re.sub(r"-[0-9a-f]{10}@", "-0123456789@", c0.mail_from)
    files = {
        "a.forged": dsn(forged, "c0@example.test"),                                   # made-up return path
        "b.delayed": dsn(c1.mail_from, "c1@example.test", action="delayed", status="4.4.1"),
        "c.by-message-id": dsn("bounces@edigate.test", "c2@example.test", message_id=c2.message["Message-ID"]),
        "d.not-a-dsn": b"From: someone@example.test\r\nTo: bounces@edigate.test\r\nSubject: Out of office\r\n\r\nAway.\r\n",
        "e.garbage": b"\x00\xff" * 1000,
        "f.c3": dsn(c3.mail_from, "c3-alias@example.test", status="5.2.2",
                    diagnostic="smtp; 552 5.2.2 mailbox full"),
    }
    for name, data in files.items():
        (maildir / "new" / name).write_bytes(data)
    assert sweep(gw, t0 + DAY) == {"dsn_read": 6, "dsn_bounced": 2}
    assert sorted(p.name for p in (maildir / "cur").iterdir()) == sorted(f"{n}:2,S" for n in files)
    with gw.session() as s:
        status = {c.email: c.status for c in s.scalars(sa.select(Counterparty))}
        assert status == {"c0@example.test": "invited", "c1@example.test": "invited",
                          "c2@example.test": "bounced", "c3@example.test": "bounced"}
        reason = s.scalar(sa.select(Counterparty.bounce_reason).where(Counterparty.email == "c3@example.test"))
        assert reason == "DSN: 5.2.2 552 5.2.2 mailbox full"
    (maildir / "new" / "g.again").write_bytes(files["f.c3"])           # the same DSN delivered twice
    assert sweep(gw, t0 + 2 * DAY) == {"dsn_read": 1}
    with gw.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(TrackingEvent)
                        .where(TrackingEvent.kind == "bounced")) == 2


def test_a_returned_mail_nested_thousands_deep_is_read_without_recursion():
    """A DSN is a stranger's bytes: 3,000 nested parts inside a delivery report are one level
    the reader never enters (the standard email parser ends in RecursionError)."""
    from onboarding.bounces import parse_dsn

    inner = b"Content-Type: text/plain\r\n\r\nx"
    for i in range(3_000):
        inner = (f'Content-Type: multipart/mixed; boundary="n{i}"\r\n\r\n--n{i}\r\n'.encode()
                 + inner + f"\r\n--n{i}--\r\n".encode())
    report = (b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
              b"--r\r\nContent-Type: message/delivery-status\r\n\r\n"
              b"Reporting-MTA: dns; relay.example\r\n\r\n"
              b"Final-Recipient: rfc822; c9@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
              b"\r\n--r\r\n" + inner + b"\r\n--r--\r\n")
    dsn_read = parse_dsn(report)
    assert [(r.final_recipient, r.action, r.status) for r in dsn_read.recipients] == \
        [("c9@example.test", "failed", "5.1.1")]
    assert parse_dsn(inner) is None


def test_throttle_spaces_sends_per_campaign():
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
    t = Throttle(clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        t.wait("a", 120)            # 2 a second: 0.5 s apart
    t.wait("b", 60)                 # another campaign has its own pace
    clock[0] += 10                  # idle for a while: no burst owed
    t.wait("a", 120)
    t.wait("a", 120)
    assert slept == [0.5, 1.0, 0.5]


def test_throttling_is_respected_at_the_smtp_server(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    campaign(gw, 8, t0, mail_rate_per_minute=300)       # one every 0.2 s
    sweep(gw, t0)
    at = sorted(m.at for m in smtp_server.messages)
    assert len(at) == 8
    assert at[-1] - at[0] >= 7 * 0.2 * 0.95, at          # never faster than the rate (a floor, not our speed)


def test_wave_audience_segment_and_who_is_never_invited(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    with gw.session() as s:
        import_csv(s, counterparty_csv(6, segment=lambda i: "transport" if i < 3 else "retail"), now=t0)
        cps = {c.email: c for c in s.scalars(sa.select(Counterparty))}
        cps["c1@example.test"].status = "existing_partner"
        cps["c2@example.test"].status = "reachable_elsewhere"
        s.add(Counterparty(name="No mail", dedupe_key=f"0009:{siret(99)}", siret=siret(99), segment="transport",
                           source="held_document"))
        other = create_campaign(s, "Other")
        start_campaign(s, other)
        add_wave(s, other, "o", t0, "retail")
    sweep(gw, t0)                                       # c3..c5 now have open invitations in "Other"
    with gw.session() as s:
        c = create_campaign(s, "Transport")
        start_campaign(s, c)
        w = add_wave(s, c, "t", t0 + DAY, "")
        assert [cp.email for cp in s.scalars(audience(w))] == ["c0@example.test"]
    sweep(gw, t0 + DAY)
    with gw.session() as s:
        invited = s.execute(sa.select(Campaign.name, Counterparty.email).join(Invitation.campaign)
                            .join(Invitation.counterparty).order_by(Campaign.name, Counterparty.email)).all()
        assert [tuple(r) for r in invited] == [("Other", "c3@example.test"), ("Other", "c4@example.test"),
                                               ("Other", "c5@example.test"), ("Transport", "c0@example.test")]


def test_pause_holds_mail_and_close_cancels_it(gw, smtp_server):  # noqa: F811
    t0 = utcnow()
    cid = campaign(gw, 2, t0, reminder_count=2, reminder_interval_days=1)
    sweep(gw, t0)
    with gw.session() as s:
        pause_campaign(s, s.get(Campaign, cid))
    assert sweep(gw, t0 + DAY + timedelta(hours=1)) == {}              # no reminder while paused
    with gw.session() as s:
        start_campaign(s, s.get(Campaign, cid))
        add_wave(s, s.get(Campaign, cid), "later", t0 + 10 * DAY)
    assert sweep(gw, t0 + DAY + timedelta(hours=2))["reminders"] == 2
    with gw.session() as s:
        close_campaign(s, s.get(Campaign, cid), now=t0 + DAY + timedelta(hours=3))
    assert sweep(gw, t0 + 20 * DAY) == {}
    assert steps_received(gw, smtp_server) == {e: ["invitation", "reminder-1"]
                                               for e in ("c0@example.test", "c1@example.test")}
    with gw.session() as s:
        assert {w.name: w.status for w in s.scalars(sa.select(Wave))} == {"first": "done", "later": "cancelled"}
        assert {i.status for i in s.scalars(sa.select(Invitation))} == {"stopped"}


def test_a_run_of_mails_in_one_job_sends_each_once_and_handles_each_outcome_on_its_own(gw, smtp_server):  # noqa: F811
    """``send_many`` (one job per run of due rows): a refusal and an opt-out in the middle of the
    run change only their own row; every other mail goes once, recorded ``sent`` with one event."""
    from onboarding.campaigns import set_template
    t0 = utcnow()
    cid = campaign(gw, 6, t0, mail_rate_per_minute=1_000_000, reminder_count=0)
    with gw.session() as s:
        set_template(s, s.get(Campaign, cid), "invitation", "fr", subject="Run {{ company }}",
                     body_text="Bonjour {{ company }} : {{ registration_url }}\n{{ optout_url }}\n")
        set_template(s, s.get(Campaign, cid), "invitation", "en", subject="Run {{ company }}",
                     body_text="Hello {{ company }}: {{ registration_url }}\n{{ optout_url }}\n")
        w = s.scalar(sa.select(Wave))
        w.status = "running"
        from onboarding.mailing import start_wave
        start_wave(s, w, t0)
        rows = {m.invitation.counterparty.email: m.id
                for m in s.scalars(sa.select(CampaignMail).order_by(CampaignMail.id))}
        s.execute(sa.update(Counterparty).where(Counterparty.email == "c3@example.test")
                  .values(opted_out_at=t0, status="opted_out"))
    smtp_server.refuse["c2@example.test"] = "550 5.1.1 no such user"
    out = extension(gw).sender.send_many(list(rows.values()), t0, campaign_id=cid)
    by_email = {e: out[i] for e, i in rows.items()}
    assert by_email == {"c0@example.test": "sent", "c1@example.test": "sent", "c2@example.test": "bounced",
                        "c3@example.test": "cancelled", "c4@example.test": "sent", "c5@example.test": "sent"}
    assert steps_received(gw, smtp_server) == {e: ["invitation"] for e in
                                               ("c0@example.test", "c1@example.test", "c4@example.test",
                                                "c5@example.test")}
    assert all(str(m.message["Subject"]).startswith("Run ") for m in smtp_server.messages)
    with gw.session() as s:
        status = dict(s.execute(sa.select(CampaignMail.id, CampaignMail.status)).all())
        assert {e: status[i] for e, i in rows.items()} == by_email
        sent_events = s.scalars(sa.select(TrackingEvent.mail_id).where(TrackingEvent.kind == "sent")).all()
        assert sorted(sent_events) == sorted(rows[e] for e, v in by_email.items() if v == "sent")
        assert s.scalar(sa.select(Invitation.status).join(Counterparty)
                        .where(Counterparty.email == "c5@example.test")) == "sent"
    assert extension(gw).sender.send_many(list(rows.values()), t0, campaign_id=cid) == \
        {i: None for i in rows.values()}                     # a second prompt of the run: nothing to do
    assert len(smtp_server.messages) == 4
