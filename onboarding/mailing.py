"""Sending campaign mail: waves start, reminders follow their cadence, each mail goes out at most once.

The database is the truth about what to send. A mail is a ``CampaignMail`` row,
one per (invitation, step) — the unique pair is the idempotency key — and a
job is only a prompt to look at one row:

1. **Waves.** The sweep starts a wave whose date has come (compare-and-set
   ``scheduled`` → ``running``, so two sweeps never both start it): one
   ``Invitation`` per counterparty of its segment that may be written to and
   has no open invitation elsewhere, with the rows of its first steps
   (``information`` now and ``invitation`` after ``information_lead_days``, or
   ``invitation`` now).
2. **Reminders** are scheduled lazily, one at a time: ``reminder-N`` when the
   step before it went out ``reminder_interval_days`` ago, up to
   ``reminder_count``, and only while the counterparty has not enrolled, opted
   out or bounced. The sender checks that again right before each send.
3. **Prompts.** The sweep queues jobs for the due rows (one job per run of
   rows, see ``onboarding.tasks``), at most what the campaign's rate can send
   within ``PROMPT_LEASE`` (``claimed_at`` of a ``scheduled`` row is when it
   was last prompted), so a big wave does not flood the queue and a prompt
   lost with a killed worker is made again once the lease is over.
4. **Sending one row**: wait for the campaign's rate (throttle), then claim the
   row by compare-and-set ``scheduled`` → ``sending`` and commit, *then* talk
   SMTP, then record ``sent``. The Message-ID is fixed in the row at the first
   claim and reused by a retry. A run of rows (``Sender.send_many``) shares
   one commit between a mail's record and the next mail's claim: each mail is
   still committed as claimed before its SMTP transaction and as sent after.

**Crash rule (why a killed worker never sends the same step twice):** a row
found ``sending`` after ``SENDING_LEASE`` lost its worker somewhere between the
claim and the record of the result; the mail may or may not have gone out. It
is **not** resent: it becomes ``uncertain`` for staff to look at (resend by
hand with ``resend_uncertain``). Reminders still follow it (they carry the same
link), so nobody is left without one. A missing mail is a small harm; the same
mail twice from an automated campaign is the harm this design rules out.

SMTP outcomes: a recipient refused with 5xx (at RCPT, or the message at DATA)
is a **bounce**: the counterparty's address is marked bad and nothing more is
sent to it. A 4xx, a dropped connection or a 5xx about *us* (sender refused,
login refused) is retried with backoff (``RETRY``) up to its ``max_attempts``, then ``failed``.
(A connection lost after the final "." and before the server's reply is the one
case SMTP itself leaves ambiguous; it is retried with the same Message-ID, as
every mail server does.) Bounces that come later as delivery-status
notifications are read by ``onboarding.bounces``.

Every function takes ``now`` so tests drive the clock; a job prompted with a
``now`` uses the later of it and the real time.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import smtplib
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Callable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from gateway.db import compare_and_set, utcnow
from gateway.delivery.retry import RetryPolicy
from gateway.transports.smtp import Mailer, SmtpError, SmtpPermanentError, SmtpTemporaryError
from gateway.transports.throttle import Throttle

from .campaigns import mail_context
from .config import OnboardingSettings
from .links import Secret, open_pixel_url, optout_url, registration_url
from .models import Campaign, CampaignMail, Counterparty, Invitation, TrackingEvent, Wave
from .templating import TemplateProblem, render, resolve, template_step
from .tracking import record_bounce, record_event

log = logging.getLogger("edigate.onboarding.mailing")

SENDING_LEASE = timedelta(minutes=10)     # a row "sending" longer than this lost its worker
PROMPT_LEASE = timedelta(minutes=10)      # a prompted row not sent by then is prompted again
RETRY = RetryPolicy(steps=(timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4),
                           timedelta(hours=12)), max_attempts=6)
RECORD_BEFORE_WAIT = 1.0                  # seconds of throttle wait worth a commit of their own (send_many)
OPEN_INVITATION = ("pending", "sent", "registering")
LINK_STEPS_EXCLUDED = ("information",)    # every other step carries the registration link


# --- who a wave invites ------------------------------------------------------------------------

def invitable():
    """SQL condition: a counterparty a campaign may write to (as ``Counterparty.invitable``)."""
    return sa.and_(Counterparty.status.in_(("new", "invited", "registering")),
                   Counterparty.email.is_not(None), Counterparty.email != "",
                   Counterparty.opted_out_at.is_(None), Counterparty.bounced_at.is_(None))


def audience(wave: Wave) -> sa.Select:
    """The counterparties ``wave`` invites when it starts: invitable, of its segment, not yet in
    this campaign, and with no open invitation in another running or paused campaign (one
    campaign at a time writes to a company)."""
    here = sa.select(Invitation.id).where(Invitation.counterparty_id == Counterparty.id,
                                          Invitation.campaign_id == wave.campaign_id)
    elsewhere = (sa.select(Invitation.id).join(Campaign, Campaign.id == Invitation.campaign_id)
                 .where(Invitation.counterparty_id == Counterparty.id, Invitation.status.in_(OPEN_INVITATION),
                        Campaign.status.in_(("running", "paused"))))
    q = sa.select(Counterparty).where(invitable(), ~sa.exists(here), ~sa.exists(elsewhere))
    if wave.segment:
        q = q.where(Counterparty.segment == wave.segment)
    return q.order_by(Counterparty.id)


def start_wave(session: Session, wave: Wave, now: datetime) -> int:
    """Invitations and first mail rows for a wave already marked ``running``. Returns the count."""
    from .links import new_nonce
    campaign = wave.campaign
    lead = campaign.information_lead_days
    invite_at = now + timedelta(days=lead) if lead else now
    expires = invite_at + timedelta(days=campaign.link_valid_days)
    # Bulk statements, not objects: a wave is thousands of rows written once in one transaction.
    cp_ids = session.scalars(audience(wave).with_only_columns(Counterparty.id)).all()
    inv_rows = session.execute(
        sa.insert(Invitation).returning(Invitation.id, sort_by_parameter_order=True),
        [{"campaign_id": campaign.id, "wave_id": wave.id, "counterparty_id": cp_id, "status": "pending",
          "status_at": now, "token_nonce": new_nonce(), "expires_at": expires, "created_at": now}
         for cp_id in cp_ids]).scalars().all() if cp_ids else []
    mails = []
    for inv_id in inv_rows:
        if lead:
            mails.append({"invitation_id": inv_id, "step": "information", "status": "scheduled", "due_at": now,
                          "attempts": 0, "created_at": now, "updated_at": now})
        mails.append({"invitation_id": inv_id, "step": "invitation", "status": "scheduled", "due_at": invite_at,
                      "attempts": 0, "created_at": now, "updated_at": now})
    if mails:
        session.execute(sa.insert(CampaignMail), mails)
    for i in range(0, len(cp_ids), 500):
        compare_and_set(session, Counterparty, Counterparty.id.in_(cp_ids[i:i + 500]), Counterparty.status == "new",
                        status="invited", status_at=now)
    invitations = inv_rows
    log.info("wave %d (%s) of campaign %r started: %d invitation(s)", wave.id, wave.name, campaign.name,
             len(invitations))
    return len(invitations)


def start_due_waves(gw: Any, now: datetime) -> dict[str, int]:
    """Start every scheduled wave of a running campaign whose date has come."""
    counts = {"waves_started": 0, "invitations": 0}
    with gw.session() as s:
        due = s.scalars(sa.select(Wave.id).join(Campaign, Campaign.id == Wave.campaign_id)
                        .where(Wave.status == "scheduled", Wave.send_at <= now, Campaign.status == "running")
                        .order_by(Wave.send_at, Wave.id)).all()
    for wave_id in due:
        with gw.session() as s:
            won = compare_and_set(s, Wave, Wave.id == wave_id, Wave.status == "scheduled",
                                  status="running", started_at=now)
            if won != 1:
                continue            # another sweep started it
            counts["waves_started"] += 1
            counts["invitations"] += start_wave(s, s.get(Wave, wave_id), now)
    return counts


# --- reminders ---------------------------------------------------------------------------------

def _next_step(step: str) -> int:
    """``invitation`` → 1, ``reminder-2`` → 3."""
    return 1 if step == "invitation" else int(step.split("-", 1)[1]) + 1


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert mail rows; a (invitation, step) that exists already (another sweep) is skipped."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(CampaignMail.__table__).on_conflict_do_nothing(index_elements=["invitation_id", "step"])
    n = session.connection().execute(stmt, rows).rowcount
    return n if n is not None and n >= 0 else len(rows)


def schedule_reminders(gw: Any, now: datetime) -> int:
    """Add the next reminder of every invitation whose last step went out (or may have:
    ``uncertain``) ``reminder_interval_days`` ago, while reminders remain and the counterparty
    may still be written to. Returns how many were scheduled."""
    added = 0
    with gw.session() as s:
        campaigns = s.scalars(sa.select(Campaign).where(Campaign.status == "running",
                                                        Campaign.reminder_count > 0)).all()
        for c in campaigns:
            cutoff = now - timedelta(days=c.reminder_interval_days)
            last = (sa.select(CampaignMail.invitation_id, sa.func.max(CampaignMail.id).label("mail_id"))
                    .join(Invitation, Invitation.id == CampaignMail.invitation_id)
                    .where(Invitation.campaign_id == c.id, Invitation.status.in_(OPEN_INVITATION),
                           CampaignMail.step != "information")
                    .group_by(CampaignMail.invitation_id).subquery())
            rows = s.execute(
                sa.select(CampaignMail.invitation_id, CampaignMail.step)
                .join(last, CampaignMail.id == last.c.mail_id)
                .join(Invitation, Invitation.id == CampaignMail.invitation_id)
                .join(Counterparty, Counterparty.id == Invitation.counterparty_id)
                .where(CampaignMail.status.in_(("sent", "uncertain")),
                       sa.func.coalesce(CampaignMail.sent_at, CampaignMail.claimed_at) <= cutoff,
                       invitable())).all()
            new = []
            for inv_id, step in rows:
                n = _next_step(step)
                if n <= c.reminder_count:
                    new.append({"invitation_id": inv_id, "step": f"reminder-{n}", "status": "scheduled",
                                "due_at": now, "attempts": 0, "created_at": now, "updated_at": now})
            added += _insert_ignoring_duplicates(s, new)
    return added


# --- prompts -----------------------------------------------------------------------------------

def due_mails(gw: Any, now: datetime, *, default_rate: int) -> list[tuple[int, int]]:
    """(mail id, campaign id) of the rows to prompt now, marked prompted (``claimed_at``): due,
    not prompted within ``PROMPT_LEASE``, of running campaigns, at most what each campaign's
    rate sends within the lease, counting those already prompted."""
    out: list[tuple[int, int]] = []
    lease_start = now - PROMPT_LEASE
    minutes = PROMPT_LEASE.total_seconds() / 60
    with gw.session() as s:
        for c in s.scalars(sa.select(Campaign).where(Campaign.status == "running")).all():
            budget = int((c.mail_rate_per_minute or default_rate) * minutes)
            mine = sa.select(Invitation.id).where(Invitation.campaign_id == c.id)
            in_flight = s.scalar(sa.select(sa.func.count()).select_from(CampaignMail).where(
                CampaignMail.invitation_id.in_(mine), CampaignMail.status == "scheduled",
                CampaignMail.claimed_at >= lease_start)) or 0
            limit = budget - in_flight
            if limit <= 0:
                continue
            ids = s.scalars(sa.select(CampaignMail.id).where(
                CampaignMail.invitation_id.in_(mine), CampaignMail.status == "scheduled",
                CampaignMail.due_at <= now,
                sa.or_(CampaignMail.next_attempt_at.is_(None), CampaignMail.next_attempt_at <= now),
                sa.or_(CampaignMail.claimed_at.is_(None), CampaignMail.claimed_at < lease_start))
                .order_by(CampaignMail.due_at, CampaignMail.id).limit(limit)).all()
            for i in range(0, len(ids), 500):
                compare_and_set(s, CampaignMail,
                                CampaignMail.id.in_(ids[i:i + 500]), CampaignMail.status == "scheduled",
                                claimed_at=now)
            out.extend((mail_id, c.id) for mail_id in ids)
    return out


def mark_uncertain(gw: Any, now: datetime) -> int:
    """Rows left ``sending`` past ``SENDING_LEASE``: ``uncertain``, never resent (see the module)."""
    with gw.session() as s:
        return compare_and_set(s, CampaignMail,
                               CampaignMail.status == "sending", CampaignMail.claimed_at < now - SENDING_LEASE,
                               status="uncertain", updated_at=now,
                               error="the sending worker stopped between claiming this mail and recording the "
                                     "SMTP result: it may or may not have gone out, so it is not sent again "
                                     "automatically (resend it by hand if the recipient did not get it)")


def resend_uncertain(session: Session, mail_id: int, *, now: Optional[datetime] = None) -> CampaignMail:
    """Staff decided an ``uncertain`` mail did not go out: schedule it again (same Message-ID)."""
    now = now or utcnow()
    mail = session.get(CampaignMail, mail_id)
    if mail is None:
        raise LookupError(f"no campaign mail {mail_id}")
    if mail.status != "uncertain":
        raise ValueError(f"mail {mail_id} is {mail.status}: only an uncertain mail is resent by hand")
    mail.status, mail.due_at, mail.next_attempt_at, mail.claimed_at = "scheduled", now, None, None
    mail.error = "resend requested by staff"
    return mail


def settle(gw: Any, now: datetime) -> dict[str, int]:
    """Invitations whose link expired with nothing more to send become ``expired``; a running
    wave with no open invitation left is ``done``."""
    expired = 0
    with gw.session() as s:
        pending = (sa.select(CampaignMail.id).where(CampaignMail.invitation_id == Invitation.id,
                                                    CampaignMail.status.in_(("scheduled", "sending"))))
        rows = s.execute(sa.select(Invitation, Campaign).join(Campaign, Campaign.id == Invitation.campaign_id)
                         .where(Invitation.status.in_(OPEN_INVITATION), Invitation.expires_at < now,
                                ~sa.exists(pending))).all()
        for inv, c in rows:
            reminders = s.scalar(sa.select(sa.func.count()).select_from(CampaignMail).where(
                CampaignMail.invitation_id == inv.id, CampaignMail.step.like("reminder-%"))) or 0
            if c.status != "running" or reminders >= c.reminder_count:
                inv.status, inv.status_at = "expired", now
                expired += 1
        s.flush()
        open_left = sa.select(Invitation.id).where(Invitation.wave_id == Wave.id,
                                                   Invitation.status.in_(OPEN_INVITATION))
        done = compare_and_set(s, Wave, Wave.status == "running", ~sa.exists(open_left), status="done")
    return {"invitations_expired": expired, "waves_done": done}


# --- building one mail -------------------------------------------------------------------------

def bounce_tag(secret: Secret, mail_id: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"bounce:{mail_id}".encode(), hashlib.sha256).hexdigest()[:10]


def return_path(config: OnboardingSettings, secret: Secret, mail_id: int) -> str:
    """The VERP envelope sender of one mail: ``bounces+<mail id>-<tag>@domain`` (the tag, an HMAC,
    keeps anyone from bouncing addresses by writing to made-up return paths)."""
    return f"{config.bounce_local}+{mail_id}-{bounce_tag(secret, mail_id)}@{config.bounce_domain}"


def new_message_id(mail_id: int, domain: str) -> str:
    return f"<edigate-onboarding.{mail_id}.{secrets.token_hex(6)}@{domain}>"


def _with_pixel(html: str, pixel_url: str) -> str:
    from html import escape
    img = f'<img src="{escape(pixel_url)}" width="1" height="1" alt="" style="display:block;border:0">'
    i = html.lower().rfind("</body>")
    return html[:i] + img + html[i:] if i >= 0 else html + img


def build_message(session: Session, mail: CampaignMail, *, public_url: str, secret: Secret, mail_from: str,
                  now: datetime, templates: Optional[dict[tuple, Any]] = None) -> EmailMessage:
    """The mail of one row: rendered from its campaign's wording, with the registration and
    opt-out links, ``List-Unsubscribe`` + ``List-Unsubscribe-Post`` (RFC 8058 one-click: a mail
    provider's POST of ``List-Unsubscribe=One-Click`` to the signed opt-out URL opts out; a person
    following the link confirms with a button), its fixed Message-ID and, in the HTML part, the
    open pixel. Raises ``TemplateProblem`` or ``ValueError``. ``templates``: a cache
    of resolved wordings kept by the caller for a run of mails (one look-up per campaign, step,
    language and segment instead of one per mail)."""
    inv = mail.invitation
    cp, campaign = inv.counterparty, inv.campaign
    opt = optout_url(public_url, secret, inv)
    key = (campaign.id, template_step(mail.step), cp.language, cp.segment or "")
    source = templates.get(key) if templates is not None else None
    if source is None:
        source = resolve(session, campaign.id, mail.step, cp.language, cp.segment)
        if templates is not None:
            templates[key] = source
    ctx = mail_context(campaign, cp, registration_url=registration_url(public_url, secret, inv),
                       optout_url=opt, expires_at=inv.expires_at, step=mail.step)
    rendered = render(source, ctx)
    msg = EmailMessage()
    msg["From"] = campaign.from_address or mail_from
    try:
        msg["To"] = Address(display_name=" ".join((cp.contact_name or cp.name).split())[:200], addr_spec=cp.email)
    except (ValueError, IndexError) as e:
        raise ValueError(f"cannot write to {cp.email!r}: {e}") from None
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = mail.message_id
    msg["List-Unsubscribe"] = f"<{opt}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text)
    if rendered.html:
        msg.add_alternative(_with_pixel(rendered.html, open_pixel_url(public_url, secret, mail.id)), subtype="html")
    return msg


def stop_reason(inv: Invitation, cp: Counterparty) -> Optional[str]:
    """Why nothing more may be sent for this invitation, or None."""
    if cp.opted_out_at is not None:
        return "the counterparty opted out"
    if cp.bounced_at is not None:
        return "the counterparty's address bounced"
    if cp.status == "enrolled" or inv.used_at is not None or inv.status == "enrolled":
        return "the counterparty enrolled"
    if cp.status in ("existing_partner", "reachable_elsewhere"):
        return f"the counterparty is {cp.status.replace('_', ' ')}"
    if inv.status not in OPEN_INVITATION:
        return f"the invitation is {inv.status}"
    if not cp.email:
        return "the counterparty has no e-mail address"
    return None


# --- sending one mail --------------------------------------------------------------------------

@dataclass
class Claimed:
    """A row claimed for sending, with its mail built: what the SMTP transaction and its record need."""
    mail_id: int
    campaign_id: int
    message: EmailMessage
    envelope_from: str
    recipient: str
    step: str
    invitation_id: int
    wave_id: int
    counterparty_id: int


def _recipient_refused(e: SmtpPermanentError) -> bool:
    """A 5xx about the recipient or this message (a bounce), not about us (sender, login, TLS)."""
    return bool(e.refused) or isinstance(e.__cause__, smtplib.SMTPDataError)


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

    def send(self, mail_id: int, now: Optional[datetime] = None, *, campaign_id: Optional[int] = None) -> Optional[str]:
        """One attempt at one row; its status afterwards, or None when it was not ours to send
        (not due, sent or claimed by another worker, campaign not running). ``campaign_id``
        (the prompt knows it) saves a look-up before the throttle."""
        return self.send_many([mail_id], now, campaign_id=campaign_id)[mail_id]

    def send_many(self, mail_ids: list[int], now: Optional[datetime] = None, *,
                  campaign_id: Optional[int] = None) -> dict[int, Optional[str]]:
        """One attempt at each row, in order, over this thread's SMTP connection; each row's
        status afterwards (as ``send``). Each mail is still claimed (committed) before its SMTP
        transaction and recorded after it; what changes is that the record of one mail and the
        claim of the next share a commit, and the wording is looked up once per run. A kill
        between the two leaves the sent mail ``sending`` (→ ``uncertain``, never resent) and the
        next one ``scheduled`` (never talked to SMTP): the crash rule is unchanged."""
        out: dict[int, Optional[str]] = {}
        templates: dict[tuple, Any] = {}
        done: Optional[Claimed] = None          # sent, its record waiting for the next commit
        try:
            for mail_id in mail_ids:
                cid = campaign_id
                if cid is None:
                    with self.gw.session() as s:
                        cid = s.scalar(sa.select(Invitation.campaign_id).join(CampaignMail.invitation)
                                       .where(CampaignMail.id == mail_id))
                    if cid is None:
                        out[mail_id] = None
                        continue
                delay = self.throttle.reserve(cid, self._rate(cid))      # before the claim: a kill here costs nothing
                if delay >= RECORD_BEFORE_WAIT and done is not None:     # a slow campaign: record, then wait
                    out[done.mail_id] = self._record(done, now)
                    done = None
                if delay > 0:
                    self.throttle.sleep(delay)
                with self.gw.session() as s:
                    if done is not None:
                        out[done.mail_id] = self._record_sent(s, done, now)
                        done = None
                    claimed = self._claim_in(s, mail_id, self._now(now), templates)
                if not isinstance(claimed, Claimed):
                    out[mail_id] = claimed
                    continue
                try:
                    self.mailer().send(claimed.message, sender=claimed.envelope_from, recipients=[claimed.recipient])
                except SmtpPermanentError as e:
                    out[mail_id] = self._bounced(mail_id, str(e), now) if _recipient_refused(e) \
                        else self._retry(mail_id, str(e), now)
                except SmtpTemporaryError as e:
                    out[mail_id] = self._retry(mail_id, str(e), now)
                except Exception as e:          # noqa: BLE001 - a bug mid-send: we cannot tell if it went out
                    log.exception("campaign mail %d: unexpected error while sending", mail_id)
                    out[mail_id] = self._uncertain(mail_id, f"{type(e).__name__}: {e}")
                else:
                    done = claimed
        finally:                                # a run cut short still records what went out
            if done is not None:
                out[done.mail_id] = self._record(done, now)
        return out

    def _claim(self, mail_id: int, now: datetime):
        """``_claim_in`` in its own transaction."""
        with self.gw.session() as s:
            return self._claim_in(s, mail_id, now, {})

    def _claim_in(self, s: Session, mail_id: int, now: datetime, templates: dict[tuple, Any]):
        """Check the row and its counterparty, claim it (compare-and-set, committed with ``s``),
        build its mail. Returns ``Claimed``, a final status (``cancelled``, ``failed``) or None."""
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
        message_id = mail.message_id or new_message_id(mail.id, self.config.bounce_domain)
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
        try:
            message = build_message(s, mail, public_url=self.settings.public_url, secret=self.secret,
                                    mail_from=self.settings.mail_from, now=now, templates=templates)
        except (TemplateProblem, ValueError) as e:
            mail.status, mail.error = "failed", f"cannot build the mail: {e}"
            record_event(s, inv, "failed", now=now, mail_id=mail.id, detail={"step": mail.step, "reason": str(e)})
            return "failed"
        return Claimed(mail.id, campaign.id, message, return_path(self.config, self.secret, mail.id), cp.email,
                       mail.step, inv.id, inv.wave_id, cp.id)

    def _record(self, c: Claimed, now: Optional[datetime]) -> str:
        """``_record_sent`` in its own transaction."""
        with self.gw.session() as s:
            return self._record_sent(s, c, now)

    def _sent(self, c: Claimed, now: Optional[datetime]) -> str:
        return self._record(c, now)

    def _record_sent(self, s: Session, c: Claimed, now: Optional[datetime]) -> str:
        """Record an accepted mail: ``sent``, the invitation ``sent``, its tracking event (Core
        statements: no objects to load for a row the claim already holds)."""
        at = self._now(now)
        n = compare_and_set(s, CampaignMail,
                            CampaignMail.id == c.mail_id, CampaignMail.status.in_(("sending", "uncertain")),
                            status="sent", sent_at=at, smtp_reply="250 accepted", error=None, updated_at=at)
        if n != 1:
            return s.scalar(sa.select(CampaignMail.status).where(CampaignMail.id == c.mail_id))
        if c.step not in LINK_STEPS_EXCLUDED:
            compare_and_set(s, Invitation, Invitation.id == c.invitation_id, Invitation.status == "pending",
                            status="sent", status_at=at)
        s.execute(sa.insert(TrackingEvent), [{
            "counterparty_id": c.counterparty_id, "campaign_id": c.campaign_id, "wave_id": c.wave_id,
            "invitation_id": c.invitation_id, "mail_id": c.mail_id, "kind": "sent", "at": at,
            "detail": {"step": c.step, "message_id": c.message["Message-ID"]}}])
        return "sent"

    def _bounced(self, mail_id: int, reason: str, now: Optional[datetime]) -> str:
        with self.gw.session() as s:
            mail = s.get(CampaignMail, mail_id)
            record_bounce(s, mail, reason, self._now(now), source="smtp")
            return "bounced"

    def _uncertain(self, mail_id: int, error: str) -> str:
        with self.gw.session() as s:
            mail = s.get(CampaignMail, mail_id)
            if mail.status == "sending":
                mail.status, mail.error = "uncertain", f"unexpected error while sending, not resent: {error}"
            return mail.status

    def _retry(self, mail_id: int, error: str, now: Optional[datetime]) -> str:
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
                             detail={"step": mail.step, "reason": error[:500]})
            status = mail.status
        log.warning("campaign mail %d: %s (%s)", mail_id, error, status)
        if retry_at is not None:
            if self.retry is not None and not self.gw.jobs.huey.immediate:
                self.retry(mail_id, campaign_id=campaign_id, at=retry_at)
        return status


__all__ = ["audience", "start_wave", "start_due_waves", "schedule_reminders", "due_mails", "mark_uncertain",
           "resend_uncertain", "settle", "build_message", "return_path", "bounce_tag", "Sender", "Throttle",
           "SmtpError", "SENDING_LEASE", "PROMPT_LEASE", "RETRY"]
