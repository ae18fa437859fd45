"""An invoice's life after delivery: the recipient's decisions, and the sender told of each.

The statuses and the moves between them are ``gateway.delivery.state``'s (one place
for statuses); this module is the life cycle as the path sees it: what a recipient
may set (``RECIPIENT_STATUSES``), and ``report_to_sender``. Every status is visible
at once through the API (``GET /api/v1/documents/<id>/status``); a sender that
sent the invoice as EDIFACT over a channel that carries status messages (AS2, SFTP)
also gets an APERAK (``gateway.syntaxes.aperak``), queued as an outbound exchange on
that channel; a sender whose ``status_syntax`` is ``cdar`` gets a CDAR message instead
(the French reform's, ``gateway.flow.cdar_status``: every status, 200 included), one whose
``status_syntax`` is ``invoice-response`` a Peppol Invoice Response for each status that has
one (``gateway.flow.invoice_response_status``), one whose ``status_syntax`` is ``none``
nothing but the API. A status the sender set itself (a seller's 212 Encaissée sent to us as
CDAR) goes the other way, to the recipient, when it chose CDAR (``told``). Reporting is one transaction: the exchange is created and the event
marked ``reported_at`` / ``report_exchange_id`` together, guarded by ``reported_at IS
NULL``; a crash before the commit leaves the event unreported for the sweep
(``report_pending``), a crash after it leaves a queued exchange the send sweep picks
up. So each status reaches an EDI sender once, whatever fails in between.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import DocumentRecord, DocumentStatusEvent, Exchange, Partner, compare_and_set, utcnow
from gateway.delivery.state import (DECISIONS, MAX_REASON, MAX_REASON_CODE, MOVES, REASON_REQUIRED,  # noqa: F401
                                    RECIPIENT_STATUSES, allowed_moves, history, set_business_status)
from gateway.model.errors import EdigateError
from gateway.partners.defaults import status_syntax as status_syntax_of
from gateway.store.filenames import safe_filename
from gateway.flow import cdar_status, invoice_response_status
from gateway.syntaxes.aperak import MEDIA_TYPE, STATUS_CODES, AperakParty, StatusReport, build_aperak
from gateway.syntaxes.edifact.syntax import Party, read_interchange

log = logging.getLogger("edigate.lifecycle")

NOT_SENT_AS_APERAK = frozenset({"deposited"})      # the transport's acknowledgement already said so

# --- telling the sender ----------------------------------------------------------------------

def aperak_channel(session: Session, document: DocumentRecord) -> Optional[str]:
    """The channel an APERAK for ``document`` goes back by, or None when its sender is not an
    EDI sender (not EDIFACT, no known sender, or no channel that carries status messages back
    to it). The channel the invoice came by comes first, then the sender's preferred one."""
    if document.syntax != "edifact":
        return None
    return cdar_status.status_channel(session, document)


def told(document: DocumentRecord, event: Optional[DocumentStatusEvent] = None) -> tuple[Optional[Partner], bool]:
    """Who is told of ``event``: the other side of whoever set it. The document's sender, as a
    rule (the recipient's decisions, the gateway's steps); its recipient when the sender set the
    status itself (a seller's 212 Encaissée or 220 Annulée, sent to us as CDAR). Returns the
    partner (None: nobody) and whether it is the recipient."""
    sender: Optional[Partner] = document.sender
    if event is not None and sender is not None and event.set_by == f"partner:{sender.name}"[:200]:
        return document.recipient, True
    return sender, False


def status_syntax(document: DocumentRecord, event: Optional[DocumentStatusEvent] = None) -> Optional[str]:
    """How the party told of ``event`` (``told``) hears of it: ``cdar``, ``invoice-response`` or
    ``aperak`` (its ``status_syntax``, else its default: ``gateway.partners.defaults``, APERAK when
    no channel gives one, which goes to EDIFACT senders only),
    None when it chose ``none`` or is unknown. A recipient is told by CDAR only, when it chose
    it (a platform, an ERP on the flow API): APERAK and the Invoice Response answer a sender."""
    party, recipient = told(document, event)
    if party is None:
        return None
    if recipient:
        return "cdar" if party.status_syntax == "cdar" else None
    chosen = status_syntax_of(party) or "aperak"
    return None if chosen == "none" else chosen


def _original_message(gw, document: DocumentRecord):
    """(interchange, message) of the INVOIC the document was read from, or (None, None)."""
    try:
        ic = read_interchange(gw.payloads.get(document.exchange.content_sha256))
    except (EdigateError, LookupError, OSError, ValueError):
        return None, None
    # The same choice as formats.edifact.documents.read_all: usable INVOIC messages, in order.
    usable = [m for m in ic.messages if m.type == "INVOIC" and m.accepted
              and (m.group is None or m.group.accepted)]
    return ic, (usable[document.position] if document.position < len(usable) else None)


