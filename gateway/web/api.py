"""The REST API (``/api/v1``): partners, exchanges, documents, uploads, retries and redeliveries, in JSON.

Every route wants a bearer token (``auth.require_token``) except the OpenAPI
description, which is data (``openapi.yaml``) and lists exactly these routes
(a test holds the two together). Errors are JSON too, ``{"error": "…",
"details": …}``: 400 unusable query or body, 401 no valid token, 403 role,
404 no such record (or URL under ``/api/``), 409 conflict with the current
state, 413 too large, 422 well-formed but invalid values.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa
import yaml
from sqlalchemy.exc import IntegrityError
from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotFound

from .. import channels, lifecycle
from ..db import Delivery, DocumentRecord, Exchange, Partner, StatusError
from ..store.payloads import PayloadTooLarge
from . import downloads, gateway, params, partner_json, serialise
from .auth import RECIPIENT, allowed, require_permission, require_token

log = logging.getLogger("edigate.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPENAPI = Path(__file__).with_name("openapi.yaml")
MAX_IDEMPOTENCY_KEY = 200


# --- errors ------------------------------------------------------------------------------

def error(status: int, message: str, details: Any = None, headers: Optional[dict[str, str]] = None) -> Response:
    response = jsonify({"error": message, "details": details})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> Response:
    headers = {k: v for k, v in e.get_headers() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
    return error(e.code or 500, e.description or e.name, getattr(e, "details", None), headers)


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(e: HTTPException):
    """URLs under the API's prefix that match no route answer in JSON as well; elsewhere
    the app's usual answer stands."""
    if request.path == bp.url_prefix or request.path.startswith(bp.url_prefix + "/"):
        return _http_error(e)
    return e


@bp.errorhandler(params.BadParameters)
def _bad_parameters(e: params.BadParameters) -> Response:
    return error(400, str(e), e.details)


@bp.errorhandler(partner_json.Invalid)
def _invalid(e: partner_json.Invalid) -> Response:
    return error(422, "invalid values", e.details)


@bp.errorhandler(partner_json.Conflict)
def _conflict(e: partner_json.Conflict) -> Response:
    return error(409, str(e), e.details)


@bp.errorhandler(IntegrityError)
def _integrity(e: IntegrityError) -> Response:
    """A unique constraint another request won a race for (the checks before it lost)."""
    return error(409, "conflicts with an existing record", str(e.orig))


@bp.errorhandler(StatusError)
def _status_error(e: StatusError) -> Response:
    return error(409, str(e))


@bp.errorhandler(downloads.PayloadMissing)
def _payload_missing(e: downloads.PayloadMissing) -> Response:
    log.error("%s", e)
    return error(500, str(e))


@bp.errorhandler(500)
def _internal(e: HTTPException) -> Response:
    log.error("API error on %s %s", request.method, request.path, exc_info=getattr(e, "original_exception", None))
    return error(500, "internal error: the gateway logged it")


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- helpers -----------------------------------------------------------------------------

def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("expected a JSON body (Content-Type: application/json)")
    return body


def _paged(s, query: sa.Select, page: params.Page, render) -> dict[str, Any]:
    total = s.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    rows = s.scalars(query.limit(page.limit).offset(page.offset)).all()
    return {"items": [render(r) for r in rows], "total": total, "limit": page.limit, "offset": page.offset}


def _get(s, model, record_id: int, what: str):
    record = s.get(model, record_id)
    if record is None:
        raise NotFound(f"no {what} {record_id}")
    return record


def _loaded_openapi() -> dict[str, Any]:
    cache = current_app.extensions.setdefault("edigate.openapi", {})
    if "doc" not in cache:
        cache["doc"] = load_openapi()
    return cache["doc"]


