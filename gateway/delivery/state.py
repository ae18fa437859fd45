"""One place for statuses: an exchange's, its deliveries', its documents', and the life cycle.

Exchanges, deliveries and documents each keep their own status history (the
transitions allowed are in ``gateway.db``); what moves what is here:

* ``set_status(exchange, …)``: an outbound exchange's status, its deliveries
  following (``sending`` → ``sending``, ``awaiting_mdn`` → ``awaiting_ack``…) and their
  documents after them (``follow_document``);
* ``follow_document``: a document is ``delivered`` when every delivery reached its
  recipient, ``failed`` when one failed; the first delivery to reach the recipient
  makes it ``received`` in its life cycle;
* the life cycle (``set_business_status``) and its moves::

    (none) ──► deposited ──► received ──► accepted ──► payment_sent ──► paid
                                 │            └──────────────────────────▲
                                 ├──► refused (a reason is required)
                                 └──► disputed ──► accepted | refused

  one move recorded as a ``DocumentStatusEvent`` (who, when, why), the document's
  ``business_status`` moved with a compare-and-set, so two people deciding at once
  cannot both win. Setting the status a document already has changes nothing (a form
  sent twice, an ERP retrying). A decision (accepted, refused, disputed) on a document
  still ``deposited`` first records ``received``: the recipient has it, since it is
  deciding on it. Any other move raises ``StatusError`` naming the moves allowed.
  The gateway sets two steps itself: ``deposited`` when it accepts a valid document
  (``mark_deposited``), ``received`` when a delivery reaches the recipient
  (``mark_received``); neither ever moves a document backwards.

  The statuses and moves are data (``lifecycle.yaml``, read by ``gateway.delivery.statuses``):
  the drawing above is the *core* cycle every document follows. A document in the French
  reform's scope (validated by a French profile, or already in a French status, or moved by
  a CDAR message: ``cycle="fr"``) follows the *French* cycle, the statuses 200-228 of
  XP Z12-012 (issued 201, made available 203, taken in hand 204, partially approved 206,
  suspended 208, completed 209, rejected 213, endorsed 214, cancelled 220, routing error
  221, the factoring ones 224-228), whose moves include the core ones; there a status
  that needs a reason code (206, 207, 208, 210, 213) is refused without one, and a code
  the status does not allow is refused (``check_reason_code``, BR-FR-CDV-CL-09).

What the sender is told of each status is ``gateway.flow.lifecycle``'s.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from gateway.db import (BUSINESS_STATUSES, Delivery, DocumentRecord, DocumentStatusEvent, Exchange, StatusError,
                        compare_and_set, utcnow)
from gateway.delivery.statuses import B2G_REFUSAL_REASONS, CORE, REASONS, START, STATUSES

BY = "gateway"
DEPOSITED_REASON = "accepted by the gateway"

# Exchange status → the status its deliveries follow with.
_DELIVERY_STATUS = {"sending": "sending", "awaiting_mdn": "awaiting_ack", "acknowledged": "acknowledged",
                    "sent": "delivered", "retrying": "retrying", "failed": "failed", "rejected": "failed",
                    "queued": "pending"}


# --- exchanges, deliveries, documents ------------------------------------------------------------

def set_status(ex: Exchange, status: str, reason: Optional[str] = None, *, at: Optional[datetime] = None) -> None:
    """Set the exchange status and let its deliveries and documents follow."""
    ex.set_status(status, reason, at=at)
    s = sa.orm.object_session(ex)
    follow = _DELIVERY_STATUS.get(status)
    if s is None or follow is None:
        return
    for d in s.scalars(sa.select(Delivery).where(Delivery.exchange_id == ex.id)):
        if d.status != follow and follow in d.TRANSITIONS.get(d.status, ()):
            d.set_status(follow, reason, at=at)
            d.attempts = ex.attempts
            follow_document(d.document)


def follow_document(doc: DocumentRecord) -> None:
    """The document's status from its deliveries'; the first delivery to reach its recipient
    makes the document ``received`` in its life cycle."""
    statuses = {d.status for d in doc.deliveries}
    if statuses and statuses <= {"acknowledged", "delivered"}:
        doc.status = "delivered"
    elif "failed" in statuses:
        doc.status = "failed"
    elif doc.status in ("delivered", "failed"):
        doc.status = "routed"
    reached = next((d for d in doc.deliveries if d.status in ("delivered", "acknowledged")), None)
    session = sa.orm.object_session(doc)
    if reached is not None and session is not None and doc.business_status in (None, "deposited"):
        mark_received(session, doc, reached, at=reached.status_at)


def acknowledge_delivery(session: Any, delivery: Delivery, reason: str, at: Optional[datetime] = None) -> bool:
    """The recipient fetched or acknowledged the document: ``delivered`` → ``acknowledged``
    (the document follows). False when the delivery is not waiting for that (already
    acknowledged, or not delivered yet)."""
    if delivery.status != "delivered":
        return False
    delivery.set_status("acknowledged", reason, at=at or utcnow())
    follow_document(delivery.document)
    return True


def mark_deposited(session: Any, doc: DocumentRecord, *, at: Optional[datetime] = None) -> None:
    """A valid document accepted by the gateway (routed or held)."""
    if doc.business_status is None:
        set_business_status(session, doc, "deposited", reason=DEPOSITED_REASON, by=BY, at=at)


def deposited_on_arrival(doc: DocumentRecord, *, at: datetime) -> DocumentStatusEvent:
    """``mark_deposited`` for a valid document being recorded now, before its first flush: nobody
    else can see it yet, so its status is set on the new row and its event added with it (no
    read-back, no compare-and-set: two statements fewer per received document)."""
    if doc.id is not None or doc.business_status is not None:
        raise ValueError("deposited_on_arrival is for a document not recorded yet; use mark_deposited")
    doc.business_status, doc.business_status_at = "deposited", at
    return DocumentStatusEvent(document=doc, status="deposited", at=at, set_by=BY,
                               reason=DEPOSITED_REASON)


def mark_received(session: Any, doc: DocumentRecord, delivery: Delivery, *, at: Optional[datetime] = None) -> None:
    """The document reached its recipient through ``delivery`` (first time only)."""
    if doc.business_status in (None, "deposited"):
        if doc.business_status is None:
            mark_deposited(session, doc, at=at)
        set_business_status(session, doc, "received", by=BY, at=at,
                            reason=f"{delivery.status} over {delivery.channel}"
                            + (f" to {delivery.recipient.name}" if delivery.recipient is not None else ""))


# --- the life cycle ------------------------------------------------------------------------------

CORE_CYCLE, FRENCH_CYCLE = "core", "fr"
# A document validated by one of these profiles is in the French reform's scope: French cycle.
FRENCH_PROFILES = frozenset({"fr", "fr-extended", "fr-warning"})


def _cycle_moves(cycle: str) -> dict[Optional[str], frozenset[str]]:
    keep = (lambda name: True) if cycle == FRENCH_CYCLE else (lambda name: STATUSES[name].core)
    moves: dict[Optional[str], frozenset[str]] = {None: frozenset(s for s in START if keep(s))}
    for name, st in STATUSES.items():
        if keep(name):
            moves[name] = frozenset(m for m in st.moves if keep(m))
    return moves


# The moves of each cycle, from lifecycle.yaml: the core cycle keeps the core statuses' moves
# between themselves (deposited -> received -> accepted | refused | disputed ...).
CYCLE_MOVES: dict[str, dict[Optional[str], frozenset[str]]] = {c: _cycle_moves(c) for c in (CORE_CYCLE, FRENCH_CYCLE)}
MOVES = CYCLE_MOVES[CORE_CYCLE]
FRENCH_DECISIONS = frozenset(n for n, s in STATUSES.items() if s.decision)
DECISIONS = frozenset(n for n in FRENCH_DECISIONS if STATUSES[n].core)
REASON_REQUIRED = frozenset(n for n, s in STATUSES.items() if s.reason_required)
# What the recipient (or an operator for it) may set in the core cycle; deposited/received are the gateway's.
RECIPIENT_STATUSES = tuple(n for n in CORE if STATUSES[n].by != "gateway")
MAX_REASON = 1000
MAX_REASON_CODE = 16


def cycle_of(document: Optional[DocumentRecord] = None, current: Optional[str] = None) -> str:
    """The cycle a document follows: French when it already has a status only the French cycle
    knows, was validated by a French profile, or its sender is told of statuses by CDAR; the
    core cycle otherwise."""
    current = current if document is None else document.business_status
    if current is not None and current in STATUSES and not STATUSES[current].core:
        return FRENCH_CYCLE
    if document is not None and getattr(document, "validation_profile", None) in FRENCH_PROFILES:
        return FRENCH_CYCLE
    sender = getattr(document, "sender", None) if document is not None else None
    if sender is not None and getattr(sender, "status_syntax", None) == "cdar":
        return FRENCH_CYCLE
    return CORE_CYCLE


def allowed_moves(current: Optional[str], cycle: Optional[str] = None) -> list[str]:
    """The statuses a document in ``current`` may move to (decisions from ``deposited``
    included: they record ``received`` first), in ``cycle`` (by default the core cycle, or
    the French one when ``current`` is a French status)."""
    cycle = cycle or cycle_of(current=current)
    moves = set(CYCLE_MOVES[cycle].get(current, ()))
    if current in (None, "deposited"):
        moves |= FRENCH_DECISIONS if cycle == FRENCH_CYCLE else DECISIONS
    return [s for s in BUSINESS_STATUSES if s in moves]


def reachable_later(current: Optional[str], status: str, cycle: Optional[str] = None) -> bool:
    """Whether a document in ``current`` could become ``status`` after other moves first (not at
    once): a status message asking for it may have overtaken the one that makes those moves (two
    messages sent in order can arrive the other way round), so it is worth waiting for."""
    cycle = cycle or cycle_of(current=current)
    seen, frontier = {current}, [current]
    while frontier:
        nxt = []
        for here in frontier:
            for step in allowed_moves(here, cycle):
                if step == status and here != current:
                    return True
                if step not in seen:
                    seen.add(step)
                    nxt.append(step)
        frontier = nxt
    return False


def check_reason_code(status: str, reason_code: Optional[str], *, public_buyer: bool = False) -> None:
    """French cycle: the reason code a status needs (BR-FR-CDV-15) and the ones it allows
    (BR-FR-CDV-CL-09; a public-sector buyer's refusal has its own list); ValueError naming them."""
    st = STATUSES[status]
    allowed = st.reasons
    if status == "refused" and public_buyer:
        allowed = B2G_REFUSAL_REASONS
    if not reason_code:
        if st.reason_code_required:
            raise ValueError(f"{status} ({st.code} {st.fr}): give a reason code, one of: "
                             + ", ".join(allowed or REASONS))
        return
    if reason_code not in REASONS:
        raise ValueError(f"reason code {reason_code!r} is not a French life-cycle reason code")
    if allowed is not None and reason_code not in allowed:
        raise ValueError(f"{status} ({st.code} {st.fr}): reason code {reason_code} is not allowed; "
                         f"one of: {', '.join(allowed)}")


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
    n = compare_and_set(session, DocumentRecord, DocumentRecord.id == document.id, current,
                        business_status=new, business_status_at=at, updated_at=utcnow())
    if n != 1:
        raise StatusError(f"document {document.id}: its status changed meanwhile (it was {old or 'not set'}); "
                          "reload it and decide again")
    set_committed_value(document, "business_status", new)
    set_committed_value(document, "business_status_at", at)


def set_business_status(session: Session, document: DocumentRecord, status: str, *, reason: Optional[str] = None,
                        reason_code: Optional[str] = None, by: str = "gateway",
                        at: Optional[datetime] = None, cycle: Optional[str] = None,
                        public_buyer: bool = False) -> DocumentStatusEvent:
    """Move ``document`` to ``status`` (see the module docstring); returns the event recorded,
    or the document's latest event when it already had that status. Raises ``StatusError``
    for a move the life cycle does not allow, ``ValueError`` for unusable values (unknown
    status, refusal without a reason, naive time, over-long reason; in the French cycle, a
    reason code missing or not allowed for the status). ``cycle`` (``core``, ``fr``) is the
    document's own (``cycle_of``) unless given; ``public_buyer``: a refusal by a public-sector
    buyer (Chorus Pro), which takes its own reason codes."""
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
    cycle = cycle or cycle_of(document)
    if cycle == FRENCH_CYCLE:
        check_reason_code(status, reason_code, public_buyer=public_buyer)
    steps = [status]
    decisions = FRENCH_DECISIONS if cycle == FRENCH_CYCLE else DECISIONS
    if status in decisions and current in (None, "deposited"):
        steps = ["received", status]
    elif status not in CYCLE_MOVES[cycle].get(current, frozenset()):
        where = f"from {current}" if current else "before any status"
        choices = ", ".join(allowed_moves(current, cycle)) or "nothing (final status)"
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


