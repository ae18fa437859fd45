"""The API's exchanges (messages in and out): list, read, their stored bytes, and retry
(``/api/v1/exchanges``)."""
from __future__ import annotations

from typing import Any

from flask import Response, g
from werkzeug.exceptions import NotFound

from ...db import Exchange
from .. import downloads
from ..kit.current import gateway
from ..kit.roles import require_permission
from . import params, schemas
from .blueprint import answer, bp, download_doc, get_or_404, paged


@bp.get("/exchanges")
@bp.authenticated
@bp.arguments(schemas.ExchangeArgs, location="query")
@bp.response(200, schemas.ExchangePage)
@bp.errors(400)
def list_exchanges(args: dict[str, Any]) -> Response:
    """Exchanges matching every filter given, newest first"""
    filters, page = params.search(args)
    with gateway().session() as s:
        return answer(schemas.ExchangePage, paged(s, Exchange.search(**filters), page))


@bp.get("/exchanges/<int:exchange_id>")
@bp.authenticated
@bp.response(200, schemas.ExchangeDetail)
@bp.errors(404)
def get_exchange(exchange_id: int) -> Response:
    """One exchange with its status history and documents"""
    with gateway().session() as s:
        return answer(schemas.ExchangeDetail, get_or_404(s, Exchange, exchange_id, "exchange"))


@bp.get("/exchanges/<int:exchange_id>/raw")
@bp.authenticated
@download_doc
@bp.errors(404, 500)
def exchange_raw(exchange_id: int) -> Response:
    """The message as received or sent (AS2: headers and body), byte for byte"""
    require_permission("documents.open")      # as on the pages: staff follow the lists, not the content
    return downloads.exchange_raw(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/content")
@bp.authenticated
@download_doc
@bp.errors(404, 500)
def exchange_content(exchange_id: int) -> Response:
    """The business content (decrypted, verified, decompressed)"""
    require_permission("documents.open")      # as on the pages: staff follow the lists, not the content
    return downloads.exchange_content(exchange_id)


@bp.get("/exchanges/<int:exchange_id>/mdn")
@bp.authenticated
@download_doc
@bp.errors(404, 500)
def exchange_mdn(exchange_id: int) -> Response:
    """The MDN received or sent for it, as on the wire"""
    require_permission("documents.open")      # as on the pages: staff follow the lists, not the content
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
        return answer(schemas.ExchangeDetail, get_or_404(s, Exchange, exchange_id, "exchange"), 202)
