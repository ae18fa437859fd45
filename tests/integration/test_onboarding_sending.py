"""A connection lost in the middle of a run of campaign mail, against a real SMTP server (aiosmtpd)
that drops it: before a message was sent (at MAIL FROM) the mail goes on a new connection and
arrives once; after the whole message went out and before the server's reply, the mail may have
been delivered, so it is ``uncertain`` and never sent again. Nothing is lost, nothing arrives
twice, and the other mails of the run go out on the new connection. The SMTP ``Mailer`` (which
the e-mail channel uses too) behaves the same for ``send`` and ``send_bytes``."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from gateway.db import utcnow
from gateway.transports.smtp import Mailer, SmtpTemporaryError
from onboarding.campaigns import add_wave, create_campaign, start_campaign
from onboarding.importer import import_csv
from onboarding.mailing import SENDING_LEASE, start_wave
from onboarding.models import CampaignMail, Invitation, TrackingEvent, Wave
from onboarding.tasks import extension

from tests.peers.smtp import SmtpServer, _Handler
from tests.support.onboarding_fixtures import counterparty_csv, onboarding_gateway


class _DroppingHandler(_Handler):
    """Drops the connection once at the MAIL FROM of the ``drop_at_mail``-th transaction, and once
    after keeping the ``drop_after_data``-th message, before answering its DATA."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        srv = self.server
        srv.mails += 1
        srv.connections.add(id(session))
        if srv.mails == srv.drop_at_mail:
            server.transport.close()
            return "421 closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.server.messages) == self.server.drop_after_data:
            server.transport.close()             # the message is kept, its "250" never sent
        return reply


class DroppingSmtpServer(SmtpServer):
    def __init__(self, *, drop_at_mail: int = 0, drop_after_data: int = 0):
        super().__init__()
        self.drop_at_mail, self.drop_after_data = drop_at_mail, drop_after_data
        self.mails = 0
        self.connections: set[int] = set()

    def start(self) -> "DroppingSmtpServer":
        from aiosmtpd.controller import Controller
        self._controller = Controller(_DroppingHandler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self


def _message(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "a@example.test", f"b{n}@example.test", f"{n}", f"<{n}@x>"
    m.set_content("hello")
    return m


@pytest.mark.parametrize("how", ["send", "send_bytes"])
def test_the_mailer_takes_a_lost_connection_up_again_only_when_the_server_cannot_have_the_mail(how):
    with DroppingSmtpServer(drop_at_mail=2, drop_after_data=3) as smtp:
        mailer = Mailer.from_url(smtp.url)
        outcomes = []
        try:
            for n in range(5):
                msg = _message(n)
                try:
                    if how == "send":
                        mailer.send(msg)
                    else:
                        mailer.send_bytes(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")),
                                          sender="a@example.test", recipients=[f"b{n}@example.test"])
                    outcomes.append("sent")
                except SmtpTemporaryError as e:
                    outcomes.append(f"maybe_sent={e.maybe_sent}")
        finally:
            mailer.close()
        # 1: sent; 2: dropped at MAIL, sent again on a new connection; 3: dropped after its data
        # (kept by the server), not resent; 4, 5: a new connection
        assert outcomes == ["sent", "sent", "maybe_sent=True", "sent", "sent"]
        assert Counter(m.message["Message-ID"] for m in smtp.messages) == {f"<{n}@x>": 1 for n in range(5)}
        assert len(smtp.connections) == 3


def test_a_connection_dropped_mid_run_loses_nothing_and_sends_nothing_twice(tmp_path):
    with DroppingSmtpServer(drop_at_mail=3, drop_after_data=5) as smtp:
        gw = onboarding_gateway(tmp_path / "home", smtp)
        try:
            t0 = utcnow()
            with gw.session() as s:
                import_csv(s, counterparty_csv(8), now=t0)
                c = create_campaign(s, "Drops", mail_rate_per_minute=1_000_000, reminder_count=1,
                                    reminder_interval_days=5)
                start_campaign(s, c)
                wave = add_wave(s, c, "all", t0)
                wave.status = "running"
                start_wave(s, wave, t0)
                cid = c.id
                rows = {m.invitation.counterparty.email: m.id
                        for m in s.scalars(sa.select(CampaignMail).order_by(CampaignMail.id))}
            out = extension(gw).sender.send_many(list(rows.values()), t0, campaign_id=cid)
            by_email = {e: out[i] for e, i in rows.items()}
            assert by_email == {f"c{i}@example.test": ("uncertain" if i == 4 else "sent") for i in range(8)}
            received = Counter(m.rcpt_tos[0] for m in smtp.messages)
            assert received == {f"c{i}@example.test": 1 for i in range(8)}     # nothing lost, nothing twice
            assert len(smtp.connections) == 3
            with gw.session() as s:
                mail = s.get(CampaignMail, rows["c4@example.test"])
                assert "lost after the message was sent" in mail.error and "not sent again" in mail.error
                sent_events = s.scalars(sa.select(TrackingEvent.mail_id).where(TrackingEvent.kind == "sent")).all()
                assert sorted(sent_events) == sorted(i for e, i in rows.items() if e != "c4@example.test")
                assert s.scalar(sa.select(sa.func.count()).select_from(Invitation)
                                .where(Invitation.status == "sent")) == 7
                assert s.scalar(sa.select(Wave.status)) == "running"
            # later sweeps never send the uncertain one again; its reminder still follows
            ext = extension(gw)
            ext.sweep(t0 + SENDING_LEASE + timedelta(minutes=1))
            ext.sweep(t0 + timedelta(days=5, hours=1))
            assert max(Counter(m.message["Message-ID"] for m in smtp.messages).values()) == 1
            with gw.session() as s:
                step_of = dict(s.execute(sa.select(CampaignMail.message_id, CampaignMail.step)).all())
                assert s.get(CampaignMail, rows["c4@example.test"]).status == "uncertain"
            to_c4 = [step_of[m.message["Message-ID"]] for m in smtp.messages if m.rcpt_tos == ["c4@example.test"]]
            assert to_c4 == ["invitation", "reminder-1"]
        finally:
            extension(gw).sender.close()
            gw.close()
