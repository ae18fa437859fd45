"""ERP pull (``/api/v1/erp``): a recipient's ERP fetches its new invoices and acknowledges them.

The recipient chose the ``erp`` channel: each invoice for it becomes a delivery
that is ``delivered`` (available) at once and waits for the ERP. The ERP

1. lists what is available, oldest first (``GET /erp/invoices``), page by page
   with the opaque ``next_cursor``; every item has a stable ``id`` (the document
   id) to de-duplicate by, the summary, the invoice as JSON (``model_json``) and
   links to each syntax;
2. fetches the syntax it imports (``GET /erp/invoices/<id>/content?format=…``):
   written on demand from the original and kept (``gateway.renderings``), so a
   second fetch gives the same bytes;
3. acknowledges what it has safely stored (``POST /erp/invoices/ack``): only
   then does an invoice leave the list. Anything not acknowledged comes back on
   the next pull, from the start: at least once, never lost. The cursor only
   pages within one pull; it is signed with the app's secret key, and one that
   was not issued here (or for another partner) is a 400.

Who: a ``recipient`` login's token acts for its own partner only (another
partner's invoice is a 404, as if it did not exist); an admin or operator acts
for the partner named by ``?partner=<id>``; other roles are refused.

This blueprint nests inside the API's (importing this module registers it
there, before the app registers the API): it shares the API's JSON errors,
its ``no-store`` caching and its OpenAPI description (``openapi.yaml``), and,
like the API, is exempt from CSRF (bearer tokens, no cookies).
"""
from __future__ import annotations

import json
import logging
import mimetypes
from typing import Any, Optional

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import BadRequest, Conflict, Forbidden, NotFound, UnprocessableEntity

from ..channels.status import acknowledge_delivery
from ..db import Delivery, DocumentRecord, Partner, utcnow
from ..filenames import safe_filename
from ..store.payloads import PayloadNotFound
from . import downloads, gateway, params
from .api import bp as api_bp
from .auth import bearer_token, require_token
from .serialise import iso

log = logging.getLogger("edigate.erp")

bp = Blueprint("erp", __name__, url_prefix="/erp")

CHANNEL = "erp"
AVAILABLE, ACKNOWLEDGED = "delivered", "acknowledged"
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
MAX_ACK_IDS = 1000
CURSOR_SALT = "edigate.erp.cursor"
# what each item links to; ``content`` also takes any syntax of gateway.formats.WRITABLE
LINK_FORMATS = ("json", "ubl", "cii", "facturx", "csv", "original")
DEFAULT_CSV = "csv-lines"


# --- who: the partner the request acts for ------------------------------------------------

def _partner_id() -> int:
    user = g.user
    requested = (request.args.get("partner") or "").strip()
    if user.role == "recipient":
        if requested and requested != str(user.partner_id):
            raise Forbidden("a recipient's token acts for its own partner only")
        return user.partner_id
    if not user.has_role("admin", "operator"):
        raise Forbidden("the ERP pull API is for recipient logins, or for an admin or operator "
                        "acting for a partner (?partner=<id>)")
    if not requested:
        raise params.BadParameters({"partner": "an admin's or operator's token must name the partner "
                                               "it pulls for: ?partner=<id>"})
    if not requested.isdigit():
        raise params.BadParameters({"partner": f"{requested!r} is not a partner id"})
    with gateway().session() as s:
        if s.get(Partner, int(requested)) is None:
            raise NotFound(f"no partner {requested}")
    return int(requested)


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


def _after(partner_id: int) -> int:
    """The delivery id the requested page starts after (0: from the start)."""
    text = (request.args.get("cursor") or "").strip()
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


def _limit() -> int:
    text = (request.args.get("limit") or "").strip()
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise params.BadParameters({"limit": f"{text!r}: give a whole number from 1 to {MAX_LIMIT}"})
    return int(text)


# --- items ---------------------------------------------------------------------------------

