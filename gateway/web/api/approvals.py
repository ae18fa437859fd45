"""The approval workflow in the API (``gateway.approvals``).

* ``/approvals``: a recipient login's queue (what waits for its decision, its own or as a
  delegate or an escalation) and its notices; an admin's, operator's or staff's: every open
  approval (``?partner=``);
* ``/approvals/<document_id>``: one invoice's approval and its decisions (its organisation's
  logins and gateway users); ``…/decision``: approve, refuse (reason, reason code), hold; only
  whoever the approval waits for may decide (403 for anyone else, gateway users included);
* ``/approvals/delegations``: a recipient login's delegations, given and received; a new one
  (a delegate of the same organisation, a period); ``…/<id>/end`` cuts one short;
* ``/approval-rules/<partner_id>``: an organisation's rule document, read and replaced by an
  admin or operator; a document that cannot be used is a 422 naming each field.
"""
from __future__ import annotations

from typing import Any

from flask import Response, g
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import Forbidden, NotFound

from ...approvals import decide as approval_decide
from ...approvals import delegation, notices, queue, rules
from ...approvals.errors import ApprovalError, RuleError
from ...db import Partner, User, utcnow
from ..kit.current import gateway
from ..kit.errors import INVALID_VALUES, ApiError
from ..kit.roles import RECIPIENT
from .blueprint import answer, bp
from .schemas import Body, Moment, Null, UtcDateTime

MAX_ID = 2 ** 63 - 1
RULE_EDITORS = ("admin", "operator")
STATUS_OF = {"missing": 404, "forbidden": 403, "conflict": 409, "invalid": 422}


class Decision(Schema):
    decision = fields.String(metadata={"description": "approved, refused, on_hold"})
    username = fields.String(metadata={"description": "who decided"})
    on_behalf_of = Null(metadata={"description": "whom a delegate or an escalation decided for"})
    capacity = fields.String(metadata={"description": "approver, delegate, escalation"})
    step = fields.Integer()
    reason = Null()
    reason_code = Null()
    waiting_since = UtcDateTime(metadata={"description": "when the step began to wait (approval time)"})
    at = UtcDateTime()
    status_event_id = Null(fields.Integer, metadata={"description": "the life-cycle event it caused"})


class ApprovalView(Schema):
    document_id = fields.Integer()
    number = fields.Function(lambda i: i.document.number if i.document is not None else None,
                             metadata={"type": ["string", "null"]})
    seller_name = fields.Function(lambda i: i.document.seller_name if i.document is not None else None,
                                  metadata={"type": ["string", "null"]})
    total_with_vat = fields.Function(
        lambda i: str(i.document.total_with_vat) if i.document is not None and i.document.total_with_vat is not None
        else None, metadata={"type": ["string", "null"]})
    business_status = fields.Function(lambda i: i.document.business_status if i.document is not None else None,
                                      metadata={"type": ["string", "null"]})
    rule_name = fields.String()
    matched = fields.Dict(metadata={"description": "the invoice's values the rule looked at"})
    mode = fields.String(metadata={"description": "in_order or any_of"})
    required = fields.Integer()
    approvers = fields.List(fields.String())
    escalate_to = fields.List(fields.String())
    state = fields.String(metadata={"description": "waiting, on_hold, approved, refused"})
    awaited = fields.List(fields.String(), metadata={"description": "whose decision it waits for now"})
    step_since = UtcDateTime()
    escalated_at = Null(UtcDateTime)
    opened_at = UtcDateTime()
    closed_at = Null(UtcDateTime)
    capacity = Null(metadata={"description": "how the caller may decide now (null: it may not)"})
    on_behalf_of = Null()
    decisions = fields.List(fields.Nested(Decision))


class Notice(Schema):
    case_id = fields.Integer()
    kind = fields.String(metadata={"description": "waiting, reminder, escalation"})
    params = fields.Dict(allow_none=True, metadata={"type": ["object", "null"], "description":
                         "what the notice names: the invoice's number, the rule, since when it waits (UTC)"})
    message = fields.String(metadata={"description": "the notice in the caller's language (users.language, else "
                                                     "the gateway's) and time zone"})
    at = UtcDateTime()


class ApprovalList(Schema):
    items = fields.List(fields.Nested(ApprovalView))
    notices = fields.List(fields.Nested(Notice))


class ListArgs(Schema):
    partner = fields.Integer(validate=validate.Range(1, MAX_ID),
                             metadata={"description": "a gateway user's view: one organisation's approvals"})


class DecisionInput(Body):
    decision = fields.String(required=True, validate=validate.OneOf(tuple(approval_decide.ACTIONS)),
                             error_messages={"invalid": "expected a string"},
                             metadata={"description": "approve, refuse, or hold (disputed)"})
    reason = fields.String(allow_none=True, validate=validate.Length(max=approval_decide.MAX_REASON),
                           error_messages={"invalid": "expected a string"},
                           metadata={"description": "required to refuse or hold; told to the supplier"})
    reason_code = fields.String(allow_none=True, validate=validate.Length(max=16),
                                error_messages={"invalid": "expected a string"},
                                metadata={"description": "a life-cycle reason code (lifecycle.yaml); the French "
                                                         "cycle requires one to refuse or hold"})


