"""Reminders and escalations, from the sweep (``gateway.jobs``), counted from when the current
step began to wait (``ApprovalCase.step_since``: the case's opening, or the previous approver's
decision in order).

* a reminder to whoever is awaited (and their delegates) once ``remind_after_hours`` have passed
  since the step began or since the last reminder, so at most one per delay, however often the
  sweep runs;
* an escalation, once per step, after ``escalate_after_hours``, or at once when the case is
  stranded (its awaited approver left: ``cases.stranded``): the escalation's addressees
  (``cases.escalation_targets``) are told and may decide from then on (``cases.capacity_of``);
  when there are none (the rule names nobody else, or they left too), the gateway's operators
  and admins are told: only they can mend the rule or the logins.

Both are notification records (``notices``); a case put on hold is being dealt with and is not
chased. Each case is claimed by compare-and-set on the time it was last chased, so two sweeps at
once send one reminder (``chase``). ``run``, the sweep's call, also releases or cancels what a
closed case still holds when the decision's own release did not happen (``flow.release.settle``).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa

from gateway.db import ApprovalCase, User, compare_and_set, utcnow
from gateway.flow.release import settle

from . import cases, notices

__all__ = ["run", "chase", "settle"]

MAX_PER_SWEEP = 500


def _due(gw, now: datetime) -> list[int]:
    with gw.session() as s:
        return list(s.scalars(sa.select(ApprovalCase.id).where(
            ApprovalCase.state == "waiting",
            sa.or_(ApprovalCase.remind_after_hours.is_not(None), ApprovalCase.escalated_at.is_(None)))
            .order_by(ApprovalCase.step_since).limit(MAX_PER_SWEEP)))


def staff(s) -> list[int]:
    """The gateway's active operators and admins (told when an escalation has nobody to go to)."""
    return list(s.scalars(sa.select(User.id).where(User.active.is_(True), User.role.in_(("admin", "operator")))
                          .order_by(User.id)))


def _escalation_due(s, case: ApprovalCase, now: datetime) -> bool:
    if case.escalated_at is not None:
        return False
    if case.escalate_after_hours is not None and now - case.step_since >= timedelta(hours=case.escalate_after_hours):
        return True
    return cases.stranded(s, case)


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
            if _escalation_due(s, case, now):
                if compare_and_set(s, ApprovalCase, ApprovalCase.id == case.id, ApprovalCase.escalated_at.is_(None),
                                   ApprovalCase.step_since == case.step_since, escalated_at=now) == 1:
                    notices.tell(s, case, cases.escalation_targets(s, case) or staff(s), "escalation", now)
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
