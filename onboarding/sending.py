"""Sending campaign mail rows: claimed a few at a time, sent over the thread's kept SMTP
connection, recorded in bulk, each mail at most once.

``Sender.send_many`` takes a run of due rows of one campaign (one job, see
``onboarding.tasks``) and sends it in *claims*, in id order:

1. **Claim** (after the throttle slot of its first mail) up to ``CLAIM_MAX`` rows,
   and no more than ``CLAIM_SPAN`` seconds of the campaign's rate (one at a time
   for a campaign of one mail a second or slower). One UPDATE takes, ``scheduled``
   → ``sending``, every row still due whose campaign runs and whose invitation and
   counterparty may still be written to (``sendable``: ``mailing.stop_reason`` in
   SQL); the same transaction pushes their links' expiry, fixes their Message-IDs
   and reads what their mails say, then commits (one fsync) before any of them
   talks SMTP. A row the UPDATE left is looked at on its own (``_claim_one``, the
   reference): cancelled with the reason, or not ours (sent, claimed by another
   worker, not due, campaign not running).
2. **Send** each claimed mail: wait for its throttle slot, write it
   (``onboarding.compose``: the wording looked up once per run, compiled once),
   one SMTP transaction on the thread's connection.
3. **Record** the accepted mails ``sent``, their invitations ``sent`` and their
   tracking events: three statements for the whole claim, in the same transaction
   as the next claim (or on their own at the end of the run, or before a throttle
   wait of ``RECORD_BEFORE_WAIT`` or more). A refusal, a retry or a failure is
   recorded at once, on its own (they are rare).

SQL per mail, from the profile of a 10,000-mail wave: 6 statements and one
commit (an fsync) per mail before; now about 8 statements and 2 commits per
claim of 20 mails.

**The crash window.** A row is ``sending`` from the commit of its claim to the
commit of its record. A worker killed in between leaves the rows of its current
claim ``sending``; past ``mailing.SENDING_LEASE`` they become ``uncertain`` and
are never sent again automatically (staff resend by hand; reminders still
follow). Mails go in id order, so of those rows the ones before the mail in
flight went out, that one may have, the ones after it did not: a killed worker
costs at most ``CLAIM_MAX`` mails per thread (about ``CLAIM_SPAN`` of a
throttled campaign), and never sends a mail twice. Claiming one row at a time
would narrow that to the mail in flight, for an fsync per mail, which is what
this design buys back. ``tests/e2e/test_onboarding_crash.py`` kills a worker
mid-claim and counts at the SMTP server.

The counterparty is checked in the claim, at most about ``CLAIM_SPAN`` before its
mail goes; a bounce within a claim cancels the rest of that claim's mails to the
same counterparty. A connection lost mid-run is taken up again on a new one by the
``Mailer`` when the server cannot have the mail; when it may have it (lost after
the final "."), the mail is ``uncertain``, not sent again.
"""
from __future__ import annotations

import logging
import os
import smtplib
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Callable, Optional, Union

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from gateway.db import compare_and_set, utcnow
from gateway.model.problems import Problem
from gateway.transports.smtp import Mailer, SmtpPermanentError, SmtpTemporaryError
from gateway.transports.throttle import Throttle

from . import compose
from .config import OnboardingSettings
from .links import Secret
from .mailing import LINK_STEPS_EXCLUDED, OPEN_INVITATION, RETRY, by_id_only, stop_reason
from .models import Campaign, CampaignMail, Counterparty, Invitation, TrackingEvent
from .reasons import stored
from .send_failures import classify
from .templating import TemplateProblem, TemplateSource, resolve, template_step
from .tracking import record_bounce, record_event

log = logging.getLogger("edigate.onboarding.sending")

CLAIM_MAX = 50              # rows one claim takes at most: at most this many uncertain per thread after a kill
CLAIM_SPAN = 1.0            # seconds of the campaign's rate one claim covers at most
RECORD_BEFORE_WAIT = 1.0    # seconds of throttle wait worth a commit of their own
SMTP_ACCEPTED = "250 accepted"


