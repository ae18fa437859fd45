"""The dashboard's exception queue: what waits for a person, how long it has waited, what can be done.

Each kind of exception is a row of ``KINDS`` (data, not code paths): which records it
lists, since when each has waited, and which actions it allows. The actions are the
services the rest of the gateway uses (``Gateway.retry_exchange``, ``flow.redeliver``,
``operator.held`` for a held invoice); ``acknowledge`` takes an item off the queue with
who and when on record (``db.Acknowledgement`` and the audit trail). An acknowledgement
is of one state: a record that fails again later is back on the queue.

Every list is bounded (``PER_KIND`` rows each, the oldest first: those have waited
longest), and counted, so the page says when there is more than it shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ...db import Acknowledgement, Delivery, DocumentRecord, Exchange, utcnow
from ...db import audit

PER_KIND = 50


@dataclass(frozen=True)
class Kind:
    """One kind of exception: ``model`` rows matching ``where``, waiting since ``since``."""
    name: str
    model: Any
    where: Callable[[], Any]
    since: Callable[[], Any]
    actions: tuple[str, ...]


def _outbound_not_delivery() -> Any:
    """Failed or refused sends that are no delivery's (status messages: APERAK, CDAR…). A delivery's
    send is the delivery's business: listed as the failed delivery, and moot once it is redelivered."""
    of_delivery = sa.exists().where(Delivery.exchange_id == Exchange.id)
    return sa.and_(Exchange.direction == "out", Exchange.status.in_(("failed", "rejected")), ~of_delivery)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("rejected_file", Exchange, lambda: sa.and_(Exchange.direction == "in", Exchange.status == "rejected"),
         lambda: Exchange.status_at, ("acknowledge",)),
    Kind("inbound_failed", Exchange, lambda: sa.and_(Exchange.direction == "in", Exchange.status == "failed"),
         lambda: Exchange.status_at, ("retry", "acknowledge")),
    Kind("held", DocumentRecord, lambda: DocumentRecord.status == "held",
         lambda: DocumentRecord.created_at, ("assign", "create_partner", "propose", "acknowledge")),
    Kind("duplicate", DocumentRecord, lambda: DocumentRecord.status == "duplicate",
         lambda: DocumentRecord.created_at, ("acknowledge",)),
    Kind("delivery_failed", Delivery, lambda: Delivery.status == "failed",
         lambda: Delivery.status_at, ("redeliver", "retry", "acknowledge")),
    Kind("send_failed", Exchange, _outbound_not_delivery, lambda: Exchange.status_at, ("retry", "acknowledge")),
    Kind("refused", DocumentRecord, lambda: DocumentRecord.business_status == "refused",
         lambda: DocumentRecord.business_status_at, ("acknowledge",)),
    Kind("disputed", DocumentRecord, lambda: DocumentRecord.business_status == "disputed",
         lambda: DocumentRecord.business_status_at, ("acknowledge",)),
)}


@dataclass
class Item:
    kind: str
    record: Any
    since: datetime
    actions: tuple[str, ...]

    @property
    def id(self) -> int:
        return self.record.id

    def age(self, now: datetime) -> str:
        return age(now - self.since)


def age(delta) -> str:
    """'4 min', '3 h', '2 d': how long something has waited, to the unit that matters (in the page's language)."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 3600:
        return _("%(n)s min", n=max(seconds // 60, 1))
    if seconds < 2 * 86400:
        return _("%(n)s h", n=seconds // 3600)
    return _("%(n)s d", n=seconds // 86400)


def _open(kind: Kind) -> Any:
    """Rows of ``kind`` not acknowledged in their current state."""
    acked = sa.exists().where(Acknowledgement.kind == kind.name, Acknowledgement.subject_id == kind.model.id,
                              Acknowledgement.since >= kind.since())
    return sa.and_(kind.where(), ~acked)


@dataclass
class Queue:
    items: list[Item]
    counts: dict[str, int]           # open items of each kind (those shown are at most PER_KIND)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def load(s: Session, *, per_kind: int = PER_KIND) -> Queue:
    """The open exceptions, each kind's oldest first, all sorted by how long they have waited."""
    items: list[Item] = []
    counts: dict[str, int] = {}
    for kind in KINDS.values():
        condition = _open(kind)
        counts[kind.name] = s.scalar(sa.select(sa.func.count()).select_from(kind.model).where(condition)) or 0
        if not counts[kind.name]:
            continue
        since = kind.since()
        rows = s.execute(sa.select(kind.model, since).where(condition)
                         .order_by(since.asc(), kind.model.id.asc()).limit(per_kind)).all()
        items += [Item(kind.name, record, at, kind.actions) for record, at in rows]
    items.sort(key=lambda i: (i.since, i.kind, i.id))
    return Queue(items, counts)


class NotOpen(LookupError):
    """The item is not (or no longer) on the queue."""


def current_since(s: Session, kind_name: str, subject_id: int) -> datetime:
    """When the record ``subject_id`` entered the state that puts it on the queue as ``kind_name``."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise NotOpen(f"unknown kind {kind_name!r}")
    since = s.scalar(sa.select(kind.since()).where(kind.model.id == subject_id, kind.where()))
    if since is None:
        raise NotOpen(f"{kind_name} {subject_id} is not waiting any more")
    return since


def acknowledge(s: Session, kind_name: str, subject_id: int, by: str, note: Optional[str] = None,
                *, now: Optional[datetime] = None) -> Acknowledgement:
    """Take an item off the queue, on record; ``NotOpen`` when it is not there (any more)."""
    since = current_since(s, kind_name, subject_id)
    done = s.scalar(sa.select(Acknowledgement).where(Acknowledgement.kind == kind_name,
                                                     Acknowledgement.subject_id == subject_id,
                                                     Acknowledgement.since == since))
    if done is not None:
        return done
    now = now or utcnow()
    ack = Acknowledgement(kind=kind_name, subject_id=subject_id, since=since, by=by, at=now,
                          note=(note or "").strip()[:1000] or None)
    s.add(ack)
    subject = "delivery" if KINDS[kind_name].model is Delivery else \
        "exchange" if KINDS[kind_name].model is Exchange else "document"
    audit.record(s, by, "exception.acknowledge", subject, subject_id,
                 f"acknowledged the {kind_name.replace('_', ' ')} exception of {subject} {subject_id}",
                 {"kind": kind_name, "since": since.isoformat(), "note": ack.note}, at=now)
    s.flush()
    return ack
