"""The REST API (``/api/v1``): partners, exchanges, documents, uploads, retries and redeliveries, in JSON.

Every route wants a bearer token (``Blueprint.authenticated``) except the OpenAPI
description, which is generated from these routes and the schemas that validate
their requests and write their answers (``schemas``, ``openapi``). Errors are
JSON too, one shape, ``{"error": "…", "details": …}``: 400 unusable query or
body, 401 no valid token, 403 role, 404 no such record (or URL under ``/api/``),
405 method, 409 conflict with the current state, 413 too large, 422
well-formed but invalid values.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from flask import Response, current_app, g, jsonify, request, url_for
from marshmallow import Schema
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotFound

from gateway import channels
from gateway.flow import lifecycle
from ..db import Delivery, DocumentRecord, Exchange, Partner, StatusError
from ..store.payloads import PayloadTooLarge
from . import downloads, gateway, params, partner_json, schemas
from .auth import RECIPIENT, allowed, require_permission
from .openapi import ApiError, Blueprint, error

log = logging.getLogger("edigate.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1", description="The gateway's records and actions")


# --- errors ------------------------------------------------------------------------------

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


@bp.errorhandler(ApiError)
def _api_error(e: ApiError) -> Response:
    return error(e.status, e.message, e.details)


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
    return error(409, "conflicts with an existing record", {"constraint": str(e.orig)})


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

def answer(schema: type[Schema], obj: Any, status: int = 200) -> Response:
    """``obj`` written by ``schema`` (inside the session that loaded it), as JSON."""
    response = jsonify(schema().dump(obj))
    response.status_code = status
    return response


def _paged(s, query: sa.Select, page: params.Page) -> dict[str, Any]:
    total = s.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    rows = s.scalars(query.limit(page.limit).offset(page.offset)).all()
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


def _get(s, model, record_id: int, what: str):
    record = s.get(model, record_id)
    if record is None:
        raise NotFound(f"no {what} {record_id}")
    return record


def description() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this app's API, generated from its routes and schemas."""
    cache = current_app.extensions.setdefault("edigate.openapi", {})
    if "doc" not in cache:
        cache["doc"] = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return cache["doc"]


BYTES = {"schema": {"type": "string", "format": "binary"}}


def _downloads(view):
    """The download answers: the stored bytes as an attachment (ETag: their SHA-256), in one of
    the media types ``downloads.MEDIA_TYPES``."""
    for media_type in reversed(downloads.MEDIA_TYPES):
        view = bp.alt_response(200, description="The stored bytes as an attachment; ETag is their SHA-256",
                               content_type=media_type, schema=BYTES["schema"], success=True,
                               headers={"ETag": {"schema": {"type": "string"}},
                                        "Content-Disposition": {"schema": {"type": "string"}}})(view)
    return view


# --- description ---------------------------------------------------------------------------

@bp.get("/openapi.json")
@bp.doc(security=[], summary="This description (OpenAPI 3.1)")
@bp.response(200, {"type": "object"}, description="The OpenAPI 3.1 document")
def openapi() -> Response:
    return jsonify(description())


# --- partners ------------------------------------------------------------------------------

@bp.get("/partners")
@bp.authenticated
@bp.arguments(schemas.PageArgs, location="query")
@bp.response(200, schemas.PartnerPage)
@bp.errors(400)
def list_partners(args: dict[str, Any]) -> Response:
    """Partners with their identifiers and AS2 settings, by name"""
    page = params.search(args)[1]
    with gateway().session() as s:
        q = sa.select(Partner).order_by(Partner.name, Partner.id)
        return answer(schemas.PartnerPage, _paged(s, q, page))


@bp.get("/partners/<int:partner_id>")
@bp.authenticated
@bp.response(200, schemas.PartnerDetail)
@bp.errors(404)
def get_partner(partner_id: int) -> Response:
    """One partner, with its certificates"""
    with gateway().session() as s:
        return answer(schemas.PartnerDetail, _get(s, Partner, partner_id, "partner"))


