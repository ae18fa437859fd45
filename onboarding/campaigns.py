"""Campaigns, their waves and their wording, as staff set them up (pages and CLI share these).

A campaign is created ``draft``; waves (a segment, a send date) and template
overrides are added; ``start_campaign`` makes it ``running`` and from then on
the sweep starts each wave when its date comes (``onboarding.mailing``).
``pause_campaign`` holds every mail not yet sent (they go when it runs again);
``close_campaign`` ends it: nothing more is sent.

Every function checks its input and raises ``CampaignInputError`` (a
``ValueError``) with a message naming the field, before anything is written;
commit is the caller's.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import compare_and_set, utcnow
from gateway.model.errors import EdigateError

from . import wording
from .models import CAMPAIGN_KINDS, LANGUAGES, STEPS, Campaign, CampaignTemplate, Counterparty, Invitation, Wave
from .templating import (RenderedMail, TemplateProblem, check_template, long_date, render, resolve,
                         sample_context, template_step)

MAX_REMINDERS = 10
MAX_DAYS = 365
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+")
_SEGMENT = re.compile(r"[\w .&/+-]{0,64}")

# Campaign fields staff may set, and their checks.
_FIELDS = ("description", "information_lead_days", "reminder_count", "reminder_interval_days", "link_valid_days",
           "mail_rate_per_minute", "from_address", "sender_name", "inviter", "kind")


class CampaignInputError(EdigateError, ValueError):
    """Refused campaign, wave or template input; ``field`` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _int(field: str, value: Any, low: int, high: int, *, optional: bool = False) -> Optional[int]:
    if value is None or value == "":
        if optional:
            return None
        raise CampaignInputError(field, "required")
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise CampaignInputError(field, f"{value!r} is not a whole number") from None
    if not low <= n <= high:
        raise CampaignInputError(field, f"{n} is out of range ({low} to {high})")
    return n


def check_segment(value: Optional[str]) -> str:
    segment = (value or "").strip()
    if not _SEGMENT.fullmatch(segment):
        raise CampaignInputError("segment", f"{segment!r}: at most 64 letters, digits, spaces and . & / + -")
    return segment


