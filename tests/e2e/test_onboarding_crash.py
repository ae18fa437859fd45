"""A worker killed mid-wave and restarted sends nobody the same mail twice.

A real ``edigate worker`` process (tests/support/worker_process.py) sends a wave of 200
invitations through aiosmtpd. Once the server has accepted 60, it holds its
reply to every further DATA: the worker's threads are then inside
SMTP transactions whose mails the server already has but whose "250" the
worker has not read, each in the middle of a claim of rows (``onboarding.sending``:
claimed together, sent in id order, recorded together). The worker is SIGKILLed
right then, the hold lifted, and the worker restarted. It sends what is left in
the queue; the sweep, run past the leases, turns the rows the dead worker had
claimed and not recorded into ``uncertain`` (not resent) and prompts again
anything whose job died with it.

Counted at the SMTP server: never two mails for the same recipient and step;
every row ends ``sent`` (received exactly once) or ``uncertain`` (received at
most once); the case the rule exists for happened (a mail delivered but never
recorded as sent was not sent again); and the crash window is what the sender
documents: the uncertain rows are the killed claims' rows, at most ``CLAIM_MAX``
per thread, and within each claim the ones received come before the ones not
sent, in id order.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from gateway.db import utcnow
from onboarding.campaigns import add_wave, create_campaign, start_campaign
from onboarding.importer import import_csv
from onboarding.mailing import PROMPT_LEASE, SENDING_LEASE
from onboarding.models import CampaignMail
from onboarding.sending import CLAIM_MAX
from onboarding.tasks import extension

from tests.support.gateway_process import GatewayProcess
from tests.support.waiting import wait_for
from tests.support.onboarding_fixtures import counterparty_csv
from tests.peers.smtp import SmtpServer, _Handler
from tests.support.worker_process import WorkerProcess

N = 200
KILL_AFTER = 60


class _HoldingHandler(_Handler):
    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        while self.server.holding and len(self.server.messages) >= KILL_AFTER:
            await asyncio.sleep(0.05)          # the mail is kept; the "250" waits
        return reply


class HoldingSmtpServer(SmtpServer):
    """Accepts mail; from the KILL_AFTER-th on, answers DATA only once ``holding`` is False."""
    holding = True

    def start(self) -> "HoldingSmtpServer":
        from aiosmtpd.controller import Controller
        self._controller = Controller(_HoldingHandler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self


def _rows(gw) -> dict[int, tuple[str, str, str, str]]:
    """mail id → (status, recipient, step, Message-ID)."""
    from onboarding.models import Counterparty, Invitation
    with gw.session() as s:
        return {r.id: (r.status, r.email, r.step, r.message_id) for r in s.execute(
            sa.select(CampaignMail.id, CampaignMail.status, CampaignMail.step, CampaignMail.message_id,
                      Counterparty.email).join(Invitation, Invitation.id == CampaignMail.invitation_id)
            .join(Counterparty, Counterparty.id == Invitation.counterparty_id))}


def _claims(gw, ids: set[int]) -> dict[tuple, list[int]]:
    """The rows ``ids`` grouped by the claim that took them (worker, time), in id order."""
    with gw.session() as s:
        rows = s.execute(sa.select(CampaignMail.id, CampaignMail.claimed_by, CampaignMail.claimed_at)
                         .where(CampaignMail.id.in_(ids)).order_by(CampaignMail.id)).all()
    out: dict[tuple, list[int]] = {}
    for r in rows:
        out.setdefault((r.claimed_by, r.claimed_at), []).append(r.id)
    return out


def test_a_worker_killed_mid_wave_and_restarted_sends_nobody_the_same_mail_twice(tmp_path):
    with HoldingSmtpServer() as smtp:
        server = GatewayProcess(tmp_path / "gateway", processes=None, extra_env={
            "EDIGATE_SMTP_URL": smtp.url, "EDIGATE_MAIL_RATE": "6000",
            "EDIGATE_MAIL_FROM": "onboarding@edigate.test", "EDIGATE_PUBLIC_URL": "https://edigate.test"})
        worker = WorkerProcess(server, name="mailer", workers=2)
        gw = server.gateway()                       # same database and job queue; sends nothing itself
        try:
            t0 = utcnow()
            with gw.session() as s:
                batch = import_csv(s, counterparty_csv(N), now=t0)
                assert batch.rows_accepted == N
                c = create_campaign(s, "Crash", reminder_count=2)
                start_campaign(s, c)
                add_wave(s, c, "all", t0)
            counts = extension(gw).sweep(t0)        # invitations + mail rows; N jobs queued
            assert (counts["invitations"], counts["mails_prompted"]) == (N, N)

            worker.start()
            # both threads' mails are at the server, whose "250" is held
            smtp.wait_for(count=KILL_AFTER + worker.workers - 1, timeout=120)
            wait_for(lambda: sum(1 for r in _rows(gw).values() if r[0] == "sending") >= worker.workers, 10,
                     "both worker threads inside an SMTP transaction")
            worker.kill()
            assert worker.proc.returncode == -9
            at_kill = _rows(gw)
            held = {m.message["Message-ID"] for m in smtp.messages[KILL_AFTER - 1:]}     # received, "250" unread
            smtp.holding = False
            received_at_kill = {m.message["Message-ID"] for m in smtp.messages}
            sending_at_kill = {i for i, r in at_kill.items() if r[0] == "sending"}
            assert len(received_at_kill) < N and len(held) == worker.workers
            # the rows of the two claims in flight: the held mails among them, at most CLAIM_MAX a thread
            assert held <= {at_kill[i][3] for i in sending_at_kill}
            assert worker.workers <= len(sending_at_kill) <= worker.workers * CLAIM_MAX
            killed_claims = _claims(gw, sending_at_kill)
            assert len(killed_claims) == worker.workers

            worker.start()                          # restarted: sends what is still queued
            wait_for(lambda: gw.jobs.huey.pending_count() == 0 and
                     {i for i, r in _rows(gw).items() if r[0] == "sending"} == sending_at_kill, 120,
                     "the queue drained by the restarted worker")
            # the minute's sweep, once the leases are over (the clock injected rather than waited for)
            later = utcnow() + max(SENDING_LEASE, PROMPT_LEASE) + timedelta(minutes=1)
            swept = extension(gw).sweep(later)
            assert swept["mails_uncertain"] == len(sending_at_kill)
            wait_for(lambda: gw.jobs.huey.pending_count() == 0 and
                     all(r[0] in ("sent", "uncertain") for r in _rows(gw).values()), 120,
                     "every mail sent or uncertain")
        finally:
            worker.stop()
            gw.close()

        rows = _rows(gw)
        by_message_id = {r[3]: r for r in rows.values()}
        per_step = Counter()
        per_message = Counter()
        per_subject = Counter()
        for m in smtp.messages:
            mid = m.message["Message-ID"]
            status, email, step, _ = by_message_id[mid]
            assert m.rcpt_tos == [email]
            per_step[(email, step)] += 1
            per_message[mid] += 1
            per_subject[(email, str(m.message["Subject"]))] += 1

        assert len(rows) == N and {r[2] for r in rows.values()} == {"invitation"}
        assert max(per_step.values()) == 1, [k for k, v in per_step.items() if v > 1]
        assert max(per_subject.values()) == 1 and max(per_message.values()) == 1
        sent = {r[3] for r in rows.values() if r[0] == "sent"}
        uncertain = {r[3] for r in rows.values() if r[0] == "uncertain"}
        assert uncertain == {at_kill[i][3] for i in sending_at_kill}
        assert len(sent) == N - len(uncertain)
        assert sent <= set(per_message)                              # every sent row arrived, exactly once
        assert set(per_message) <= sent | uncertain
        assert held <= uncertain and held <= set(per_message)        # delivered, never recorded, not resent
        assert set(per_message) & uncertain == received_at_kill & uncertain     # nothing uncertain sent after
        for claim in killed_claims.values():                         # in id order: received, then not sent
            arrived = [rows[i][3] in received_at_kill for i in claim]
            assert arrived == sorted(arrived, reverse=True), arrived
            assert any(arrived)