class DelegationView(Schema):
    id = fields.Integer()
    user = fields.Function(lambda d: d.user_name, metadata={"type": "string"})
    delegate = fields.Function(lambda d: d.delegate_name, metadata={"type": "string"})
    starts_at = UtcDateTime()
    ends_at = UtcDateTime()
    ended_at = Null(UtcDateTime)
    reason = Null()


class DelegationList(Schema):
    items = fields.List(fields.Nested(DelegationView))


class DelegationInput(Body):
    delegate = fields.String(required=True, validate=validate.Length(1, 150),
                             error_messages={"invalid": "expected a string"},
                             metadata={"description": "a login of the same organisation"})
    starts_at = Moment(metadata={"description": "default: now"})
    ends_at = Moment(required=True, metadata={"description": "excluded; at most 366 days after the start"})
    reason = fields.String(allow_none=True, validate=validate.Length(max=500),
                           error_messages={"invalid": "expected a string"})


class RuleDocument(Body):
    rules = fields.List(fields.Dict(), required=True, validate=validate.Length(max=rules.MAX_RULES),
                        metadata={"description": "the rules, first match wins (see gateway/approvals/rules.py)"})


class RuleSetView(Schema):
    partner = fields.Integer()
    version = fields.Integer(metadata={"description": "0: no rules yet"})
    updated_at = Null(UtcDateTime)
    updated_by = Null()
    rules = fields.List(fields.Dict())
    source = Null(metadata={"description": "the document as it was given (YAML or JSON)"})


# --- helpers -------------------------------------------------------------------------------

def _refusal(e: ApprovalError) -> ApiError:
    status = STATUS_OF.get(e.kind, 422)
    if status == 422:
        return ApiError(422, INVALID_VALUES, {e.field or "decision": str(e)})
    return ApiError(status, str(e))


def _me(s) -> User:
    return s.get(User, g.user.id)


def _case_for(s, document_id: int) -> queue.Item:
    """The approval of ``document_id`` as the caller may see it (404: none, or another organisation's)."""
    me = _me(s)
    item = queue.trail(s, document_id, me if me.role == RECIPIENT else None, utcnow())
    if item is None or (me.role == RECIPIENT and item.case.organisation_id != me.partner_id):
        raise NotFound(f"no approval for document {document_id}")
    return item


def _named(s, rows: list[Any]) -> list[Any]:
    ids = {r.user_id for r in rows} | {r.delegate_id for r in rows}
    names = dict(s.query(User.id, User.username).filter(User.id.in_(ids))) if ids else {}
    for r in rows:
        r.user_name, r.delegate_name = names.get(r.user_id, f"#{r.user_id}"), names.get(r.delegate_id, f"#{r.delegate_id}")
    return rows


def _recipient_only() -> None:
    if g.user.role != RECIPIENT:
        raise Forbidden("delegations are a recipient login's own: log in as the approver")


# --- routes --------------------------------------------------------------------------------

@bp.get("/approvals")
@bp.authenticated(recipients=True)
@bp.arguments(ListArgs, location="query")
@bp.response(200, ApprovalList)
@bp.errors(400, 404)
def list_approvals(args: dict[str, Any]) -> Response:
    """What waits for the caller's decision (a recipient login), or every open approval (a gateway user)"""
    with gateway().session() as s:
        me = _me(s)
        if me.role == RECIPIENT:
            lang, zone = me.language or gateway().settings.language, me.time_zone
            told = [{"case_id": n.case_id, "kind": n.kind, "params": n.params, "at": n.at,
                     "message": notices.worded(n, lang, zone)} for n in notices.of_user(s, me.id)]
            return answer(ApprovalList, {"items": queue.waiting_for(s, me, utcnow()), "notices": told})
        partner_id = args.get("partner")
        if partner_id is not None and s.get(Partner, partner_id) is None:
            raise NotFound(f"no partner {partner_id}")
        told = [{"case_id": n.case_id, "kind": n.kind, "params": n.params, "at": n.at,
                 "message": notices.worded(n, me.language or gateway().settings.language, me.time_zone)}
                for n in notices.of_user(s, me.id)]             # escalations that found nobody else
        return answer(ApprovalList, {"items": queue.open_cases(s, partner_id=partner_id), "notices": told})


@bp.get("/approvals/<int:document_id>")
@bp.authenticated(recipients=True)
@bp.response(200, ApprovalView)
@bp.errors(404)
def get_approval(document_id: int) -> Response:
    """One invoice's approval: its rule, whom it waits for, and every decision"""
    with gateway().session() as s:
        return answer(ApprovalView, _case_for(s, document_id))


