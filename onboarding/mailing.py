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
4. **Sending** (``onboarding.sending``): a job claims its rows a few at a
   time (compare-and-set ``scheduled`` → ``sending``, committed), *then* talks
   SMTP, then records ``sent``. The Message-ID is fixed in the row at the first
   claim and reused by a retry.

**Crash rule (why a killed worker never sends the same step twice):** a row
found ``sending`` after ``SENDING_LEASE`` lost its worker somewhere between its
claim and the record of the result; the mail may or may not have gone out. It
is **not** resent: it becomes ``uncertain`` for staff to look at (resend by
hand with ``resend_uncertain``). Reminders still follow it (they carry the same
link), so nobody is left without one. A missing mail is a small harm; the same
mail twice from an automated campaign is the harm this design rules out.
(``onboarding.sending`` says how many rows one claim holds.)

SMTP outcomes: a recipient refused with 5xx (at RCPT, or the message at DATA)
is a **bounce**: the counterparty's address is marked bad and nothing more is
sent to it. A 4xx, a connection that could not be used or a 5xx about *us*
(sender refused, login refused) is retried with backoff (``RETRY``) up to its
``max_attempts``, then ``failed``. A connection lost after the final "." and
before the server's reply is the one case SMTP itself leaves ambiguous: the
mail may have been delivered, so it is ``uncertain``, as after a crash.
Bounces that come later as delivery-status notifications are read by
``onboarding.bounces``.

Every function takes ``now`` so tests drive the clock; a job prompted with a
``now`` uses the later of it and the real time.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import compare_and_set, utcnow
from gateway.delivery.retry import RetryPolicy
from gateway.transports.smtp import SmtpError
from gateway.transports.throttle import Throttle

from .compose import bounce_tag, parts, return_path, to_message
from .links import Secret
from .models import Campaign, CampaignMail, Counterparty, Invitation, Wave
from .templating import resolve

log = logging.getLogger("edigate.onboarding.mailing")

SENDING_LEASE = timedelta(minutes=10)     # a row "sending" longer than this lost its worker
PROMPT_LEASE = timedelta(minutes=10)      # a prompted row not sent by then is prompted again
RETRY = RetryPolicy(steps=(timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4),
                           timedelta(hours=12)), max_attempts=6)
OPEN_INVITATION = ("pending", "sent", "registering")
LINK_STEPS_EXCLUDED = ("information",)    # every other step carries the registration link


def by_id_only(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` as an expression (``column || ''``), which no index serves: a condition on it
    next to ``id IN (…)`` leaves SQLite to find the rows by their ids, where ``status = …``
    alone leads it to read every row of that status through the (status, due_at) index (it
    has no statistics to tell 20 ids from 10,000 scheduled rows)."""
    return column.concat("")


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
    # Bulk statements, not objects: a wave is thousands of rows written once in one transaction;
    # the mail rows and the counterparties' status are derived from the invitations in SQL.
    cp_ids = session.scalars(audience(wave).with_only_columns(Counterparty.id)).all()
    if not cp_ids:
        return 0
    db = session.connection()
    db.execute(Invitation.__table__.insert(), [
        {"campaign_id": campaign.id, "wave_id": wave.id, "counterparty_id": cp_id, "status": "pending",
         "status_at": now, "token_nonce": new_nonce(), "expires_at": expires, "created_at": now}
        for cp_id in cp_ids])
    mails, stamp = CampaignMail.__table__, sa.literal(now, CampaignMail.created_at.type)
    for step, due in ((("information", now),) if lead else ()) + (("invitation", invite_at),):
        db.execute(mails.insert().from_select(
            ["invitation_id", "step", "status", "due_at", "attempts", "created_at", "updated_at"],
            sa.select(Invitation.id, sa.literal(step), sa.literal("scheduled"), sa.literal(due, CampaignMail.due_at.type),
                      sa.literal(0), stamp, stamp).where(Invitation.wave_id == wave.id).order_by(Invitation.id)))
    compare_and_set(session, Counterparty,
                    Counterparty.id.in_(sa.select(Invitation.counterparty_id).where(Invitation.wave_id == wave.id)),
                    Counterparty.status == "new", status="invited", status_at=now)
    invitations = cp_ids
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
    """``invitation`` (or an invitation sent again, ``invitation-2``) → 1, ``reminder-2`` → 3."""
    return 1 if step.startswith("invitation") else int(step.split("-", 1)[1]) + 1


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
                                CampaignMail.id.in_(ids[i:i + 500]), by_id_only(CampaignMail.status) == "scheduled",
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


# --- the mail of one row -----------------------------------------------------------------------

def build_message(session: Session, mail: CampaignMail, *, public_url: str, secret: Secret, mail_from: str,
                  now: datetime) -> EmailMessage:
    """The mail of one row through the ``email`` package (``compose.to_message``, the reference
    the sender's direct writer is checked against). Raises ``TemplateProblem`` or ``ValueError``."""
    inv = mail.invitation
    cp, campaign = inv.counterparty, inv.campaign
    from .campaigns import inviter_of
    source = resolve(session, campaign.id, mail.step, cp.language, cp.segment)
    return to_message(parts(source, campaign, cp, inv, mail, public_url=public_url, secret=secret,
                            mail_from=mail_from, now=now, inviter=inviter_of(session, campaign)))


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


__all__ = ["audience", "start_wave", "start_due_waves", "schedule_reminders", "due_mails", "mark_uncertain",
           "resend_uncertain", "settle", "build_message", "return_path", "bounce_tag", "stop_reason", "Throttle",
           "SmtpError", "SENDING_LEASE", "PROMPT_LEASE", "RETRY"]
