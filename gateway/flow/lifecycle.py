"""An invoice's life after delivery: the recipient's decisions, and the sender told of each.

The statuses (``gateway.db.BUSINESS_STATUSES``) and the moves between them::

    (none) ──► deposited ──► received ──► accepted ──► payment_sent ──► paid
                                 │            └──────────────────────────▲
                                 ├──► refused (a reason is required)
                                 └──► disputed ──► accepted | refused

``set_business_status`` records one move as a ``DocumentStatusEvent`` (who, when,
why) and moves ``DocumentRecord.business_status`` with a compare-and-set, so two
people deciding at once cannot both win. Setting the status a document already
has changes nothing (a form sent twice, an ERP retrying). A decision (accepted,
refused, disputed) on a document still ``deposited`` first records ``received``:
the recipient has it, since it is deciding on it. Any other move raises
``StatusError`` naming the moves allowed from where the document is.

``report_to_sender`` tells the sender. Every status is visible at once through
the API (``GET /api/v1/documents/<id>/status``); a sender that sent the invoice
as EDIFACT over AS2 or SFTP also gets an APERAK (``gateway.syntaxes.aperak``),
queued as an outbound exchange on that channel. Reporting is one transaction:
the exchange is created and the event marked ``reported_at`` /
``report_exchange_id`` together, guarded by ``reported_at IS NULL``; a crash
before the commit leaves the event unreported for the sweep (``report_pending``),
a crash after it leaves a queued exchange the send sweep picks up. So each
status reaches an EDI sender once, whatever fails in between.
"""
from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from gateway.db import (BUSINESS_STATUSES, DocumentRecord, DocumentStatusEvent, Exchange, Partner,
                        SftpAccount, SftpRemote, StatusError, utcnow)

log = logging.getLogger("edigate.lifecycle")

MOVES: dict[Optional[str], frozenset[str]] = {
    None: frozenset({"deposited", "received"}),
    "deposited": frozenset({"received"}),
    "received": frozenset({"accepted", "refused", "disputed"}),
    "disputed": frozenset({"accepted", "refused"}),
    "accepted": frozenset({"payment_sent", "paid"}),
    "payment_sent": frozenset({"paid"}),
    "refused": frozenset(),
    "paid": frozenset(),
}
DECISIONS = frozenset({"accepted", "refused", "disputed"})
REASON_REQUIRED = frozenset({"refused"})
# What the recipient (or an operator for it) may set; deposited/received are the gateway's.
RECIPIENT_STATUSES = ("accepted", "refused", "disputed", "payment_sent", "paid")
NOT_SENT_AS_APERAK = frozenset({"deposited"})      # the AS2 MDN / SFTP close already said so
MAX_REASON = 1000
MAX_REASON_CODE = 16
EDI_CHANNELS = ("as2", "sftp")


def allowed_moves(current: Optional[str]) -> list[str]:
    """The statuses a document in ``current`` may move to (decisions from ``deposited``
    included: they record ``received`` first)."""
    moves = set(MOVES.get(current, ()))
    if current in (None, "deposited"):
        moves |= DECISIONS
    return [s for s in BUSINESS_STATUSES if s in moves]


