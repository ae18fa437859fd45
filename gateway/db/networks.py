"""Other e-invoicing networks we are interconnected with, and who can be reached through them.

* ``Network``: another platform or access point. Its transport endpoint is a
  ``Partner`` row (AS2 or SFTP settings, certificates: the transports already
  know partners), plus the syntaxes it accepts and where its participant
  directory is published.
* ``NetworkParticipant``: one identifier (scheme + value) listed in a network's
  directory. Routing looks a recipient up here when no partner of ours has it;
  onboarding does not invite a counterparty already listed.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, utcnow
from .partners import Partner


class Network(Base):
    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)          # e.g. "PEPPOL-AP-X", "PDP-ACME"
    name: Mapped[str] = mapped_column(sa.String(200))
    # The access point we deliver to: a partner with the AS2 or SFTP settings and certificates.
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id"), index=True)
    formats: Mapped[list[Any]] = mapped_column(default=list)                # accepted syntaxes, preferred first
    # How the recipient is addressed to it (e.g. {"endpoint": "BT-49"}): read by the channel.
    addressing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    directory_source: Mapped[Optional[str]] = mapped_column(sa.String(1000))   # a path or an http(s) URL
    directory_format: Mapped[str] = mapped_column(sa.String(16), default="csv", server_default="csv")
    refresh_interval_seconds: Mapped[int] = mapped_column(default=86400, server_default=sa.text("86400"))
    refreshed_at: Mapped[Optional[datetime]]
    refresh_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    participant_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    partner: Mapped[Partner] = relationship()
    participants: Mapped[list[NetworkParticipant]] = relationship(
        back_populates="network", cascade="all, delete-orphan", passive_deletes=True)

    def __repr__(self) -> str:
        return f"<Network {self.id} {self.code!r}>"


class NetworkParticipant(Base):
    __tablename__ = "network_participants"
    __table_args__ = (
        sa.UniqueConstraint("network_id", "scheme", "value"),
        sa.Index(None, "scheme", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(sa.ForeignKey("networks.id", ondelete="CASCADE"))
    scheme: Mapped[str] = mapped_column(sa.String(16))        # normalised like PartnerIdentifier
    value: Mapped[str] = mapped_column(sa.String(256))
    name: Mapped[Optional[str]] = mapped_column(sa.String(500))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)   # the refresh that last listed it

    network: Mapped[Network] = relationship(back_populates="participants")

    def __repr__(self) -> str:
        return f"<NetworkParticipant {self.scheme}:{self.value} in {self.network_id}>"
