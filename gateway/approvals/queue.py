"""What waits for one approver: their queue (own turns, turns of whoever they stand in for, and
escalations addressed to them), and one case's trail as the pages and the API show it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from gateway.db import ApprovalCase, ApprovalDecision, DocumentRecord, User, utcnow
from gateway.db.approvals import OPEN_STATES

from . import cases

MAX_QUEUE = 500


@dataclass
class Item:
    """One invoice in a queue, or one case as its page shows it."""
    case: ApprovalCase
    document: DocumentRecord
    awaited: list[str]
    capacity: Optional[str] = None            # how the viewer may decide (None: they may not)
    on_behalf_of: Optional[str] = None
    approvers: list[str] = field(default_factory=list)
    escalate_to: list[str] = field(default_factory=list)
    decisions: list[ApprovalDecision] = field(default_factory=list)

    # what schemas write
    @property
    def document_id(self) -> int:
        return self.case.document_id

    def __getattr__(self, name: str) -> Any:       # the case's own columns (state, rule_name, step…)
        if name.startswith("_") or name == "case":
            raise AttributeError(name)
        return getattr(self.case, name)


def _item(s, case: ApprovalCase, viewer: Optional[User], now: datetime) -> Item:
    cap = cases.capacity_of(s, case, viewer, now) if viewer is not None else None
    item = Item(case=case, document=s.get(DocumentRecord, case.document_id),
                awaited=cases.names(s, cases.awaited(case)),
                approvers=cases.names(s, list(case.approvers or ())),
                escalate_to=cases.names(s, list(case.escalate_to or ())),
                decisions=list(case.decisions))
    if cap is not None:
        item.capacity = cap.capacity
        item.on_behalf_of = cases.names(s, [cap.on_behalf_of])[0] if cap.on_behalf_of else None
    return item


def waiting_for(s, user: User, now: datetime, *, limit: int = MAX_QUEUE) -> list[Item]:
    """The invoices ``user`` may decide on now, oldest wait first."""
    if user.partner_id is None:
        return []
    q = (sa.select(ApprovalCase).where(ApprovalCase.organisation_id == user.partner_id,
                                       ApprovalCase.state.in_(OPEN_STATES))
         .options(selectinload(ApprovalCase.decisions)).order_by(ApprovalCase.step_since, ApprovalCase.id)
         .limit(MAX_QUEUE * 4))
    out = []
    for case in s.scalars(q):
        if cases.capacity_of(s, case, user, now) is not None:
            out.append(_item(s, case, user, now))
            if len(out) >= limit:
                break
    return out


def open_cases(s, *, partner_id: Optional[int] = None, limit: int = MAX_QUEUE) -> list[Item]:
    """Every case still open (of one organisation), oldest wait first: an operator's view."""
    q = sa.select(ApprovalCase).where(ApprovalCase.state.in_(OPEN_STATES))
    if partner_id is not None:
        q = q.where(ApprovalCase.organisation_id == partner_id)
    rows = s.scalars(q.options(selectinload(ApprovalCase.decisions))
                     .order_by(ApprovalCase.step_since, ApprovalCase.id).limit(limit))
    now = utcnow()
    return [_item(s, c, None, now) for c in rows]


def trail(s, document_id: int, viewer: Optional[User] = None, now: Optional[datetime] = None) -> Optional[Item]:
    """One document's case with its decisions (None: it never waited for approval)."""
    case = cases.of_document(s, document_id)
    if case is None:
        return None
    return _item(s, case, viewer, now or utcnow())


__all__ = ["Item", "waiting_for", "open_cases", "trail"]
