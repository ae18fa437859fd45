"""Who changed what, and which exceptions an operator has dealt with.

* ``AuditEvent``: one change made by a person (a partner's settings, a certificate
  imported or retired, a held invoice assigned, an exception acknowledged…), append-only:
  when, who (a username, or ``cli``/``api:<user>``), the action (``partner.update``,
  ``certificate.retire``…), what it was about (``subject_type`` + ``subject_id``), a one-line
  summary and the detail (the fields changed, never a secret).
* ``Acknowledgement``: an operator has seen an exception of the dashboard's queue and taken
  it off. It names the exception's kind, its record and the moment the record entered the
  state that made it an exception (``since``): the same record failing again later is a new
  exception and comes back on the queue.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, utcnow

MAX_SUMMARY = 500


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index(None, "subject_type", "subject_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64))
    subject_type: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[Optional[int]]
    summary: Mapped[str] = mapped_column(sa.String(MAX_SUMMARY))
    detail: Mapped[Optional[dict[str, Any]]]

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.subject_type}:{self.subject_id} by {self.actor}>"


def record(session: Session, actor: str, action: str, subject_type: str, subject_id: Optional[int], summary: str,
           detail: Optional[dict[str, Any]] = None, *, at: Optional[datetime] = None) -> AuditEvent:
    """Add one event to the trail (in the caller's transaction)."""
    event = AuditEvent(at=at or utcnow(), actor=actor[:200], action=action, subject_type=subject_type,
                       subject_id=subject_id, summary=summary[:MAX_SUMMARY], detail=detail)
    session.add(event)
    return event


def trail(subject_type: str, subject_id: int, limit: int = 50) -> sa.Select[tuple[AuditEvent]]:
    """The newest events about one record."""
    return (sa.select(AuditEvent).where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit))


class Acknowledgement(Base):
    __tablename__ = "acknowledgements"
    __table_args__ = (sa.UniqueConstraint("kind", "subject_id", "since"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))        # the queue's kind of exception
    subject_id: Mapped[int]                                  # the exchange, document or delivery
    since: Mapped[datetime]                                  # when it entered the state acknowledged
    by: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[Optional[str]] = mapped_column(sa.String(1000))

    def __repr__(self) -> str:
        return f"<Acknowledgement {self.kind}:{self.subject_id} by {self.by}>"


__all__ = ["AuditEvent", "Acknowledgement", "record", "trail"]
