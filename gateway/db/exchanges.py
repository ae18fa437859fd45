"""Exchanges: one message in or out over a channel, with its bytes, MDN and status history.

The raw message (as received or as sent) and the MDN live in the payload store;
the row keeps their keys, the business content's SHA-256, sizes, the MIC and the
MDN disposition (non-repudiation), and every status change with its time and
reason. ``(direction, partner_id, message_id)`` is unique among the messages
we accepted: a second insert of an AS2 Message-ID already seen from that partner
fails in the database itself, whatever the number of processes — that is the
duplicate detection. A refused attempt (``refused``: bad signature, unknown
partner…) keeps the Message-ID it claimed, so it can be found by it, outside that
key: a stranger's refused message cannot block the partner's real one.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .base import Base, StatusHistory, one_of, require_channel, require_one_of, utcnow
from .partners import Organisation, Partner

if TYPE_CHECKING:
    from .documents import DocumentRecord

DIRECTIONS = ("in", "out")


def _t(**kw: tuple[str, ...]) -> dict[Optional[str], frozenset[str]]:
    return {None if k == "new" else k: frozenset(v) for k, v in kw.items()}


# Inbound: the row exists as soon as the message arrives; the bytes are durable ("stored")
# before any acknowledgement (MDN, SFTP close, HTTP 2xx) goes out ("acknowledged").
INBOUND_TRANSITIONS = _t(
    new=("received",),
    received=("stored", "rejected", "failed"),
    stored=("acknowledged", "rejected", "duplicate", "failed"),      # rejected: negative MDN sent
    acknowledged=("processed", "rejected", "failed"),                # processed: documents read and routed
    failed=("acknowledged",),                                        # an operator's retry re-enters processing
    processed=(), rejected=(), duplicate=(),
)
# Outbound: a durable job; "sent" only when no MDN was asked for, never on a failure.
OUTBOUND_TRANSITIONS = _t(
    new=("queued",),
    queued=("sending", "failed"),
    sending=("sent", "awaiting_mdn", "acknowledged", "rejected", "retrying", "failed"),
    awaiting_mdn=("acknowledged", "rejected", "retrying", "failed"),
    retrying=("sending", "failed"),
    failed=("queued",), rejected=("queued",),                        # an operator's retry
    sent=(), acknowledged=(),
)
INBOUND_STATUSES = tuple(s for s in INBOUND_TRANSITIONS if s)
OUTBOUND_STATUSES = tuple(s for s in OUTBOUND_TRANSITIONS if s)
STATUSES = tuple(dict.fromkeys(INBOUND_STATUSES + OUTBOUND_STATUSES))


class Exchange(StatusHistory, Base):
    __tablename__ = "exchanges"
    __table_args__ = (
        sa.Index("ux_exchanges_accepted_message_id", "direction", "partner_id", "message_id",
                 unique=True, sqlite_where=sa.text("NOT refused"), postgresql_where=sa.text("NOT refused")),
        one_of("direction", DIRECTIONS, "direction"),
        sa.Index(None, "status", "next_attempt_at"),     # due retries
        sa.Index(None, "status", "created_at"),          # search by status, newest first
        sa.Index(None, "partner_id", "created_at"),      # search by partner, newest first
        sa.Index(None, "direction", "channel", "status"),   # /metrics: exchanges by direction, channel, status
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(sa.String(3))
    channel: Mapped[str] = mapped_column(sa.String(16))
    partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id"))   # NULL: not (yet) known
    organisation_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    # As the message said (kept even when no partner matches).
    as2_from: Mapped[Optional[str]] = mapped_column(sa.String(128))
    as2_to: Mapped[Optional[str]] = mapped_column(sa.String(128))
    message_id: Mapped[Optional[str]] = mapped_column(sa.String(1000))   # AS2 Message-ID, SFTP path+mtime, API key…
    refused: Mapped[bool] = mapped_column(default=False, server_default=sa.false())  # an attempt we refused
    filename: Mapped[Optional[str]] = mapped_column(sa.String(500))
    content_type: Mapped[Optional[str]] = mapped_column(sa.String(200))
    # The raw message on the wire (AS2: headers + body as received / as sent) in the payload store.
    payload_key: Mapped[Optional[str]] = mapped_column(sa.String(64))
    payload_size: Mapped[Optional[int]] = mapped_column(sa.BigInteger)
    # The business content once unwrapped (decrypted, verified, decompressed); its SHA-256 is
    # also its payload-store key, and an idempotency key.
    content_sha256: Mapped[Optional[str]] = mapped_column(sa.String(64), index=True)
    content_size: Mapped[Optional[int]] = mapped_column(sa.BigInteger)
    # MDN: asked for how, the MDN itself (raw, in the store), its disposition, and the MIC.
    mdn_mode: Mapped[Optional[str]] = mapped_column(sa.String(8))
    mdn_message_id: Mapped[Optional[str]] = mapped_column(sa.String(1000))
    mdn_payload_key: Mapped[Optional[str]] = mapped_column(sa.String(64))
    mdn_disposition: Mapped[Optional[str]] = mapped_column(sa.String(500))
    mdn_at: Mapped[Optional[datetime]]
    mdn_due_at: Mapped[Optional[datetime]]             # outbound async: give up waiting then
    mdn_url: Mapped[Optional[str]] = mapped_column(sa.String(1000))  # inbound async: where the MDN we owe goes
    mic: Mapped[Optional[str]] = mapped_column(sa.String(200))       # base64 digest, as in the MDN
    mic_algorithm: Mapped[Optional[str]] = mapped_column(sa.String(16))
    # Life cycle.
    status: Mapped[str] = mapped_column(sa.String(24))
    status_at: Mapped[datetime]
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)           # of the current status
    attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    next_attempt_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    partner: Mapped[Optional[Partner]] = relationship(back_populates="exchanges")
    organisation: Mapped[Optional[Organisation]] = relationship()
    history: Mapped[list[ExchangeEvent]] = relationship(
        back_populates="exchange", cascade="all, delete-orphan",
        order_by="(ExchangeEvent.at, ExchangeEvent.id)")
    documents: Mapped[list[DocumentRecord]] = relationship(
        back_populates="exchange", order_by="DocumentRecord.position")

    SENDING_STATUS = "sending"

    @property
    def TRANSITIONS(self):  # type: ignore[override]
        return INBOUND_TRANSITIONS if self.direction == "in" else OUTBOUND_TRANSITIONS

    def _event(self, status: str, at: datetime, reason: Optional[str]) -> ExchangeEvent:
        return ExchangeEvent(status=status, at=at, reason=reason)

    @property
    def retryable(self) -> bool:
        """What an operator may retry: an outbound send that failed or was refused, or an
        inbound exchange whose processing failed."""
        return self.status in (("failed", "rejected") if self.direction == "out" else ("failed",))

    @validates("direction")
    def _check_direction(self, key: str, value: str) -> str:
        return require_one_of(value, DIRECTIONS, "direction")

    @validates("channel")
    def _check_channel(self, key: str, value: str) -> str:
        return require_channel(value)

    @classmethod
    def inbound(cls, channel: str, *, at: Optional[datetime] = None, **columns) -> Exchange:
        """A new inbound exchange in status ``received`` (created ``at``, default now)."""
        ex = cls(direction="in", channel=channel, **columns)
        ex.set_status("received", at=at)
        if ex.created_at is None:
            ex.created_at = ex.status_at
        return ex

    @classmethod
    def outbound(cls, channel: str, *, at: Optional[datetime] = None, **columns) -> Exchange:
        """A new outbound exchange in status ``queued``, due now."""
        ex = cls(direction="out", channel=channel, **columns)
        ex.set_status("queued", at=at)
        ex.next_attempt_at = ex.status_at
        if ex.created_at is None:
            ex.created_at = ex.status_at
        return ex

    @staticmethod
    def search(*, partner_id: Optional[int] = None, status: Optional[str] = None,
               direction: Optional[str] = None, channel: Optional[str] = None,
               message_id: Optional[str] = None, since: Optional[datetime] = None,
               until: Optional[datetime] = None) -> sa.Select[tuple[Exchange]]:
        """Exchanges matching every criterion given, newest first (add .limit()/.offset())."""
        q = sa.select(Exchange)
        if partner_id is not None:
            q = q.where(Exchange.partner_id == partner_id)
        if status is not None:
            q = q.where(Exchange.status == status)
        if direction is not None:
            q = q.where(Exchange.direction == direction)
        if channel is not None:
            q = q.where(Exchange.channel == channel)
        if message_id is not None:
            q = q.where(Exchange.message_id == message_id)
        if since is not None:
            q = q.where(Exchange.created_at >= since)
        if until is not None:
            q = q.where(Exchange.created_at < until)
        return q.order_by(Exchange.created_at.desc(), Exchange.id.desc())

    @staticmethod
    def due(now: Optional[datetime] = None) -> sa.Select[tuple[Exchange]]:
        """Outbound exchanges whose next attempt is due, oldest first."""
        now = now or utcnow()
        return (sa.select(Exchange)
                .where(Exchange.status.in_(("queued", "retrying")), Exchange.next_attempt_at <= now,
                       Exchange.direction == "out")
                .order_by(Exchange.next_attempt_at, Exchange.id))

    def __repr__(self) -> str:
        return f"<Exchange {self.id} {self.direction} {self.channel} {self.status}>"


class ExchangeEvent(Base):
    """One status change of an exchange (append-only)."""
    __tablename__ = "exchange_events"
    __table_args__ = (sa.Index(None, "exchange_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(sa.ForeignKey("exchanges.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[datetime]
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)

    exchange: Mapped[Exchange] = relationship(back_populates="history")

    def __repr__(self) -> str:
        return f"<ExchangeEvent {self.status} {self.at.isoformat()}>"
