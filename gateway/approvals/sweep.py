"""Reminders and escalations, from the sweep (``gateway.jobs``), counted from when the current
step began to wait (``ApprovalCase.step_since``: the case's opening, or the previous approver's
decision in order).

* a reminder to whoever is awaited (and their delegates) once ``remind_after_hours`` have passed
  since the step began or since the last reminder, so at most one per delay, however often the
  sweep runs;
* an escalation, once per step, after ``escalate_after_hours``: the rule's ``escalate_to`` are
  told and may decide from then on (``cases.capacity_of``).

Both are notification records (``notices``); a case put on hold is being dealt with and is not
chased. Each case is claimed by compare-and-set on the time it was last chased, so two sweeps at
once send one reminder (``chase``). ``run``, the sweep's call, also releases or cancels what a
closed case still holds when the decision's own release did not happen (``flow.release.settle``).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa

from gateway.db import ApprovalCase, compare_and_set, utcnow
from gateway.flow.release import settle

from . import cases, notices

__all__ = ["run", "chase", "settle"]

MAX_PER_SWEEP = 500


def _due(gw, now: datetime) -> list[int]:
    with gw.session() as s:
        return list(s.scalars(sa.select(ApprovalCase.id).where(
            ApprovalCase.state == "waiting",
            sa.or_(ApprovalCase.remind_after_hours.is_not(None), ApprovalCase.escalate_after_hours.is_not(None)))
            .order_by(ApprovalCase.step_since).limit(MAX_PER_SWEEP)))


def run(gw, now: Optional[datetime] = None) -> dict[str, int]:
    """The sweep's call: reminders and escalations (``chase``), then held deliveries (``settle``)."""
    return {**chase(gw, now), **settle(gw, now)}


def chase(gw, now: Optional[datetime] = None) -> dict[str, int]:
    """Send what is due; how many reminders and escalations were recorded."""
    now = now or utcnow()
    counts = {"approval_reminders": 0, "approval_escalations": 0}
    for case_id in _due(gw, now):
        with gw.session() as s:
            case = s.get(ApprovalCase, case_id)
            if case is None or case.state != "waiting":
                continue
            if case.escalate_after_hours is not None and case.escalated_at is None \
                    and now - case.step_since >= timedelta(hours=case.escalate_after_hours):
                if compare_and_set(s, ApprovalCase, ApprovalCase.id == case.id, ApprovalCase.escalated_at.is_(None),
                                   ApprovalCase.step_since == case.step_since, escalated_at=now) == 1:
                    notices.tell(s, case, case.escalate_to or [], "escalation", now)
                    counts["approval_escalations"] += 1
            if case.remind_after_hours is not None:
                last = case.reminded_at or case.step_since
                if now - last >= timedelta(hours=case.remind_after_hours):
                    claim = (ApprovalCase.reminded_at.is_(None) if case.reminded_at is None
                             else ApprovalCase.reminded_at == case.reminded_at)
                    if compare_and_set(s, ApprovalCase, ApprovalCase.id == case.id, claim,
                                       ApprovalCase.step_since == case.step_since, reminded_at=now) == 1:
                        notices.tell(s, case, cases.awaited(case), "reminder", now)
                        counts["approval_reminders"] += 1
    return counts
