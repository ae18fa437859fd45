"""Where deliveries meet the invoice's life cycle: deposited, received, acknowledged.

The gateway sets two steps of the life cycle itself: ``deposited`` when it accepts a
valid document (routed, or held until its recipient is known), and ``received``
when a delivery reaches the recipient (``delivered`` or ``acknowledged``: in its
AS2 server, its SFTP folder, its mailbox, its portal, its ERP's queue, or in the
post). Both go through ``gateway.flow.lifecycle.set_business_status`` so the events
are recorded and reported to the sender like the recipient's own decisions.
Neither ever moves a document backwards: a document already accepted or paid stays so.

``acknowledge_delivery`` is what the portal and the ERP pull call when the
recipient downloads or acknowledges a document.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from gateway.db import Delivery, DocumentRecord, utcnow

BY = "gateway"


def _set(session: Any, doc: DocumentRecord, status: str, reason: str, at: Optional[datetime]) -> None:
    from gateway.flow.lifecycle import set_business_status
    set_business_status(session, doc, status, reason=reason, by=BY, at=at)


def mark_deposited(session: Any, doc: DocumentRecord, *, at: Optional[datetime] = None) -> None:
    """A valid document accepted by the gateway (routed or held)."""
    if doc.business_status is None:
        _set(session, doc, "deposited", "accepted by the gateway", at)


def mark_received(session: Any, doc: DocumentRecord, delivery: Delivery, *, at: Optional[datetime] = None) -> None:
    """The document reached its recipient through ``delivery`` (first time only)."""
    if doc.business_status in (None, "deposited"):
        if doc.business_status is None:
            mark_deposited(session, doc, at=at)
        _set(session, doc, "received", f"{delivery.status} over {delivery.channel}"
             + (f" to {delivery.recipient.name}" if delivery.recipient is not None else ""), at)


def acknowledge_delivery(session: Any, delivery: Delivery, reason: str, at: Optional[datetime] = None) -> bool:
    """The recipient fetched or acknowledged the document: ``delivered`` → ``acknowledged``
    (the document follows). False when the delivery is not waiting for that (already
    acknowledged, or not delivered yet)."""
    from gateway.delivery.attempts import follow_document
    if delivery.status != "delivered":
        return False
    delivery.set_status("acknowledged", reason, at=at or utcnow())
    follow_document(delivery.document)
    return True
