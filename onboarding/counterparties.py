"""Staff's changes to one counterparty: correct what the import said, and invite it again.

``edit_counterparty`` checks and applies a correction (name, e-mail, contact, language,
segment); a new e-mail address for a counterparty whose mail bounced makes it invitable again.
``reinvite`` sends one invitation again now: a new link (the old ones stop working), valid
``link_valid_days`` from now, in a mail of its own (``invitation-2``, ``invitation-3``…: the
(invitation, step) pair stays unique, so a double click cannot send it twice). Both leave a
tracking event, so the counterparty's timeline says who changed what and when.

Commit is the caller's; refusals are ``CampaignInputError`` naming the field.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.model.identifiers import check_email

from .campaigns import CampaignInputError, check_segment
from .links import new_nonce
from .models import LANGUAGES, CampaignMail, Counterparty, Invitation
from .reasons import reason, stored
from .tracking import record_event

EDITABLE = ("name", "email", "contact_name", "language", "segment")
_NOT_AGAIN = {"enrolled": "is_enrolled", "existing_partner": "is_partner", "reachable_elsewhere": "elsewhere",
              "opted_out": "opted_out"}          # a status → the code of why (reasons.REASONS)


def edit_counterparty(session: Session, cp: Counterparty, *, by: Optional[str] = None,
                      now: Optional[datetime] = None, **changes: Any) -> list[str]:
    """Apply ``changes`` (``EDITABLE`` fields); returns the names of the fields that changed."""
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in EDITABLE:
            raise CampaignInputError(key, "not a field staff may change")
        text = " ".join(str(value or "").split())
        if key == "name":
            if not text or len(text) > 300:
                raise CampaignInputError(key, "required, at most 300 characters")
        elif key == "email":
            text = text.lower()
            if text and (check_email(text) is not None or len(text) > 320):
                raise CampaignInputError(key, f"{text!r} is not an e-mail address")
        elif key == "contact_name":
            if len(text) > 200:
                raise CampaignInputError(key, "at most 200 characters")
        elif key == "language":
            if text not in LANGUAGES:
                raise CampaignInputError(key, f"{text!r}: expected one of {', '.join(LANGUAGES)}")
        elif key == "segment":
            text = check_segment(text)
        values[key] = text or (None if key in ("email", "contact_name") else text)
    changed = [k for k, v in values.items() if getattr(cp, k) != v]
    for key in changed:
        setattr(cp, key, values[key])
    if "email" in changed and cp.bounced_at is not None and cp.email:
        cp.bounced_at, cp.bounce_reason = None, None        # a new address: worth trying again
        if cp.status == "bounced":
            cp.status = "invited" if cp.invitations else "new"
    if changed:
        record_event(session, None, "edited", now=now, counterparty_id=cp.id,
                     detail={"fields": changed, "by": by or ""})
    session.flush()
    return changed


def _refused(field: str, why: Any) -> CampaignInputError:
    """The refusal, its reason kept (``said``) to be worded in the reader's language."""
    error = CampaignInputError(field, str(why))
    error.said = stored(why)
    return error


def reinvite(session: Session, invitation: Invitation, *, now: datetime, by: Optional[str] = None) -> CampaignMail:
    """Invite again now, with a new link (see the module). Refused while the campaign is closed,
    or when the counterparty may not be written to."""
    cp, campaign = invitation.counterparty, invitation.campaign
    if campaign.status == "closed":
        raise _refused("campaign", reason("campaign_closed", campaign=repr(campaign.name)))
    why = _NOT_AGAIN.get(cp.status)
    if why is None and cp.opted_out_at is not None:
        why = _NOT_AGAIN["opted_out"]
    if why is None and invitation.used_at is not None:
        why = _NOT_AGAIN["enrolled"]
    if why is None and not cp.email:
        why = "no_address"
    if why is None and cp.bounced_at is not None:
        why = "address_bounced"
    if why is not None:
        raise _refused("counterparty", reason("not_again", name=cp.name, why=reason(why)))
    sent_before = session.scalar(sa.select(sa.func.count()).select_from(CampaignMail).where(
        CampaignMail.invitation_id == invitation.id, CampaignMail.step.like("invitation%"))) or 0
    invitation.token_nonce = new_nonce()               # the links sent before stop working
    invitation.status, invitation.status_at = "pending", now
    invitation.expires_at = now + timedelta(days=campaign.link_valid_days)
    mail = CampaignMail(invitation_id=invitation.id, step=f"invitation-{sent_before + 1}", status="scheduled",
                        due_at=now, created_at=now, updated_at=now)
    session.add(mail)
    if cp.status == "new":
        cp.status, cp.status_at = "invited", now
    record_event(session, invitation, "reinvited", now=now, detail={"step": mail.step, "by": by or ""})
    session.flush()
    return mail