def sendable() -> sa.ColumnElement[bool]:
    """SQL, on a ``CampaignMail`` row: its campaign runs and its invitation and counterparty may be
    written to (``mailing.stop_reason`` is None)."""
    return sa.exists().where(
        Invitation.id == CampaignMail.invitation_id, Counterparty.id == Invitation.counterparty_id,
        Campaign.id == Invitation.campaign_id, Campaign.status == "running",
        Invitation.status.in_(OPEN_INVITATION), Invitation.used_at.is_(None),
        Counterparty.opted_out_at.is_(None), Counterparty.bounced_at.is_(None),
        Counterparty.status.not_in(("enrolled", "existing_partner", "reachable_elsewhere")),
        Counterparty.email.is_not(None), Counterparty.email != "")


@dataclass
class Claimed:
    """A row claimed for sending, with what its mail is made of (rows or their attributes)."""
    mail_id: int
    campaign_id: int
    invitation_id: int
    wave_id: int
    counterparty_id: int
    step: str
    message_id: str
    recipient: str
    envelope_from: str
    campaign: Any
    counterparty: Any
    invitation: Any
    mail: Any
    source: Union[TemplateSource, Exception]        # the wording, or why there is none


@dataclass
class _Accepted:
    claimed: Claimed
    at: datetime


def _failure_detail(step: str, error: str, said: Optional[Problem]) -> dict[str, Any]:
    """A failed mail's event: the technical text (``reason``, what older events hold alone) and,
    when known, the reason staff read in their language (``said``: ``onboarding.reasons``)."""
    detail: dict[str, Any] = {"step": step, "reason": error[:500]}
    if said is not None:
        detail["said"] = stored(said)
    return detail


def _recipient_refused(e: SmtpPermanentError) -> bool:
    """A 5xx about the recipient or this message (a bounce), not about us (sender, login, TLS)."""
    return bool(e.refused) or isinstance(e.__cause__, smtplib.SMTPDataError)


@lru_cache(maxsize=None)
def _statements() -> SimpleNamespace:
    """The statements of a claim and a record, built once (building and keying them each time cost
    more than running them)."""
    mails, invs = CampaignMail.__table__, Invitation.__table__
    at = sa.bindparam("at", type_=mails.c.claimed_at.type)
    ids = sa.bindparam("ids", expanding=True)
    return SimpleNamespace(
        claim=sa.update(mails)
        .where(mails.c.id.in_(ids), by_id_only(mails.c.status) == "scheduled", mails.c.due_at <= at,
               sa.or_(mails.c.next_attempt_at.is_(None), mails.c.next_attempt_at <= at), sendable())
        .values(status="sending", claimed_at=at, claimed_by=sa.bindparam("worker"), attempts=mails.c.attempts + 1,
                updated_at=at)
        .returning(mails.c.id),
        facts=sa.select(
            CampaignMail.id, CampaignMail.step, CampaignMail.message_id, CampaignMail.invitation_id,
            Invitation.wave_id, Invitation.counterparty_id, Invitation.campaign_id, Invitation.token_nonce,
            Invitation.expires_at, Counterparty.name.label("cp_name"), Counterparty.contact_name, Counterparty.email,
            Counterparty.siren, Counterparty.siret, Counterparty.vat, Counterparty.gln, Counterparty.segment,
            Counterparty.language, Campaign.name.label("campaign_name"), Campaign.from_address,
            Campaign.sender_name, Campaign.inviter, Campaign.kind,
            Campaign.reminder_count, Campaign.link_valid_days)
        .join(Invitation, Invitation.id == CampaignMail.invitation_id)
        .join(Counterparty, Counterparty.id == Invitation.counterparty_id)
        .join(Campaign, Campaign.id == Invitation.campaign_id)
        .where(CampaignMail.id.in_(ids)),
        message_id=sa.update(mails).where(mails.c.id == sa.bindparam("b_id"))
        .values(message_id=sa.bindparam("b_message_id")),
        expires=sa.update(invs).where(invs.c.id.in_(ids), invs.c.expires_at < at).values(expires_at=at),
        sent=sa.update(mails)
        .where(mails.c.id == sa.bindparam("b_id"), sa.or_(mails.c.status == "sending", mails.c.status == "uncertain"))
        .values(status="sent", sent_at=sa.bindparam("b_at", type_=mails.c.sent_at.type), smtp_reply=SMTP_ACCEPTED,
                error=None, updated_at=sa.bindparam("b_at", type_=mails.c.sent_at.type)),
        invitation_sent=sa.update(invs).where(invs.c.id == sa.bindparam("b_id"), invs.c.status == "pending")
        .values(status="sent", status_at=sa.bindparam("b_at", type_=invs.c.status_at.type)),
        event=sa.insert(TrackingEvent.__table__),
        statuses=sa.select(CampaignMail.id, CampaignMail.status, CampaignMail.sent_at)
        .where(CampaignMail.id.in_(ids)),
    )


