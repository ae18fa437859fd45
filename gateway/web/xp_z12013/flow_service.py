"""AFNOR's Flow Service (XP Z12-013 Annex A, 1.3.0), served to our members' ERPs at
``/xp-z12-013/flow-service/v1/…``.

* ``POST /v1/flows`` (multipart: ``flowInfo`` JSON + ``file``): the file enters the one path as
  an upload from the organisation over the ``flow_api`` channel (stored durably and recorded
  before the 202), and an Out flow records what it declared (``gateway.channels.flows``). The
  ``flowId`` is the exchange's id. Refused at the door, nothing kept: a ``sha256`` that is not
  the file's (422 ``CHECKSUM_MISMATCH``), an empty file (422 ``EMPTY_FLOW``), a file that is
  plainly not of the declared ``flowSyntax`` (422 ``FLOW_TYPE_ERROR``), e-reporting (``FRR``,
  422: not handled here), a file over the gateway's inbound limit (413). A ``trackingId`` is
  the upload's idempotency key: the same one with the same file answers the first flow
  again; with another file, 422 ``ALREADY_EXISTING_FLOW``. The acknowledgement is
  ``Pending`` until the pipeline has processed the file, then ``Ok`` or ``Error`` with details.
* ``POST /v1/flows/search``: the organisation's flows, Out (what it submitted) and In (what was
  made available to it: invoices delivered over ``flow_api``, CDAR statuses about its
  invoices), oldest update first; every criterion given must hold (a list: any of its
  values); at least one criterion. Pages: ``limit`` (1 to 100, default 25) and the opaque,
  signed ``nextCursor`` (a cursor not issued here, or for another organisation: 400).
* ``GET /v1/flows/{flowId}?docType=``: ``Metadata`` (the Flow JSON), ``Original`` (the file as
  its emitter sent it), ``Converted`` (the syntax we deliver: the rendering for the recipient;
  a CDAR is not converted: its bytes), ``ReadableView`` (a PDF: Factur-X's human-readable
  rendering). Another organisation's flow is a 404, like one that does not exist. Fetching an
  In invoice's file acknowledges its delivery.
* ``GET/POST /v1/webhooks``, ``DELETE /v1/webhooks/{webhookUid}``: the organisation's webhooks
  (``gateway.channels.flow_webhooks`` says how callbacks are signed and sent).
* ``GET /v1/healthcheck``.

Errors are the specification's ``Error`` (``common``); any other URL under the service answers
404 (or 405 with ``Allow``) in that shape too.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any, Optional

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, g, jsonify, request
from itsdangerous import BadSignature, URLSafeSerializer

from ...channels import flow_webhooks as webhooks
from ...channels import flows
from ...db import Delivery, DocumentRecord, Exchange, Flow, FlowWebhook, Partner, PartnerIdentifier, utcnow
from ...flow.receive import DuplicateUpload, receive_file
from ...flow.renderings import CannotRender, rendering_for
from ...store.filenames import safe_filename
from ...store.payloads import PayloadNotFound, PayloadTooLarge
from .. import downloads
from ..kit.current import gateway
from . import common, spec
from .common import Refused, authenticated

log = logging.getLogger("edigate.flow_api")

PREFIX = "/flow-service"
CURSOR_SALT = "edigate.xp-z12-013.flows.cursor"
MAX_WEBHOOKS = 20                    # per organisation

bp = Blueprint("xp_flow", __name__, url_prefix=PREFIX)


# --- submitting ------------------------------------------------------------------------------------

def _flow_info() -> dict[str, Any]:
    """The ``flowInfo`` part: a form field or a file part holding JSON, valid for ``FlowInfo``."""
    text: Optional[str] = request.form.get("flowInfo")
    if text is None and "flowInfo" in request.files:
        text = request.files["flowInfo"].read(common.MAX_JSON + 1).decode("utf-8", "replace")
    if text is None:
        raise Refused(400, "the multipart part flowInfo is required", code="MISSING_REQUIRED_FIELD")
    if len(text) > common.MAX_JSON:
        raise Refused(413, f"flowInfo is at most {common.MAX_JSON} bytes", code="PAYLOAD_TOO_LARGE")
    try:
        info = json.loads(text)
    except (ValueError, RecursionError):
        raise Refused(400, "flowInfo is not JSON", code="INVALID_REQUEST") from None
    return common.checked(info, spec.FLOW_INFO)


# what a declared syntax must look like: our detect()'s answers
DETECTED = {"UBL": ("ubl",), "CII": ("cii",), "Factur-X": ("pdf",)}


def _syntax_problem(declared: str, data: bytes) -> Optional[str]:
    """Why the file is plainly not of the declared syntax (None: it may be; the pipeline judges)."""
    from ...flow.cdar_status import is_cdar_bytes
    from ...syntaxes import detect
    if declared == "FRR":
        return "e-reporting flows (FRR) are not handled by this platform's flow service"
    cdar = is_cdar_bytes(data)
    if declared == "CDAR":
        return None if cdar else "flowSyntax is CDAR but the file is not a CDAR message"
    if cdar:
        return f"flowSyntax is {declared} but the file is a CDAR message"
    try:
        found = detect(data)
    except Exception:                # unreadable: the pipeline says why in the acknowledgement
        return None
    if found not in DETECTED[declared]:
        return f"flowSyntax is {declared} but the file is {found.upper()}"
    return None


def _sirens(s, partner_id: int) -> set[str]:
    out = set()
    for scheme, value in s.execute(sa.select(PartnerIdentifier.scheme, PartnerIdentifier.value)
                                   .where(PartnerIdentifier.partner_id == partner_id)):
        if scheme in ("0002", "0009", "0225") and value[:9].isdigit():
            out.add(value[:9])
    return out


def _cdar_type(s, partner_id: int, data: bytes) -> str:
    """CustomerInvoiceLC when the CDAR is about the organisation's own invoices (it is their
    seller), SupplierInvoiceLC otherwise (a buyer's status on an invoice it received)."""
    from ...syntaxes import cdar
    try:
        message = cdar.read_cdar(data)
    except Exception:
        return "SupplierInvoiceLC"
    sellers = {r.seller.id[:9] for r in message.statuses if r.seller is not None and r.seller.id}
    return flows.lc_type(bool(sellers) and sellers <= _sirens(s, partner_id))


def _full_flow_info(flow: Flow, sha256: str) -> dict[str, Any]:
    out = {"flowId": str(flow.exchange_id), "submittedAt": webhooks.iso(flow.submitted_at), "name": flow.name,
           "flowSyntax": flow.flow_syntax, "flowProfile": flow.flow_profile, "processingRule": flow.processing_rule,
           "sha256": sha256}
    if flow.tracking_id:
        out["trackingId"] = flow.tracking_id
    return out


@bp.post("/v1/flows")
@authenticated
def create_flow() -> Response:
    partner_id = common.acting_partner()
    if request.mimetype != "multipart/form-data":
        raise Refused(400, "expected multipart/form-data with the parts flowInfo and file", code="INVALID_REQUEST")
    info = _flow_info()
    upload = request.files.get("file")
    if upload is None:
        raise Refused(400, "the multipart part file is required", code="MISSING_REQUIRED_FIELD")
    data = upload.read()
    if not data:
        raise Refused(422, "the file is empty", code="EMPTY_FLOW")
    sha256 = hashlib.sha256(data).hexdigest()
    if info.get("sha256") and info["sha256"] != sha256:
        raise Refused(422, "the file's SHA-256 is not the sha256 given in flowInfo", code="CHECKSUM_MISMATCH",
                      details=f"computed {sha256}")
    problem = _syntax_problem(info["flowSyntax"], data)
    if problem:
        raise Refused(422, problem, code="FLOW_TYPE_ERROR")
    gw = gateway()
    tracking = info.get("trackingId") or None
    name = downloads.basename(info["name"])[:255] or f"flow-{sha256[:12]}"
    try:
        ex = receive_file(gw, data, channel=flows.NAME, partner_id=partner_id, filename=name,
                          message_id=f"tracking:{tracking}" if tracking else None,
                          content_type=(upload.mimetype or None) and upload.mimetype[:200])
        exchange_id = ex.id
    except DuplicateUpload as dup:
        exchange_id = dup.exchange_id
    except PayloadTooLarge as e:
        raise Refused(413, str(e), code="FILE_SIZE_EXCEEDED") from None
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex.content_sha256 != sha256:
            raise Refused(422, f"trackingId {tracking} was used for another file (flow {exchange_id})",
                          code="ALREADY_EXISTING_FLOW")
        flow_type = _cdar_type(s, partner_id, data) if info["flowSyntax"] == "CDAR" else "Undefined"
        flow = flows.record_out(s, ex, partner_id=partner_id, name=name, flow_syntax=info["flowSyntax"],
                                flow_type=flow_type, flow_profile=info.get("flowProfile"),
                                processing_rule=info.get("processingRule"), tracking_id=tracking)
        flow_id, answer = flow.id, _full_flow_info(flow, sha256)
    try:
        gw.jobs.prompt(flows.SETTLE_TASK, flow_id, 0)
    except KeyError:                 # the flow_api channel's tasks are not registered here: the sweep settles it
        log.warning("flow %s: no %s task; the sweep will settle it", flow_id, flows.SETTLE_TASK)
    log.info("flow %s submitted by partner %s as exchange %s (%s)", flow_id, partner_id, exchange_id,
             info["flowSyntax"])
    response = jsonify(answer)
    response.status_code = 202
    return response


# --- searching -------------------------------------------------------------------------------------

def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=CURSOR_SALT)


