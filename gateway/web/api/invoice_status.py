"""The invoice's life cycle in the API (``/api/v1/documents/<id>/status``): read it, and set it as
its recipient (or an admin or operator); ``gateway.flow.lifecycle`` records the move and reports
it to the sender."""
from __future__ import annotations

from typing import Any

from flask import Response, g
from werkzeug.exceptions import Forbidden, NotFound

from ...approvals import cases as approval_cases
from ...db import DocumentRecord, StatusError
from ...flow import lifecycle
from ..kit.current import gateway
from ..kit.errors import INVALID_VALUES, ApiError
from ..kit.roles import RECIPIENT, allowed
from . import schemas
from .blueprint import answer, bp

# --- document life cycle ---------------------------------------------------------------------
# A recipient login's token sees the documents addressed to its partner (and may decide on
# them) and those its partner sent (to follow what their recipients decided); any other
# document is a 404 to it, as if it did not exist.

def _visible_document(s, document_id: int) -> DocumentRecord:
    doc = s.get(DocumentRecord, document_id)
    user = g.user
    if doc is None or (user.role == RECIPIENT
                       and user.partner_id not in (doc.recipient_partner_id, doc.sender_partner_id)):
        raise NotFound(f"no document {document_id}")
    return doc


def _may_set_status(doc: DocumentRecord) -> bool:
    user = g.user
    if user.role == RECIPIENT:
        return doc.recipient_partner_id == user.partner_id
    return allowed("documents.status", user)


def _status_view(s, doc: DocumentRecord) -> dict[str, Any]:
    may = []
    if _may_set_status(doc) and not approval_cases.is_open(s, doc.id):      # waiting: the approval decides
        may = [st for st in lifecycle.allowed_moves(doc.business_status)
               if g.user.role != RECIPIENT or st in lifecycle.RECIPIENT_STATUSES]
    return {"document_id": doc.id, "number": doc.number, "business_status": doc.business_status,
            "business_status_at": doc.business_status_at, "may_become": may,
            "events": lifecycle.history(s, doc.id)}


# The invoice's life cycle (gateway/lifecycle.py): a recipient login's token may use these two
# routes, on documents addressed to its partner (read and set) or sent by it (read).

@bp.get("/documents/<int:document_id>/status")
@bp.authenticated(recipients=True)
@bp.response(200, schemas.DocumentStatus)
@bp.errors(404)
def document_status(document_id: int) -> Response:
    """The invoice's life-cycle status and its history, with how the sender was told"""
    with gateway().session() as s:
        return answer(schemas.DocumentStatus, _status_view(s, _visible_document(s, document_id)))


@bp.post("/documents/<int:document_id>/status")
@bp.authenticated(recipients=True)
@bp.arguments(schemas.StatusInput, error_status_code=422)
@bp.response(201, schemas.DocumentStatus, description="Recorded, and reported to the sender")
@bp.alt_response(200, schema=schemas.DocumentStatus, description="Already so; nothing recorded", success=True)
@bp.errors(400, 404, 409, 422)
def set_document_status(wanted: dict[str, Any], document_id: int) -> Response:
    """Set the invoice's status (its recipient, or roles admin, operator); reported to the sender

    Moves: received -> accepted | refused | disputed; disputed -> accepted | refused;
    accepted -> payment_sent | paid; payment_sent -> paid (a decision on an invoice still
    `deposited` records `received` first). `refused` needs a `reason`. The same status
    again answers 200 and records nothing. An EDIFACT sender also gets an APERAK.
    """
    gw = gateway()
    with gw.session() as s:
        doc = _visible_document(s, document_id)
        if not _may_set_status(doc):
            raise Forbidden("only the document's recipient, an admin or an operator may set its status")
        if g.user.role == RECIPIENT and wanted["status"] not in lifecycle.RECIPIENT_STATUSES:
            raise ApiError(422, INVALID_VALUES, {"status": f"a recipient sets one of: {', '.join(lifecycle.RECIPIENT_STATUSES)}"})
        if approval_cases.is_open(s, doc.id):
            raise StatusError(f"document {doc.id} waits for approval: its approvers decide "
                              f"(POST /approvals/{doc.id}/decision)")
        known = {e.id for e in doc.status_events}
        try:
            event = lifecycle.set_business_status(s, doc, wanted["status"], reason=wanted.get("reason"),
                                                  reason_code=wanted.get("reason_code"), by=f"api:{g.user.username}")
        except StatusError:
            raise
        except ValueError as e:
            raise ApiError(422, INVALID_VALUES, {"status": str(e)}) from None
        created = event.id not in known
    lifecycle.report_pending(gw, document_id=document_id)
    with gw.session() as s:
        return answer(schemas.DocumentStatus, _status_view(s, s.get(DocumentRecord, document_id)),
                      201 if created else 200)