def load_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 description of this blueprint."""
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


# --- description ---------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(_loaded_openapi())


# --- partners ------------------------------------------------------------------------------

@bp.get("/partners")
@require_token
def list_partners() -> Response:
    page = params.page(request.args)
    with gateway().session() as s:
        q = sa.select(Partner).order_by(Partner.name, Partner.id)
        return jsonify(_paged(s, q, page, serialise.partner))


@bp.get("/partners/<int:partner_id>")
@require_token
def get_partner(partner_id: int) -> Response:
    with gateway().session() as s:
        return jsonify(serialise.partner(_get(s, Partner, partner_id, "partner"), detail=True))


@bp.post("/partners")
@require_token
def create_partner() -> Response:
    require_permission("partners.write")
    body = _json_body()
    with gateway().session() as s:
        partner = partner_json.apply(s, None, body)
        out = serialise.partner(partner, detail=True)
    response = jsonify(out)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_partner", partner_id=out["id"])
    return response


@bp.patch("/partners/<int:partner_id>")
@require_token
def update_partner(partner_id: int) -> Response:
    require_permission("partners.write")
    body = _json_body()
    with gateway().session() as s:
        partner = partner_json.apply(s, _get(s, Partner, partner_id, "partner"), body)
        return jsonify(serialise.partner(partner, detail=True))


# --- exchanges -----------------------------------------------------------------------------

@bp.get("/exchanges")
@require_token
def list_exchanges() -> Response:
    filters, page = params.exchange_search(request.args)
    with gateway().session() as s:
        return jsonify(_paged(s, Exchange.search(**filters), page, serialise.exchange))


@bp.get("/exchanges/<int:exchange_id>")
@require_token
def get_exchange(exchange_id: int) -> Response:
    with gateway().session() as s:
        return jsonify(serialise.exchange(_get(s, Exchange, exchange_id, "exchange"), detail=True))


@bp.get("/exchanges/<int:exchange_id>/raw")
@require_token
def exchange_raw(exchange_id: int) -> Response:
    return downloads.exchange_raw(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/content")
@require_token
def exchange_content(exchange_id: int) -> Response:
    return downloads.exchange_content(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/mdn")
@require_token
def exchange_mdn(exchange_id: int) -> Response:
    return downloads.exchange_mdn(exchange_id)


@bp.post("/exchanges/<int:exchange_id>/retry")
@require_token
def retry_exchange(exchange_id: int) -> Response:
    require_permission("retry")
    gw = gateway()
    try:
        gw.retry_exchange(exchange_id, by=g.user.username)
    except LookupError:
        raise NotFound(f"no exchange {exchange_id}") from None
    with gw.session() as s:
        response = jsonify(serialise.exchange(_get(s, Exchange, exchange_id, "exchange"), detail=True))
    response.status_code = 202
    return response


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@require_token
def redeliver(delivery_id: int) -> Response:
    """A failed delivery planned again with its recipient's current channel profile (409 when it
    is not failed)."""
    require_permission("retry")
    gw = gateway()
    try:
        channels.redeliver(gw, delivery_id, by=g.user.username)
    except LookupError:
        raise NotFound(f"no delivery {delivery_id}") from None
    with gw.session() as s:
        response = jsonify(serialise.delivery(_get(s, Delivery, delivery_id, "delivery")))
    response.status_code = 202
    return response


# --- documents -----------------------------------------------------------------------------

@bp.get("/documents")
@require_token
def list_documents() -> Response:
    filters, page = params.document_search(request.args)
    with gateway().session() as s:
        return jsonify(_paged(s, DocumentRecord.search(**filters), page, serialise.document))


@bp.get("/documents/<int:document_id>")
@require_token
def get_document(document_id: int) -> Response:
    with gateway().session() as s:
        return jsonify(serialise.document(_get(s, DocumentRecord, document_id, "document"), detail=True))


@bp.get("/documents/<int:document_id>/original")
@require_token
def document_original(document_id: int) -> Response:
    return downloads.document_original(document_id)


@bp.get("/documents/<int:document_id>/renderings/<int:rendering_id>")
@require_token
def document_rendering(document_id: int, rendering_id: int) -> Response:
    return downloads.document_rendering(document_id, rendering_id)


@bp.post("/documents")
@require_token
def upload_document() -> Response:
    """Take a document in (raw body, or multipart field ``file``): stored durably and queued
    for processing before the 202. An ``Idempotency-Key`` seen before answers 200 with the
    exchange it created."""
    require_permission("documents.upload")
    from ..inbox import DuplicateUpload, receive_file

    gw = gateway()
    partner_id = _upload_partner()
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        key = key.strip()
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise BadRequest(f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable characters")
    data, filename, content_type = _upload_data()
    try:
        ex = receive_file(gw, data, channel="api", partner_id=partner_id, filename=filename, message_id=key,
                          content_type=content_type)
        exchange_id, status_code = ex.id, 202
    except DuplicateUpload as dup:
        exchange_id, status_code = dup.exchange_id, 200
    except PayloadTooLarge as e:
        return error(413, str(e))
    with gw.session() as s:
        ex = _get(s, Exchange, exchange_id, "exchange")
        body = {"exchange": ex.id, "status": ex.status, "duplicate": status_code == 200,
                "location": url_for("api.get_exchange", exchange_id=ex.id)}
    response = jsonify(body)
    response.status_code = status_code
    response.headers["Location"] = body["location"]
    return response


def _upload_partner() -> Optional[int]:
    value = (request.args.get("partner") or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise params.BadParameters({"partner": f"{value!r} is not a partner id"})
    with gateway().session() as s:
        if s.get(Partner, int(value)) is None:
            raise partner_json.Invalid({"partner": f"no partner {value}"})
    return int(value)


def _upload_data() -> tuple[bytes, Optional[str], Optional[str]]:
    """The uploaded bytes, their file name (``?filename=`` first) and media type as declared."""
    filename = request.args.get("filename") or None
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadRequest("multipart upload without a 'file' field")
        data = upload.read()
        filename = filename or upload.filename or None
        content_type = upload.mimetype or None
    else:
        data = request.get_data(cache=False)
        content_type = request.mimetype or None
    if not data:
        raise BadRequest("empty document")
    if filename is not None:
        filename = downloads.basename(filename)[:500] or None
    if content_type is not None:
        content_type = content_type[:200]
    return data, filename, content_type



# --- document life cycle ---------------------------------------------------------------------
# A recipient login's token sees the documents addressed to its partner (and may decide on
# them) and those its partner sent (to follow what their recipients decided); any other
# document is a 404 to it, as if it did not exist.

STATUS_FIELDS = ("status", "reason", "reason_code")


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
    if _may_set_status(doc):
        may = [st for st in lifecycle.allowed_moves(doc.business_status)
               if g.user.role != RECIPIENT or st in lifecycle.RECIPIENT_STATUSES]
    return {"document_id": doc.id, "number": doc.number, "business_status": doc.business_status,
            "business_status_at": serialise.iso(doc.business_status_at), "may_become": may,
            "events": [serialise.status_event(e) for e in lifecycle.history(s, doc.id)]}


def _status_input() -> dict[str, Optional[str]]:
    body = _json_body()
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object: {\"status\": …, \"reason\": …, \"reason_code\": …}")
    problems = {k: "unknown field" for k in body if k not in STATUS_FIELDS}
    for name in STATUS_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            problems[name] = "expected a string"
    if not body.get("status"):
        problems.setdefault("status", f"required: one of {', '.join(lifecycle.RECIPIENT_STATUSES)}")
    if problems:
        raise partner_json.Invalid(problems)
    return {name: body.get(name) for name in STATUS_FIELDS}


@bp.get("/documents/<int:document_id>/status")
@require_token(recipients=True)
def document_status(document_id: int) -> Response:
    with gateway().session() as s:
        return jsonify(_status_view(s, _visible_document(s, document_id)))


@bp.post("/documents/<int:document_id>/status")
@require_token(recipients=True)
def set_document_status(document_id: int) -> Response:
    """The recipient's decision (accepted, refused with a reason, disputed, payment_sent, paid),
    recorded and reported to the sender (an APERAK for an EDI sender). The same status again
    answers 200 and records nothing."""
    wanted = _status_input()
    gw = gateway()
    with gw.session() as s:
        doc = _visible_document(s, document_id)
        if not _may_set_status(doc):
            raise Forbidden("only the document's recipient, an admin or an operator may set its status")
        if g.user.role == RECIPIENT and wanted["status"] not in lifecycle.RECIPIENT_STATUSES:
            raise partner_json.Invalid({"status": f"a recipient sets one of: {', '.join(lifecycle.RECIPIENT_STATUSES)}"})
        known = {e.id for e in doc.status_events}
        try:
            event = lifecycle.set_business_status(s, doc, wanted["status"], reason=wanted["reason"],
                                                  reason_code=wanted["reason_code"], by=f"api:{g.user.username}")
        except StatusError:
            raise
        except ValueError as e:
            raise partner_json.Invalid({"status": str(e)}) from None
        created = event.id not in known
    lifecycle.report_pending(gw, document_id=document_id)
    with gw.session() as s:
        response = jsonify(_status_view(s, s.get(DocumentRecord, document_id)))
    response.status_code = 201 if created else 200
    return response