@bp.post("/partners")
@bp.authenticated
@bp.arguments(schemas.PartnerCreate, error_status_code=422)
@bp.response(201, schemas.PartnerDetail, headers={"Location": {"schema": {"type": "string"}}})
@bp.errors(400, 409, 422)
def create_partner(values: dict[str, Any]) -> Response:
    """Create a partner (roles admin, operator)"""
    require_permission("partners.write")
    with gateway().session() as s:
        partner = partner_json.apply(s, None, values)
        response = answer(schemas.PartnerDetail, partner, 201)
        response.headers["Location"] = url_for("api.get_partner", partner_id=partner.id)
    return response


@bp.patch("/partners/<int:partner_id>")
@bp.authenticated
@bp.arguments(schemas.PartnerInput, error_status_code=422)
@bp.response(200, schemas.PartnerDetail)
@bp.errors(400, 404, 409, 422)
def update_partner(values: dict[str, Any], partner_id: int) -> Response:
    """Change a partner (roles admin, operator); `identifiers`, when given, is the whole list"""
    require_permission("partners.write")
    with gateway().session() as s:
        partner = partner_json.apply(s, _get(s, Partner, partner_id, "partner"), values)
        return answer(schemas.PartnerDetail, partner)


# --- exchanges -----------------------------------------------------------------------------

@bp.get("/exchanges")
@bp.authenticated
@bp.arguments(schemas.ExchangeArgs, location="query")
@bp.response(200, schemas.ExchangePage)
@bp.errors(400)
def list_exchanges(args: dict[str, Any]) -> Response:
    """Exchanges matching every filter given, newest first"""
    filters, page = params.search(args)
    with gateway().session() as s:
        return answer(schemas.ExchangePage, _paged(s, Exchange.search(**filters), page))


@bp.get("/exchanges/<int:exchange_id>")
@bp.authenticated
@bp.response(200, schemas.ExchangeDetail)
@bp.errors(404)
def get_exchange(exchange_id: int) -> Response:
    """One exchange with its status history and documents"""
    with gateway().session() as s:
        return answer(schemas.ExchangeDetail, _get(s, Exchange, exchange_id, "exchange"))


@bp.get("/exchanges/<int:exchange_id>/raw")
@bp.authenticated
@_downloads
@bp.errors(404, 500)
def exchange_raw(exchange_id: int) -> Response:
    """The message as received or sent (AS2: headers and body), byte for byte"""
    return downloads.exchange_raw(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/content")
@bp.authenticated
@_downloads
@bp.errors(404, 500)
def exchange_content(exchange_id: int) -> Response:
    """The business content (decrypted, verified, decompressed)"""
    return downloads.exchange_content(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/mdn")
@bp.authenticated
@_downloads
@bp.errors(404, 500)
def exchange_mdn(exchange_id: int) -> Response:
    """The MDN received or sent for it, as on the wire"""
    return downloads.exchange_mdn(exchange_id)


@bp.post("/exchanges/<int:exchange_id>/retry")
@bp.authenticated
@bp.response(202, schemas.ExchangeDetail, description="Queued again")
@bp.errors(404, 409)
def retry_exchange(exchange_id: int) -> Response:
    """Retry a failed or refused send, or a failed inbound processing (roles admin, operator)"""
    require_permission("retry")
    gw = gateway()
    try:
        gw.retry_exchange(exchange_id, by=g.user.username)
    except LookupError:
        raise NotFound(f"no exchange {exchange_id}") from None
    with gw.session() as s:
        return answer(schemas.ExchangeDetail, _get(s, Exchange, exchange_id, "exchange"), 202)


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@bp.authenticated
@bp.response(202, schemas.Delivery, description="Planned again; its status and history tell the outcome")
@bp.errors(404, 409)
def redeliver(delivery_id: int) -> Response:
    """Plan a failed delivery again with its recipient's current channel profile (roles admin, operator)

    Once the partner is fixed; 409 when the delivery is not failed.
    """
    require_permission("retry")
    gw = gateway()
    try:
        channels.redeliver(gw, delivery_id, by=g.user.username)
    except LookupError:
        raise NotFound(f"no delivery {delivery_id}") from None
    with gw.session() as s:
        return answer(schemas.Delivery, _get(s, Delivery, delivery_id, "delivery"), 202)


# --- documents -----------------------------------------------------------------------------

@bp.get("/documents")
@bp.authenticated
@bp.arguments(schemas.DocumentArgs, location="query")
@bp.response(200, schemas.DocumentPage)
@bp.errors(400)
def list_documents(args: dict[str, Any]) -> Response:
    """Documents matching every filter given, newest first"""
    filters, page = params.search(args)
    with gateway().session() as s:
        return answer(schemas.DocumentPage, _paged(s, DocumentRecord.search(**filters), page))


@bp.get("/documents/<int:document_id>")
@bp.authenticated
@bp.response(200, schemas.DocumentDetail)
@bp.errors(404)
def get_document(document_id: int) -> Response:
    """One document: summary, findings, renderings, deliveries with their history"""
    with gateway().session() as s:
        return answer(schemas.DocumentDetail, _get(s, DocumentRecord, document_id, "document"))


@bp.get("/documents/<int:document_id>/original")
@bp.authenticated
@_downloads
@bp.errors(404, 500)
def document_original(document_id: int) -> Response:
    """The file the document was read from"""
    return downloads.document_original(document_id)


@bp.get("/documents/<int:document_id>/renderings/<int:rendering_id>")
@bp.authenticated
@_downloads
@bp.errors(404, 500)
def document_rendering(document_id: int, rendering_id: int) -> Response:
    """The document in one syntax, named after its number"""
    return downloads.document_rendering(document_id, rendering_id)


UPLOAD_BODY = {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "minLength": 1}}}},
}}


