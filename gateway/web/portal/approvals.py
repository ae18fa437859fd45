"""The approval pages of the recipient portal (``/portal/approvals``): an approver's queue, one
invoice's approval with its trail and the decision form, and delegation while away.

What waits for the login (its own turns, those of whoever it stands in for, escalations to it)
comes from ``gateway.approvals.queue``; decisions go through ``gateway.approvals.decide`` (the
supplier is told of a refusal, a hold or the final approval in its status syntax), delegations
through ``gateway.approvals.delegation``. Any login of the organisation may read an approval's
trail; only those the case waits for may decide. Server-rendered, no JavaScript, CSRF in every
form, like the rest of the portal.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any, Optional

import sqlalchemy as sa
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext as _l

from ...approvals import decide as approval_decide
from ...approvals import delegation, notices, queue
from ...approvals.errors import ApprovalError
from ...db import ApprovalCase, DocumentRecord, User, utcnow
from ...delivery.statuses import REASONS, STATUSES
from ..kit.current import gateway
from ..kit.reader import current, zone_name
from ..kit.login import recipient_required
from ..kit.words import CAPACITIES
from .views import bp

ACTIONS = {"approve": _l("Approve"), "refuse": _l("Refuse"), "hold": _l("Put on hold")}


def reason_codes(status: str) -> list[tuple[str, str]]:
    """The reason codes a status allows (lifecycle.yaml), with their names, for the form."""
    allowed = STATUSES[status].reasons or tuple(REASONS)
    french = current() == "fr"           # the reader's language: the norm names each reason in both
    return [(code, REASONS[code].fr if french else REASONS[code].en) for code in allowed if code in REASONS]


NOTICES = {"waiting": _l("waiting for you"), "reminder": _l("reminder"), "escalation": _l("escalation")}
_STATE_CLASS = {"approved": "ok", "refused": "bad", "on_hold": "waiting", "waiting": "neutral"}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    def capacity_label(item: queue.Item) -> str:
        capacity = str(CAPACITIES.get(item.capacity or "", item.capacity or ""))
        if item.on_behalf_of:
            return gettext("%(capacity)s for %(who)s", capacity=capacity, who=item.on_behalf_of)
        return capacity
    return {"capacity_label": capacity_label, "notice_label": lambda kind: str(NOTICES.get(kind, kind)),
            "notice_words": lambda notice: notices.worded(notice, current(), zone_name()),
            "approval_class": lambda state: _STATE_CLASS.get(state, "neutral")}


def _me(s) -> User:
    return s.get(User, g.user.id)


@bp.get("/approvals")
@recipient_required
def approvals():
    now = utcnow()
    with gateway().session() as s:
        me = _me(s)
        items = queue.waiting_for(s, me, now)
        people = sorted(u.username for u in s.query(User).filter(
            User.partner_id == me.partner_id, User.role == "recipient", User.active.is_(True), User.id != me.id))
        told = notices.of_user(s, me.id)
        notice_docs = dict(s.execute(sa.select(ApprovalCase.id, ApprovalCase.document_id).where(
            ApprovalCase.id.in_({n.case_id for n in told}))).all()) if told else {}
        return render_template("portal/approvals.html", items=items, notices=told, notice_docs=notice_docs,
                               delegations=delegation.of_user(s, me.id), me=me, people=people, now=now,
                               names=dict(s.query(User.id, User.username).filter(User.partner_id == me.partner_id)))


def _case_page(s, document_id: int, status: int = 200, form: Optional[dict[str, Any]] = None):
    item = queue.trail(s, document_id, _me(s), utcnow())
    if item is None or item.case.organisation_id != g.user.partner_id:
        abort(404, f"There is no invoice {document_id} waiting for approval in your organisation.")
    return render_template("portal/approval.html", item=item, doc=item.document, actions=ACTIONS,
                           refusal_codes=reason_codes("refused"), hold_codes=reason_codes("disputed"),
                           capacities=CAPACITIES, form=form or {}), status


@bp.get("/approvals/<int:document_id>")
@recipient_required
def approval(document_id: int):
    with gateway().session() as s:
        return _case_page(s, document_id)


@bp.post("/approvals/<int:document_id>/decision")
@recipient_required
def approval_decision(document_id: int):
    gw = gateway()
    action = (request.form.get("action") or "").strip()
    try:
        outcome = approval_decide.decide(gw, document_id, g.user.id, action, reason=request.form.get("reason"),
                                         reason_code=request.form.get("reason_code"))
    except ApprovalError as e:
        if e.kind == "missing":
            abort(404, str(e))
        flash(f"Not decided: {e}", "error")
        with gw.session() as s:
            return _case_page(s, document_id, 403 if e.kind == "forbidden" else 409 if e.kind == "conflict" else 422,
                              form=dict(request.form))
    with gw.session() as s:
        doc = s.get(DocumentRecord, document_id)
        number = doc.number or f"#{doc.id}"
    if outcome.state == "waiting":
        flash(f"Invoice {number}: approved; it now waits for {', '.join(outcome.awaited) or 'the other approvers'}.",
              "info")
    else:
        flash(f"Invoice {number}: {outcome.state.replace('_', ' ')}; the supplier is told.", "info")
    return redirect(url_for("portal.approval", document_id=document_id), code=303)


def _moment(value: Optional[str], end: bool) -> Optional[datetime]:
    """A day from the form (YYYY-MM-DD) as UTC: its start, or for the last day the next midnight."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ApprovalError(f"{value!r} is not a day (YYYY-MM-DD)", field="ends_at" if end else "starts_at") from None
    return datetime.combine(day, time.min, tzinfo=timezone.utc) + timedelta(days=1 if end else 0)


@bp.post("/approvals/delegations")
@recipient_required
def delegate():
    gw = gateway()
    try:
        starts = _moment(request.form.get("starts_on"), end=False)
        ends = _moment(request.form.get("ends_on"), end=True)
        if ends is None:
            raise ApprovalError("say until when you are away", field="ends_at")
        with gw.session() as s:
            row = delegation.delegate(s, _me(s), request.form.get("delegate") or "", starts_at=starts, ends_at=ends,
                                      reason=request.form.get("reason"), by=f"portal:{g.user.username}")
            who = s.get(User, row.delegate_id).username
    except ApprovalError as e:
        flash(f"No delegation: {e}", "error")
    else:
        flash(f"{who} decides for you until {ends:%Y-%m-%d} (excluded).", "info")
    return redirect(url_for("portal.approvals"), code=303)


@bp.post("/approvals/delegations/<int:delegation_id>/end")
@recipient_required
def end_delegation(delegation_id: int):
    with gateway().session() as s:
        try:
            delegation.end(s, _me(s), delegation_id)
        except ApprovalError as e:
            abort(404, str(e))
    flash("Delegation ended.", "info")
    return redirect(url_for("portal.approvals"), code=303)
