"""The API's blueprint (``/api/v1``): its errors, its caching, the helpers its routes share, and the
OpenAPI description route.

The routes are in one module per resource (``partners``, ``exchanges``, ``deliveries``,
``documents``, ``invoice_status``, ``erp``), all on this one blueprint, so every endpoint is
``api.<view>`` and the generated description is one document. Errors are JSON, one shape,
``{"error": "…", "details": …}`` (``kit.errors.json_errors``): 400 unusable query or body,
401 no valid token, 403 role, 404 no such record (or URL under ``/api/``), 405 method,
409 conflict with the current state, 413 too large, 422 well-formed but invalid values.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import sqlalchemy as sa
from flask import Response, current_app, jsonify
from marshmallow import Schema
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from ...db import StatusError
from ...partners.service import PartnerError
from .. import downloads
from ..kit.errors import INVALID_VALUES, json_errors
from . import params
from .openapi import PREFIX, Blueprint

log = logging.getLogger("edigate.api")

bp = Blueprint("api", __name__, url_prefix=PREFIX, description="The gateway's records and actions")


def _partner_refusal(e: PartnerError) -> tuple[int, str, Any]:
    """A partner change the service refused: 409 when the value is another record's (the
    partner holding an identifier named), 422 when it cannot be used."""
    if e.conflict:
        return 409, str(e), {"field": e.field, **({"partner": e.holder_id} if e.field == "identifiers" else {})}
    return 422, INVALID_VALUES, {e.field: e.problem}


# the API's own exceptions, as (status, message, details)
ERRORS: dict[type[Exception], Callable[[Any], tuple[int, str, Any]]] = {
    params.BadParameters: lambda e: (400, str(e), e.details),
    PartnerError: _partner_refusal,
    # a unique constraint another request won a race for (the checks before it lost)
    IntegrityError: lambda e: (409, "conflicts with an existing record", {"constraint": str(e.orig)}),
    StatusError: lambda e: (409, str(e), None),
}
json_errors(bp, translate=ERRORS, prefix=PREFIX, logger=log)


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


def paged(s, query: sa.Select, page: params.Page) -> dict[str, Any]:
    total = s.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    rows = s.scalars(query.limit(page.limit).offset(page.offset)).all()
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


def get_or_404(s, model, record_id: int, what: str):
    record = s.get(model, record_id)
    if record is None:
        raise NotFound(f"no {what} {record_id}")
    return record


BYTES = {"schema": {"type": "string", "format": "binary"}}


def download_doc(view):
    """The download answers: the stored bytes as an attachment (ETag: their SHA-256), in one of
    the media types ``downloads.MEDIA_TYPES``."""
    for media_type in reversed(downloads.MEDIA_TYPES):
        view = bp.alt_response(200, description="The stored bytes as an attachment; ETag is their SHA-256",
                               content_type=media_type, schema=BYTES["schema"], success=True,
                               headers={"ETag": {"schema": {"type": "string"}},
                                        "Content-Disposition": {"schema": {"type": "string"}}})(view)
    return view


# --- description ---------------------------------------------------------------------------

def description() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this app's API, generated from its routes and schemas."""
    cache = current_app.extensions.setdefault("edigate.openapi", {})
    if "doc" not in cache:
        cache["doc"] = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return cache["doc"]


@bp.get("/openapi.json")
@bp.doc(security=[], summary="This description (OpenAPI 3.1)")
@bp.response(200, {"type": "object"}, description="The OpenAPI 3.1 document")
def openapi() -> Response:
    return jsonify(description())
