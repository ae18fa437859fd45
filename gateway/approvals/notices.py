"""What approvers are told: notification records (``ApprovalNotice``), not mail.

Users have no mail address on record (a login is a username and a role), so the workflow
writes a notice per addressee: an invoice now waits for you, a reminder, an escalation. The
portal's approval queue and the API's show them. Each notice also goes to whoever stands in
for the addressee now (``delegation``), so nothing waits unseen while someone is away.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa

from gateway.db import ApprovalCase, ApprovalNotice, DocumentRecord

from . import delegation

MAX_LIST = 50
WORDING = {
    "waiting": "invoice {number} waits for your approval (rule {rule})",
    "reminder": "reminder: invoice {number} still waits for your approval since {since:%Y-%m-%d %H:%M} UTC",
    "escalation": "escalated to you: invoice {number} has waited for approval since {since:%Y-%m-%d %H:%M} UTC",
}


def tell(s, case: ApprovalCase, user_ids: Iterable[int], kind: str, now: datetime) -> list[int]:
    """A notice of ``kind`` for each of ``user_ids`` and their delegates now; the users told."""
    doc = s.get(DocumentRecord, case.document_id)
    message = WORDING[kind].format(number=(doc.number if doc is not None else None) or f"#{case.document_id}",
                                   rule=case.rule_name, since=case.step_since)[:500]
    told: list[int] = []
    for user_id in user_ids:
        for who in [user_id, *delegation.delegates_of(s, user_id, now)]:
            if who not in told:
                s.add(ApprovalNotice(case_id=case.id, user_id=who, kind=kind, message=message, at=now))
                told.append(who)
    return told


def of_user(s, user_id: int, *, limit: int = MAX_LIST) -> list[ApprovalNotice]:
    """A user's latest notices, newest first."""
    return list(s.scalars(sa.select(ApprovalNotice).where(ApprovalNotice.user_id == user_id)
                          .order_by(ApprovalNotice.at.desc(), ApprovalNotice.id.desc()).limit(limit)))


def of_case(s, case_id: int) -> list[ApprovalNotice]:
    return list(s.scalars(sa.select(ApprovalNotice).where(ApprovalNotice.case_id == case_id)
                          .order_by(ApprovalNotice.at, ApprovalNotice.id)))
