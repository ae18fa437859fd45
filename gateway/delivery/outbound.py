"""The outbound exchange a planned delivery travels in: named, stored, queued now.

Channels that carry a document as a file (AS2, SFTP, and a network over either)
record it the same way; the job queue is prompted with the exchange id once the
caller's transaction commits.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from gateway.db import Exchange
from gateway.delivery.channel import Channel, DeliveryPlan
from gateway.store.filenames import safe_filename
from gateway.syntaxes import extension


def filename_for(number: Optional[str], syntax: str, fallback: str) -> str:
    """``<invoice number>.<extension of the syntax>``, safe for every file system."""
    return safe_filename(number, fallback) + (extension(syntax) or ".dat")


def file_exchange(session: Any, delivery: Any, plan: DeliveryPlan, rec: Any, now: datetime, *,
                  fallback_name: str, note: str) -> int:
    """An outbound exchange on ``plan.transport`` carrying the delivery's first rendering,
    linked to ``delivery`` with ``note`` in its history; returns its id (to prompt)."""
    primary, key = plan.renderings[0]
    out = Exchange.outbound(plan.transport, partner_id=plan.recipient_id, at=now,
                            filename=filename_for(rec.number, plan.syntaxes[0], fallback_name),
                            content_type=primary.media_type, content_sha256=key, content_size=len(primary.data))
    session.add(out)
    session.flush()
    delivery.exchange_id = out.id
    delivery.note(f"{note} (exchange {out.id})", at=now)
    return out.id


class FileChannel(Channel):
    """A channel that carries the delivery's rendering as one file in an exchange of its own
    (AS2, SFTP): planned over itself, recorded as that exchange."""

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.transport = self.name
        return plan

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        how = "" if plan.channel != self.name else f"; as {plan.format} over {plan.transport}"
        return [file_exchange(session, delivery, plan, rec, now, fallback_name=fallback_name,
                              note=f"{plan.reason}{how}")]
