"""What happened to each invitation: tracking events, the funnel, a counterparty's timeline, CSV.

Every fact is a ``TrackingEvent`` row (sent, bounced, opened, clicked,
registration_started, enrolled, opted_out, imported, failed), written in the
same transaction as the state change it reports, so the funnel and the
records never disagree. The public pages call ``record_open``,
``record_click``, ``record_opt_out`` and ``record_registration_started``; the
sender records ``sent`` and bounces (``record_bounce``); ``onboarding.enrol``
records ``enrolled``.

Opens, clicks and registration starts are recorded once (the first), so a page
reloaded ten times is one click; opt-outs and bounces once per counterparty.

The funnel counts distinct counterparties, and is cumulative: a counterparty
that clicked counts as having opened too (mail clients that block images
never report an open), so each stage is at most the one before it. Bounced and
opted out are exits, counted beside the stages.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import compare_and_set, utcnow

from .links import LinkError, Secret, read_open_token, read_optout_token
from .models import CampaignMail, Counterparty, Invitation, TrackingEvent, Wave

# Funnel stages in order, and the event kinds that prove a counterparty reached each one
# (any later stage's kinds prove the earlier ones too).
STAGES = ("invited", "sent", "opened", "clicked", "registration_started", "enrolled")
EXITS = ("bounced", "opted_out")
STAGE_LABELS = {
    "invited": "Invited", "sent": "Mail sent", "opened": "Opened", "clicked": "Clicked the link",
    "registration_started": "Started registering", "enrolled": "Enrolled",
    "bounced": "Bounced", "opted_out": "Opted out",
}
_ENGAGED = ("sent", "opened", "clicked", "registration_started", "enrolled")


@dataclass(frozen=True)
class StageCount:
    stage: str
    count: int
    exit: bool = False          # bounced / opted out: left the funnel

    @property
    def label(self) -> str:
        return STAGE_LABELS[self.stage]


def _event(session: Session, invitation: Optional[Invitation], kind: str, at: datetime, *,
           counterparty_id: Optional[int] = None, mail_id: Optional[int] = None,
           detail: Optional[dict[str, Any]] = None) -> TrackingEvent:
    ev = TrackingEvent(counterparty_id=counterparty_id or invitation.counterparty_id,
                       campaign_id=invitation.campaign_id if invitation else None,
                       wave_id=invitation.wave_id if invitation else None,
                       invitation_id=invitation.id if invitation else None,
                       mail_id=mail_id, kind=kind, at=at, detail=detail or {})
    session.add(ev)
    return ev


def record_event(session: Session, invitation: Optional[Invitation], kind: str, *, now: Optional[datetime] = None,
                 counterparty_id: Optional[int] = None, mail_id: Optional[int] = None,
                 detail: Optional[dict[str, Any]] = None) -> TrackingEvent:
    """One tracking event, as is (the ``record_*`` functions below add the state changes)."""
    return _event(session, invitation, kind, now or utcnow(), counterparty_id=counterparty_id,
                  mail_id=mail_id, detail=detail)


def stop_mailing(session: Session, counterparty_id: int, now: datetime, *, invitation_status: str) -> int:
    """Cancel every scheduled mail to a counterparty and end its open invitations with
    ``invitation_status`` (opted_out, bounced): nothing more goes out to it. Returns the mails
    cancelled. (The sender checks the counterparty again right before each send as well.)"""
    invitation_ids = sa.select(Invitation.id).where(Invitation.counterparty_id == counterparty_id)
    n = compare_and_set(session, CampaignMail,
                        CampaignMail.invitation_id.in_(invitation_ids), CampaignMail.status == "scheduled",
                        status="cancelled", error=f"counterparty {invitation_status.replace('_', ' ')}",
                        updated_at=now)
    compare_and_set(session, Invitation,
                    Invitation.counterparty_id == counterparty_id,
                    Invitation.status.in_(("pending", "sent", "registering")),
                    status=invitation_status, status_at=now)
    return n


# --- what the public pages report --------------------------------------------------------------

def record_open(session: Session, secret: Secret, token: str, now: Optional[datetime] = None) -> Optional[TrackingEvent]:
    """The open pixel was fetched: an ``opened`` event for its mail (the first time only).
    Returns the new event, or None (already opened, or a token that is not ours: the pixel is
    served all the same and nothing is said)."""
    now = now or utcnow()
    try:
        mail_id = read_open_token(secret, token)
    except LinkError:
        return None
    mail = session.get(CampaignMail, mail_id)
    if mail is None:
        return None
    seen = session.scalar(sa.select(TrackingEvent.id).where(TrackingEvent.mail_id == mail_id,
                                                            TrackingEvent.kind == "opened").limit(1))
    if seen is not None:
        return None
    invitation = mail.invitation
    if invitation.first_opened_at is None:
        invitation.first_opened_at = now
    return _event(session, invitation, "opened", now, mail_id=mail_id, detail={"step": mail.step})


def record_click(session: Session, invitation: Invitation, now: Optional[datetime] = None) -> Optional[TrackingEvent]:
    """The registration link was followed (call after ``read_registration_token`` succeeded):
    ``clicked``, the first time only. Returns the new event or None."""
    now = now or utcnow()
    if invitation.first_clicked_at is not None:
        return None
    invitation.first_clicked_at = now
    return _event(session, invitation, "clicked", now)


def record_registration_started(session: Session, invitation: Invitation,
                                now: Optional[datetime] = None) -> Optional[TrackingEvent]:
    """The counterparty began the registration form: invitation and counterparty ``registering``
    (reminders keep going until it is submitted), ``registration_started`` the first time."""
    now = now or utcnow()
    if invitation.status in ("pending", "sent"):
        invitation.status, invitation.status_at = "registering", now
    cp = invitation.counterparty
    if cp.status in ("new", "invited"):
        cp.status, cp.status_at = "registering", now
    seen = session.scalar(sa.select(TrackingEvent.id).where(TrackingEvent.invitation_id == invitation.id,
                                                            TrackingEvent.kind == "registration_started").limit(1))
    if seen is not None:
        return None
    return _event(session, invitation, "registration_started", now)


def record_opt_out(session: Session, secret: Secret, token: str, now: Optional[datetime] = None) -> Counterparty:
    """The opt-out link was followed: the counterparty gets no more campaign mail, ever (every
    scheduled mail cancelled, open invitations ended). Idempotent. Raises ``LinkError``
    (``forged``/``unknown``) for a link that is not ours."""
    now = now or utcnow()
    invitation = read_optout_token(session, secret, token)
    cp = invitation.counterparty
    if cp.opted_out_at is not None:
        return cp
    cp.opted_out_at = now
    if cp.status != "enrolled":
        cp.status, cp.status_at = "opted_out", now
    session.flush()
    stop_mailing(session, cp.id, now, invitation_status="opted_out")
    _event(session, invitation, "opted_out", now)
    session.flush()
    session.refresh(invitation)
    return cp


def record_bounce(session: Session, mail: CampaignMail, reason: str, now: datetime, *, source: str) -> bool:
    """A mail bounced (``source``: ``smtp`` refusal or ``dsn``): the mail ``bounced``, the
    counterparty's address marked bad, nothing more sent to it. Idempotent: False when this
    mail's bounce was already on record."""
    if mail.status == "bounced":
        return False
    mail.status, mail.error = "bounced", reason[:2000]
    invitation = mail.invitation
    cp = invitation.counterparty
    first = cp.bounced_at is None
    if first:
        cp.bounced_at, cp.bounce_reason = now, reason[:2000]
        if cp.status in ("new", "invited", "registering"):
            cp.status, cp.status_at = "bounced", now
    session.flush()
    stop_mailing(session, cp.id, now, invitation_status="bounced")
    _event(session, invitation, "bounced", now, mail_id=mail.id,
           detail={"step": mail.step, "source": source, "reason": reason[:500]})
    return True


