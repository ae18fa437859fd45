"""ERP pull (``/api/v1/erp``): a recipient's ERP fetches its new invoices and acknowledges them.

The recipient chose the ``erp`` channel: each invoice for it becomes a delivery
that is ``delivered`` (available) at once and waits for the ERP. The ERP

1. lists what is available, oldest first (``GET /erp/invoices``), page by page
   with the opaque ``next_cursor``; every item has a stable ``id`` (the document
   id) to de-duplicate by, the summary, the invoice as JSON (``model_json``) and
   links to each syntax;
2. fetches the syntax it imports (``GET /erp/invoices/<id>/content?format=…``):
   written on demand from the original and kept (``gateway.flow.renderings``), so a
   second fetch gives the same bytes;
3. acknowledges what it has safely stored (``POST /erp/invoices/ack``): only
   then does an invoice leave the list. Anything not acknowledged comes back on
   the next pull, from the start: at least once, never lost. The cursor only
   pages within one pull; it is signed with the app's secret key, and one that
   was not issued here (or for another partner) is a 400.

An invoice waiting for approval (``gateway.approvals``), or refused by it, is not available: it
appears once its last approval is given.

Who: a ``recipient`` login's token acts for its own partner only (another
partner's invoice is a 404, as if it did not exist); an admin or operator acts
for the partner named by ``?partner=<id>``; other roles are refused.

This blueprint nests inside the API's (importing this module registers it
there, before the app registers the API): it shares the API's JSON errors,
its ``no-store`` caching and its generated OpenAPI description (its requests
and answers are ``schemas``' ``Erp*``), and, like the API, is exempt from CSRF
(bearer tokens, no cookies).
"""
from __future__ import annotations

import json
import logging
import mimetypes
from typing import Any, Optional

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import Response, current_app, g, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from marshmallow.utils import missing
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Conflict, Forbidden, NotFound, UnprocessableEntity

from ...db import ApprovalCase, Delivery, DocumentRecord, Partner, utcnow
from ...delivery.state import acknowledge_delivery
from ...flow.renderings import CannotRender, rendering_for
from ...model.json_form import FORMAT, to_dict
from ...store.filenames import safe_filename
from ...store.payloads import PayloadNotFound
from ...syntaxes import read_documents, syntax_of, writable
from .. import downloads
from ..kit.current import gateway
from ..kit.tokens import bearer_token
from . import params, schemas
from .blueprint import answer, download_doc
from .blueprint import bp as api_bp
from .openapi import Blueprint

log = logging.getLogger("edigate.erp")

bp = Blueprint("erp", __name__, url_prefix="/erp", description="ERP pull: a recipient's ERP fetches its invoices")

CHANNEL = "erp"
AVAILABLE, ACKNOWLEDGED = "delivered", "acknowledged"
CURSOR_SALT = "edigate.erp.cursor"
# what each item links to; ``content`` also takes any flavour of gateway.syntaxes.writable()
LINK_FORMATS = ("json", "ubl", "cii", "facturx", "csv", "original")
DEFAULT_CSV = "csv-lines"


# --- who: the partner the request acts for ------------------------------------------------

def _partner_id(args: dict[str, Any]) -> int:
    user = g.user
    requested: Optional[int] = args.get("partner")
    if user.role == "recipient":
        if requested is not None and requested != user.partner_id:
            raise Forbidden("a recipient's token acts for its own partner only")
        return user.partner_id
    if not user.has_role("admin", "operator"):
        raise Forbidden("the ERP pull API is for recipient logins, or for an admin or operator "
                        "acting for a partner (?partner=<id>)")
    if requested is None:
        raise params.BadParameters({"partner": "an admin's or operator's token must name the partner "
                                               "it pulls for: ?partner=<id>"})
    with gateway().session() as s:
        if s.get(Partner, requested) is None:
            raise NotFound(f"no partner {requested}")
    return requested


def _url(endpoint: str, partner_id: int, **values: Any) -> str:
    """A link for the caller: an operator's links keep naming the partner."""
    if g.user.role != "recipient":
        values["partner"] = partner_id
    return url_for(endpoint, **values)


# --- the cursor: where the next page starts, signed ------------------------------------------

def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=CURSOR_SALT)


def _cursor(partner_id: int, after: int) -> str:
    return _signer().dumps({"p": partner_id, "after": after})


def _after(partner_id: int, cursor: Optional[str]) -> int:
    """The delivery id the requested page starts after (0: from the start)."""
    text = (cursor or "").strip()
    if not text:
        return 0
    try:
        value = _signer().loads(text)
    except BadSignature:
        raise params.BadParameters({"cursor": "not a cursor this API issued: pass next_cursor back "
                                              "unchanged, or leave it out to start from the first invoice"}) from None
    if not (isinstance(value, dict) and isinstance(value.get("p"), int) and isinstance(value.get("after"), int)):
        raise params.BadParameters({"cursor": "not a cursor this API issued"})
    if value["p"] != partner_id:
        raise params.BadParameters({"cursor": "this cursor was issued for another partner"})
    return value["after"]


# --- items ---------------------------------------------------------------------------------