def _after(partner_id: int, cursor: Optional[str]) -> Optional[tuple[Any, int]]:
    if not cursor:
        return None
    try:
        value = _signer().loads(cursor)
        at, flow_id = common.datetime_value(value["u"], "cursor"), int(value["i"])
        if value["p"] != partner_id:
            raise ValueError
    except (BadSignature, KeyError, TypeError, ValueError, Refused):
        raise Refused(400, "not a cursor this service issued for this organisation: pass nextCursor back "
                           "unchanged", code="INVALID_CURSOR") from None
    return at, flow_id


def _criteria(where: dict[str, Any]) -> list[Any]:
    conditions = []
    if "updatedAfter" in where:
        conditions.append(Flow.updated_at > common.datetime_value(where["updatedAfter"], "updatedAfter"))
    if "updatedBefore" in where:
        conditions.append(Flow.updated_at < common.datetime_value(where["updatedBefore"], "updatedBefore"))
    for key, column in (("processingRule", Flow.processing_rule), ("flowType", Flow.flow_type),
                        ("flowDirection", Flow.direction)):
        if where.get(key):
            conditions.append(column.in_(list(dict.fromkeys(where[key]))))
    if "trackingId" in where:
        conditions.append(Flow.tracking_id == where["trackingId"])
    if "ackStatus" in where:
        conditions.append(Flow.ack_status == where["ackStatus"])
    return conditions