class Sender:
    """Sends campaign mail rows for one process: a throttle shared by its threads and one SMTP
    connection per thread (``Mailer`` is not thread-safe)."""

    def __init__(self, gw: Any, config: OnboardingSettings, secret: Secret, *,
                 mailer_factory: Optional[Callable[[], Mailer]] = None, retry: Optional[Callable[..., None]] = None):
        self.gw, self.config, self.secret = gw, config, secret
        self.retry = retry          # prompts a retry at its time (the jobs' ``prompt``); None: the sweep finds it
        self.settings = gw.settings
        self.throttle = Throttle()
        self._local = threading.local()
        self._rates: dict[int, tuple[int, float]] = {}
        self._mailer_factory = mailer_factory or (lambda: Mailer.from_url(self.settings.smtp_url))
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def mailer(self) -> Mailer:
        m = getattr(self._local, "mailer", None)
        if m is None:
            m = self._local.mailer = self._mailer_factory()
        return m

    def close(self) -> None:
        m = getattr(self._local, "mailer", None)
        if m is not None:
            m.close()
            self._local.mailer = None

    @staticmethod
    def _now(now: Optional[datetime]) -> datetime:
        real = utcnow()
        return max(real, now) if now is not None else real

    def _rate(self, campaign_id: int) -> int:
        """The campaign's rate, cached a minute (a change applies within a minute)."""
        cached = self._rates.get(campaign_id)
        if cached is not None and time.monotonic() - cached[1] < 60:
            return cached[0]
        with self.gw.session() as s:
            rate = s.scalar(sa.select(Campaign.mail_rate_per_minute).where(Campaign.id == campaign_id))
        rate = rate or self.settings.mail_rate_per_minute
        self._rates[campaign_id] = (rate, time.monotonic())
        return rate

    # --- a run -----------------------------------------------------------------------------------

    def send(self, mail_id: int, now: Optional[datetime] = None, *, campaign_id: Optional[int] = None) -> Optional[str]:
        """One attempt at one row; its status afterwards, or None when it was not ours to send
        (not due, sent or claimed by another worker, campaign not running). ``campaign_id``
        (the prompt knows it) saves a look-up before the throttle."""
        return self.send_many([mail_id], now, campaign_id=campaign_id)[mail_id]

    def send_many(self, mail_ids: list[int], now: Optional[datetime] = None, *,
                  campaign_id: Optional[int] = None) -> dict[int, Optional[str]]:
        """One attempt at each row, in order, in claims (see the module); each row's status
        afterwards, as ``send``."""
        out: dict[int, Optional[str]] = {}
        templates: dict[tuple, Union[TemplateSource, Exception]] = {}
        pending: list[_Accepted] = []           # sent, their record waiting for the next commit
        try:
            for cid, ids in self._by_campaign(mail_ids, campaign_id, out):
                rate = self._rate(cid)
                size = max(1, min(CLAIM_MAX, int(rate * CLAIM_SPAN / 60)))
                for start in range(0, len(ids), size):
                    chunk = ids[start:start + size]
                    self._wait(cid, rate, pending, now, out)        # before the claim: a kill here costs nothing
                    with self.gw.session() as s:
                        recorded = self._record_sent(s, pending, now)
                        claimed = self._claim(s, chunk, self._now(now), templates, out)
                    out.update(recorded)
                    pending = []
                    bounced: set[int] = set()
                    for i, c in enumerate(claimed):
                        if i:
                            self._wait(cid, rate, pending, now, out)
                        if c.counterparty_id in bounced:
                            out[c.mail_id] = self._release(c.mail_id, "not sent: the counterparty's address bounced",
                                                           now)
                            continue
                        status = self._transmit(c, now, pending)
                        if status is not None:
                            out[c.mail_id] = status
                            if status == "bounced":
                                bounced.add(c.counterparty_id)
        finally:                                # a run cut short still records what went out
            if pending:
                out.update(self._record(pending, now))
        return out

    def _by_campaign(self, mail_ids: list[int], campaign_id: Optional[int],
                     out: dict[int, Optional[str]]) -> list[tuple[int, list[int]]]:
        """The run as (campaign id, mail ids) in order; rows that no longer exist get None."""
        if campaign_id is not None:
            return [(campaign_id, list(mail_ids))]
        with self.gw.session() as s:
            owner = dict(s.execute(sa.select(CampaignMail.id, Invitation.campaign_id)
                                   .join(Invitation, Invitation.id == CampaignMail.invitation_id)
                                   .where(CampaignMail.id.in_(mail_ids))).all())
        runs: list[tuple[int, list[int]]] = []
        for mail_id in mail_ids:
            cid = owner.get(mail_id)
            if cid is None:
                out[mail_id] = None
            elif runs and runs[-1][0] == cid:
                runs[-1][1].append(mail_id)
            else:
                runs.append((cid, [mail_id]))
        return runs

    def _wait(self, campaign_id: int, rate: int, pending: list[_Accepted], now: Optional[datetime],
              out: dict[int, Optional[str]]) -> None:
        """Take the campaign's next throttle slot and wait for it; a long wait records first."""
        delay = self.throttle.reserve(campaign_id, rate)
        if delay >= RECORD_BEFORE_WAIT and pending:         # a slow campaign: record, then wait
            out.update(self._record(pending, now))
            pending.clear()
        self.throttle.sleep(delay)

    def _transmit(self, c: Claimed, now: Optional[datetime], pending: list[_Accepted]) -> Optional[str]:
        """Write and send one claimed mail. None when accepted (its record joins ``pending``),
        else the row's status once the outcome is recorded."""
        try:
            if isinstance(c.source, Exception):
                raise c.source
            p = compose.parts(c.source, c.campaign, c.counterparty, c.invitation, c.mail,
                              public_url=self.settings.public_url, secret=self.secret,
                              mail_from=self.settings.mail_from, now=self._now(now))
            message = compose.to_bytes(p)
        except (TemplateProblem, ValueError, LookupError) as e:
            return self._failed(c, f"cannot build the mail: {e}", now, classify(None, ""))
        try:
            if isinstance(message, bytes):
                self.mailer().send_bytes(message, sender=c.envelope_from, recipients=[c.recipient],
                                         message_id=c.message_id)
            else:
                self.mailer().send(message, sender=c.envelope_from, recipients=[c.recipient])
        except SmtpPermanentError as e:
            return self._bounced(c.mail_id, str(e), now) if _recipient_refused(e) \
                else self._retry(c.mail_id, str(e), now, classify(e, self._server()))
        except SmtpTemporaryError as e:
            if e.maybe_sent:
                return self._uncertain(c.mail_id, f"{e}: it may have been delivered, so it is not sent again "
                                                  "automatically")
            return self._retry(c.mail_id, str(e), now, classify(e, self._server()))
        except Exception as e:          # noqa: BLE001 - a bug mid-send: we cannot tell if it went out
            log.exception("campaign mail %d: unexpected error while sending", c.mail_id)
            return self._uncertain(c.mail_id, f"unexpected error while sending, not resent: {type(e).__name__}: {e}")
        pending.append(_Accepted(c, self._now(now)))
        return None

    # --- claiming --------------------------------------------------------------------------------

    def _claim(self, s: Session, ids: list[int], now: datetime, templates: dict[tuple, Any],
               out: dict[int, Optional[str]]) -> list[Claimed]:
        """Claim what may be sent among ``ids`` (committed with ``s``), in their order; the others'
        outcome (cancelled, failed, None) goes to ``out``."""
        st = _statements()
        db = s.connection()
        won = db.execute(st.claim, {"ids": ids, "at": now, "worker": self.worker}).scalars().all()
        claimed: dict[int, Claimed] = {}
        if won:
            new_ids, expiries = [], {}
            for r in db.execute(st.facts, {"ids": won}):
                message_id = r.message_id or compose.new_message_id(r.id, self.config.bounce_domain)
                if r.message_id is None:
                    new_ids.append({"b_id": r.id, "b_message_id": message_id})
                expires = r.expires_at
                if r.step not in LINK_STEPS_EXCLUDED:       # the link is good for link_valid_days from now
                    pushed = now + timedelta(days=r.link_valid_days)
                    if pushed > expires:
                        expiries.setdefault(pushed, []).append(r.invitation_id)
                        expires = pushed
                campaign = SimpleNamespace(id=r.campaign_id, name=r.campaign_name, from_address=r.from_address,
                                           reminder_count=r.reminder_count, sender_name=r.sender_name,
                                           inviter=r.inviter or self._inviter(s, r.campaign_name), kind=r.kind)
                cp = SimpleNamespace(name=r.cp_name, contact_name=r.contact_name, email=r.email, siren=r.siren,
                                     siret=r.siret, vat=r.vat, gln=r.gln, segment=r.segment, language=r.language)
                inv = SimpleNamespace(id=r.invitation_id, token_nonce=r.token_nonce, expires_at=expires)
                mail = SimpleNamespace(id=r.id, step=r.step, message_id=message_id)
                claimed[r.id] = self._claimed(s, campaign, cp, inv, mail, r.wave_id, r.counterparty_id, templates)
            if new_ids:
                db.execute(st.message_id, new_ids)
            for pushed, inv_ids in expiries.items():
                db.execute(st.expires, {"ids": inv_ids, "at": pushed})
        for mail_id in ids:
            if mail_id not in claimed:
                outcome = self._claim_one(s, mail_id, now, templates)
                if isinstance(outcome, Claimed):
                    claimed[mail_id] = outcome
                else:
                    out[mail_id] = outcome
        return [claimed[i] for i in ids if i in claimed]

    def _inviter(self, s: Session, campaign_name: str) -> str:
        """Our organisation's name, the inviting company of campaigns that name none (looked up
        once per sender)."""
        if not hasattr(self, "_organisation"):
            from .campaigns import inviter_of
            self._organisation = inviter_of(s, SimpleNamespace(inviter=None, name=""))
        return self._organisation or campaign_name

    def _claimed(self, s: Session, campaign: Any, cp: Any, inv: Any, mail: Any, wave_id: int,
                 counterparty_id: int, templates: dict[tuple, Any]) -> Claimed:
        return Claimed(mail.id, campaign.id, inv.id, wave_id, counterparty_id, mail.step, mail.message_id, cp.email,
                       compose.return_path(self.config, self.secret, mail.id), campaign, cp, inv, mail,
                       self._wording(s, campaign.id, mail.step, cp.language, cp.segment or "", templates))

    @staticmethod
    def _wording(s: Session, campaign_id: int, step: str, language: str, segment: str,
                 templates: dict[tuple, Any]) -> Union[TemplateSource, Exception]:
        """The wording of a (campaign, step, language, segment), looked up once per run."""
        try:
            key = (campaign_id, template_step(step), language, segment)
        except ValueError as e:
            return e
        if key not in templates:
            try:
                templates[key] = resolve(s, campaign_id, step, language, segment)
            except (TemplateProblem, ValueError, LookupError) as e:
                templates[key] = e
        return templates[key]

    def _claim_one(self, s: Session, mail_id: int, now: datetime, templates: dict[tuple, Any]):
        """One row the bulk claim did not take: check it and its counterparty, claim it if it may
        still go (compare-and-set, committed with ``s``). Returns ``Claimed``, a final status
        (``cancelled``) or None (not ours)."""
        mail = s.scalar(sa.select(CampaignMail).where(CampaignMail.id == mail_id).options(
            joinedload(CampaignMail.invitation).joinedload(Invitation.counterparty),
            joinedload(CampaignMail.invitation).joinedload(Invitation.campaign)))
        if mail is None or mail.status != "scheduled" or mail.due_at > now \
                or (mail.next_attempt_at is not None and mail.next_attempt_at > now):
            return None
        inv = mail.invitation
        cp, campaign = inv.counterparty, inv.campaign
        if campaign.status != "running":
            return None
        why = stop_reason(inv, cp)
        if why is not None:
            n = compare_and_set(s, CampaignMail, CampaignMail.id == mail_id, CampaignMail.status == "scheduled",
                                status="cancelled", error=f"not sent: {why}", updated_at=now)
            return "cancelled" if n == 1 else None
        message_id = mail.message_id or compose.new_message_id(mail.id, self.config.bounce_domain)
        won = compare_and_set(s, CampaignMail, CampaignMail.id == mail_id, CampaignMail.status == "scheduled",
                              status="sending", claimed_at=now, claimed_by=self.worker, message_id=message_id,
                              attempts=CampaignMail.attempts + 1, updated_at=now)
        if won != 1:
            return None
        for attr, value in (("status", "sending"), ("claimed_at", now), ("claimed_by", self.worker),
                            ("message_id", message_id), ("attempts", mail.attempts + 1), ("updated_at", now)):
            set_committed_value(mail, attr, value)          # what the UPDATE wrote
        if mail.step not in LINK_STEPS_EXCLUDED:       # the link is good for link_valid_days from now
            expires = now + timedelta(days=campaign.link_valid_days)
            if expires > inv.expires_at:
                compare_and_set(s, Invitation, Invitation.id == inv.id, expires_at=expires)
                set_committed_value(inv, "expires_at", expires)
        if not campaign.inviter:
            campaign = SimpleNamespace(id=campaign.id, name=campaign.name, from_address=campaign.from_address,
                                       reminder_count=campaign.reminder_count, sender_name=campaign.sender_name,
                                       inviter=self._inviter(s, campaign.name), kind=campaign.kind)
        return self._claimed(s, campaign, cp, inv, mail, inv.wave_id, cp.id, templates)

    # --- recording -------------------------------------------------------------------------------

    def _record(self, accepted: list[_Accepted], now: Optional[datetime]) -> dict[int, Optional[str]]:
        """``_record_sent`` in its own transaction."""
        with self.gw.session() as s:
            return self._record_sent(s, accepted, now)

    def _record_sent(self, s: Session, accepted: list[_Accepted], now: Optional[datetime]) -> dict[int, Optional[str]]:
        """Record accepted mails: ``sent``, their invitations ``sent``, one tracking event each, in
        three statements. A row no longer ``sending`` (or ``uncertain``) keeps its status."""
        if not accepted:
            return {}
        st = _statements()
        db = s.connection()
        n = db.execute(st.sent, [{"b_id": a.claimed.mail_id, "b_at": a.at} for a in accepted]).rowcount
        done = accepted
        if n != len(accepted):                  # some row moved meanwhile: find which ones are ours
            now_rows = {r.id: (r.status, r.sent_at)
                        for r in db.execute(st.statuses, {"ids": [a.claimed.mail_id for a in accepted]})}
            done = [a for a in accepted if now_rows[a.claimed.mail_id] == ("sent", a.at)]
        links = [{"b_id": a.claimed.invitation_id, "b_at": a.at} for a in done
                 if a.claimed.step not in LINK_STEPS_EXCLUDED]
        if links:
            db.execute(st.invitation_sent, links)
        if done:
            db.execute(st.event, [{
                "counterparty_id": a.claimed.counterparty_id, "campaign_id": a.claimed.campaign_id,
                "wave_id": a.claimed.wave_id, "invitation_id": a.claimed.invitation_id, "mail_id": a.claimed.mail_id,
                "kind": "sent", "at": a.at, "detail": {"step": a.claimed.step, "message_id": a.claimed.message_id}}
                for a in done])
        out: dict[int, Optional[str]] = {a.claimed.mail_id: "sent" for a in done}
        for a in accepted:
            if a.claimed.mail_id not in out:
                out[a.claimed.mail_id] = s.scalar(sa.select(CampaignMail.status)
                                                  .where(CampaignMail.id == a.claimed.mail_id))
        return out

    def _release(self, mail_id: int, error: str, now: Optional[datetime]) -> Optional[str]:
        """A claimed mail not to send after all (its counterparty bounced within the claim)."""
        with self.gw.session() as s:
            n = compare_and_set(s, CampaignMail, CampaignMail.id == mail_id, CampaignMail.status == "sending",
                                status="cancelled", error=error, updated_at=self._now(now))
            return "cancelled" if n == 1 else s.scalar(sa.select(CampaignMail.status)
                                                       .where(CampaignMail.id == mail_id))

    def _server(self) -> str:
        """The SMTP server as staff name it (``host:port``), for a failure's reason."""
        config = getattr(self.mailer(), "config", None)
        return f"{config.host}:{config.port}" if config is not None else "?"

    def _failed(self, c: Claimed, error: str, now: Optional[datetime], said: Optional[Problem] = None) -> str:
        with self.gw.session() as s:
            mail = s.get(CampaignMail, c.mail_id)
            if mail.status == "sending":
                mail.status, mail.error = "failed", error
                record_event(s, mail.invitation, "failed", now=self._now(now), mail_id=mail.id,
                             detail=_failure_detail(mail.step, error, said))
            return mail.status

    def _bounced(self, mail_id: int, reason: str, now: Optional[datetime]) -> str:
        with self.gw.session() as s:
            mail = s.get(CampaignMail, mail_id)
            record_bounce(s, mail, reason, self._now(now), source="smtp")
            return "bounced"

    def _uncertain(self, mail_id: int, error: str) -> str:
        with self.gw.session() as s:
            mail = s.get(CampaignMail, mail_id)
            if mail.status == "sending":
                mail.status, mail.error = "uncertain", error
            return mail.status

    def _retry(self, mail_id: int, error: str, now: Optional[datetime], said: Optional[Problem] = None) -> str:
        at = self._now(now)
        retry_at = None
        with self.gw.session() as s:
            mail = s.get(CampaignMail, mail_id)
            if mail.status != "sending":
                return mail.status
            campaign_id = mail.invitation.campaign_id
            if not RETRY.exhausted(mail.attempts):
                retry_at = at + RETRY.delay(mail.attempts)
                mail.status, mail.next_attempt_at = "scheduled", retry_at
                mail.claimed_at = retry_at if not self.gw.jobs.huey.immediate else None
                mail.error = (f"attempt {mail.attempts} of {RETRY.max_attempts}: {error}; "
                              f"next at {retry_at:%Y-%m-%d %H:%M}Z")
            else:
                mail.status, mail.error = "failed", f"after {mail.attempts} attempts: {error}"
                record_event(s, mail.invitation, "failed", now=at, mail_id=mail.id,
                             detail=_failure_detail(mail.step, mail.error, said))
            status = mail.status
        log.warning("campaign mail %d: %s (%s)", mail_id, error, status)
        if retry_at is not None:
            if self.retry is not None and not self.gw.jobs.huey.immediate:
                self.retry(mail_id, campaign_id=campaign_id, at=retry_at)
        return status


__all__ = ["Sender", "Claimed", "sendable", "CLAIM_MAX", "CLAIM_SPAN", "RECORD_BEFORE_WAIT"]
