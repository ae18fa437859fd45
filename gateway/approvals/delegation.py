"""Delegation while someone is away: for a period, a delegate sees and decides what waits for them.

A delegation names a user, a delegate (a recipient login of the same organisation), a period
(``starts_at`` inclusive, ``ends_at`` exclusive) and a reason; it can be cut short (``end``). A
decision the delegate takes is recorded as theirs, on behalf of the user they stand in for.
Delegation does not chain: a delegate decides for the user who named them, not for whoever
named that user, so the record always says plainly whose decision it replaced.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa

from gateway.db import ApprovalDelegation, User, utcnow

from .errors import ApprovalError

MAX_PERIOD = timedelta(days=366)
MAX_LIST = 200


def active_for_delegate(s, delegate_id: int, now: datetime) -> list[ApprovalDelegation]:
    """The delegations ``delegate_id`` acts under now."""
    return list(s.scalars(sa.select(ApprovalDelegation).where(
        ApprovalDelegation.delegate_id == delegate_id, ApprovalDelegation.starts_at <= now,
        ApprovalDelegation.ends_at > now, ApprovalDelegation.ended_at.is_(None)).order_by(ApprovalDelegation.id)))


def delegates_of(s, user_id: int, now: datetime) -> list[int]:
    """Who stands in for ``user_id`` now."""
    return list(s.scalars(sa.select(ApprovalDelegation.delegate_id).where(
        ApprovalDelegation.user_id == user_id, ApprovalDelegation.starts_at <= now,
        ApprovalDelegation.ends_at > now, ApprovalDelegation.ended_at.is_(None))))


def of_user(s, user_id: int, *, limit: int = MAX_LIST) -> list[ApprovalDelegation]:
    """Delegations a user gave or received, newest first."""
    return list(s.scalars(sa.select(ApprovalDelegation).where(
        sa.or_(ApprovalDelegation.user_id == user_id, ApprovalDelegation.delegate_id == user_id))
        .order_by(ApprovalDelegation.id.desc()).limit(limit)))


def delegate(s, user: User, delegate_name: str, *, starts_at: Optional[datetime] = None, ends_at: datetime,
             reason: Optional[str] = None, by: str) -> ApprovalDelegation:
    """``user`` is away from ``starts_at`` (default now) until ``ends_at``: ``delegate_name`` decides."""
    now = utcnow()
    starts_at = starts_at or now
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ApprovalError("give the time with its time zone", field=name)
    if ends_at <= starts_at:
        raise ApprovalError("the period ends before it starts", field="ends_at")
    if ends_at <= now:
        raise ApprovalError("the period is over already", field="ends_at")
    if ends_at - starts_at > MAX_PERIOD:
        raise ApprovalError(f"a delegation lasts at most {MAX_PERIOD.days} days", field="ends_at")
    other = s.scalar(sa.select(User).where(User.username == (delegate_name or "").strip()))
    if other is None or not other.active or other.role != "recipient" or other.partner_id != user.partner_id:
        raise ApprovalError(f"{delegate_name!r} is not an active login of your organisation", field="delegate")
    if other.id == user.id:
        raise ApprovalError("a delegate is someone else", field="delegate")
    reason = " ".join((reason or "").split())[:500] or None
    row = ApprovalDelegation(user_id=user.id, delegate_id=other.id, starts_at=starts_at, ends_at=ends_at,
                             reason=reason, created_by=by[:200], created_at=now)
    s.add(row)
    s.flush()
    return row


def end(s, user: User, delegation_id: int) -> ApprovalDelegation:
    """Cut a delegation short (its user or its delegate may); ending an ended one changes nothing."""
    row = s.get(ApprovalDelegation, delegation_id)
    if row is None or user.id not in (row.user_id, row.delegate_id):
        raise ApprovalError(f"no delegation {delegation_id} of yours", kind="missing")
    if row.ended_at is None:
        row.ended_at = max(utcnow(), row.starts_at)
    return row