def _aperak_bytes(gw, event: DocumentStatusEvent) -> bytes:
    doc = event.document
    buyer = AperakParty(doc.buyer_endpoint_id or doc.buyer_id or doc.buyer_vat_id,
                        doc.buyer_endpoint_scheme if doc.buyer_endpoint_id else
                        doc.buyer_id_scheme if doc.buyer_id else None, doc.buyer_name)
    seller = AperakParty(doc.seller_endpoint_id or doc.seller_id or doc.seller_vat_id,
                         doc.seller_endpoint_scheme if doc.seller_endpoint_id else
                         doc.seller_id_scheme if doc.seller_id else None, doc.seller_name)
    ic, message = _original_message(gw, doc)
    if ic is not None and ic.unb is not None:
        us, them, version = ic.recipient, ic.sender, ic.syntax_version
    else:
        us = Party((buyer.id or "UNKNOWN")[:35], "14" if buyer.scheme == "0088" else "ZZZ")
        them = Party((seller.id or "UNKNOWN")[:35], "14" if seller.scheme == "0088" else "ZZZ")
        version = "3"
    report = StatusReport(status=event.status, at=event.at, number=f"ST{event.id}",
                          document_number=doc.number or f"document-{doc.id}", document_type=doc.type_code or "380",
                          document_date=doc.issue_date, reason=event.reason, reason_code=event.reason_code,
                          issuer=buyer, addressee=seller,
                          interchange_ref=ic.control_ref if message is not None else None,
                          message_ref=message.ref if message is not None else None)
    return build_aperak(report, sender=us, recipient=them, control_ref=f"ST{event.id:012d}", syntax_version=version)


def _mark(session: Session, event_id: int, at: datetime, exchange_id: Optional[int] = None) -> bool:
    n = compare_and_set(session, DocumentStatusEvent,
                        DocumentStatusEvent.id == event_id, DocumentStatusEvent.reported_at.is_(None),
                        reported_at=at, report_exchange_id=exchange_id)
    return n == 1


def report_to_sender(gw, event_id: int) -> Optional[int]:
    """Tell the other side of one status event (``told``: the sender, or the recipient of a status
    the sender set); returns the status message's outbound exchange id (None when it is told
    through the API only). Idempotent: an event already reported returns what it was reported with."""
    exchange_id = None
    with gw.session() as s:
        event = s.get(DocumentStatusEvent, event_id)
        if event is None:
            raise LookupError(f"no status event {event_id}")
        if event.reported_at is not None:
            return event.report_exchange_id
        doc = event.document
        syntax = status_syntax(doc, event)
        party, to_recipient = told(doc, event)
        channel = None
        if syntax == "cdar":
            channel = cdar_status.status_channel(s, doc, to_recipient=to_recipient)
        elif syntax == invoice_response_status.SYNTAX and invoice_response_status.ir.response_for(event.status):
            channel = cdar_status.status_channel(s, doc)
        elif syntax == "aperak" and event.status not in NOT_SENT_AS_APERAK and event.status in STATUS_CODES:
            channel = aperak_channel(s, doc)
        now = utcnow()
        if channel is None:
            _mark(s, event_id, now)
            return None
        stem = f"{safe_filename(doc.number, f'document-{doc.id}')}_{event.status}_{event.id}"
        if syntax == "cdar":
            try:
                data = cdar_status.cdar_bytes(gw, event, to_recipient=to_recipient)
            except ValueError as e:      # the document lacks what a CDAR needs: on record, not retried
                log.warning("status %s of document %s cannot be told by CDAR: %s", event.status, doc.id, e)
                _mark(s, event_id, now)
                return None
            name, media_type = f"CDAR_{stem}.xml", cdar_status.MEDIA_TYPE
        elif syntax == invoice_response_status.SYNTAX:
            try:
                data = invoice_response_status.ir_bytes(gw, event)
            except ValueError as e:      # the document lacks what a response needs: on record, not retried
                log.warning("status %s of document %s cannot be told by Invoice Response: %s", event.status, doc.id, e)
                _mark(s, event_id, now)
                return None
            name, media_type = f"InvoiceResponse_{stem}.xml", invoice_response_status.MEDIA_TYPE
        else:
            data, name, media_type = _aperak_bytes(gw, event), f"APERAK_{stem}.edi", MEDIA_TYPE
        ref = gw.payloads.put(data)
        out = Exchange.outbound(channel, partner_id=party.id, at=now, filename=name,
                                content_type=media_type, content_sha256=ref.key, content_size=ref.size)
        s.add(out)
        s.flush()
        if not _mark(s, event_id, now, out.id):       # reported meanwhile by another worker
            s.rollback()
            return s.get(DocumentStatusEvent, event_id).report_exchange_id
        exchange_id = out.id
        log.info("status %s of document %s reported to %s by %s (exchange %s)",
                 event.status, doc.id, party.name, syntax.upper().replace("-", " "), exchange_id)
    gw.jobs.send(exchange_id)
    return exchange_id


def unreported(gw, *, document_id: Optional[int] = None, limit: int = 500) -> list[int]:
    """Status events not yet reported to their sender (of one document, or all), oldest first."""
    q = sa.select(DocumentStatusEvent.id).where(DocumentStatusEvent.reported_at.is_(None))
    if document_id is not None:
        q = q.where(DocumentStatusEvent.document_id == document_id)
    with gw.session() as s:
        return list(s.scalars(q.order_by(DocumentStatusEvent.id).limit(limit)))


def report_pending(gw, *, document_id: Optional[int] = None, limit: int = 500) -> int:
    """Report every event left unreported (of one document: what a status change just
    recorded; of all: what a crash left, for the sweep); returns how many were reported.
    A failure is logged and left for the next sweep, never raised: the status is set."""
    n = 0
    for event_id in unreported(gw, document_id=document_id, limit=limit):
        try:
            report_to_sender(gw, event_id)
            n += 1
        except Exception:              # one bad event must not stop the others: logged, retried next sweep
            log.exception("reporting status event %s failed", event_id)
    return n