# --- the funnel --------------------------------------------------------------------------------

def _scope(q, campaign_id: int, wave_id: Optional[int]):
    q = q.where(TrackingEvent.campaign_id == campaign_id)
    return q.where(TrackingEvent.wave_id == wave_id) if wave_id is not None else q


def funnel(session: Session, campaign_id: int, wave_id: Optional[int] = None) -> list[StageCount]:
    """The campaign's (or one wave's) funnel: distinct counterparties per stage, in ``STAGES``
    order and cumulative (see the module), then the exits (``EXITS``)."""
    inv = sa.select(sa.func.count(sa.distinct(Invitation.counterparty_id))).where(
        Invitation.campaign_id == campaign_id)
    if wave_id is not None:
        inv = inv.where(Invitation.wave_id == wave_id)
    out = [StageCount("invited", session.scalar(inv) or 0)]
    for i, stage in enumerate(STAGES[1:], start=1):
        kinds = STAGES[i:]
        q = _scope(sa.select(sa.func.count(sa.distinct(TrackingEvent.counterparty_id)))
                   .where(TrackingEvent.kind.in_(kinds)), campaign_id, wave_id)
        out.append(StageCount(stage, session.scalar(q) or 0))
    for kind in EXITS:
        q = _scope(sa.select(sa.func.count(sa.distinct(TrackingEvent.counterparty_id)))
                   .where(TrackingEvent.kind == kind), campaign_id, wave_id)
        out.append(StageCount(kind, session.scalar(q) or 0, exit=True))
    return out


def timeline(session: Session, counterparty_id: int) -> list[TrackingEvent]:
    """Everything that happened to one counterparty, oldest first."""
    return list(session.scalars(sa.select(TrackingEvent).where(TrackingEvent.counterparty_id == counterparty_id)
                                .order_by(TrackingEvent.at, TrackingEvent.id)))


