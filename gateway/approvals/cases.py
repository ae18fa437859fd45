"""A received invoice waiting for approval: opening its case, and who may decide on it now.

``screen`` is the pipeline's one call (``flow.process``, once a valid, non-duplicate document is
recorded): the first rule of the recipient organisation that matches makes the invoice wait.
The case keeps a snapshot of the rule (a rule changed later does not move the goal posts of an
invoice already waiting). Its delivery to the organisation is planned as ever but recorded
``pending_approval`` whatever the channel (AS2, SFTP, e-mail, the flow API, the ERP pull…),
the portal aside, where the approvers read it (``flow.plan``); it leaves once approved and
never when refused (``flow.release``). Its life cycle is the workflow's until the case closes
(``gateway.approvals.decide``).

Who is awaited: in order, the approver whose turn it is; any of, every approver who has not
approved yet. Who may decide: an awaited approver, the delegate of one (``delegation``, also
along a chain), and, once the case is escalated, the escalation's addressees
(``escalation_targets``: the rule's ``escalate_to`` still there, the case's approvers left
out: escalating to the very person who is late changes nothing, and one person never gives two
of the approvals).

An approver who leaves while an invoice waits (login deactivated or gone, role changed, moved
to another organisation) is not skipped: an approval nobody gave never counts. The case is
``stranded`` then: the escalation's addressees may decide at once, without waiting for the
delay, and the sweep escalates it on its next run (``sweep.chase``). When no addressee is left
either, the gateway's operators are told instead: the rule or the logins need their hand.

A credit note (or corrective invoice) for an invoice whose approval is still open waits with it,
for the same approvers (``corrects``): the organisation's ERP side never gets the correction of
an invoice it does not have yet, and approvers see both.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa

from gateway.db import ApprovalCase, User
from gateway.db.approvals import OPEN_STATES

from . import delegation, notices, rules

log = logging.getLogger("edigate.approvals")


def organisation_of(plan: Any) -> Optional[int]:
    """The organisation whose rules apply: the invoice's recipient (None: not known yet)."""
    if plan is None or getattr(plan, "failure", None):
        return None
    return getattr(plan, "document_recipient_id", None) or getattr(plan, "recipient_id", None)


def _with_corrected(s, rec: Any, organisation_id: Optional[int], now: datetime) -> Optional[ApprovalCase]:
    """A case for a correction of an invoice still waiting for approval, from that invoice's case."""
    corrected = getattr(rec, "corrects", None)          # linked just now: its id not flushed yet
    corrects_id = corrected.id if corrected is not None else getattr(rec, "corrects_id", None)
    if corrects_id is None or organisation_id is None:
        return None
    waiting = s.scalar(sa.select(ApprovalCase).where(ApprovalCase.document_id == corrects_id,
                                                     ApprovalCase.organisation_id == organisation_id,
                                                     ApprovalCase.state.in_(OPEN_STATES)))
    if waiting is None:
        return None
    corrected = corrected or s.get(type(rec), corrects_id)
    return ApprovalCase(document_id=rec.id, organisation_id=organisation_id, rule_name=waiting.rule_name,
                        matched={"corrects": corrected.number if corrected is not None else str(corrects_id)},
                        mode=waiting.mode, approvers=list(waiting.approvers), required=waiting.required,
                        remind_after_hours=waiting.remind_after_hours,
                        escalate_after_hours=waiting.escalate_after_hours, escalate_to=list(waiting.escalate_to),
                        state="waiting", step=0, step_since=now, opened_at=now)


def screen(s, rec: Any, invoice: Any, plan: Any, now: datetime) -> Optional[ApprovalCase]:
    """Open an approval case for a recorded document when a rule of its recipient matches, or when
    it corrects an invoice still waiting (inside the pipeline's transaction); the case, or None
    when the invoice needs no approval."""
    organisation_id = organisation_of(plan)
    case = _with_corrected(s, rec, organisation_id, now)
    if case is not None:
        s.add(case)
        s.flush()
        notices.tell(s, case, awaited(case), "waiting", now)
        log.info("document %s waits for approval with the invoice it corrects (%s)", rec.id, case.matched)
        return case
    found = rules.load(s, organisation_id)
    if not found:
        return None
    facts = rules.facts_of(invoice)
    rule = rules.first_match(found, facts)
    if rule is None:
        return None
    required = rule.required if rule.mode == "any_of" else max(1, len(rule.approvers))
    case = ApprovalCase(document_id=rec.id, organisation_id=organisation_id, rule_name=rule.name,
                        matched=facts.shown(rule), mode=rule.mode, approvers=list(rule.approvers),
                        required=required, remind_after_hours=rule.remind_after_hours,
                        escalate_after_hours=rule.escalate_after_hours, escalate_to=list(rule.escalate_to),
                        state="waiting", step=0, step_since=now, opened_at=now)
    s.add(case)
    s.flush()
    notices.tell(s, case, awaited(case), "waiting", now)
    log.info("document %s waits for approval (rule %r, %s of %d)", rec.id, rule.name, rule.mode, required)
    return case


