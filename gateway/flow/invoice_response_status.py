"""Peppol Invoice Response on the path: statuses told to a sender that chose them, and read from
partners that send them. The machinery is the CDAR one (``gateway.flow.cdar_status``: the status
channel, the matching of documents, the moves); this module only says what an Invoice Response
means (``gateway.syntaxes.invoice_response`` and its data file).

**Out.** A sender whose ``status_syntax`` is ``invoice-response`` is told of each status of its
invoices that has a Peppol response (``invoice_response.yaml``: received AB, in_hand IP, accepted
AP, partly_approved CA, disputed/suspended UQ, refused/rejected/routing_error RE, payment_sent/paid
PD; the others are not sent) by one Invoice Response, queued on the channel that carries statuses
to it (``gateway.flow.lifecycle.report_to_sender`` decides, once per status). ``ir_response(gw,
event)`` is what it says: the buyer answers (its Peppol electronic address: BT-49, else its legal
identifier, else the recipient partner's identifiers, in an EAS scheme), the seller is told (the
same from BT-34, BT-30 and the sender partner), the invoice (number, date, type), the response code
and the clarification the event's reason code stands for.

**In.** A file a partner sends that is an Invoice Response (its root and CustomizationID) moves the
life cycle of the invoice it names (``apply_invoice_response``): matched by number, issue date when
given, and seller (the receiver's electronic address or the invoice issuer's identifier is one of
the document's seller's), among the documents that partner sent or receives; the status is the
response code's in the document's own cycle (IP and CA are in_hand and partly_approved in the
French cycle, received and accepted in the core one), the reason code the clarification's (its
French equivalent in the French cycle, the Peppol code in the core one). A response that is
unreadable or breaks OpenPeppol's T111 rules (``gateway.rules.peppol_t111``) is rejected.

A response that came over a channel whose partners are access points (``relays_participants``:
Peppol) is not the partner's own: the access point carries it for the buyer it names
(SenderParty). It moves the invoice with that number, date and seller that was delivered over
that channel to that buyer (its electronic address BT-49, or an identifier of its recipient
partner, is the SenderParty's endpoint).
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Optional

from gateway.db import DocumentRecord, DocumentStatusEvent
from gateway.delivery.state import FRENCH_CYCLE, cycle_of
from gateway.delivery.statuses import STATUSES
from gateway.flow import cdar_status
from gateway.model.errors import EdigateError
from gateway.syntaxes import invoice_response as ir
from gateway.syntaxes.invoice_response import IrParty

MEDIA_TYPE = ir.MEDIA_TYPE
SYNTAX = "invoice-response"


def is_invoice_response_bytes(data: bytes) -> bool:
    return ir.is_invoice_response_bytes(data)


# --- out ----------------------------------------------------------------------------------------

def _codes() -> dict:
    from gateway.rules import peppol_t111
    return peppol_t111.codes()


def _party(name: Optional[str], candidates: Iterable[tuple[Optional[str], Optional[str]]],
           legal: tuple[Optional[str], Optional[str]], fallback_name: Optional[str], who: str) -> IrParty:
    eas, icd = set(_codes()["eas"]), set(_codes()["icd"])
    endpoint = next(((v, sch) for v, sch in candidates if v and sch in eas), None)
    if endpoint is None:
        raise ValueError(f"no Peppol electronic address (an identifier in an EAS scheme) for the {who}")
    value, scheme = legal
    ident = (value, scheme) if value and scheme in icd else (None, None)
    return IrParty(endpoint[0], endpoint[1], ident[0], ident[1], name or fallback_name or who)


def ir_response(gw, event: DocumentStatusEvent) -> Optional[ir.InvoiceResponse]:
    """The Invoice Response telling the sender of ``event`` (see the module docstring), None when
    that status is not told; ValueError when the document lacks what one needs (its number, a
    Peppol address for either party...)."""
    doc: DocumentRecord = event.document
    if ir.response_for(event.status) is None:
        return None
    if not doc.number:
        raise ValueError(f"document {doc.id}: no invoice number (BT-1)")
    buyer_ids = [(i.value, i.scheme) for i in (doc.recipient.identifiers if doc.recipient is not None else ())]
    seller_ids = [(i.value, i.scheme) for i in (doc.sender.identifiers if doc.sender is not None else ())]
    buyer = _party(doc.buyer_name, [(doc.buyer_endpoint_id, doc.buyer_endpoint_scheme),
                                    (doc.buyer_id, doc.buyer_id_scheme)] + buyer_ids,
                   (doc.buyer_id, doc.buyer_id_scheme), doc.recipient.name if doc.recipient else None, "buyer")
    seller = _party(doc.seller_name, [(doc.seller_endpoint_id, doc.seller_endpoint_scheme),
                                      (doc.seller_id, doc.seller_id_scheme)] + seller_ids,
                    (doc.seller_id, doc.seller_id_scheme), doc.sender.name if doc.sender else None, "seller")
    code = ir.response_for(event.status).code
    return ir.for_status(event.status, at=event.at, response_id=f"{doc.number}_{code}_{event.id}",
                         invoice_number=doc.number, invoice_date=doc.issue_date,
                         invoice_type=doc.type_code or "380", buyer=buyer, seller=seller,
                         reason=event.reason, reason_code=event.reason_code)


def ir_bytes(gw, event: DocumentStatusEvent) -> Optional[bytes]:
    r = ir_response(gw, event)
    return None if r is None else ir.build_invoice_response(r)


# --- in -------------------------------------------------------------------------------------------

def _seller_is(response: ir.InvoiceResponse):
    named = {v for v in (response.receiver.endpoint_id,
                         response.invoice_issuer.id if response.invoice_issuer is not None else None) if v}

    def matches(d: DocumentRecord) -> bool:
        ours = {d.seller_endpoint_id, d.seller_id, d.seller_vat_id,
                cdar_status.siren(d.seller_id_scheme, d.seller_id, d.seller_vat_id)} - {None}
        return bool(named & ours)
    return matches


def _decide(response: ir.InvoiceResponse, doc: DocumentRecord):
    cycle = cycle_of(doc)
    status = response.status(cycle)
    if status is None:
        return None, None, None, cycle
    code = response.reason_code
    reason_code = code
    if cycle == FRENCH_CYCLE:
        allowed = STATUSES[status].reasons
        reason_code = ir.our_reason(code)
        if reason_code is not None and allowed is not None and reason_code not in allowed:
            reason_code = None
        if reason_code is None and allowed and "AUTRE" in allowed:
            reason_code = "AUTRE"                   # the Peppol code stays in the text
    reason = response.reason or (ir.spec()["reasons"][code]["en"] if code in ir.spec()["reasons"] else None) \
        or ir.spec()["responses"][response.response_code]["en"]
    if code and code not in (reason or ""):
        reason = f"{code}: {reason}"
    return status, reason, reason_code, cycle


def _relayed_by(gw, exchange_id: int) -> Optional[str]:
    """The channel the exchange came by when its partners are access points relaying their
    participants' messages (``relays_participants``), else None."""
    from gateway.db import Exchange
    from gateway.delivery.channel import registry
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        name = ex.channel if ex is not None else None
    channel = registry.get(name) if name else None
    return name if channel is not None and getattr(channel, "relays_participants", False) else None


