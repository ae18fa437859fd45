"""The anomaly and fraud controls' records (``gateway.controls`` decides; these remember).

* ``ControlFacts``: what the controls learn from each accepted invoice (supplier key, amount,
  currency, issue date, number, bank accounts BT-84, VAT rates BT-119): a supplier's history is
  its last rows here, read by one indexed, limited query, never by re-reading files.
* ``SupplierAccount``: a bank account on record for a supplier, learned from its first invoice
  that named one, confirmed by an operator after a change, or set by an operator. A retired
  account (``retired_at``) is kept for the record.
* ``ControlHold``: an invoice a control holds until an operator confirms (the bank account
  changed): the evidence shown, who released it and when. An open hold keeps the document out
  of ``flow.reroute`` (held for a confirmation, not for an unknown recipient).
* ``ControlSetting``: one control's switch and thresholds for one organisation (a recipient
  partner) or, without a partner, for the whole gateway, over the defaults of
  ``gateway/controls/defaults.yaml``.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Amount, Base, utcnow

SUPPLIER_KEY_LENGTH = 300
ACCOUNT_SOURCES = ("learned", "confirmed", "operator")


class ControlFacts(Base):
    __tablename__ = "control_facts"
    __table_args__ = (
        sa.Index(None, "supplier_key", "id"),              # a supplier's last N invoices
        sa.Index(None, "supplier_key", "issue_date"),      # near-duplicates: a supplier's days around one
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), unique=True)
    supplier_key: Mapped[str] = mapped_column(sa.String(SUPPLIER_KEY_LENGTH))
    organisation_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id", ondelete="SET NULL"))
    number: Mapped[Optional[str]] = mapped_column(sa.String(200))
    issue_date: Mapped[Optional[date]]
    currency: Mapped[Optional[str]] = mapped_column(sa.String(3))
    amount: Mapped[Optional[Decimal]] = mapped_column(Amount)                 # BT-112
    accounts: Mapped[list[Any]] = mapped_column(default=list)                 # BT-84, normalised
    vat_rates: Mapped[list[Any]] = mapped_column(default=list)                # BT-119 as text ("20", "5.5")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<ControlFacts doc={self.document_id} {self.supplier_key!r} {self.amount}>"


class SupplierAccount(Base):
    __tablename__ = "supplier_accounts"
    __table_args__ = (sa.UniqueConstraint("supplier_key", "account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_key: Mapped[str] = mapped_column(sa.String(SUPPLIER_KEY_LENGTH), index=True)
    account: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(16))                        # ACCOUNT_SOURCES
    since: Mapped[datetime] = mapped_column(default=utcnow)
    document_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("documents.id", ondelete="SET NULL"))
    set_by: Mapped[Optional[str]] = mapped_column(sa.String(200))
    retired_at: Mapped[Optional[datetime]]

    def __repr__(self) -> str:
        return f"<SupplierAccount {self.supplier_key!r} …{self.account[-4:]} {self.source}>"


class ControlHold(Base):
    __tablename__ = "control_holds"
    __table_args__ = (sa.UniqueConstraint("document_id", "control"), sa.Index(None, "released_at", "opened_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"))
    control: Mapped[str] = mapped_column(sa.String(40))                       # the finding's rule id
    supplier_key: Mapped[str] = mapped_column(sa.String(SUPPLIER_KEY_LENGTH), index=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[Optional[datetime]]
    released_by: Mapped[Optional[str]] = mapped_column(sa.String(200))

    @staticmethod
    def open_document_ids() -> sa.Select[tuple[int]]:
        """The documents some control still holds (for ``flow.reroute`` to leave alone)."""
        return sa.select(ControlHold.document_id).where(ControlHold.released_at.is_(None))

    def __repr__(self) -> str:
        return f"<ControlHold doc={self.document_id} {self.control} {'open' if self.released_at is None else 'released'}>"


class ControlSetting(Base):
    __tablename__ = "control_settings"
    __table_args__ = (sa.UniqueConstraint("partner_id", "control"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id", ondelete="CASCADE"))
    control: Mapped[str] = mapped_column(sa.String(40))                       # a control's name (bank_account…)
    enabled: Mapped[Optional[bool]]                                           # None: as the level above
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[Optional[str]] = mapped_column(sa.String(200))

    def __repr__(self) -> str:
        return f"<ControlSetting {self.partner_id} {self.control} {self.enabled}>"