def _checked(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in _FIELDS:
            raise CampaignInputError(key, "not a campaign setting")
        if key == "description":
            out[key] = (value or "").strip() or None
        elif key == "information_lead_days":
            out[key] = _int(key, value, 1, MAX_DAYS, optional=True)
        elif key == "reminder_count":
            out[key] = _int(key, value, 0, MAX_REMINDERS)
        elif key in ("reminder_interval_days", "link_valid_days"):
            out[key] = _int(key, value, 1, MAX_DAYS)
        elif key == "mail_rate_per_minute":
            out[key] = _int(key, value, 1, 1_000_000, optional=True)
        elif key in ("sender_name", "inviter"):
            text = " ".join((value or "").split()) or None
            if text is not None and (len(text) > 200 or any(c in text for c in "<>\"")):
                raise CampaignInputError(key, "at most 200 characters, without < > or \"")
            out[key] = text
        elif key == "kind":
            if value not in CAMPAIGN_KINDS:
                raise CampaignInputError(key, f"{value!r}: expected one of {', '.join(CAMPAIGN_KINDS)}")
            out[key] = value
        elif key == "from_address":
            address = (value or "").strip() or None
            if address is not None and not _EMAIL.fullmatch(address):
                raise CampaignInputError(key, f"{address!r} is not an e-mail address")
            out[key] = address
    return out


def create_campaign(session: Session, name: str, *, created_by: Optional[str] = None, **settings: Any) -> Campaign:
    """A new ``draft`` campaign (settings: ``_FIELDS``; unset ones take the model's defaults)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise CampaignInputError("name", "required, at most 200 characters")
    if session.scalar(sa.select(Campaign.id).where(Campaign.name == name)) is not None:
        raise CampaignInputError("name", f"a campaign named {name!r} already exists")
    campaign = Campaign(name=name, created_by=created_by, **_checked(settings))
    session.add(campaign)
    session.flush()
    return campaign


def update_campaign(session: Session, campaign: Campaign, **changes: Any) -> Campaign:
    """Change settings; a closed campaign is kept as it ended. Cadence changes apply to the
    reminders not yet scheduled."""
    if campaign.status == "closed":
        raise CampaignInputError("status", f"campaign {campaign.name!r} is closed")
    if "name" in changes:
        name = (changes.pop("name") or "").strip()
        if not name or len(name) > 200:
            raise CampaignInputError("name", "required, at most 200 characters")
        if session.scalar(sa.select(Campaign.id).where(Campaign.name == name, Campaign.id != campaign.id)):
            raise CampaignInputError("name", f"a campaign named {name!r} already exists")
        campaign.name = name
    for key, value in _checked(changes).items():
        setattr(campaign, key, value)
    session.flush()
    return campaign


def find_campaign(session: Session, ref: str | int) -> Campaign:
    """A campaign by id or name; ``LookupError`` saying so when there is none."""
    if isinstance(ref, int) or (isinstance(ref, str) and (ref.isascii() and ref.isdigit())):
        c = session.get(Campaign, int(ref))
        if c is not None:
            return c
    c = session.scalar(sa.select(Campaign).where(Campaign.name == str(ref)))
    if c is None:
        raise LookupError(f"no campaign {ref!r}")
    return c


def _set_status(campaign: Campaign, status: str, allowed_from: tuple[str, ...]) -> Campaign:
    if campaign.status not in allowed_from:
        raise CampaignInputError("status", f"campaign {campaign.name!r} is {campaign.status}; it can be made "
                                           f"{status} only from {' or '.join(allowed_from)}")
    campaign.status = status
    return campaign


def start_campaign(session: Session, campaign: Campaign) -> Campaign:
    """``running``: its waves start when their date comes (and mails held by a pause go)."""
    return _set_status(campaign, "running", ("draft", "paused"))


def pause_campaign(session: Session, campaign: Campaign) -> Campaign:
    return _set_status(campaign, "paused", ("running",))


def close_campaign(session: Session, campaign: Campaign, now: Optional[datetime] = None) -> Campaign:
    """``closed``: mails not yet sent are cancelled, waves not started are cancelled (started ones
    are done), open invitations are stopped (their links say so)."""
    from .models import CampaignMail
    now = now or utcnow()
    _set_status(campaign, "closed", ("draft", "running", "paused"))
    inv_ids = sa.select(Invitation.id).where(Invitation.campaign_id == campaign.id)
    compare_and_set(session, CampaignMail, CampaignMail.invitation_id.in_(inv_ids), CampaignMail.status == "scheduled",
                    status="cancelled", error="campaign closed", updated_at=now)
    compare_and_set(session, Invitation,
                    Invitation.campaign_id == campaign.id, Invitation.status.in_(("pending", "sent", "registering")),
                    status="stopped", status_at=now)
    compare_and_set(session, Wave, Wave.campaign_id == campaign.id, Wave.status == "scheduled", status="cancelled")
    compare_and_set(session, Wave, Wave.campaign_id == campaign.id, Wave.status == "running", status="done")
    session.flush()
    session.expire_all()
    return campaign


# --- waves -------------------------------------------------------------------------------------

def add_wave(session: Session, campaign: Campaign, name: str, send_at: datetime, segment: str = "") -> Wave:
    """A wave of ``campaign``: every invitable counterparty of ``segment`` ("" = all segments) not
    invited yet, invited at ``send_at`` (timezone-aware)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise CampaignInputError("name", "required, at most 200 characters")
    if campaign.status == "closed":
        raise CampaignInputError("campaign", f"campaign {campaign.name!r} is closed")
    if not isinstance(send_at, datetime) or send_at.tzinfo is None:
        raise CampaignInputError("send_at", "give a date and time with a time zone")
    if session.scalar(sa.select(Wave.id).where(Wave.campaign_id == campaign.id, Wave.name == name)) is not None:
        raise CampaignInputError("name", f"campaign {campaign.name!r} already has a wave named {name!r}")
    wave = Wave(campaign=campaign, name=name, send_at=send_at, segment=check_segment(segment))
    session.add(wave)
    session.flush()
    return wave


def update_wave(session: Session, wave: Wave, *, name: Optional[str] = None, send_at: Optional[datetime] = None,
                segment: Optional[str] = None) -> Wave:
    """Change a wave that has not started yet."""
    if wave.status != "scheduled":
        raise CampaignInputError("status", f"wave {wave.name!r} is {wave.status}: only a scheduled wave changes")
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise CampaignInputError("name", "required, at most 200 characters")
        if session.scalar(sa.select(Wave.id).where(Wave.campaign_id == wave.campaign_id, Wave.name == name,
                                                   Wave.id != wave.id)):
            raise CampaignInputError("name", f"this campaign already has a wave named {name!r}")
        wave.name = name
    if send_at is not None:
        if send_at.tzinfo is None:
            raise CampaignInputError("send_at", "give a date and time with a time zone")
        wave.send_at = send_at
    if segment is not None:
        wave.segment = check_segment(segment)
    session.flush()
    return wave


def cancel_wave(session: Session, wave: Wave) -> Wave:
    if wave.status != "scheduled":
        raise CampaignInputError("status", f"wave {wave.name!r} is {wave.status}: only a scheduled wave is cancelled")
    wave.status = "cancelled"
    return wave


# --- templates ---------------------------------------------------------------------------------

def set_template(session: Session, campaign: Campaign, step: str, language: str, *, subject: str,
                 body_text: str, body_html: Optional[str] = None, segment: str = "",
                 updated_by: Optional[str] = None) -> CampaignTemplate:
    """The campaign's own wording for ``step``/``language``/``segment`` (created or replaced),
    checked first by rendering it with sample values (``TemplateProblem`` says what is wrong)."""
    if step not in STEPS:
        raise CampaignInputError("step", f"{step!r}: expected one of {', '.join(STEPS)}")
    if language not in LANGUAGES:
        raise CampaignInputError("language", f"{language!r}: expected one of {', '.join(LANGUAGES)}")
    segment = check_segment(segment)
    check_template(step, language, subject, body_text, body_html)
    row = session.scalar(sa.select(CampaignTemplate).where(
        CampaignTemplate.campaign_id == campaign.id, CampaignTemplate.step == step,
        CampaignTemplate.language == language, CampaignTemplate.segment == segment))
    if row is None:
        row = CampaignTemplate(campaign=campaign, step=step, language=language, segment=segment)
        session.add(row)
    row.subject, row.body_text, row.body_html = subject.strip(), body_text, None     # HTML: drawn from the text
    row.updated_by = updated_by
    session.flush()
    return row


def delete_template(session: Session, campaign: Campaign, step: str, language: str, segment: str = "") -> bool:
    """Back to the next less specific wording. False when there was no such override."""
    row = session.scalar(sa.select(CampaignTemplate).where(
        CampaignTemplate.campaign_id == campaign.id, CampaignTemplate.step == step,
        CampaignTemplate.language == language, CampaignTemplate.segment == (segment or "")))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def inviter_of(session: Optional[Session], campaign: Any) -> str:
    """The company a campaign's mails name as inviting: its own setting, else our organisation's
    name (the first one), else the campaign's name."""
    if getattr(campaign, "inviter", None):
        return campaign.inviter
    if session is not None:
        from gateway.db import Organisation
        name = session.scalar(sa.select(Organisation.name).order_by(Organisation.id).limit(1))
        if name:
            return name
    return campaign.name


def mail_context(campaign: Campaign, counterparty: Counterparty, *, registration_url: str, optout_url: str,
                 expires_at: datetime, step: str) -> dict[str, Any]:
    """What a template sees for one mail (strings and numbers only: the sandbox gets no objects).
    ``campaign.inviter`` is expected filled (``inviter_of``); else the campaign's name."""
    number = int(step.split("-", 1)[1]) if step.startswith("reminder-") else 0
    lang = counterparty.language
    contact = counterparty.contact_name or ""
    return {
        "company": counterparty.name, "contact": contact, "greeting": wording.greeting(lang, contact),
        "inviter": getattr(campaign, "inviter", None) or campaign.name,
        "sender": getattr(campaign, "sender_name", None) or "", "email": counterparty.email or "",
        "siren": counterparty.siren or "", "siret": counterparty.siret or "", "vat": counterparty.vat or "",
        "gln": counterparty.gln or "", "segment": counterparty.segment or "", "language": lang,
        "campaign": campaign.name, "registration_url": registration_url, "optout_url": optout_url,
        "expires_on": long_date(expires_at, lang), "reminder_number": number,
        "reminder_count": campaign.reminder_count,
    }


def preview(campaign: Campaign, step: str, language: str, segment: str = "",
            counterparty: Optional[Counterparty] = None, *, public_url: str = "https://edigate.example",
            now: Optional[datetime] = None) -> RenderedMail:
    """What a mail of ``step`` (``information``, ``invitation``, ``reminder`` or ``reminder-N``)
    looks like for ``language``/``segment``: sample company data, or ``counterparty``'s. The links
    are placeholders (a preview never makes a working registration link). ``origin`` says which
    wording was used. Raises ``TemplateProblem`` for a template that does not render."""
    from datetime import timedelta
    from sqlalchemy.orm import object_session
    base = template_step(step)
    if language not in LANGUAGES:
        raise CampaignInputError("language", f"{language!r}: expected one of {', '.join(LANGUAGES)}")
    mail_step = step if step != "reminder" else "reminder-1"
    session = object_session(campaign)
    source = resolve(session, campaign.id, base, language, segment)
    ctx = sample_context(language, segment, public_url=public_url, campaign=campaign.name)
    ctx["inviter"], ctx["sender"] = inviter_of(session, campaign), campaign.sender_name or ""
    if counterparty is not None:
        expires = (now or utcnow()) + timedelta(days=campaign.link_valid_days)
        inviter = ctx["inviter"]
        ctx = mail_context(campaign, counterparty, registration_url=ctx["registration_url"],
                           optout_url=ctx["optout_url"], expires_at=expires, step=mail_step)
        ctx["language"], ctx["segment"], ctx["inviter"] = language, segment or ctx["segment"], inviter
        ctx["greeting"] = wording.greeting(language, ctx["contact"])
        ctx["expires_on"] = long_date(expires, language)
    else:
        ctx["reminder_number"] = int(mail_step.split("-")[1]) if mail_step.startswith("reminder-") else 0
        ctx["reminder_count"] = campaign.reminder_count
    return render(source, ctx)


__all__ = ["CampaignInputError", "TemplateProblem", "create_campaign", "update_campaign", "find_campaign",
           "start_campaign", "pause_campaign", "close_campaign", "add_wave", "update_wave", "cancel_wave",
           "set_template", "delete_template", "preview", "mail_context", "check_segment", "inviter_of"]
