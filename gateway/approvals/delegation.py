"""Delegation while someone is away: for a period, a delegate sees and decides what waits for them.

A delegation names a user, a delegate (a recipient login of the same organisation), a period
(``starts_at`` inclusive, ``ends_at`` exclusive) and a reason; it can be cut short (``end``),
and it holds only while both logins are active recipients of the organisation (someone who
left or changed role no longer lends their authority). A decision the delegate takes is
recorded as theirs, on behalf of the awaited user they stand in for.

A delegate who is away too passes it on: alice → dave, dave away → bob, and bob decides for
alice (and dave), the record naming alice. The chain is followed at most ``MAX_CHAIN`` steps
and never comes back to someone already in it, so a circle (alice → dave → alice) ends instead
of looping; a delegation to someone who names you for an overlapping period is refused.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa

from gateway.db import ApprovalDelegation, User, utcnow

from .errors import ApprovalError

MAX_PERIOD = timedelta(days=366)
MAX_LIST = 200
MAX_CHAIN = 3                  # delegations followed from the awaited user to whoever decides


def _current(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(ApprovalDelegation.starts_at <= now, ApprovalDelegation.ends_at > now,
                   ApprovalDelegation.ended_at.is_(None))


def _usable(s, ids: set[int]) -> set[int]:
    """Of ``ids``, the active recipient logins (a delegation needs both ends still there)."""
    if not ids:
        return set()
    return set(s.scalars(sa.select(User.id).where(User.id.in_(ids), User.active.is_(True),
                                                  User.role == "recipient")))


def _follow(s, start: int, now: datetime, *, forward: bool) -> list[int]:
    """The users reached from ``start`` along current delegations (forward: to their delegates;
    backward: to whoever named them), nearest first, at most ``MAX_CHAIN`` steps, each once."""
    here, there = ((ApprovalDelegation.user_id, ApprovalDelegation.delegate_id) if forward
                   else (ApprovalDelegation.delegate_id, ApprovalDelegation.user_id))
    seen, frontier, out = {start}, [start], []
    for _ in range(MAX_CHAIN):
        if not frontier:
            break
        pairs = s.execute(sa.select(here, there).where(here.in_(frontier), _current(now))
                          .order_by(ApprovalDelegation.id)).all()
        usable = _usable(s, {a for a, _ in pairs} | {b for _, b in pairs})
        frontier = []
        for a, b in pairs:
            if a in usable and b in usable and b not in seen:
                seen.add(b)
                frontier.append(b)
                out.append(b)
    return out


def standing_in_for(s, delegate_id: int, now: datetime) -> list[int]:
    """Whom ``delegate_id`` stands in for now: who named them, and who named those (chain), nearest first."""
    return _follow(s, delegate_id, now, forward=False)


def delegates_of(s, user_id: int, now: datetime) -> list[int]:
    """Who stands in for ``user_id`` now: their delegates, and the delegates of those who are away too."""
    return _follow(s, user_id, now, forward=True)


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
    circle = s.scalar(sa.select(ApprovalDelegation.id).where(
        ApprovalDelegation.user_id == other.id, ApprovalDelegation.delegate_id == user.id,
        ApprovalDelegation.ended_at.is_(None), ApprovalDelegation.starts_at < ends_at,
        ApprovalDelegation.ends_at > starts_at).limit(1))
    if circle is not None:
        raise ApprovalError(f"{other.username} is away then too and named you as their delegate "
                            f"(delegation {circle}): a delegation cannot go round in a circle", field="delegate")
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
