"""The XP Z12-013 flow API as a channel (``flow_api``): a member's ERP talks to us through AFNOR's
Flow Service (served by ``gateway.web.xp_z12013``), both ways.

**Out flows** (the ERP submits, ``POST /v1/flows``): the file enters the one path like any
upload (``gateway.flow.receive``: stored and recorded before the 202), on an inbound exchange
of this channel; ``record_out`` keeps what the ERP declared beside it as a ``Flow`` whose
acknowledgement is ``Pending``. ``settle`` reads the exchange's outcome once the pipeline has
processed it: ``Ok``, or ``Error`` with details (our findings: the rule id, the business terms
or place, the message; a reason code of the specification's ``ReasonCodeEnum`` where one fits,
``REASON_CODES``). It runs as a job prompted after the upload, retried a few times while the
flow is pending, and the sweep (``due``) catches any left. Each change of the acknowledgement
is a new ``Flow.version`` and fires the partner's webhooks (``flow_webhooks``).

**In flows** (made available to the ERP): a member that chose this channel receives its
invoices as outbound exchanges of this channel (in UBL, CII or Factur-X: the syntaxes the
specification's ``FlowSyntax`` knows; another preferred format gets UBL), and, since
``carries_status``, the CDAR life-cycle messages about its invoices
(``gateway.flow.cdar_status``) the same way. ``send`` makes the exchange ``sent`` (the
delivery ``delivered``, available at once, like the pull channel), records the In flow and
fires the webhooks, in one transaction. A status message that is not a CDAR (an APERAK) is
not something this API carries: that exchange fails, saying so.

Flow types, from the ERP's side (the specification's ``FlowType``): an invoice it issues is a
``CustomerInvoice``, one it receives a ``SupplierInvoice`` (the other way round when
self-billed, ``SELF_BILLED``); a CDAR about an invoice it issued is ``CustomerInvoiceLC``,
about one it received ``SupplierInvoiceLC``. The ``flowId`` is the exchange's id, as text.

Settings (``flow_api`` in a partner's channel settings): ``callback_private`` (default false):
its webhooks may call back loopback or private addresses (an operator's switch).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional

import sqlalchemy as sa

from gateway.channels import flow_webhooks as webhooks
from gateway.db import (Delivery, DocumentRecord, DocumentStatusEvent, Exchange, Flow, compare_and_set,
                        utcnow)
from gateway.delivery.channel import Channel, ChannelSettingsError, DeliveryPlan
from gateway.delivery.outbound import file_exchange
from gateway.delivery.state import acknowledge_delivery, set_status
from gateway.model.errors import EdigateError
from gateway.model.findings import FATAL

log = logging.getLogger("edigate.flow_api")

NAME = "flow_api"
SETTLE_TASK = "xp_flow_settle"
SETTLE_DELAYS = (1, 2, 4, 8, 15, 30)            # seconds between looks at a pending flow; then the sweep's
MAX_DETAILS = 50

# our syntax -> the specification's FlowSyntax, and back for what a flow may declare
FLOW_SYNTAX = {"ubl": "UBL", "cii": "CII", "facturx": "Factur-X", "cdar": "CDAR"}
DELIVERED_SYNTAXES = ("ubl", "cii", "facturx")
# a validation profile (gateway/rules/profiles.yaml) -> FlowProfile
FLOW_PROFILE = {"fr": "CIUS", "fr-warning": "CIUS", "fr-extended": "Extended-CTC-FR"}
DEFAULT_PROFILE = "Basic"
SELF_BILLED = frozenset({"389", "261", "527"})   # UNTDID 1001: self-billed invoice, credit note, debit note
# our rule ids (and kinds of refusal) -> the specification's ReasonCodeEnum; any other rule keeps its own id
REASON_CODES = {"DUPLICATE": "AlreadyExistingFlow", "XSD": "InvalidSchema", "SYNTAX": "InvalidSchema",
                "unreadable": "InvalidSchema", "empty": "EmptyFlow", "failed": "OtherTechnicalError",
                "cdar-unreadable": "InvalidSchema", "cdar-rules": "InvoiceLCRuleError",
                "cdar-status": "InvoiceLCStatusError"}


# --- what a flow is ------------------------------------------------------------------------------

def is_self_billed(type_code: Optional[str]) -> bool:
    return (type_code or "") in SELF_BILLED


def invoice_type(issued_by_partner: bool, type_code: Optional[str]) -> str:
    """``CustomerInvoice`` for an invoice the partner issues, ``SupplierInvoice`` for one it
    receives; the other way round when the invoice is self-billed."""
    return "CustomerInvoice" if issued_by_partner != is_self_billed(type_code) else "SupplierInvoice"


def lc_type(about_own_invoice: bool) -> str:
    return "CustomerInvoiceLC" if about_own_invoice else "SupplierInvoiceLC"


def profile_of(validation_profile: Optional[str]) -> str:
    return FLOW_PROFILE.get(validation_profile or "", DEFAULT_PROFILE)


def detail(level: str, item: str, code: str, message: str) -> dict[str, str]:
    """One ``AcknowledgementDetail``."""
    return {"level": level, "item": (item or "flow")[:500], "reasonCode": REASON_CODES.get(code, code)[:100],
            "reasonMessage": (message or code)[:2000]}


def flow_json(flow: Flow) -> dict[str, Any]:
    """The flow as the specification's ``Flow`` schema writes it."""
    ack: dict[str, Any] = {"status": flow.ack_status}
    if flow.ack_details:
        ack["details"] = list(flow.ack_details)
    out: dict[str, Any] = {
        "flowId": str(flow.exchange_id), "submittedAt": webhooks.iso(flow.submitted_at),
        "updatedAt": webhooks.iso(flow.updated_at), "name": flow.name, "flowSyntax": flow.flow_syntax,
        "flowProfile": flow.flow_profile, "processingRule": flow.processing_rule,
        "processingRuleSource": flow.processing_rule_source, "flowType": flow.flow_type,
        "flowDirection": flow.direction, "acknowledgement": ack,
    }
    if flow.tracking_id:
        out["trackingId"] = flow.tracking_id
    return out


