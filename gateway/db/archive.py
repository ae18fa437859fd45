"""The archive's records: a hash chain over every archived payload, its seals, its cursors.

* ``ArchiveEntry``: one line of the tamper-evident log (``gateway.archive.chain`` computes
  and checks it): a sequence number, when, what kind of payload (original, rendering,
  receipt, status message…), the payload's SHA-256 and size, what it belongs to, the
  previous entry's hash and its own. Append-only: a deletion after retention is a new entry
  naming the one whose content went (``ref_seq``); the old entry stays.
  ``(kind, owner, sha256)`` is unique: archiving the same payload of the same record twice
  is a no-op, whatever the number of workers.
* ``ArchiveSeal``: an RFC 3161 time-stamp over the chain's head hash, the TSA's whole answer
  (``TimeStampResp``, DER) kept as it came.
* ``ArchiveCursor``: how far the catch-up has read each kind of record.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow


class ArchiveEntry(Base):
    __tablename__ = "archive_entries"
    __table_args__ = (sa.UniqueConstraint("kind", "owner", "sha256"), sa.UniqueConstraint("entry_hash"))

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    owner: Mapped[str] = mapped_column(sa.String(40), index=True)     # "exchange:12", "rendering:7", "entry:3"
    exchange_id: Mapped[Optional[int]]
    document_id: Mapped[Optional[int]]
    ref_seq: Mapped[Optional[int]]                                    # a deletion: the entry whose content went
    note: Mapped[Optional[str]] = mapped_column(sa.String(500))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64))

    def __repr__(self) -> str:
        return f"<ArchiveEntry #{self.seq} {self.kind} {self.sha256[:12]} {self.owner}>"


class ArchiveSeal(Base):
    __tablename__ = "archive_seals"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    head_seq: Mapped[int]
    head_hash: Mapped[str] = mapped_column(sa.String(64))
    tsa_url: Mapped[str] = mapped_column(sa.String(1000))
    gen_time: Mapped[datetime]                                        # the TSA's time (TSTInfo genTime)
    serial: Mapped[str] = mapped_column(sa.String(80))
    response: Mapped[bytes] = mapped_column(sa.LargeBinary)           # TimeStampResp, DER, as received

    def __repr__(self) -> str:
        return f"<ArchiveSeal {self.id} head #{self.head_seq} {self.gen_time.isoformat()}>"


class ArchiveCursor(Base):
    __tablename__ = "archive_cursors"

    source: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    at: Mapped[datetime]
    last_id: Mapped[int] = mapped_column(default=0)