# --- CSV exports -------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab/CR) gets a
    leading quote (imported company names are not trusted)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(list(header))
    for row in rows:
        w.writerow([_cell(v) for v in row])
    return buf.getvalue()


def funnel_csv(session: Session, campaign_id: int, wave_id: Optional[int] = None) -> str:
    """``stage,label,count`` per stage, then the exits; for the whole campaign and per wave."""
    waves = [wave_id] if wave_id is not None else [None] + list(
        session.scalars(sa.select(Wave.id).where(Wave.campaign_id == campaign_id).order_by(Wave.send_at, Wave.id)))
    names = dict(session.execute(sa.select(Wave.id, Wave.name).where(Wave.campaign_id == campaign_id)).all())
    rows = []
    for w in waves:
        for sc in funnel(session, campaign_id, w):
            rows.append([names.get(w, "") if w is not None else "(all waves)", sc.stage, sc.label, sc.count])
    return _csv(["wave", "stage", "label", "count"], rows)


STATUS_COLUMNS = ("counterparty_id", "name", "siren", "siret", "vat", "gln", "email", "contact", "segment",
                  "language", "status", "campaign_id", "wave", "invitation_status", "mails_sent", "last_step",
                  "last_sent_at", "opened_at", "clicked_at", "registration_started_at", "enrolled_at",
                  "opted_out_at", "bounced_at", "bounce_reason", "partner_id")


def counterparty_rows(session: Session, campaign_id: Optional[int] = None,
                      wave_id: Optional[int] = None) -> list[dict[str, Any]]:
    """Per counterparty (per invitation when a campaign is given): where it stands."""
    if campaign_id is None:
        q = sa.select(Counterparty, sa.null()).order_by(Counterparty.id)
    else:
        q = (sa.select(Counterparty, Invitation).join(Invitation, Invitation.counterparty_id == Counterparty.id)
             .where(Invitation.campaign_id == campaign_id).order_by(Counterparty.id))
        if wave_id is not None:
            q = q.where(Invitation.wave_id == wave_id)
    pairs = session.execute(q).all()
    inv_ids = [inv.id for _, inv in pairs if inv is not None]
    sent: dict[int, tuple[int, Optional[str], Optional[datetime]]] = {}
    started: dict[int, datetime] = {}
    wave_names = dict(session.execute(sa.select(Wave.id, Wave.name)).all()) if inv_ids else {}
    for chunk in (inv_ids[i:i + 500] for i in range(0, len(inv_ids), 500)):
        for m in session.scalars(sa.select(CampaignMail).where(CampaignMail.invitation_id.in_(chunk),
                                                               CampaignMail.status.in_(("sent", "bounced")),
                                                               CampaignMail.sent_at.is_not(None))
                                 .order_by(CampaignMail.sent_at, CampaignMail.id)):
            n, _, _ = sent.get(m.invitation_id, (0, None, None))
            sent[m.invitation_id] = (n + 1, m.step, m.sent_at)
        for inv_id, at in session.execute(sa.select(TrackingEvent.invitation_id, sa.func.min(TrackingEvent.at))
                                          .where(TrackingEvent.invitation_id.in_(chunk),
                                                 TrackingEvent.kind == "registration_started")
                                          .group_by(TrackingEvent.invitation_id)):
            started[inv_id] = at
    rows = []
    for cp, inv in pairs:
        n, last_step, last_at = sent.get(inv.id, (0, None, None)) if inv is not None else (0, None, None)
        rows.append({
            "counterparty_id": cp.id, "name": cp.name, "siren": cp.siren, "siret": cp.siret, "vat": cp.vat,
            "gln": cp.gln, "email": cp.email, "contact": cp.contact_name, "segment": cp.segment,
            "language": cp.language, "status": cp.status,
            "campaign_id": inv.campaign_id if inv is not None else None,
            "wave": wave_names.get(inv.wave_id) if inv is not None else None,
            "invitation_status": inv.status if inv is not None else None,
            "mails_sent": n, "last_step": last_step, "last_sent_at": last_at,
            "opened_at": inv.first_opened_at if inv is not None else None,
            "clicked_at": inv.first_clicked_at if inv is not None else None,
            "registration_started_at": started.get(inv.id) if inv is not None else None,
            "enrolled_at": cp.enrolled_at, "opted_out_at": cp.opted_out_at, "bounced_at": cp.bounced_at,
            "bounce_reason": cp.bounce_reason, "partner_id": cp.partner_id,
        })
    return rows


def counterparties_csv(session: Session, campaign_id: Optional[int] = None, wave_id: Optional[int] = None) -> str:
    """``counterparty_rows`` as CSV (``STATUS_COLUMNS``)."""
    return _csv(STATUS_COLUMNS, ([r[c] for c in STATUS_COLUMNS] for r in counterparty_rows(session, campaign_id,
                                                                                            wave_id)))
