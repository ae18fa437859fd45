"""Onboarding's background jobs, on the gateway's huey (the extension's ``register_jobs`` hook).

``register(jobs)`` adds the tasks ``onboarding_send_mail(mail_id, now)`` (one
attempt at one ``CampaignMail`` row, see ``onboarding.mailing``; retries use it)
and ``onboarding_send_mails(mail_ids, now)`` (one attempt at each of a run of due
rows: the sweep's prompts, ``PROMPT_BATCH`` rows a job) and returns the
extension whose ``sweep(now)`` the gateway's sweep calls every minute:

1. rows left ``sending`` past the lease become ``uncertain`` (never resent);
2. due waves start (invitations + first mail rows);
3. due reminders are scheduled;
4. due rows are prompted (queued), within each campaign's rate;
5. the bounce Maildir is read (``EDIGATE_BOUNCE_MAILDIR``);
5b. buyers of held documents are proposed as counterparties (``onboarding.held``: only
   when a document was held since the last pass, or every 30 minutes at most);
6. expired invitations and finished waves are settled.

Nothing here decides anything: the rows do. A prompt is cheap and may be made
twice; the claim inside ``Sender.send`` is what makes each mail go once.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

from gateway.jobs import _naive_utc

from . import mailing, sending
from .bounces import read_maildir
from .config import load as load_config
from .held import HeldProposals

log = logging.getLogger("edigate.onboarding.tasks")

NAME = "onboarding"         # the extension's entry-point name (pyproject.toml): ``jobs.extensions[NAME]``
PROMPT_BATCH = 100      # due rows per job, sent in claims of up to sending.CLAIM_MAX over the thread's connection


class OnboardingJobs:
    """The extension object: ``prompt(mail_id)``, ``sweep(now)``, ``sender``."""

    def __init__(self, jobs: Any):
        self.jobs = jobs
        self.gw = jobs.gateway
        self.config = load_config(self.gw.settings)       # a bad setting fails the start, loudly

        @jobs.huey.task(name="onboarding_send_mail")
        def send_mail(mail_id: int, now_iso: Optional[str] = None, campaign_id: Optional[int] = None) -> None:
            now = datetime.fromisoformat(now_iso) if now_iso else None
            status = self.sender.send(mail_id, now, campaign_id=campaign_id)
            if status is not None and status != "sent":
                log.info("campaign mail %d: %s", mail_id, status)

        @jobs.huey.task(name="onboarding_send_mails")
        def send_mails(mail_ids: list[int], now_iso: Optional[str] = None, campaign_id: Optional[int] = None) -> None:
            now = datetime.fromisoformat(now_iso) if now_iso else None
            for mail_id, status in self.sender.send_many(mail_ids, now, campaign_id=campaign_id).items():
                if status is not None and status != "sent":
                    log.info("campaign mail %d: %s", mail_id, status)

        self._send_mail, self._send_mails = send_mail, send_mails

    @cached_property
    def secret(self) -> bytes:
        """The gateway's secret key (links are signed with it), read when first needed."""
        return gateway_secret(self.gw.settings.home)

    @cached_property
    def held(self) -> HeldProposals:
        return HeldProposals(self.gw)

    @cached_property
    def sender(self) -> sending.Sender:
        return sending.Sender(self.gw, self.config, self.secret, retry=self.prompt)

    def prompt(self, mail_id: int, *, campaign_id: Optional[int] = None, now: Optional[datetime] = None,
               at: Optional[datetime] = None) -> None:
        """Queue one attempt at a mail row (``at``: not before then)."""
        now_iso = now.isoformat() if now is not None else None
        if at is None or self.jobs.huey.immediate:
            self._send_mail(mail_id, now_iso, campaign_id)
        else:
            self._send_mail.schedule(args=(mail_id, now_iso, campaign_id), eta=_naive_utc(at))

    def prompt_many(self, mail_ids: list[int], *, campaign_id: int, now: Optional[datetime] = None) -> None:
        """Queue one job for a run of due rows of one campaign (each row is still claimed on its own)."""
        self._send_mails(list(mail_ids), now.isoformat() if now is not None else None, campaign_id)

    def sweep(self, now: Optional[datetime] = None) -> dict[str, int]:
        now = now or datetime.now(timezone.utc)
        counts: dict[str, int] = {"mails_uncertain": mailing.mark_uncertain(self.gw, now)}
        counts.update(mailing.start_due_waves(self.gw, now))
        counts["reminders"] = mailing.schedule_reminders(self.gw, now)
        due = mailing.due_mails(self.gw, now, default_rate=self.gw.settings.mail_rate_per_minute)
        for campaign_id, ids in _runs(due, PROMPT_BATCH):
            self.prompt_many(ids, campaign_id=campaign_id, now=now)
        counts["mails_prompted"] = len(due)
        if self.config.bounce_maildir is not None:
            counts.update(read_maildir(self.gw, self.config.bounce_maildir, self.config, self.secret, now))
        counts["counterparties_proposed"] = self.held.run(now)
        counts.update(mailing.settle(self.gw, now))
        return {k: v for k, v in counts.items() if v}


def _runs(due: list[tuple[int, int]], size: int) -> list[tuple[int, list[int]]]:
    """(campaign id, up to ``size`` mail ids) from ``due_mails``' (mail id, campaign id) pairs."""
    runs: list[tuple[int, list[int]]] = []
    for mail_id, campaign_id in due:
        if not runs or runs[-1][0] != campaign_id or len(runs[-1][1]) >= size:
            runs.append((campaign_id, []))
        runs[-1][1].append(mail_id)
    return runs


def gateway_secret(home: Path) -> bytes:
    """``gateway.web.secret_key``, tolerating another process creating the key file at the same
    moment (it creates it with O_EXCL, then writes: the loser waits for the winner's key)."""
    from gateway.web import secret_key
    for _ in range(100):
        try:
            key = secret_key(home)
        except FileExistsError:
            key = b""
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"the secret key file in {home} stays empty")


def register(jobs: Any) -> OnboardingJobs:
    return OnboardingJobs(jobs)


def extension(gw: Any) -> OnboardingJobs:
    """The gateway's onboarding jobs (registered now if the extension is not installed)."""
    ext = gw.jobs.extensions.get(NAME)
    if ext is None:
        ext = gw.jobs.extensions[NAME] = register(gw.jobs)
    return ext