@bp.post("/v1/flows/search")
@authenticated
def search_flows() -> Response:
    partner_id = common.acting_partner()
    params = common.json_body(spec.SEARCH_FLOWS)
    where = params["where"]
    conditions = _criteria(where)
    if not conditions:
        raise Refused(400, "give at least one criterion in where", code="MISSING_REQUIRED_FIELD")
    limit = min(max(int(params.get("limit", spec.DEFAULT_LIMIT)), 1), spec.MAX_LIMIT)
    after = _after(partner_id, params.get("cursor"))
    q = sa.select(Flow).where(Flow.partner_id == partner_id, *conditions)
    if after is not None:
        q = q.where(sa.or_(Flow.updated_at > after[0], sa.and_(Flow.updated_at == after[0], Flow.id > after[1])))
    with gateway().session() as s:
        rows = s.scalars(q.order_by(Flow.updated_at, Flow.id).limit(limit + 1)).all()
        page = rows[:limit]
        out: dict[str, Any] = {"limit": limit, "filters": where, "results": [flows.flow_json(f) for f in page]}
        if len(rows) > limit:
            last = page[-1]
            out["nextCursor"] = _signer().dumps({"p": partner_id, "u": webhooks.iso(last.updated_at), "i": last.id})
    return jsonify(out)


