"""The API's documents (invoices read from exchanges): list, read, download, and upload new
ones (``/api/v1/documents``); their life cycle is ``invoice_status``."""
from __future__ import annotations

from typing import Any, Optional

from flask import Response, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from ...db import DocumentRecord, Exchange, Partner
from ...flow.receive import DuplicateUpload, receive_file
from ...store.payloads import PayloadTooLarge
from .. import downloads
from ..kit.current import gateway
from ..kit.errors import error
from ..kit.roles import require_permission
from . import params, schemas
from .blueprint import answer, bp, download_doc, get_or_404, paged


@bp.get("/documents")
@bp.authenticated
@bp.arguments(schemas.DocumentArgs, location="query")
@bp.response(200, schemas.DocumentPage)
@bp.errors(400)
def list_documents(args: dict[str, Any]) -> Response:
    """Documents matching every filter given, newest first"""
    filters, page = params.search(args)
    with gateway().session() as s:
        return answer(schemas.DocumentPage, paged(s, DocumentRecord.search(**filters), page))


@bp.get("/documents/<int:document_id>")
@bp.authenticated
@bp.response(200, schemas.DocumentDetail)
@bp.errors(404)
def get_document(document_id: int) -> Response:
    """One document: summary, findings, renderings, deliveries with their history"""
    with gateway().session() as s:
        return answer(schemas.DocumentDetail, get_or_404(s, DocumentRecord, document_id, "document"))


@bp.get("/documents/<int:document_id>/original")
@bp.authenticated
@download_doc
@bp.errors(404, 500)
def document_original(document_id: int) -> Response:
    """The file the document was read from"""
    require_permission("documents.open")      # as on the pages: staff follow the lists, not the content
    return downloads.document_original(document_id)


@bp.get("/documents/<int:document_id>/renderings/<int:rendering_id>")
@bp.authenticated
@download_doc
@bp.errors(404, 500)
def document_rendering(document_id: int, rendering_id: int) -> Response:
    """The document in one syntax, named after its number"""
    require_permission("documents.open")      # as on the pages: staff follow the lists, not the content
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
        ex = get_or_404(s, Exchange, exchange_id, "exchange")
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