@bp.post("/documents")
@bp.authenticated
@bp.arguments(schemas.UploadArgs, location="query")
@bp.arguments(schemas.UploadHeaders, location="headers")
@bp.doc(requestBody=UPLOAD_BODY)
@bp.response(202, schemas.Upload, description="Taken in; Location names the exchange",
             headers={"Location": {"schema": {"type": "string"}}})
@bp.alt_response(200, schema=schemas.Upload, description="Seen before (same Idempotency-Key): the first exchange",
                 success=True, headers={"Location": {"schema": {"type": "string"}}})
@bp.errors(400, 404, 413)
def upload_document(args: dict[str, Any], headers: dict[str, Any]) -> Response:
    """Send a document in; stored durably and queued for processing before the answer

    The raw body, or the multipart field `file`. An `Idempotency-Key` seen before answers 200
    with the exchange it created. The body may be any file the gateway reads (UBL, CII,
    Factur-X, EDIFACT, CSV); its media type is kept as declared.
    """
    require_permission("documents.upload")
    from gateway.flow.receive import DuplicateUpload, receive_file

    gw = gateway()
    partner_id = args.get("partner")
    if partner_id is not None:
        with gw.session() as s:
            if s.get(Partner, partner_id) is None:
                raise NotFound(f"no partner {partner_id}")
    key = headers.get("idempotency_key")
    data, filename, content_type = _upload_data(args.get("filename"))
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
    response = answer(schemas.Upload, body, status_code)
    response.headers["Location"] = body["location"]
    return response


def _upload_data(filename: Optional[str]) -> tuple[bytes, Optional[str], Optional[str]]:
    """The uploaded bytes, their file name (``?filename=`` first) and media type as declared."""
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
            raise partner_json.Invalid({"status": f"a recipient sets one of: {', '.join(lifecycle.RECIPIENT_STATUSES)}"})
        known = {e.id for e in doc.status_events}
        try:
            event = lifecycle.set_business_status(s, doc, wanted["status"], reason=wanted.get("reason"),
                                                  reason_code=wanted.get("reason_code"), by=f"api:{g.user.username}")
        except StatusError:
            raise
        except ValueError as e:
            raise partner_json.Invalid({"status": str(e)}) from None
        created = event.id not in known
    lifecycle.report_pending(gw, document_id=document_id)
    with gw.session() as s:
        return answer(schemas.DocumentStatus, _status_view(s, s.get(DocumentRecord, document_id)),
                      201 if created else 200)