# --- one flow --------------------------------------------------------------------------------------

def _own_flow(s, partner_id: int, flow_id: str) -> Flow:
    if len(flow_id) > spec.MAX_ID:
        raise Refused(400, f"a flowId is at most {spec.MAX_ID} characters", code="INVALID_REQUEST")
    flow = None
    if flow_id.isdigit() and 0 < int(flow_id) < 2 ** 63:
        flow = s.scalar(sa.select(Flow).where(Flow.exchange_id == int(flow_id), Flow.partner_id == partner_id))
    if flow is None:
        raise Refused(404, f"no flow {flow_id} for this organisation")
    return flow


def _attachment(key: Optional[str], name: str, missing: str) -> Response:
    if not key:
        raise Refused(404, missing)
    response = downloads.payload_response(key, filename=name, media_type="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment;filename="{name}"'
    return response


def _document(s, flow: Flow) -> Optional[DocumentRecord]:
    """The invoice a flow carries (its first, for a submitted file), or None (a CDAR)."""
    if flow.flow_syntax == "CDAR":
        return None
    if flow.direction == "Out":
        return s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == flow.exchange_id)
                        .order_by(DocumentRecord.position).limit(1))
    d = s.scalar(sa.select(Delivery).where(Delivery.exchange_id == flow.exchange_id).limit(1))
    return d.document if d is not None else None


def _file(flow_id: str, doc_type: str, partner_id: int) -> Response:
    gw = gateway()
    with gw.session() as s:
        flow = _own_flow(s, partner_id, flow_id)
        ex, doc = flow.exchange, _document(s, flow)
        stem = safe_filename(downloads.basename(flow.name).rsplit(".", 1)[0], f"flow-{flow.exchange_id}")
        own = safe_filename(downloads.basename(flow.name), f"flow-{flow.exchange_id}")
        if doc_type == "Original":
            if doc is None or flow.direction == "Out":
                key, name = ex.content_sha256, own
            else:
                others = [d for d in doc.exchange.documents if d.recipient_partner_id != partner_id]
                if others:
                    raise Refused(403, "the original file also holds invoices for other recipients: ask for "
                                       "docType=Converted")
                key = doc.exchange.content_sha256
                name = safe_filename(downloads.basename(doc.exchange.filename), own)
        elif doc_type == "Converted":
            if doc is None or flow.direction == "In":
                key, name = ex.content_sha256, own
            else:
                d = next((d for d in doc.deliveries if d.rendering is not None), None)
                if d is None:
                    raise Refused(404, "this flow was not converted (not delivered, or invalid)")
                key = d.rendering.payload_key
                name = stem + downloads.extension(d.rendering.syntax, d.rendering.media_type)
        else:                                                   # ReadableView
            if doc is None:
                raise Refused(404, "a life-cycle message has no readable view")
            if doc.syntax == "facturx" and flow.direction == "Out":
                key, name = ex.content_sha256, stem + ".pdf"
            else:
                key, name = None, stem + ".pdf"
            document_id = doc.id
        record_flow, direction = flow.id, flow.direction
    if doc_type == "ReadableView" and key is None:
        try:
            key = rendering_for(gw, document_id, "facturx").payload_key
        except (CannotRender, LookupError, PayloadNotFound) as e:
            raise Refused(404, f"no readable view: {e}"[:500]) from None
    response = _attachment(key, name, "this flow has no such file")
    if direction == "In" and doc_type in ("Original", "Converted"):
        flows.acknowledge_download(gw, record_flow, g.user.username)
    return response