def _clean(reason: Optional[str], reason_code: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    reason = " ".join((reason or "").split()) or None
    if reason is not None and len(reason) > MAX_REASON:
        raise ValueError(f"a reason is at most {MAX_REASON} characters (this one has {len(reason)})")
    reason_code = (reason_code or "").strip() or None
    if reason_code is not None and (len(reason_code) > MAX_REASON_CODE or not reason_code.isprintable()
                                    or any(c.isspace() for c in reason_code)):
        raise ValueError(f"a reason code is 1 to {MAX_REASON_CODE} printable characters without blanks")
    return reason, reason_code


def _move(session: Session, document: DocumentRecord, old: Optional[str], new: str, at: datetime) -> None:
    """Compare-and-set the document's status from ``old`` to ``new``."""
    current = DocumentRecord.business_status.is_(None) if old is None else DocumentRecord.business_status == old
    n = session.execute(sa.update(DocumentRecord).where(DocumentRecord.id == document.id, current)
                        .values(business_status=new, business_status_at=at, updated_at=utcnow())
                        .execution_options(synchronize_session=False)).rowcount
    if n != 1:
        raise StatusError(f"document {document.id}: its status changed meanwhile (it was {old or 'not set'}); "
                          "reload it and decide again")
    set_committed_value(document, "business_status", new)
    set_committed_value(document, "business_status_at", at)


def set_business_status(session: Session, document: DocumentRecord, status: str, *, reason: Optional[str] = None,
                        reason_code: Optional[str] = None, by: str = "gateway",
                        at: Optional[datetime] = None) -> DocumentStatusEvent:
    """Move ``document`` to ``status`` (see the module docstring); returns the event recorded,
    or the document's latest event when it already had that status. Raises ``StatusError``
    for a move the life cycle does not allow, ``ValueError`` for unusable values (unknown
    status, refusal without a reason, naive time, over-long reason)."""
    if status not in BUSINESS_STATUSES:
        raise ValueError(f"business status {status!r} is not one of: {', '.join(BUSINESS_STATUSES)}")
    reason, reason_code = _clean(reason, reason_code)
    at = at or utcnow()
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: give status times a time zone (UTC)")
    if document.id is None:
        session.flush()
    session.refresh(document, ["business_status", "business_status_at"])
    current = document.business_status
    if current == status:
        latest = session.scalar(sa.select(DocumentStatusEvent).where(DocumentStatusEvent.document_id == document.id)
                                .order_by(DocumentStatusEvent.at.desc(), DocumentStatusEvent.id.desc()).limit(1))
        if latest is not None:
            return latest
        event = DocumentStatusEvent(document_id=document.id, status=status, at=at, set_by=by[:200],
                                    reason=reason, reason_code=reason_code)
        session.add(event)                   # a status set without its event: record it once
        session.flush()
        return event
    if status in REASON_REQUIRED and not reason:
        raise ValueError(f"{status}: give a reason (the sender is told it)")
    steps = [status]
    if status in DECISIONS and current in (None, "deposited"):
        steps = ["received", status]
    elif status not in MOVES.get(current, frozenset()):
        where = f"from {current}" if current else "before any status"
        choices = ", ".join(allowed_moves(current)) or "nothing (final status)"
        raise StatusError(f"document {document.id}: {where} it cannot become {status}; it may become {choices}")
    if document.business_status_at is not None and at < document.business_status_at:
        at = document.business_status_at            # times never go backwards in one history
    event = None
    old = current
    for step in steps:
        _move(session, document, old, step, at)
        implied = step != status
        event = DocumentStatusEvent(document_id=document.id, status=step, at=at, set_by=by[:200],
                                    reason="implied: the recipient decided on it" if implied else reason,
                                    reason_code=None if implied else reason_code)
        session.add(event)
        old = step
    session.flush()
    session.expire(document, ["status_events"])
    return event


def history(session: Session, document_id: int) -> list[DocumentStatusEvent]:
    """A document's life-cycle events, oldest first."""
    return list(session.scalars(sa.select(DocumentStatusEvent).where(DocumentStatusEvent.document_id == document_id)
                                .order_by(DocumentStatusEvent.at, DocumentStatusEvent.id)))


# --- telling the sender ----------------------------------------------------------------------

def _has_sftp(session: Session, partner_id: int) -> bool:
    remote = session.scalar(sa.select(SftpRemote.id).where(SftpRemote.partner_id == partner_id,
                                                           SftpRemote.active.is_(True),
                                                           SftpRemote.push_dir.is_not(None)))
    account = session.scalar(sa.select(SftpAccount.id).where(SftpAccount.partner_id == partner_id,
                                                             SftpAccount.active.is_(True)).limit(1))
    return remote is not None or account is not None


def aperak_channel(session: Session, document: DocumentRecord) -> Optional[str]:
    """The channel an APERAK for ``document`` goes back by, or None when its sender is not an
    EDI sender (not EDIFACT, no known sender, or no AS2/SFTP way back). The channel the
    invoice came by comes first, then the sender's preferred one."""
    sender: Optional[Partner] = document.sender
    if document.syntax != "edifact" or sender is None or not sender.active:
        return None
    for channel in (document.exchange.channel, sender.preferred_channel):
        if channel == "as2" and sender.as2_id:
            return "as2"
        if channel == "sftp" and _has_sftp(session, sender.id):
            return "sftp"
    return None


def _original_message(gw, document: DocumentRecord):
    """(interchange, message) of the INVOIC the document was read from, or (None, None)."""
    from gateway.model.errors import EdigateError
    from gateway.syntaxes.edifact.syntax import read_interchange
    try:
        ic = read_interchange(gw.payloads.get(document.exchange.content_sha256))
    except (EdigateError, LookupError, OSError, ValueError):
        return None, None
    # The same choice as formats.edifact.documents.read_all: usable INVOIC messages, in order.
    usable = [m for m in ic.messages if m.type == "INVOIC" and m.accepted
              and (m.group is None or m.group.accepted)]
    return ic, (usable[document.position] if document.position < len(usable) else None)


def _aperak_bytes(gw, event: DocumentStatusEvent) -> bytes:
    from gateway.syntaxes.aperak import AperakParty, StatusReport, build_aperak
    from gateway.syntaxes.edifact.syntax import Party
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
    n = session.execute(sa.update(DocumentStatusEvent)
                        .where(DocumentStatusEvent.id == event_id, DocumentStatusEvent.reported_at.is_(None))
                        .values(reported_at=at, report_exchange_id=exchange_id)
                        .execution_options(synchronize_session=False)).rowcount
    return n == 1


def report_to_sender(gw, event_id: int) -> Optional[int]:
    """Tell the sender of one status event; returns the APERAK's outbound exchange id (None when
    the sender is told through the API only). Idempotent: an event already reported returns
    what it was reported with."""
    from gateway.store.filenames import safe_filename
    from gateway.syntaxes.aperak import MEDIA_TYPE
    exchange_id = None
    with gw.session() as s:
        event = s.get(DocumentStatusEvent, event_id)
        if event is None:
            raise LookupError(f"no status event {event_id}")
        if event.reported_at is not None:
            return event.report_exchange_id
        doc = event.document
        channel = None if event.status in NOT_SENT_AS_APERAK else aperak_channel(s, doc)
        now = utcnow()
        if channel is None:
            _mark(s, event_id, now)
            return None
        data = _aperak_bytes(gw, event)
        ref = gw.payloads.put(data)
        name = f"APERAK_{safe_filename(doc.number, f'document-{doc.id}')}_{event.status}_{event.id}.edi"
        out = Exchange.outbound(channel, partner_id=doc.sender_partner_id, at=now, filename=name,
                                content_type=MEDIA_TYPE, content_sha256=ref.key, content_size=ref.size)
        s.add(out)
        s.flush()
        if not _mark(s, event_id, now, out.id):       # reported meanwhile by another worker
            s.rollback()
            return s.get(DocumentStatusEvent, event_id).report_exchange_id
        exchange_id = out.id
        log.info("status %s of document %s reported to %s by APERAK (exchange %s)",
                 event.status, doc.id, doc.sender.name, exchange_id)
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


def register(jobs) -> SimpleNamespace:
    """The ``gateway.jobs.EXTENSIONS`` hook: the sweep reports what was left unreported."""
    gw = jobs.gateway
    return SimpleNamespace(sweep=lambda now: {"status_reports": report_pending(gw)})
