"""CDAR on the path: the French reform's status messages to a sender that chose them, and from
partners that send them.

**Out.** A sender whose ``status_syntax`` is ``cdar`` is told of each life-cycle status of its
invoices by a CDAR message (``gateway.syntaxes.cdar``), queued as an outbound exchange on the
channel the invoice came by (or its preferred one) when that channel carries status messages
back; ``gateway.flow.lifecycle.report_to_sender`` decides, once per status, as for APERAK.
``cdar_change(gw, event)`` is what the message says: the invoice (number, date, type), its
seller's SIREN (BT-30, else from the SIRET or the French VAT number), who set the status (the
buyer for its decisions, with its SIREN; a platform for the gateway's own steps), the seller
as recipient (its electronic address BT-34, else its platform, WK), the reason and reason code,
and for 212 (paid) the amounts cashed per VAT rate, read from the invoice itself.

**In.** A file a partner sends that is a CDAR message moves the life cycle of the documents it
names (``apply_cdar``): each status record is matched to a document by invoice number, issue
date and seller SIREN, among the documents that partner sent or receives, and set in the
French cycle (``set_business_status(..., cycle="fr")``, by ``partner:<name>``) with its reason
and reason code, so the moves, reasons and reason codes are checked as for anyone. A message
that is unreadable or breaks FNFE's CDAR rules (``gateway.rules.cdar``) is rejected; the
exchange's reason says what each record did.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Callable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.db import DocumentRecord, DocumentStatusEvent, Exchange, ExchangeEvent, Partner, StatusError, \
    compare_and_set
from gateway.delivery.channel import registry
from gateway.delivery.state import FRENCH_CYCLE, cycle_of, reachable_later, set_business_status
from gateway.delivery.statuses import STATUSES
from gateway.model.errors import EdigateError
from gateway.syntaxes import cdar
from gateway.syntaxes.cdar import CdarParty, Characteristic, StatusChange

log = logging.getLogger("edigate.cdar")

MEDIA_TYPE = "application/xml"


def is_cdar_bytes(data: bytes) -> bool:
    """Whether a received file is a CDAR message (its root element named in its first KB)."""
    return b"CrossDomainAcknowledgementAndResponse" in data[:2048]


# --- out ----------------------------------------------------------------------------------------

def status_channel(session: Session, document: DocumentRecord, *, to_recipient: bool = False) -> Optional[str]:
    """The channel a status message for ``document`` goes by to its sender (the channel the
    invoice came by, then the sender's preferred one) or, ``to_recipient``, to its recipient (the
    channel it was delivered by, then its preferred one): the first that carries status messages
    to that partner, or None."""
    party: Optional[Partner] = document.recipient if to_recipient else document.sender
    if party is None or not party.active:
        return None
    if to_recipient:
        names = [d.channel for d in document.deliveries if d.recipient_partner_id == party.id]
    else:
        names = [document.exchange.channel]
    for name in (*names, party.preferred_channel):
        channel = registry.get(name)
        if channel is not None and channel.carries_status and channel.reaches(session, party):
            return channel.name
    return None


def siren(scheme: Optional[str], value: Optional[str], vat: Optional[str] = None) -> Optional[str]:
    """A French company's SIREN from its legal identifier (0002 SIREN, 0009 SIRET) or its French VAT
    number (FRkk + SIREN); None when neither gives one."""
    value = (value or "").replace(" ", "")
    if scheme == "0002" and len(value) == 9 and value.isdigit():
        return value
    if scheme == "0009" and len(value) == 14 and value.isdigit():
        return value[:9]
    vat = (vat or "").replace(" ", "").upper()
    if vat.startswith("FR") and len(vat) == 13 and vat[4:].isdigit():
        return vat[4:]
    return None


def _original_invoice(gw, document: DocumentRecord):
    """The invoice the document was read from, or None."""
    from gateway.syntaxes import read_documents
    try:
        docs = read_documents(gw.payloads.get(document.exchange.content_sha256))
        return docs[document.position].invoice if document.position < len(docs) else None
    except (EdigateError, LookupError, OSError, ValueError):
        return None


def cashed(gw, document: DocumentRecord) -> tuple[Characteristic, ...]:
    """212 (paid): the amount cashed per VAT rate (MEN: taxable amount plus its VAT, and the rate)."""
    invoice = _original_invoice(gw, document)
    out = []
    for v in (invoice.vat_breakdown if invoice is not None else ()) or ():
        if v.rate is None or v.taxable_amount is None:
            continue
        out.append(Characteristic("MEN", amount=(v.taxable_amount + (v.tax_amount or Decimal(0))).quantize(
            Decimal("0.01")), currency=document.currency, percent=v.rate))
    return tuple(out)


def cdar_change(gw, event: DocumentStatusEvent, *, to_recipient: bool = False) -> StatusChange:
    """The CDAR message telling the sender of ``event`` (see the module docstring), or its recipient
    (``to_recipient``: the buyer, by its electronic address BT-49, else its platform); ValueError
    when the document lacks what the message needs (its number, date, seller's SIREN...)."""
    doc = event.document
    st = STATUSES[event.status]
    seller_siren = siren(doc.seller_id_scheme, doc.seller_id, doc.seller_vat_id)
    if seller_siren is None:
        raise ValueError(f"document {doc.id}: no SIREN for its seller (BT-30, SIRET or French VAT number)")
    seller = CdarParty(seller_siren, "0002", doc.seller_name)
    if doc.seller_endpoint_id:
        to = CdarParty(seller_siren, "0002", doc.seller_name, "SE", doc.seller_endpoint_id, doc.seller_endpoint_scheme)
    else:
        to = CdarParty(None, None, doc.sender.name if doc.sender is not None else doc.seller_name, "WK")
    if to_recipient:
        buyer_siren = siren(doc.buyer_id_scheme, doc.buyer_id, doc.buyer_vat_id)
        if doc.buyer_endpoint_id:
            to = CdarParty(buyer_siren, "0002" if buyer_siren else None, doc.buyer_name, "BY",
                           doc.buyer_endpoint_id, doc.buyer_endpoint_scheme)
        else:
            to = CdarParty(None, None, doc.recipient.name if doc.recipient is not None else doc.buyer_name, "WK")
    issuer = None
    if st.by == "buyer":
        buyer_siren = siren(doc.buyer_id_scheme, doc.buyer_id, doc.buyer_vat_id)
        issuer = CdarParty(buyer_siren, "0002" if buyer_siren else None, doc.buyer_name, "BY")
    elif st.by in ("seller",):
        issuer = CdarParty(seller_siren, "0002", doc.seller_name, "SE")
    reason_code = event.reason_code
    allowed = st.reasons
    if reason_code is not None and (reason_code not in cdar.lifecycle.REASONS
                                    or (allowed is not None and reason_code not in allowed)):
        reason_code = None                      # a code of our own cycle, not one of the French list
    if reason_code is None and st.reason_code_required and allowed and "AUTRE" in allowed:
        reason_code = "AUTRE"                   # the reason stays in the text
    return StatusChange(status=event.status, at=event.at, invoice_number=doc.number or "",
                        invoice_date=doc.issue_date, invoice_type=doc.type_code or "380", seller=seller,
                        recipients=(to,), issuer=issuer, reason_code=reason_code, reason=event.reason,
                        characteristics=cashed(gw, doc) if st.code == "212" else (),
                        message_id=f"{doc.number}_{st.code}_{event.id}")


def cdar_bytes(gw, event: DocumentStatusEvent, *, to_recipient: bool = False) -> bytes:
    return cdar.build_cdar(cdar_change(gw, event, to_recipient=to_recipient))


# --- in -------------------------------------------------------------------------------------------

def _claim(s, exchange_id: int, status: str, reason: str, now: datetime) -> bool:
    n = compare_and_set(s, Exchange, Exchange.id == exchange_id, Exchange.status == "acknowledged",
                        status=status, status_at=now, reason=reason[:2000])
    if n != 1:
        return False
    s.add(ExchangeEvent(exchange_id=exchange_id, status=status, at=now, reason=reason[:2000]))
    return True


def find_documents(s: Session, partner_id: Optional[int], number: Optional[str], day: Optional[date],
                   seller: Optional[Callable[[DocumentRecord], bool]] = None) -> list[DocumentRecord]:
    """The valid documents with that number (and issue date, when given) that the partner sent or
    receives, kept by ``seller`` (whether a document's seller is the one the message names)."""
    q = sa.select(DocumentRecord).where(DocumentRecord.number == number, DocumentRecord.valid.is_(True))
    if day is not None:
        q = q.where(DocumentRecord.issue_date == day)
    if partner_id is not None:
        q = q.where(sa.or_(DocumentRecord.sender_partner_id == partner_id,
                           DocumentRecord.recipient_partner_id == partner_id))
    found = list(s.scalars(q.order_by(DocumentRecord.id)))
    return [d for d in found if seller(d)] if seller is not None else found


def _find(s: Session, partner_id: Optional[int], rec: cdar.StatusRecord) -> list[DocumentRecord]:
    wanted = (rec.seller.id, rec.seller.id[:9]) if rec.seller is not None and rec.seller.id else None
    return find_documents(s, partner_id, rec.invoice_number, rec.invoice_date,
                          (lambda d: siren(d.seller_id_scheme, d.seller_id, d.seller_vat_id) in wanted)
                          if wanted else None)


@dataclass
class Move:
    """One status a received message asks for: ``what`` it is (for the exchange's reason), the
    documents it may be about (``find``), and what to set on the one found (``decide``: the status,
    its reason, reason code and cycle; a status None is not one of our life cycle)."""
    what: str
    find: Callable[[Session, Optional[int]], list[DocumentRecord]]
    decide: Callable[[DocumentRecord], tuple[Optional[str], Optional[str], Optional[str], Optional[str]]]
    known: bool = True                         # False: a status code none of ours stands for


ORDER_WAIT = timedelta(hours=1)
WAITING = "waiting: "   # the reason of a status message put off for one that may come before it
PUT_OFF = "put off"     # not processed yet, on purpose: tried again shortly (``gateway.jobs``), then by the sweep


def waits_for_older(s: Session, ex: Exchange, now: datetime) -> bool:
    """Whether a status message must wait for an older one from the same partner, received within
    ``ORDER_WAIT`` and not yet processed (a 211 must not be judged before the 205 sent first: it
    would be refused as a move the document cannot make yet). It is left ``acknowledged`` and
    put off (``PUT_OFF``): tried again shortly, after the older one. An older one that is itself
    ``WAITING`` (put off for a status still on its way) is not waited for: this one may be it."""
    if ex.partner_id is None:
        return False
    older = s.scalar(sa.select(Exchange.id).where(
        Exchange.direction == "in", Exchange.partner_id == ex.partner_id, Exchange.id < ex.id,
        Exchange.status == "acknowledged", Exchange.created_at >= now - ORDER_WAIT,
        sa.or_(Exchange.reason.is_(None), ~Exchange.reason.startswith(WAITING))).limit(1))
    return older is not None


def apply_moves(gw, exchange_id: int, kind: str, moves: list[Move], at: Optional[datetime], now: datetime,
                *, public_buyer: bool = False) -> tuple[Optional[str], list[int]]:
    """Set each move on the one document of the exchange's partner it names, by ``partner:<name>``
    (moves, reasons and reason codes checked as for anyone); the exchange becomes ``processed``
    when one was set, ``rejected`` otherwise, its reason saying what each move did. Returns its final
    status (None when another worker processed it) and the documents moved.

    A move the document cannot make *yet* (``reachable_later``: a 211 before its 205) is not
    refused while the message is younger than ``ORDER_WAIT``: the one that makes the moves before
    it may still be on its way (two messages sent in order, through two calls or two flows, can
    arrive the other way round). The whole message is then put off (``PUT_OFF``), nothing of it
    set, and judged again later; past ``ORDER_WAIT`` it is refused as any impossible move."""
    done, notes, touched = 0, [], []
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if waits_for_older(s, ex, now):
            return PUT_OFF, []
        young = ex.created_at is not None and now - ex.created_at < ORDER_WAIT
        partner = ex.partner
        by = f"partner:{partner.name}"[:200] if partner is not None else "partner:unknown"
        for move in moves:
            if not move.known:
                notes.append(f"{move.what}: not a status of our life cycle")
                continue
            docs = move.find(s, partner.id if partner is not None else None)
            if len(docs) != 1:
                notes.append(f"{move.what}: {'no document' if not docs else f'{len(docs)} documents'} of this "
                             "partner with that number, date and seller")
                continue
            status, reason, reason_code, cycle = move.decide(docs[0])
            if status is None:
                notes.append(f"{move.what}: not a status of our life cycle")
                continue
            try:
                with s.begin_nested():
                    set_business_status(s, docs[0], status, reason=reason, reason_code=reason_code,
                                        by=by, at=at or now, cycle=cycle, public_buyer=public_buyer)
            except StatusError as e:
                if young and reachable_later(docs[0].business_status, status, cycle or cycle_of(docs[0])):
                    s.rollback()        # nothing of the message set; said on the exchange, which stays
                    wait = f"{WAITING}{move.what}: {e}; an earlier status may still be on its way"[:2000]
                    compare_and_set(s, Exchange, Exchange.id == exchange_id, Exchange.status == "acknowledged",
                                    reason=wait)
                    log.info("%s exchange %s put off: %s", kind, exchange_id, wait)
                    return PUT_OFF, []
                notes.append(f"{move.what}: {e}")
                continue
            except ValueError as e:
                notes.append(f"{move.what}: {e}")
                continue
            done += 1
            touched.append(docs[0].id)
            notes.append(f"{move.what}: document {docs[0].id} is {status}")
        status = "processed" if done else "rejected"
        reason = f"{kind}: {done} of {len(moves)} status(es) set; " + "; ".join(notes[:20])
        if not _claim(s, exchange_id, status, reason, now):
            s.rollback()
            return None, []
    log.info("%s exchange %s: %s", kind, exchange_id, reason)
    return status, touched


def reject_unusable(gw, exchange_id: int, reason: str, now: datetime) -> tuple[Optional[str], list[int]]:
    """A received status message that cannot be applied at all: the exchange rejected, saying why."""
    with gw.session() as s:
        claimed = _claim(s, exchange_id, "rejected", reason, now)
    return ("rejected" if claimed else None), []


def apply_cdar(gw, exchange_id: int, data: bytes, now: datetime) -> tuple[Optional[str], list[int]]:
    """Apply a received CDAR message to the documents it names (see the module docstring); the
    exchange becomes ``processed`` when at least one status was set, ``rejected`` otherwise.
    Returns its final status (None when another worker processed it) and the documents whose
    status it set (the caller tells their other side: ``lifecycle.report_pending``)."""
    from gateway.rules import cdar as cdar_rules
    try:
        message = cdar.read_cdar(data)
        fatal = [f for f in cdar_rules.validate(data) if f.fatal]
    except EdigateError as e:
        return reject_unusable(gw, exchange_id, f"unreadable CDAR message: {e}", now)
    if fatal:
        first = fatal[0]
        return reject_unusable(gw, exchange_id, f"CDAR message breaking {len(fatal)} rule(s) of fr-cdar, "
                               f"first {first.rule}: {first.message}", now)
    public = message.sender is not None and (message.sender.scheme, message.sender.id) == ("0238", "9999")
    moves = [Move(f"invoice {rec.invoice_number or '?'} status {rec.code or '?'}",
                  (lambda r: lambda s, partner_id: _find(s, partner_id, r))(rec),
                  (lambda r: lambda doc: (r.status, r.reason, r.reason_code, FRENCH_CYCLE))(rec),
                  known=rec.status is not None)
             for rec in message.statuses]
    return apply_moves(gw, exchange_id, "CDAR message", moves, message.at, now, public_buyer=public)
