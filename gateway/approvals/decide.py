"""An approver's decision: approve, refuse, or put on hold; every one on record.

* **approve**: in order, the case moves to the next approver (who is told); any of, it counts
  one more approval. The last approval needed closes the case ``approved``: the invoice is
  ``accepted`` (205) in its life cycle and its delivery to the organisation, held until then
  whatever its channel, leaves (``flow.release``).
* **refuse** (a reason, and a reason code where the invoice's cycle needs one): the case closes
  ``refused``, the invoice is ``refused`` (210) in its life cycle, and its held delivery is
  ``cancelled``: the organisation's ERP side never receives it.
* **hold** (a reason): the case is ``on_hold`` and the invoice ``disputed`` (207); it is then
  approved or refused as before.

The life-cycle move goes through ``gateway.delivery.state.set_business_status`` (so a reason
code the French cycle refuses refuses the decision, and nothing is recorded), and the supplier
is told in its status syntax (APERAK, CDAR, Invoice Response) by ``lifecycle.report_pending``
once the decision is committed: once, whatever is retried. Two people deciding at once cannot
both win: the case is claimed by compare-and-set on its state and step.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from gateway.db import ApprovalCase, ApprovalDecision, DocumentRecord, StatusError, User, compare_and_set, utcnow
from gateway.db.approvals import OPEN_STATES
from gateway.flow import lifecycle, release

from . import cases, notices
from .errors import ApprovalError

log = logging.getLogger("edigate.approvals")

ACTIONS = {"approve": "approved", "refuse": "refused", "hold": "on_hold"}
LIFECYCLE = {"refused": "refused", "on_hold": "disputed"}
MAX_REASON = 1000


@dataclass
class Outcome:
    document_id: int
    decision: str
    state: str                    # the case's, after the decision
    awaited: list[str]            # who it waits for next (usernames)
    status: Optional[str]         # the life-cycle status the decision set (None: unchanged)


def _clean(reason: Optional[str]) -> Optional[str]:
    reason = " ".join((reason or "").split()) or None
    if reason is not None and len(reason) > MAX_REASON:
        raise ApprovalError(f"a reason is at most {MAX_REASON} characters", field="reason")
    return reason


def decide(gw, document_id: int, user_id: int, action: str, *, reason: Optional[str] = None,
           reason_code: Optional[str] = None, now: Optional[datetime] = None) -> Outcome:
    """``user_id`` decides on the invoice ``document_id`` (``action``: approve, refuse, hold); see
    the module. ``ApprovalError`` says why a decision is not taken (nothing is recorded then)."""
    if action not in ACTIONS:
        raise ApprovalError(f"decide one of: {', '.join(ACTIONS)}", field="decision")
    decision = ACTIONS[action]
    reason = _clean(reason)
    reason_code = (reason_code or "").strip() or None
    if decision in LIFECYCLE and not reason:
        raise ApprovalError("say why: the supplier is told", field="reason")
    now = now or utcnow()
    with gw.session() as s:
        case = cases.of_document(s, document_id)
        user = s.get(User, user_id)
        if case is None or user is None or user.partner_id != case.organisation_id:
            raise ApprovalError(f"no invoice {document_id} waiting for approval in your organisation", kind="missing")
        if case.state not in OPEN_STATES:
            raise ApprovalError(f"invoice {document_id}: its approval is over ({case.state}, "
                                f"{case.closed_at:%Y-%m-%d %H:%M} UTC)", kind="conflict")
        if decision == "on_hold" and case.state == "on_hold":
            raise ApprovalError(f"invoice {document_id} is on hold already", kind="conflict")
        capacity = cases.capacity_of(s, case, user, now)
        if capacity is None:
            waiting = ", ".join(cases.names(s, cases.awaited(case))) or "its escalation"
            raise ApprovalError(f"invoice {document_id} does not wait for your decision (it waits for {waiting})",
                                kind="forbidden")
        step, state, waited_since = case.step, case.state, case.step_since
        closing = decision == "refused" or (decision == "approved" and step + 1 >= case.required)
        new_state = {"refused": "refused", "on_hold": "on_hold"}.get(decision) or ("approved" if closing else "waiting")
        values = dict(state=new_state, step=step + (decision == "approved"))
        if closing:
            values["closed_at"] = now
        elif decision == "approved" and case.mode == "in_order":
            values.update(step_since=now, reminded_at=None, escalated_at=None)
        if compare_and_set(s, ApprovalCase, ApprovalCase.id == case.id, ApprovalCase.step == step,
                           ApprovalCase.state == state, **values) != 1:
            raise ApprovalError(f"invoice {document_id}: its approval moved meanwhile; look again", kind="conflict")
        s.refresh(case)
        behalf = s.get(User, capacity.on_behalf_of) if capacity.on_behalf_of else None
        by = f"approval:{user.username}" + (f" for {behalf.username}" if behalf is not None else "")
        status = LIFECYCLE.get(decision) or ("accepted" if closing else None)
        event = None
        if status is not None:
            doc = s.get(DocumentRecord, case.document_id)
            text = reason if decision != "approved" else \
                f"approved ({case.rule_name}: {case.required} approval{'s' if case.required != 1 else ''})"
            try:
                event = lifecycle.set_business_status(s, doc, status, reason=text, reason_code=reason_code, by=by,
                                                      at=now)
            except StatusError as e:
                s.rollback()
                raise ApprovalError(str(e), kind="conflict") from None
            except ValueError as e:
                s.rollback()
                raise ApprovalError(str(e), field="reason_code" if "code" in str(e) else "reason") from None
        s.add(ApprovalDecision(case_id=case.id, document_id=case.document_id, decision=decision, user_id=user.id,
                               username=user.username, on_behalf_of_id=behalf.id if behalf else None,
                               on_behalf_of=behalf.username if behalf else None, capacity=capacity.capacity,
                               step=step, reason=reason, reason_code=reason_code, waiting_since=waited_since, at=now,
                               status_event_id=event.id if event is not None else None))
        s.flush()
        if decision == "refused":           # what the approval held never leaves
            release.cancel(s, case.document_id, f"refused at approval by {by}: not delivered ({reason})", now)
        s.expire(case, ["decisions"])
        waiting = cases.awaited(case)
        if decision == "approved" and not closing and case.mode == "in_order":
            notices.tell(s, case, waiting, "waiting", now)
        outcome = Outcome(document_id, decision, case.state, cases.names(s, waiting), status)
    log.info("invoice %s: %s by %s (%s)", document_id, decision, by, capacity.capacity)
    if status is not None:
        lifecycle.report_pending(gw, document_id=document_id)
    if outcome.state == "approved":         # what the approval held leaves now (the sweep catches a miss)
        release.release(gw, document_id, by=by, now=now)
    return outcome
