"""The XP Z12-013 flow API's records: the flows a member's ERP sees, and the webhooks it subscribed.

* ``Flow``: one exchange as the flow API shows it to one partner (its ERP's company): ``Out``
  (a file it submitted, ``POST /v1/flows``) or ``In`` (an invoice or a life-cycle message
  made available to it). It keeps what the exchange does not: what the ERP declared
  (syntax, profile, processing rule, tracking id, name), the flow type, and the
  acknowledgement (``Pending``, ``Ok``, ``Error`` with its details). ``version`` counts the
  acknowledgement's changes: one webhook event per (webhook, flow, version).
* ``FlowWebhook``: a callback URL of one partner, with the filters the specification allows
  (flow types, direction, acknowledgement status) and the signing key the callbacks are
  signed with (returned once, at creation; hidden from ``repr``). A deleted webhook is kept
  (``deleted_at``) with its events, for the record.
* ``WebhookEvent``: one callback owed: the Flow JSON as signed and sent (the same bytes at
  every attempt), its status (``pending`` → ``sending`` → ``delivered``, or ``failed`` after
  bounded attempts), and each ``WebhookAttempt`` on record (when, HTTP status or error).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, one_of, utcnow
from .exchanges import Exchange
from .partners import Partner

FLOW_DIRECTIONS = ("In", "Out")
ACK_STATUSES = ("Pending", "Ok", "Error")
EVENT_STATUSES = ("pending", "sending", "delivered", "failed")


class Flow(Base):
    __tablename__ = "flows"
    __table_args__ = (
        one_of("direction", FLOW_DIRECTIONS, "direction"),
        one_of("ack_status", ACK_STATUSES, "ack_status"),
        sa.Index(None, "partner_id", "updated_at", "id"),       # search: one partner's, by update time
        sa.Index(None, "partner_id", "tracking_id"),
        sa.Index(None, "ack_status", "direction"),              # the sweep: pending acknowledgements
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exchange_id: Mapped[int] = mapped_column(sa.ForeignKey("exchanges.id"), unique=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(sa.String(3))
    flow_type: Mapped[str] = mapped_column(sa.String(40))
    flow_syntax: Mapped[str] = mapped_column(sa.String(16))
    flow_profile: Mapped[str] = mapped_column(sa.String(20))
    processing_rule: Mapped[str] = mapped_column(sa.String(16))
    processing_rule_source: Mapped[str] = mapped_column(sa.String(8))      # Input or Computed
    tracking_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(255))
    ack_status: Mapped[str] = mapped_column(sa.String(8))
    ack_details: Mapped[list[Any]] = mapped_column(default=list)          # [AcknowledgementDetail, ...]
    version: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    exchange: Mapped[Exchange] = relationship()
    partner: Mapped[Partner] = relationship()

    def __repr__(self) -> str:
        return f"<Flow {self.id} {self.direction} {self.flow_type} {self.ack_status} exchange={self.exchange_id}>"


class FlowWebhook(Base):
    __tablename__ = "flow_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    callback_url: Mapped[str] = mapped_column(sa.String(2000))
    flow_types: Mapped[Optional[list[Any]]] = mapped_column()              # None: every type
    flow_direction: Mapped[Optional[str]] = mapped_column(sa.String(3))    # None: both
    ack_status: Mapped[Optional[str]] = mapped_column(sa.String(8))        # None: any
    signing_key: Mapped[str] = mapped_column(sa.String(100))             # base64 of 32 random bytes
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[Optional[datetime]]

    partner: Mapped[Partner] = relationship()

    def matches(self, flow: Flow) -> bool:
        """Whether an event of ``flow`` is for this webhook (its filters; none set: every flow)."""
        return (self.deleted_at is None
                and (not self.flow_types or flow.flow_type in self.flow_types)
                and (self.flow_direction is None or flow.direction == self.flow_direction)
                and (self.ack_status is None or flow.ack_status == self.ack_status))

    def __repr__(self) -> str:          # never the signing key
        return f"<FlowWebhook {self.uid} partner={self.partner_id}>"


class WebhookEvent(Base):
    __tablename__ = "flow_webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("webhook_id", "flow_id", "version"),       # one event per change of a flow
        one_of("status", EVENT_STATUSES, "status"),
        sa.Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("flow_webhooks.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(sa.ForeignKey("flows.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    body: Mapped[str] = mapped_column(sa.Text)          # the Flow JSON as signed and sent
    status: Mapped[str] = mapped_column(sa.String(12))
    status_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[Optional[str]] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    next_attempt_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[Optional[datetime]]

    webhook: Mapped[FlowWebhook] = relationship()
    flow: Mapped[Flow] = relationship()
    history: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="(WebhookAttempt.at, WebhookAttempt.id)")

    def __repr__(self) -> str:
        return f"<WebhookEvent {self.id} flow={self.flow_id} v{self.version} {self.status}>"


class WebhookAttempt(Base):
    """One attempt at a callback: when, the HTTP status answered, or why there was none."""
    __tablename__ = "flow_webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("flow_webhook_events.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)          # Afnor-Signature-Timestamp sent
    status_code: Mapped[Optional[int]]
    error: Mapped[Optional[str]] = mapped_column(sa.Text)

    event: Mapped[WebhookEvent] = relationship(back_populates="history")

    def __repr__(self) -> str:
        return f"<WebhookAttempt {self.event_id} {self.status_code or self.error}>"
