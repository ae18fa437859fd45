"""Documents read from exchanges, their renderings, and their deliveries.

``DocumentRecord`` keeps a summary of the EN 16931 model (number, type, dates,
parties, currency, totals) for search and routing, the validation findings
(``Finding.as_dict()``), and a duplicate key (seller + number + year). The
original bytes stay with the exchange; each written syntax is a
``RenderingRecord`` (payload key + the business terms the syntax dropped);
each recipient a ``Delivery`` with its status history, attempts and final reason.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from gateway.delivery import statuses as _lifecycle_statuses
from gateway.model.findings import FATAL, Finding
from .base import Amount, Base, StatusHistory, require_channel, require_one_of, utcnow
from .exchanges import Exchange
from .partners import Partner

if TYPE_CHECKING:
    from gateway.model.invoice import Identifier, Invoice
    from .networks import Network

# valid/invalid: after checking; held: valid, recipient unknown; routed: deliveries
# created; delivered / failed: all deliveries ended well / one failed.
DOCUMENT_STATUSES = ("valid", "invalid", "duplicate", "held", "routed", "delivered", "failed")

# The invoice's life seen by its sender and recipient (French e-invoicing life cycle):
# deposited with us, received by the recipient, then its decisions, and the French reform's
# other statuses (gateway/delivery/lifecycle.yaml: names, codes 200-228, moves; the moves are
# applied by gateway.delivery.state); the column only holds a known word.
BUSINESS_STATUSES = _lifecycle_statuses.NAMES


def _id(ident: Optional[Identifier]) -> tuple[Optional[str], Optional[str]]:
    if ident is None or not ident.value:
        return None, None
    return ident.scheme or None, ident.value


def duplicate_key(seller_key: Optional[str], number: Optional[str], issue_date: Optional[date]) -> Optional[str]:
    """Same seller + same number + same year = the same invoice (EN 16931 / French rules)."""
    if not seller_key or not number or issue_date is None:
        return None
    text = f"{seller_key.strip().upper()}|{number.strip()}|{issue_date.year}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def summarise(invoice: Invoice) -> dict[str, Any]:
    """The columns of a ``DocumentRecord`` taken from the model."""
    seller, buyer, totals = invoice.seller, invoice.buyer, invoice.totals
    out: dict[str, Any] = {
        "number": invoice.number,
        "type_code": invoice.type_code,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "currency": invoice.currency_code,
        "line_count": len(invoice.lines),
    }
    if seller is not None:
        legal = seller.legal_registration_identifier or next((i for i in seller.identifiers if i.value), None)
        out["seller_name"] = seller.name
        out["seller_vat_id"] = seller.vat_identifier
        out["seller_id_scheme"], out["seller_id"] = _id(legal)
        out["seller_endpoint_scheme"], out["seller_endpoint_id"] = _id(seller.electronic_address)
    if buyer is not None:
        legal = buyer.legal_registration_identifier or buyer.identifier
        out["buyer_name"] = buyer.name
        out["buyer_vat_id"] = buyer.vat_identifier
        out["buyer_id_scheme"], out["buyer_id"] = _id(legal)
        out["buyer_endpoint_scheme"], out["buyer_endpoint_id"] = _id(buyer.electronic_address)
    if totals is not None:
        out["total_without_vat"] = totals.total_without_vat
        out["total_vat"] = totals.total_vat
        out["total_with_vat"] = totals.total_with_vat
        out["amount_due"] = totals.amount_due
    seller_key = out.get("seller_vat_id") or (
        f"{out.get('seller_id_scheme') or ''}:{out['seller_id']}" if out.get("seller_id") else None) or (
        f"{out.get('seller_endpoint_scheme') or ''}:{out['seller_endpoint_id']}"
        if out.get("seller_endpoint_id") else None) or out.get("seller_name")
    out["duplicate_key"] = duplicate_key(seller_key, invoice.number, invoice.issue_date)
    return out


class DocumentRecord(Base):
    __tablename__ = "documents"
    __table_args__ = (
        sa.UniqueConstraint("exchange_id", "position"),
        # searches filter on one of these and list newest first: (filter, created_at) serves both
        sa.Index(None, "status", "created_at"),
        sa.Index(None, "sender_partner_id", "created_at"),
        sa.Index(None, "recipient_partner_id", "created_at"),
        # the indicators' volumes and rates: one range scan of the period reads all they count
        sa.Index("ix_documents_indicators", "created_at", "channel", "syntax", "sender_partner_id", "valid",
                 "business_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(sa.ForeignKey("exchanges.id"))
    # the inbound exchange's channel, recorded once with the document (the indicators count by it
    # without reading each exchange)
    channel: Mapped[Optional[str]] = mapped_column(sa.String(16))
    position: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))   # n-th document of the file
    syntax: Mapped[str] = mapped_column(sa.String(40))
    mapping: Mapped[str] = mapped_column(sa.String(200))
    # Summary of the model.
    number: Mapped[Optional[str]] = mapped_column(sa.String(200), index=True)          # BT-1
    type_code: Mapped[Optional[str]] = mapped_column(sa.String(8))                     # BT-3
    issue_date: Mapped[Optional[date]] = mapped_column(index=True)                     # BT-2
    due_date: Mapped[Optional[date]]                                                   # BT-9
    currency: Mapped[Optional[str]] = mapped_column(sa.String(3))                      # BT-5
    seller_name: Mapped[Optional[str]] = mapped_column(sa.String(500))                 # BT-27
    seller_vat_id: Mapped[Optional[str]] = mapped_column(sa.String(64))                # BT-31
    seller_id_scheme: Mapped[Optional[str]] = mapped_column(sa.String(16))             # BT-30-1 / BT-29-1
    seller_id: Mapped[Optional[str]] = mapped_column(sa.String(256))                   # BT-30 / BT-29
    seller_endpoint_scheme: Mapped[Optional[str]] = mapped_column(sa.String(16))       # BT-34-1
    seller_endpoint_id: Mapped[Optional[str]] = mapped_column(sa.String(256))          # BT-34
    buyer_name: Mapped[Optional[str]] = mapped_column(sa.String(500))                  # BT-44
    buyer_vat_id: Mapped[Optional[str]] = mapped_column(sa.String(64))                 # BT-48
    buyer_id_scheme: Mapped[Optional[str]] = mapped_column(sa.String(16))              # BT-47-1 / BT-46-1
    buyer_id: Mapped[Optional[str]] = mapped_column(sa.String(256))                    # BT-47 / BT-46
    buyer_endpoint_scheme: Mapped[Optional[str]] = mapped_column(sa.String(16))        # BT-49-1
    buyer_endpoint_id: Mapped[Optional[str]] = mapped_column(sa.String(256))           # BT-49
    total_without_vat: Mapped[Optional[Decimal]] = mapped_column(Amount)              # BT-109
    total_vat: Mapped[Optional[Decimal]] = mapped_column(Amount)                      # BT-110
    total_with_vat: Mapped[Optional[Decimal]] = mapped_column(Amount)                 # BT-112
    amount_due: Mapped[Optional[Decimal]] = mapped_column(Amount)                     # BT-115
    line_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    # Who sent it to us (the exchange's partner) and who it is for (resolved by routing).
    sender_partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id"))
    recipient_partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id"))
    # Checks.
    valid: Mapped[bool]
    fatal_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    warning_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    findings: Mapped[list[Any]] = mapped_column(default=list)         # [Finding.as_dict(), …]
    # The validation profile the findings come from (gateway/rules/profiles.yaml).
    validation_profile: Mapped[str] = mapped_column(sa.String(40), default="en16931", server_default="en16931")
    duplicate_key: Mapped[Optional[str]] = mapped_column(sa.String(64), index=True)
    duplicate_of_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("documents.id"))
    status: Mapped[str] = mapped_column(sa.String(16))
    # Life cycle (BUSINESS_STATUSES) as set by the gateway and the recipient, reported to the sender.
    business_status: Mapped[Optional[str]] = mapped_column(sa.String(16), index=True)
    business_status_at: Mapped[Optional[datetime]]
    # A credit note (or corrective invoice) names what it corrects by number (BT-25); once that
    # document is known, the link is kept.
    preceding_number: Mapped[Optional[str]] = mapped_column(sa.String(200))
    corrects_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("documents.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    exchange: Mapped[Exchange] = relationship(back_populates="documents")
    sender: Mapped[Optional[Partner]] = relationship(foreign_keys=[sender_partner_id])
    recipient: Mapped[Optional[Partner]] = relationship(foreign_keys=[recipient_partner_id])
    duplicate_of: Mapped[Optional[DocumentRecord]] = relationship(remote_side=[id], foreign_keys=[duplicate_of_id])
    corrects: Mapped[Optional[DocumentRecord]] = relationship(remote_side=[id], foreign_keys=[corrects_id])
    status_events: Mapped[list[DocumentStatusEvent]] = relationship(
        back_populates="document", cascade="all, delete-orphan",
        order_by="(DocumentStatusEvent.at, DocumentStatusEvent.id)")
    renderings: Mapped[list[RenderingRecord]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="RenderingRecord.id")
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="Delivery.id")

    @validates("status")
    def _check_status(self, key: str, value: str) -> str:
        return require_one_of(value, DOCUMENT_STATUSES, "document status")

    @validates("exchange")
    def _take_channel(self, key: str, exchange: Optional[Exchange]) -> Optional[Exchange]:
        if exchange is not None and self.channel is None:
            self.channel = exchange.channel
        return exchange

    @validates("business_status")
    def _check_business_status(self, key: str, value: Optional[str]) -> Optional[str]:
        return require_one_of(value, BUSINESS_STATUSES, "business status", nullable=True)

    @classmethod
    def from_invoice(cls, invoice: Invoice, *, syntax: str, mapping: str, exchange: Exchange,
                     findings: Iterable[Finding] = (), position: int = 0, **columns: Any) -> DocumentRecord:
        """A record of a read (and checked) invoice; status ``valid`` or ``invalid`` from the findings."""
        findings = list(findings)
        fatal = sum(1 for f in findings if f.severity == FATAL)
        values = summarise(invoice)
        values.update(
            syntax=syntax, mapping=mapping, exchange=exchange, position=position,
            sender_partner_id=exchange.partner_id,
            findings=[f.as_dict() for f in findings], valid=fatal == 0,
            fatal_count=fatal, warning_count=len(findings) - fatal,
            status="valid" if fatal == 0 else "invalid",
        )
        if exchange.partner is not None:
            values["sender"] = exchange.partner
        values.update(columns)
        return cls(**values)

    @staticmethod
    def search(*, number: Optional[str] = None, partner_id: Optional[int] = None, status: Optional[str] = None,
               issued_from: Optional[date] = None, issued_to: Optional[date] = None,
               since: Optional[datetime] = None, until: Optional[datetime] = None,
               valid: Optional[bool] = None) -> sa.Select[tuple[DocumentRecord]]:
        """Documents matching every criterion given, newest first. ``partner_id``: sent by or
        addressed to that partner; ``issued_*``: issue date (BT-2, inclusive);
        ``since``/``until``: when we received it."""
        q = sa.select(DocumentRecord)
        if number is not None:
            q = q.where(DocumentRecord.number == number)
        if partner_id is not None:
            q = q.where(sa.or_(DocumentRecord.sender_partner_id == partner_id,
                               DocumentRecord.recipient_partner_id == partner_id))
        if status is not None:
            q = q.where(DocumentRecord.status == status)
        if issued_from is not None:
            q = q.where(DocumentRecord.issue_date >= issued_from)
        if issued_to is not None:
            q = q.where(DocumentRecord.issue_date <= issued_to)
        if since is not None:
            q = q.where(DocumentRecord.created_at >= since)
        if until is not None:
            q = q.where(DocumentRecord.created_at < until)
        if valid is not None:
            q = q.where(DocumentRecord.valid.is_(valid))
        return q.order_by(DocumentRecord.created_at.desc(), DocumentRecord.id.desc())

    @staticmethod
    def duplicates_of(record: DocumentRecord) -> sa.Select[tuple[DocumentRecord]]:
        """Earlier documents with the same seller + number + year."""
        q = sa.select(DocumentRecord).where(DocumentRecord.duplicate_key == record.duplicate_key)
        if record.id is not None:
            q = q.where(DocumentRecord.id < record.id)
        return q.order_by(DocumentRecord.id)

    def __repr__(self) -> str:
        return f"<DocumentRecord {self.id} {self.syntax} {self.number!r} {self.status}>"


class RenderingRecord(Base):
    """The document written in one syntax (through one mapping), kept in the payload store."""
    __tablename__ = "renderings"
    __table_args__ = (sa.UniqueConstraint("document_id", "syntax", "mapping"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"))
    syntax: Mapped[str] = mapped_column(sa.String(40))
    mapping: Mapped[str] = mapped_column(sa.String(200))
    payload_key: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    media_type: Mapped[str] = mapped_column(sa.String(100))
    dropped: Mapped[list[Any]] = mapped_column(default=list)          # [{"term": "BT-…", "path": "…"}, …]
    findings: Mapped[list[Any]] = mapped_column(default=list)         # e.g. XSD findings on the output
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[DocumentRecord] = relationship(back_populates="renderings")

    @classmethod
    def from_rendering(cls, rendering: Any, *, payload_key: str, size: int, **columns: Any) -> RenderingRecord:
        """From a ``gateway.syntaxes.Rendering`` whose bytes were put in the store."""
        return cls(syntax=rendering.syntax, mapping=rendering.mapping, payload_key=payload_key, size=size,
                   media_type=rendering.media_type,
                   dropped=[{"term": d.term, "path": d.path} for d in rendering.dropped],
                   findings=[f.as_dict() for f in rendering.findings], **columns)

    def __repr__(self) -> str:
        return f"<RenderingRecord {self.id} {self.syntax} {self.payload_key[:12]}>"


# A delivery ends delivered (+ acknowledged where the channel acknowledges) or failed with
# its reason after bounded retries.
DELIVERY_TRANSITIONS: dict[Optional[str], frozenset[str]] = {
    None: frozenset({"pending"}),
    # pull channels (portal, ERP pull) go straight to delivered ("available"); the recipient's
    # download or acknowledgement makes it acknowledged
    "pending": frozenset({"sending", "delivered", "failed", "cancelled", "pending_approval"}),
    # the recipient organisation's approval rules hold it (gateway.flow.release): released to
    # pending once approved, cancelled when refused
    "pending_approval": frozenset({"pending", "failed", "cancelled"}),
    "sending": frozenset({"delivered", "awaiting_ack", "acknowledged", "retrying", "failed"}),
    "awaiting_ack": frozenset({"acknowledged", "retrying", "failed"}),
    "delivered": frozenset({"acknowledged"}),
    "retrying": frozenset({"sending", "failed", "cancelled"}),
    "failed": frozenset({"pending"}),           # an operator's retry
    "acknowledged": frozenset(), "cancelled": frozenset(),
}
DELIVERY_STATUSES = tuple(s for s in DELIVERY_TRANSITIONS if s)
REACHED_STATUSES = ("delivered", "acknowledged")      # the recipient has it: the clock of delivery time stops


class Delivery(StatusHistory, Base):
    """The document on its way to one recipient, in its format, over its channel."""
    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("document_id", "recipient_partner_id"),
        sa.Index(None, "status", "next_attempt_at"),
        sa.Index(None, "channel", "status"),              # /metrics: deliveries by channel and status
        # the indicators' delivery time: one range scan of the period reads every value
        sa.Index("ix_deliveries_indicators", "received_at", "channel", "reached_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"))
    recipient_partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id"), index=True)
    format: Mapped[str] = mapped_column(sa.String(40))
    channel: Mapped[str] = mapped_column(sa.String(16))
    rendering_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("renderings.id"))
    exchange_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("exchanges.id"), index=True)  # the last send
    # Forwarded through an interconnected network (recipient = that network's access point).
    network_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("networks.id"), index=True)
    print_batch_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("print_batches.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    status_at: Mapped[datetime]
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)           # of the current (final) status
    attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    next_attempt_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Recorded once for the indicators (delivery time without reading documents, exchanges and
    # events): when the document's inbound exchange arrived, and when this delivery first
    # reached its recipient (delivered or acknowledged; never changed after).
    received_at: Mapped[Optional[datetime]]
    reached_at: Mapped[Optional[datetime]]

    document: Mapped[DocumentRecord] = relationship(back_populates="deliveries")
    recipient: Mapped[Partner] = relationship()
    rendering: Mapped[Optional[RenderingRecord]] = relationship()
    exchange: Mapped[Optional[Exchange]] = relationship()
    network: Mapped[Optional[Network]] = relationship()
    print_batch: Mapped[Optional[PrintBatch]] = relationship(back_populates="deliveries")
    history: Mapped[list[DeliveryEvent]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan",
        order_by="(DeliveryEvent.at, DeliveryEvent.id)")

    TRANSITIONS = DELIVERY_TRANSITIONS
    SENDING_STATUS = "sending"

    def _event(self, status: str, at: datetime, reason: Optional[str]) -> DeliveryEvent:
        if status in REACHED_STATUSES and self.reached_at is None:
            self.reached_at = at
        return DeliveryEvent(status=status, at=at, reason=reason)

    @validates("channel")
    def _check_channel(self, key: str, value: str) -> str:
        return require_channel(value)

    @classmethod
    def new(cls, document: DocumentRecord, recipient: Partner, *, format: str, channel: str,
            at: Optional[datetime] = None, **columns: Any) -> Delivery:
        """A pending delivery, due now."""
        d = cls(document=document, recipient=recipient, format=format, channel=channel,
                received_at=document.exchange.created_at if document.exchange is not None else None, **columns)
        d.set_status("pending", at=at)
        d.next_attempt_at = d.status_at
        if d.created_at is None:
            d.created_at = d.status_at
        return d

    @staticmethod
    def due(now: Optional[datetime] = None) -> sa.Select[tuple[Delivery]]:
        now = now or utcnow()
        return (sa.select(Delivery)
                .where(Delivery.status.in_(("pending", "retrying")), Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at, Delivery.id))

    def __repr__(self) -> str:
        return f"<Delivery {self.id} doc={self.document_id} to={self.recipient_partner_id} {self.status}>"


class DeliveryEvent(Base):
    __tablename__ = "delivery_events"
    __table_args__ = (sa.Index(None, "delivery_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime]
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)

    delivery: Mapped[Delivery] = relationship(back_populates="history")

    def __repr__(self) -> str:
        return f"<DeliveryEvent {self.status} {self.at.isoformat()}>"


class DocumentStatusEvent(Base):
    """One step of a document's life cycle: who set it, why, and whether its sender was told."""
    __tablename__ = "document_status_events"
    __table_args__ = (sa.Index(None, "document_id", "at"), sa.Index(None, "reported_at"),
                      sa.Index(None, "status", "at"))              # indicators: what was paid in a period

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime]
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    reason_code: Mapped[Optional[str]] = mapped_column(sa.String(16))    # e.g. UNCL 4343/4451-style codes
    set_by: Mapped[Optional[str]] = mapped_column(sa.String(200))        # "gateway", "user:alice", "api:erp"
    # Reporting back to the sender: when, and the outbound exchange that carried it (APERAK).
    reported_at: Mapped[Optional[datetime]]
    report_exchange_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("exchanges.id"))

    document: Mapped[DocumentRecord] = relationship(back_populates="status_events")

    @validates("status")
    def _check_status(self, key: str, value: str) -> str:
        return require_one_of(value, BUSINESS_STATUSES, "business status")

    def __repr__(self) -> str:
        return f"<DocumentStatusEvent {self.document_id} {self.status} {self.at.isoformat()}>"


class PrintBatch(Base):
    """Paper: the human-readable PDFs of pending paper deliveries gathered into one file for
    postal dispatch, each behind a cover sheet with the recipient's address."""
    __tablename__ = "print_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="ready")      # ready, printed
    payload_key: Mapped[Optional[str]] = mapped_column(sa.String(64))        # the batch PDF in the store
    document_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    page_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    printed_at: Mapped[Optional[datetime]]
    printed_by: Mapped[Optional[str]] = mapped_column(sa.String(200))

    deliveries: Mapped[list[Delivery]] = relationship(back_populates="print_batch", order_by="Delivery.id")

    def __repr__(self) -> str:
        return f"<PrintBatch {self.id} {self.document_count} document(s) {self.status}>"