def _deliveries(partner_id: int) -> sa.Select[tuple[Delivery]]:
    return (sa.select(Delivery)
            .where(Delivery.recipient_partner_id == partner_id, Delivery.channel == CHANNEL,
                   Delivery.document_id.not_in(ApprovalCase.withheld_document_ids()))   # not approved (yet)
            .options(selectinload(Delivery.document).selectinload(DocumentRecord.exchange),
                     selectinload(Delivery.document).selectinload(DocumentRecord.sender),
                     selectinload(Delivery.history)))


def _delivery(s, partner_id: int, document_id: int) -> Delivery:
    """This partner's ERP delivery of the document, available or acknowledged; 404 otherwise
    (another partner's invoice looks exactly like one that does not exist)."""
    d = s.scalar(_deliveries(partner_id).where(Delivery.document_id == document_id,
                                               Delivery.status.in_((AVAILABLE, ACKNOWLEDGED))))
    if d is None:
        raise NotFound(f"no invoice {document_id} for this recipient")
    return d


def _when(d: Delivery, status: str) -> Optional[datetime]:
    return next((e.at for e in d.history if e.status == status), None)


@dataclass
class Item:
    """One invoice as its ERP sees it, what ``schemas.ErpInvoice`` writes: the delivery, its
    document, the links for the caller, and the invoice as JSON (``_Models``)."""

    delivery: Delivery
    links: dict[str, Any]
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def document(self) -> DocumentRecord:
        return self.delivery.document

    @property
    def status(self) -> str:
        return "available" if self.delivery.status == AVAILABLE else "acknowledged"

    @property
    def available_at(self) -> Optional[datetime]:
        return _when(self.delivery, AVAILABLE)

    @property
    def acknowledged_at(self) -> Optional[datetime]:
        return _when(self.delivery, ACKNOWLEDGED)

    def __getattr__(self, name: str) -> Any:           # model, invoice, invoice_error (absent: left out)
        if name in ("model", "invoice", "invoice_error"):
            return self.models.get(name, missing)
        raise AttributeError(name)


def _item(d: Delivery, partner_id: int) -> Item:
    document_id = d.document_id
    return Item(d, {
        "self": _url("api.erp.get_invoice", partner_id, document_id=document_id),
        "content": {f: _url("api.erp.invoice_content", partner_id, document_id=document_id, format=f)
                    for f in LINK_FORMATS},
    })


class _Models:
    """The invoices of the items, each original read once per request (a CSV file may hold many)."""

    def __init__(self):
        self.files: dict[str, list] = {}

    def json(self, doc: DocumentRecord) -> dict[str, Any]:
        key = doc.exchange.content_sha256
        try:
            if key not in self.files:
                self.files[key] = read_documents(gateway().payloads.get(key))
            invoice = self.files[key][doc.position].invoice
        except Exception as e:        # one bad original must not hide the other invoices of a page
            log.error("ERP pull: document %s: cannot read its original: %s", doc.id, e)
            return {"model": FORMAT, "invoice": None,
                    "invoice_error": f"the original could not be read again ({type(e).__name__}); "
                                     "an operator has it in the log"}
        return {"model": FORMAT, "invoice": to_dict(invoice)}


# --- routes --------------------------------------------------------------------------------

@bp.get("/invoices")
@bp.authenticated(recipients=True)
@bp.arguments(schemas.ErpListArgs, location="query")
@bp.response(200, schemas.ErpInvoicePage)
@bp.errors(400, 404)
def list_invoices(args: dict[str, Any]) -> Response:
    """The recipient's available, unacknowledged invoices, oldest first (ERP pull)

    A recipient login's token lists its own partner's invoices; an admin's or operator's token
    must name the partner with `partner`. Page with `next_cursor` (opaque, signed; null on the
    last page). Nothing leaves this list until acknowledged: start each pull without a cursor.
    """
    partner_id = _partner_id(args)
    after, limit = _after(partner_id, args.get("cursor")), args["limit"]
    models = _Models()
    with gateway().session() as s:
        rows = s.scalars(_deliveries(partner_id)
                         .where(Delivery.status == AVAILABLE, Delivery.id > after)
                         .order_by(Delivery.id).limit(limit + 1)).all()
        page, more = rows[:limit], len(rows) > limit
        items = [_item(d, partner_id) for d in page]
        for item in items:
            item.models = models.json(item.document)
        next_cursor = _cursor(partner_id, page[-1].id) if more else None
        return answer(schemas.ErpInvoicePage, {"items": items, "next_cursor": next_cursor, "limit": limit})


@bp.get("/invoices/<int:document_id>")
@bp.authenticated(recipients=True)
@bp.arguments(schemas.ErpArgs, location="query")
@bp.response(200, schemas.ErpInvoice)
@bp.errors(400, 404)
def get_invoice(args: dict[str, Any], document_id: int) -> Response:
    """One of the recipient's invoices (available or acknowledged), with its JSON model"""
    partner_id = _partner_id(args)
    with gateway().session() as s:
        item = _item(_delivery(s, partner_id, document_id), partner_id)
        item.models = _Models().json(item.document)
        return answer(schemas.ErpInvoice, item)