def body(flow: Flow) -> str:
    """The Flow JSON as a callback sends it (compact, UTF-8)."""
    return json.dumps(flow_json(flow), ensure_ascii=False, separators=(",", ":"))


# --- Out: what the ERP submits -------------------------------------------------------------------------

def record_out(s, exchange: Exchange, *, partner_id: int, name: str, flow_syntax: str, flow_type: str,
               flow_profile: Optional[str], processing_rule: Optional[str], tracking_id: Optional[str],
               now: Optional[datetime] = None) -> Flow:
    """The Out flow of a submitted exchange (the one already recorded, if any: a repeated upload)."""
    existing = s.scalar(sa.select(Flow).where(Flow.exchange_id == exchange.id))
    if existing is not None:
        return existing
    now = now or exchange.created_at or utcnow()
    flow = Flow(exchange_id=exchange.id, partner_id=partner_id, direction="Out", flow_type=flow_type,
                flow_syntax=flow_syntax, flow_profile=flow_profile or "Undefined",
                processing_rule=processing_rule or "Undefined",
                processing_rule_source="Input" if processing_rule else "Computed", tracking_id=tracking_id,
                name=name, ack_status="Pending", ack_details=[], version=1, submitted_at=now, updated_at=now)
    s.add(flow)
    s.flush()
    return flow


def _finding_detail(doc: DocumentRecord, f: Mapping[str, Any]) -> dict[str, str]:
    rule = str(f.get("rule") or "RULE")
    item = f.get("location") or ", ".join(f.get("terms") or ()) or f.get("path") or f"invoice {doc.number or doc.id}"
    level = "Error" if f.get("severity") == FATAL else "Warning"
    return detail(level, str(item), rule, f"{rule}: {f.get('message') or ''}")


def _cdar_code(reason: str) -> str:
    if reason.startswith("unreadable CDAR"):
        return "cdar-unreadable"
    if "breaking" in reason and "fr-cdar" in reason:
        return "cdar-rules"
    return "cdar-status"