@bp.get("/v1/flows/<flow_id>")
@authenticated
def get_flow(flow_id: str) -> Response:
    partner_id = common.acting_partner()
    doc_type = request.args.get("docType", "Metadata")
    if doc_type not in spec.DOC_TYPES:
        raise Refused(400, f"docType is one of {', '.join(spec.DOC_TYPES)}", code="INVALID_REQUEST")
    if doc_type != "Metadata":
        return _file(flow_id, doc_type, partner_id)
    with gateway().session() as s:
        return jsonify(flows.flow_json(_own_flow(s, partner_id, flow_id)))


# --- webhooks --------------------------------------------------------------------------------------

def _hooks(s, partner_id: int) -> list[FlowWebhook]:
    return list(s.scalars(sa.select(FlowWebhook).where(FlowWebhook.partner_id == partner_id,
                                                       FlowWebhook.deleted_at.is_(None)).order_by(FlowWebhook.id)))


@bp.get("/v1/webhooks")
@authenticated
def list_webhooks() -> Response:
    partner_id = common.acting_partner()
    with gateway().session() as s:
        hooks = _hooks(s, partner_id)
        return jsonify({"count": len(hooks), "webhookIds": [h.uid for h in hooks],
                        "webhooks": [webhooks.describe(h) for h in hooks]})


@bp.post("/v1/webhooks")
@authenticated
def create_webhook() -> Response:
    partner_id = common.acting_partner()
    params = common.json_body(spec.WEBHOOK)
    url = params["callbackUrl"].strip()
    with gateway().session() as s:
        problem = webhooks.callback_problem(url, s.get(Partner, partner_id))
        if problem:
            raise Refused(400, f"callbackUrl cannot be used: {problem}", code="INVALID_CALLBACK_URL")
        if len(_hooks(s, partner_id)) >= MAX_WEBHOOKS:
            raise Refused(400, f"an organisation has at most {MAX_WEBHOOKS} webhooks: delete one first",
                          code="TOO_MANY_WEBHOOKS")
        hook = FlowWebhook(uid=str(uuid.uuid4()), partner_id=partner_id, callback_url=url,
                           flow_types=list(dict.fromkeys(params["flowTypes"])) if params.get("flowTypes") else None,
                           flow_direction=params.get("flowDirection"), ack_status=params.get("ackStatus"),
                           signing_key=webhooks.new_signing_key(), created_at=utcnow())
        s.add(hook)
        s.flush()
        answer = {"webhookId": hook.uid, "signingKey": hook.signing_key, "createdAt": webhooks.iso(hook.created_at)}
    log.info("webhook %s created for partner %s by %s", answer["webhookId"], partner_id, g.user.username)
    response = jsonify(answer)
    response.status_code = 201
    return response


@bp.delete("/v1/webhooks/<webhook_uid>")
@authenticated
def delete_webhook(webhook_uid: str) -> Response:
    partner_id = common.acting_partner()
    try:
        uid = str(uuid.UUID(webhook_uid))
    except ValueError:
        raise Refused(400, "webhookUid is not a UUID", code="INVALID_REQUEST") from None
    with gateway().session() as s:
        hook = s.scalar(sa.select(FlowWebhook).where(FlowWebhook.uid == uid, FlowWebhook.partner_id == partner_id,
                                                     FlowWebhook.deleted_at.is_(None)))
        if hook is None:
            raise Refused(404, f"no webhook {uid} for this organisation")
        hook.deleted_at = utcnow()
    log.info("webhook %s deleted by %s", uid, g.user.username)
    return Response(status=204)


# --- supervision, and everything else ----------------------------------------------------------------

@bp.get("/v1/healthcheck")
@authenticated(request_id_checked=False)
def health() -> Response:
    try:
        with gateway().session() as s:
            s.execute(sa.text("SELECT 1"))
    except Exception:
        log.exception("flow service health check: the database does not answer")
        raise Refused(503, "the database does not answer") from None
    return Response(status=200)


common.catch_all(bp)