@bp.post("/approvals/<int:document_id>/decision")
@bp.authenticated(recipients=True)
@bp.arguments(DecisionInput)
@bp.response(200, ApprovalView, description="Recorded; the supplier is told of a refusal, a hold or the final approval")
@bp.errors(400, 404, 409, 422)
def decide_approval(body: dict[str, Any], document_id: int) -> Response:
    """Approve, refuse or put on hold an invoice waiting for the caller's decision

    Only whoever the approval waits for may decide: the approver whose turn it is (in order) or
    any approver who has not approved yet (any of), their delegate while they are away, and
    after an escalation its addressees. Anyone else is refused (403), gateway users included.
    """
    gw = gateway()
    with gw.session() as s:
        _case_for(s, document_id)
    if g.user.role != RECIPIENT:
        raise Forbidden("approvals are decided by the organisation's approvers, not by gateway users")
    try:
        approval_decide.decide(gw, document_id, g.user.id, body["decision"], reason=body.get("reason"),
                               reason_code=body.get("reason_code"))
    except ApprovalError as e:
        raise _refusal(e) from None
    with gw.session() as s:
        return answer(ApprovalView, _case_for(s, document_id))


@bp.get("/approvals/delegations")
@bp.authenticated(recipients=True)
@bp.response(200, DelegationList)
def list_approval_delegations() -> Response:
    """The caller's delegations, given and received, newest first (recipient logins)"""
    _recipient_only()
    with gateway().session() as s:
        return answer(DelegationList, {"items": _named(s, delegation.of_user(s, g.user.id))})


@bp.post("/approvals/delegations")
@bp.authenticated(recipients=True)
@bp.arguments(DelegationInput)
@bp.response(201, DelegationView, description="From its start, the delegate decides for the caller")
@bp.errors(400, 422)
def create_approval_delegation(body: dict[str, Any]) -> Response:
    """Delegate the caller's approvals to a login of the same organisation for a period"""
    _recipient_only()
    with gateway().session() as s:
        try:
            row = delegation.delegate(s, _me(s), body["delegate"], starts_at=body.get("starts_at"),
                                      ends_at=body["ends_at"], reason=body.get("reason"), by=f"api:{g.user.username}")
        except ApprovalError as e:
            raise _refusal(e) from None
        return answer(DelegationView, _named(s, [row])[0], 201)


@bp.post("/approvals/delegations/<int:delegation_id>/end")
@bp.authenticated(recipients=True)
@bp.response(200, DelegationView)
@bp.errors(404)
def end_approval_delegation(delegation_id: int) -> Response:
    """Cut a delegation short (its user or its delegate); an ended one stays as it is"""
    _recipient_only()
    with gateway().session() as s:
        try:
            row = delegation.end(s, _me(s), delegation_id)
        except ApprovalError as e:
            raise _refusal(e) from None
        return answer(DelegationView, _named(s, [row])[0])


def _rule_set(s, partner_id: int) -> dict[str, Any]:
    if s.get(Partner, partner_id) is None:
        raise NotFound(f"no partner {partner_id}")
    row = rules.stored(s, partner_id)
    if row is None:
        return {"partner": partner_id, "version": 0, "updated_at": None, "updated_by": None, "rules": [],
                "source": None}
    return {"partner": partner_id, "version": row.version, "updated_at": row.updated_at,
            "updated_by": row.updated_by, "rules": (row.document or {}).get("rules") or [], "source": row.source}


def _require_editor() -> None:
    if g.user.role not in RULE_EDITORS:
        raise Forbidden("approval rules are read and changed by an admin or operator")


@bp.get("/approval-rules/<int:partner_id>")
@bp.authenticated
@bp.response(200, RuleSetView)
@bp.errors(404)
def get_approval_rules(partner_id: int) -> Response:
    """An organisation's approval rules (version 0: none yet)"""
    _require_editor()
    with gateway().session() as s:
        return answer(RuleSetView, _rule_set(s, partner_id))


@bp.put("/approval-rules/<int:partner_id>")
@bp.authenticated
@bp.arguments(RuleDocument)
@bp.response(200, RuleSetView, description="Checked and stored: invoices received from now on follow it")
@bp.errors(400, 404, 422)
def put_approval_rules(body: dict[str, Any], partner_id: int) -> Response:
    """Replace an organisation's approval rules (a 422 names each field that is wrong)"""
    _require_editor()
    with gateway().session() as s:
        if s.get(Partner, partner_id) is None:
            raise NotFound(f"no partner {partner_id}")
        try:
            rules.save(s, partner_id, {"rules": body["rules"]}, by=f"api:{g.user.username}")
        except RuleError as e:
            raise ApiError(422, INVALID_VALUES, e.errors) from None
        return answer(RuleSetView, _rule_set(s, partner_id))