def out_ack(flow: Flow, ex: Exchange) -> tuple[str, list[dict[str, str]], dict[str, Any]]:
    """(acknowledgement status, details, the flow's computed columns) from the exchange's outcome."""
    if ex.status in ("received", "stored", "acknowledged"):
        return "Pending", [], {}
    reason = ex.reason or ex.status
    if ex.status in ("failed", "duplicate"):
        return "Error", [detail("Error", "flow", "failed" if ex.status == "failed" else "DUPLICATE", reason)], {}
    if flow.flow_syntax == "CDAR":
        if ex.status == "rejected":
            return "Error", [detail("Error", "flow", _cdar_code(reason), reason)], {}
        return "Ok", [], _computed(flow, "B2B", None)
    docs = list(ex.documents)
    if not docs:             # rejected before any invoice was read: unreadable, empty, unknown syntax
        return "Error", [detail("Error", "flow", "empty" if not ex.content_size else "unreadable", reason)], {}
    details: list[dict[str, str]] = []
    for doc in docs:
        for f in doc.findings or ():
            if f.get("rule_set") != "controls":     # anomaly controls are the buyer's business, not told to senders
                details.append(_finding_detail(doc, f))
        if doc.status == "duplicate":
            details.append(detail("Error", f"invoice {doc.number or doc.id}", "DUPLICATE",
                                  f"invoice {doc.number} was received before (same seller, number and year)"))
    errors = [d for d in details if d["level"] == "Error"]
    status = "Error" if errors or ex.status == "rejected" else "Ok"
    if status == "Error" and not errors:
        errors = [detail("Error", "flow", "unreadable", reason)]
    shown = (errors + [d for d in details if d["level"] != "Error"])[:MAX_DETAILS]
    first = docs[0]
    computed = _computed(flow, "B2B" if status == "Ok" else None, first)
    if status == "Ok" or flow.flow_type == "Undefined":
        computed["flow_type"] = invoice_type(True, first.type_code)
    return status, shown, computed