def approved_by(case: ApprovalCase) -> set[int]:
    """The approvers whose approval is given (themselves or through a delegate)."""
    return {d.on_behalf_of_id or d.user_id for d in case.decisions
            if d.decision == "approved" and d.capacity != "escalation"}


def awaited(case: ApprovalCase) -> list[int]:
    """The user ids whose decision the case waits for now."""
    if case.state not in OPEN_STATES:
        return []
    if case.mode == "in_order":
        return [case.approvers[case.step]] if case.step < len(case.approvers) else []
    done = approved_by(case)
    return [a for a in case.approvers if a not in done]


@dataclass(frozen=True)
class Capacity:
    """How a user may decide on a case: ``approver``, ``delegate`` (for ``on_behalf_of``), or
    ``escalation`` (for ``on_behalf_of`` when one approver was awaited)."""
    capacity: str
    on_behalf_of: Optional[int] = None


def present(s, case: ApprovalCase, user_ids: list[int]) -> list[int]:
    """Of ``user_ids``, those who may still decide for the case's organisation (active recipient logins of it)."""
    if not user_ids:
        return []
    here = set(s.scalars(sa.select(User.id).where(User.id.in_(list(user_ids)), User.active.is_(True),
                                                  User.role == "recipient",
                                                  User.partner_id == case.organisation_id)))
    return [u for u in user_ids if u in here]


def stranded(s, case: ApprovalCase) -> bool:
    """Whether an open case can no longer be approved by its approvers (one awaited in order, or
    too few left any of, are gone): only its escalation can move it."""
    if case.state not in OPEN_STATES:
        return False
    waiting = awaited(case)
    left = present(s, case, waiting)
    if case.mode == "in_order":
        return bool(waiting) and not left
    return len(left) < case.required - len(approved_by(case))


def escalation_targets(s, case: ApprovalCase) -> list[int]:
    """Who an escalation of the case goes to: the rule's ``escalate_to`` still there, except the
    case's approvers (empty: nobody; the operators are told, ``sweep``)."""
    approvers = set(case.approvers or ())           # one person never gives two of the approvals
    return present(s, case, [u for u in case.escalate_to or () if u not in approvers])


def capacity_of(s, case: ApprovalCase, user: User, now: datetime) -> Optional[Capacity]:
    """Whether (and how) ``user`` may decide on ``case`` now; None: not theirs to decide."""
    if not user.active or user.role != "recipient" or user.partner_id != case.organisation_id:
        return None
    waiting = awaited(case)
    if user.id in waiting:
        return Capacity("approver")
    for someone in delegation.standing_in_for(s, user.id, now):
        if someone in waiting:
            return Capacity("delegate", someone)
    if case.state in OPEN_STATES and user.id in escalation_targets(s, case) \
            and (case.escalated_at is not None or stranded(s, case)):
        return Capacity("escalation", waiting[0] if len(waiting) == 1 else None)
    return None


def of_document(s, document_id: int) -> Optional[ApprovalCase]:
    return s.scalar(sa.select(ApprovalCase).where(ApprovalCase.document_id == document_id))


def is_open(s, document_id: int) -> bool:
    """Whether the document waits for an approval decision (its life cycle is the workflow's)."""
    return s.scalar(sa.select(sa.func.count()).select_from(ApprovalCase).where(
        ApprovalCase.document_id == document_id, ApprovalCase.state.in_(OPEN_STATES))) > 0


def names(s, user_ids: list[int]) -> list[str]:
    """Usernames of ``user_ids``, in their order (a user gone: ``#id``)."""
    if not user_ids:
        return []
    found = dict(s.execute(sa.select(User.id, User.username).where(User.id.in_(list(user_ids)))).all())
    return [found.get(i, f"#{i}") for i in user_ids]