def _deliveries(partner_id: int) -> sa.Select[tuple[Delivery]]:
    return (sa.select(Delivery)
            .where(Delivery.recipient_partner_id == partner_id, Delivery.channel == CHANNEL)
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


def _identifier(scheme: Optional[str], value: Optional[str]) -> Optional[dict[str, Any]]:
    return {"scheme": scheme, "value": value} if value else None


def _when(d: Delivery, status: str) -> Optional[str]:
    return iso(next((e.at for e in d.history if e.status == status), None))


def _summary(d: Delivery, partner_id: int) -> dict[str, Any]:
    doc = d.document
    return {
        "id": doc.id,
        "delivery_id": d.id,
        "status": "available" if d.status == AVAILABLE else "acknowledged",
        "available_at": _when(d, AVAILABLE),
        "acknowledged_at": _when(d, ACKNOWLEDGED),
        "received_at": iso(doc.created_at),
        "number": doc.number,
        "type_code": doc.type_code,
        "issue_date": iso(doc.issue_date),
        "due_date": iso(doc.due_date),
        "currency": doc.currency,
        "sender": {
            "partner_id": doc.sender_partner_id,
            "partner_name": doc.sender.name if doc.sender is not None else None,
            "name": doc.seller_name, "vat_id": doc.seller_vat_id,
            "id": _identifier(doc.seller_id_scheme, doc.seller_id),
            "endpoint": _identifier(doc.seller_endpoint_scheme, doc.seller_endpoint_id),
        },
        "buyer": {"name": doc.buyer_name, "vat_id": doc.buyer_vat_id},
        "totals": {"without_vat": iso(doc.total_without_vat), "vat": iso(doc.total_vat),
                   "with_vat": iso(doc.total_with_vat), "amount_due": iso(doc.amount_due)},
        "format": d.format,
        "links": {
            "self": _url("api.erp.get_invoice", partner_id, document_id=doc.id),
            "content": {f: _url("api.erp.invoice_content", partner_id, document_id=doc.id, format=f)
                        for f in LINK_FORMATS},
        },
    }


class _Models:
    """The invoices of the items, each original read once per request (a CSV file may hold many)."""

    def __init__(self):
        self.files: dict[str, list] = {}

    def json(self, doc: DocumentRecord) -> dict[str, Any]:
        from ..formats import read_documents
        from ..model_json import FORMAT, to_dict

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
@require_token(recipients=True)
def list_invoices() -> Response:
    partner_id = _partner_id()
    after, limit = _after(partner_id), _limit()
    with gateway().session() as s:
        rows = s.scalars(_deliveries(partner_id)
                         .where(Delivery.status == AVAILABLE, Delivery.id > after)
                         .order_by(Delivery.id).limit(limit + 1)).all()
        page, more = rows[:limit], len(rows) > limit
        items = [(_summary(d, partner_id), d.document) for d in page]
        next_cursor = _cursor(partner_id, page[-1].id) if more else None
    models = _Models()
    out = [{**summary, **models.json(doc)} for summary, doc in items]
    return jsonify({"items": out, "next_cursor": next_cursor, "limit": limit})


@bp.get("/invoices/<int:document_id>")
@require_token(recipients=True)
def get_invoice(document_id: int) -> Response:
    partner_id = _partner_id()
    with gateway().session() as s:
        d = _delivery(s, partner_id, document_id)
        summary, doc = _summary(d, partner_id), d.document
    return jsonify({**summary, **_Models().json(doc)})


@bp.get("/invoices/<int:document_id>/content")
@require_token(recipients=True)
def invoice_content(document_id: int) -> Response:
    """The invoice's bytes in one format (default: the recipient's own), as an attachment."""
    from ..formats import WRITABLE
    from ..formats.csv_syntax import DIALECTS

    partner_id = _partner_id()
    with gateway().session() as s:
        d = _delivery(s, partner_id, document_id)
        doc, own_format = d.document, d.format
        siblings = list(doc.exchange.documents)
    fmt = (request.args.get("format") or "").strip() or (own_format if own_format in WRITABLE else "ubl")
    if fmt == "csv":                  # the recipient's CSV dialect if it has one, else the usual one
        fmt = own_format if own_format in DIALECTS else DEFAULT_CSV
    stem = safe_filename(doc.number, f"invoice-{doc.id}")
    if fmt == "json":
        return _json_content(doc, stem)
    if fmt == "original":
        return _original(doc, siblings, partner_id, stem)
    if fmt not in WRITABLE:
        raise params.BadParameters({"format": f"{fmt!r} is not one of: json, original, csv, {', '.join(WRITABLE)}"})
    from ..renderings import CannotRender, rendering_for
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


def _ack_ids() -> list[int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
        raise BadRequest('expected a JSON body {"ids": [<invoice id>, …]} (Content-Type: application/json)')
    ids = body["ids"]
    bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int) or i < 1]
    if bad:
        raise BadRequest(f"ids are invoice ids (positive whole numbers); not: {json.dumps(bad[:10])}")
    if not 1 <= len(ids) <= MAX_ACK_IDS:
        raise BadRequest(f"acknowledge 1 to {MAX_ACK_IDS} ids at a time")
    return list(dict.fromkeys(ids))         # once each, in the order given


@bp.post("/invoices/ack")
@require_token(recipients=True)
def acknowledge() -> Response:
    """Mark invoices as safely received by the ERP. Idempotent: an id acknowledged before is
    reported as such; ids that are not this recipient's available invoices are reported back,
    never silently ignored."""
    partner_id = _partner_id()
    ids = _ack_ids()
    token = bearer_token() or ""
    reason = f"acknowledged over the ERP pull API by {g.user.username} (token {token[:12]}…)"
    done: list[int] = []
    before: list[int] = []
    refused: list[dict[str, Any]] = []
    at = utcnow()
    with gateway().session() as s:
        found = {d.document_id: d for d in s.scalars(
            sa.select(Delivery).where(Delivery.recipient_partner_id == partner_id, Delivery.channel == CHANNEL,
                                      Delivery.document_id.in_(ids)).with_for_update())}
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
    return jsonify({"acknowledged": done, "already_acknowledged": before, "unknown": unknown, "refused": refused})


# nested: /api/v1/erp/…, endpoints api.erp.*; done once, at import, before any app registers the API
api_bp.register_blueprint(bp)