def _delivered_to(doc: DocumentRecord, buyer: IrParty, channel: str) -> bool:
    """Whether ``doc`` went over ``channel`` to the participant answering (``buyer``: the
    response's SenderParty), by its BT-49 or its recipient partner's identifiers."""
    if buyer is None or not buyer.endpoint_id:
        return False
    if not any(d.channel == channel for d in doc.deliveries):
        return False
    want = ((buyer.endpoint_scheme or "").strip(), "".join(buyer.endpoint_id.split()).lower())
    ours = {((doc.buyer_endpoint_scheme or "").strip(), "".join((doc.buyer_endpoint_id or "").split()).lower())}
    if doc.recipient is not None:
        ours |= {((i.scheme or "").strip(), "".join((i.value or "").split()).lower()) for i in doc.recipient.identifiers}
    return want in ours


def apply_invoice_response(gw, exchange_id: int, data: bytes, now: datetime) -> tuple[Optional[str], list[int]]:
    """Apply a received Invoice Response to the invoice it names (see the module docstring); returns
    the exchange's final status (None when another worker processed it) and the documents moved."""
    from gateway.rules import peppol_t111
    try:
        response = ir.read_invoice_response(data)
        fatal = [f for f in peppol_t111.validate(data) if f.fatal]
    except EdigateError as e:
        return cdar_status.reject_unusable(gw, exchange_id, f"unreadable Invoice Response: {e}", now)
    if fatal:
        first = fatal[0]
        return cdar_status.reject_unusable(gw, exchange_id, f"Invoice Response breaking {len(fatal)} rule(s) of "
                                           f"peppol-t111, first {first.rule}: {first.message}", now)
    seller = _seller_is(response)
    relayed = _relayed_by(gw, exchange_id)

    def find(s, partner_id):
        if relayed is not None:
            return [d for d in cdar_status.find_documents(s, None, response.invoice_number, response.invoice_date,
                                                          seller) if _delivered_to(d, response.sender, relayed)]
        return cdar_status.find_documents(s, partner_id, response.invoice_number, response.invoice_date, seller)
    move = cdar_status.Move(
        f"invoice {response.invoice_number or '?'} response {response.response_code or '?'}",
        find, lambda doc: _decide(response, doc), known=ir.status_for(response.response_code or "") is not None)
    # set when received: a response's IssueDate carries no time zone (and often no time)
    return cdar_status.apply_moves(gw, exchange_id, "Invoice Response", [move], None, now)