def _computed(flow: Flow, rule: Optional[str], doc: Optional[DocumentRecord]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if flow.processing_rule_source == "Computed" and rule:
        out["processing_rule"] = rule
    if flow.flow_profile == "Undefined" and doc is not None:
        out["flow_profile"] = profile_of(doc.validation_profile)
    return out


def settle(gw, flow_id: int) -> Optional[str]:
    """Bring an Out flow's acknowledgement up to date with its exchange; a change is a new version
    and fires the webhooks. Returns the acknowledgement status (None: no such flow)."""
    now = utcnow()
    events: list[int] = []
    with gw.session() as s:
        flow = s.get(Flow, flow_id)
        if flow is None or flow.direction != "Out":
            return None
        status, details, computed = out_ack(flow, flow.exchange)
        if status == flow.ack_status and details == (flow.ack_details or []) and \
                all(getattr(flow, k) == v for k, v in computed.items()):
            return status
        version = flow.version
        won = compare_and_set(s, Flow, Flow.id == flow_id, Flow.version == version, ack_status=status,
                              ack_details=details, version=version + 1, updated_at=now, **computed)
        if won != 1:                    # another worker settled it meanwhile
            s.rollback()
            return s.get(Flow, flow_id).ack_status
        s.refresh(flow)
        events = webhooks.queue(s, flow, body(flow), now)
    webhooks.prompt(gw, events)
    log.info("flow %s (exchange %s): acknowledgement %s", flow_id, flow.exchange_id, status)
    return status


def settle_task(gw, flow_id: int, round_: int = 0) -> None:
    """The job behind ``settle``: while the flow is pending, look again a little later (a few
    times; the sweep takes over after that)."""
    if settle(gw, flow_id) == "Pending" and round_ < len(SETTLE_DELAYS):
        try:
            gw.jobs.prompt(SETTLE_TASK, flow_id, round_ + 1, at=utcnow() + timedelta(seconds=SETTLE_DELAYS[round_]))
        except KeyError:
            pass


def unsettled(gw, *, limit: int = 500) -> list[int]:
    """Out flows whose acknowledgement may be out of date: pending, or in error while their exchange
    is being processed again (an operator's retry)."""
    with gw.session() as s:
        return list(s.scalars(sa.select(Flow.id).join(Exchange, Exchange.id == Flow.exchange_id).where(
            Flow.direction == "Out", sa.or_(Flow.ack_status == "Pending",
                                            sa.and_(Flow.ack_status == "Error", Exchange.status == "acknowledged")))
            .order_by(Flow.id).limit(limit)))


# --- In: what is made available to the ERP ---------------------------------------------------------------

def _in_flow(s, ex: Exchange, data: bytes, now: datetime) -> tuple[Optional[Flow], str]:
    """The In flow an outbound exchange of this channel becomes, or (None, why not)."""
    from gateway.flow.cdar_status import is_cdar_bytes
    existing = s.scalar(sa.select(Flow).where(Flow.exchange_id == ex.id))
    if existing is not None:
        return existing, ""
    delivery = s.scalar(sa.select(Delivery).where(Delivery.exchange_id == ex.id).limit(1))
    columns: dict[str, Any]
    if delivery is not None:
        doc = delivery.document
        from gateway.syntaxes import syntax_of
        syntax = FLOW_SYNTAX.get(syntax_of(delivery.format) or "")
        if syntax is None:
            return None, f"the flow API carries UBL, CII and Factur-X invoices, not {delivery.format}"
        columns = dict(flow_type=invoice_type(doc.sender_partner_id == ex.partner_id, doc.type_code),
                       flow_syntax=syntax, flow_profile=profile_of(doc.validation_profile))
    else:
        event = s.scalar(sa.select(DocumentStatusEvent).where(DocumentStatusEvent.report_exchange_id == ex.id))
        if event is None or not is_cdar_bytes(data):
            return None, "the flow API carries invoices and CDAR life-cycle messages only (not an APERAK)"
        doc = event.document
        columns = dict(flow_type=lc_type(doc.sender_partner_id == ex.partner_id), flow_syntax="CDAR",
                       flow_profile=profile_of(doc.validation_profile))
    flow = Flow(exchange_id=ex.id, partner_id=ex.partner_id, direction="In", processing_rule="B2B",
                processing_rule_source="Computed", name=(ex.filename or f"flow-{ex.id}")[:255], ack_status="Ok",
                ack_details=[], version=1, submitted_at=now, updated_at=now, **columns)
    s.add(flow)
    s.flush()
    return flow, ""


def acknowledge_download(gw, flow_id: int, who: str) -> None:
    """The ERP fetched an In invoice's file: its delivery is acknowledged (as an ERP pull's is)."""
    with gw.session() as s:
        flow = s.get(Flow, flow_id)
        if flow is None or flow.direction != "In":
            return
        for d in s.scalars(sa.select(Delivery).where(Delivery.exchange_id == flow.exchange_id)):
            acknowledge_delivery(s, d, f"downloaded over the XP Z12-013 flow API by {who}")


# --- the channel -------------------------------------------------------------------------------------

class FlowApiChannel(Channel):
    name = NAME
    label = "XP Z12-013 flow API"
    labels = {"en": "XP Z12-013 flow API", "fr": "API de flux XP Z12-013"}
    carries_status = True
    settings_keys = ("callback_private",)

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        out: dict[str, Any] = {}
        if settings.get("callback_private") is not None:
            if not isinstance(settings["callback_private"], bool):
                raise ChannelSettingsError(f"{NAME}.callback_private", "expected true or false")
            if settings["callback_private"]:
                out["callback_private"] = True
        return out

    def settings_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "properties": {
            "callback_private": {"type": ["boolean", "null"],
                                 "description": "its webhooks may call back loopback or private addresses"}}}

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        from gateway.syntaxes import syntax_of
        if syntax_of(plan.format) not in DELIVERED_SYNTAXES:
            plan.reason += f"; {plan.format} is not a syntax of the flow API: UBL"
            plan.format, plan.syntaxes = "ubl", ("ubl",)
        plan.transport = NAME
        return plan

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        return [file_exchange(session, delivery, plan, rec, now, fallback_name=fallback_name,
                              note=f"{plan.reason}; as {plan.format}, an In flow of the XP Z12-013 flow API")]

    def send(self, gw: Any, exchange_id: int) -> str:
        with gw.session() as s:
            key = s.get(Exchange, exchange_id).content_sha256
        try:
            data = gw.payloads.get(key) if key else b""
        except (EdigateError, OSError) as e:
            data, missing = b"", f"its content is missing from the store: {e}"
        else:
            missing = "" if key else "it has no content"
        now = utcnow()
        events: list[int] = []
        with gw.session() as s:
            ex = s.get(Exchange, exchange_id)
            flow, why = (None, missing) if missing else _in_flow(s, ex, data, now)
            if flow is None:
                set_status(ex, "failed", f"not made available over the XP Z12-013 flow API: {why}", at=now)
                return ex.status
            set_status(ex, "sent", f"available to its ERP as In flow {flow.exchange_id} ({flow.flow_type})", at=now)
            events = webhooks.queue(s, flow, body(flow), now)
            status = ex.status
        webhooks.prompt(gw, events)
        return status

    def lease_expired(self, session: Any, exchange: Any) -> Optional[str]:
        return None          # making a flow available twice is making it available once (one Flow per exchange)

    def tasks(self) -> dict[str, Any]:
        return {SETTLE_TASK: settle_task, webhooks.TASK: webhooks.deliver}

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        settled = 0
        for flow_id in unsettled(gw):
            if settle(gw, flow_id) != "Pending":
                settled += 1
        return {"flow_acks": settled, "webhooks": webhooks.due(gw, now)}

    def reaches(self, session: Any, partner: Any) -> bool:
        return partner is not None and partner.active


channel = FlowApiChannel()