@bp.get("/invoices/<int:document_id>/content")
@bp.authenticated(recipients=True)
@bp.arguments(schemas.ErpContentArgs, location="query")
@download_doc
@bp.errors(400, 404, 409, 422, 500)
def invoice_content(args: dict[str, Any], document_id: int) -> Response:
    """The invoice's bytes in one format, as an attachment; the same bytes every time

    Written on demand from the original and kept. `Edigate-Dropped-Terms` names the business
    terms the syntax could not carry (the JSON and the original have them). Default format:
    the recipient's own.
    """
    partner_id = _partner_id(args)
    with gateway().session() as s:
        d = _delivery(s, partner_id, document_id)
        doc, own_format = d.document, d.format
        siblings = list(doc.exchange.documents)
    fmt = args.get("format") or (own_format if own_format in writable() else "ubl")
    if fmt == "csv":                  # the recipient's CSV dialect if it has one, else the usual one
        fmt = own_format if syntax_of(own_format or "") == "csv" else DEFAULT_CSV
    stem = safe_filename(doc.number, f"invoice-{doc.id}")
    if fmt == "json":
        return _json_content(doc, stem)
    if fmt == "original":
        return _original(doc, siblings, partner_id, stem)
    try:
        r = rendering_for(gateway(), doc.id, fmt)
    except CannotRender as e:
        raise UnprocessableEntity(str(e)) from None
    except PayloadNotFound as e:
        raise downloads.PayloadMissing(f"document {doc.id}: {e}") from None
    response = downloads.payload_response(r.payload_key, filename=stem + downloads.extension(r.syntax, r.media_type),
                                          media_type=r.media_type)
    dropped = sorted({x["term"] for x in r.dropped or []})
    if dropped:       # what this syntax could not carry: the JSON and the original have it
        response.headers["Edigate-Dropped-Terms"] = ", ".join(dropped)
    return response


def _json_content(doc: DocumentRecord, stem: str) -> Response:
    models = _Models().json(doc)
    if models["invoice"] is None:
        raise downloads.PayloadMissing(f"document {doc.id}: {models['invoice_error']}")
    data = (json.dumps(models["invoice"], ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    response = Response(data, mimetype="application/json")
    response.headers.set("Content-Disposition", "attachment", filename=f"{stem}.json")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _original(doc: DocumentRecord, siblings: list[DocumentRecord], partner_id: int, stem: str) -> Response:
    """The file as the sender sent it, unless it also holds invoices for someone else."""
    others = [r for r in siblings if r.recipient_partner_id != partner_id]
    if others:
        raise Conflict(f"the original file holds {len(siblings)} invoices, not all for this recipient; "
                       "ask for a syntax instead (format=json, ubl, cii, facturx, csv)")
    ex = doc.exchange
    name = safe_filename(downloads.basename(ex.filename), stem)
    media_type = (ex.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream")
    return downloads.payload_response(ex.content_sha256, filename=name, media_type=media_type,
                                      missing=f"document {doc.id} has no original stored")


@bp.post("/invoices/ack")
@bp.authenticated(recipients=True)
@bp.arguments(schemas.ErpArgs, location="query")
@bp.arguments(schemas.ErpAckInput)
@bp.response(200, schemas.ErpAck, description="What became of each id")
@bp.errors(400, 404)
def acknowledge(args: dict[str, Any], body: dict[str, Any]) -> Response:
    """Acknowledge invoices the ERP has safely stored (idempotent)

    An id acknowledged before is reported as such; ids that are not this recipient's available
    invoices are reported back, never silently ignored.
    """
    partner_id = _partner_id(args)
    ids = list(dict.fromkeys(body["ids"]))         # once each, in the order given
    token = bearer_token() or ""
    reason = f"acknowledged over the ERP pull API by {g.user.username} (token {token[:12]}…)"
    done: list[int] = []
    before: list[int] = []
    refused: list[dict[str, Any]] = []
    at = utcnow()
    with gateway().session() as s:
        found = {d.document_id: d for d in s.scalars(
            sa.select(Delivery).where(Delivery.recipient_partner_id == partner_id, Delivery.channel == CHANNEL,
                                      Delivery.document_id.in_(ids),
                                      Delivery.document_id.not_in(ApprovalCase.withheld_document_ids()))
            .with_for_update())}
        for i in ids:
            d = found.get(i)
            if d is None:
                continue
            if d.status == ACKNOWLEDGED:
                before.append(i)
            elif acknowledge_delivery(s, d, reason, at):      # delivered → acknowledged
                done.append(i)
            else:
                refused.append({"id": i, "status": d.status,
                                "reason": f"not available to acknowledge: the delivery is {d.status}"})
    unknown = [i for i in ids if i not in found]
    if done:
        log.info("ERP pull: partner %s: %s acknowledged %d invoice(s)", partner_id, g.user.username, len(done))
    return answer(schemas.ErpAck, {"acknowledged": done, "already_acknowledged": before, "unknown": unknown,
                                   "refused": refused})


# nested: /api/v1/erp/…, endpoints api.erp.*; done once, at import, before any app registers the API
api_bp.register_blueprint(bp)
