"""Entries from the records: every payload a record names, appended to the chain once.

Why a catch-up from the records rather than an append beside every ``put``: payloads are put
by a dozen places (each channel's inbound and outbound side, renderings, status reports, MDNs
and receipts), and the chain is one sequence with one head. Appending inside each of those
transactions would make every receipt wait for the head (one writer at a time, a retry on
every race) and would put archive code into every channel. The records already name each
payload they hold (an exchange: its content, its raw message, its MDN or receipt; a rendering:
its bytes), so the sweep reads them from where it stopped (a cursor per table on the time a
row last changed, ``ArchiveCursor``) and appends what the chain lacks. ``(kind, owner,
payload)`` is unique in the chain, so reading a row twice (a cursor held back, two workers)
adds nothing. The price: up to one sweep (a minute) between storing and archiving;
``edigate archive catch-up`` closes it on demand.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.db import Delivery, DocumentRecord, DocumentStatusEvent, Exchange, RenderingRecord
from gateway.db.archive import ArchiveCursor, ArchiveEntry
from gateway.store import PayloadNotFound
from .chain import NewEntry, append

log = logging.getLogger("edigate.archive")

# The cursor never passes now - LAG: a row whose transaction committed after a later one had
# been read is read again (its entries are then added; the others are already there).
LAG = timedelta(minutes=5)
BATCH = 500
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _exchange_entries(s: Session, rows: list[Exchange]) -> list[NewEntry]:
    ids = [ex.id for ex in rows if ex.direction == "out"]
    status_doc = dict(s.execute(sa.select(DocumentStatusEvent.report_exchange_id, DocumentStatusEvent.document_id)
                                .where(DocumentStatusEvent.report_exchange_id.in_(ids))).all()) if ids else {}
    sent_doc = dict(s.execute(sa.select(Delivery.exchange_id, Delivery.document_id)
                              .where(Delivery.exchange_id.in_(ids))).all()) if ids else {}
    out: list[NewEntry] = []
    for ex in rows:
        owner = f"exchange:{ex.id}"
        if ex.direction == "in":
            kind, doc = "original", None
        elif ex.id in status_doc:
            kind, doc = "status", status_doc[ex.id]
        else:
            kind, doc = "sent", sent_doc.get(ex.id)
        for k, key in ((kind, ex.content_sha256),
                       ("message", ex.payload_key if ex.payload_key != ex.content_sha256 else None),
                       ("receipt", ex.mdn_payload_key)):
            if key:
                out.append(NewEntry(k, key, -1, owner, exchange_id=ex.id, document_id=doc))
    return out


def _rendering_entries(s: Session, rows: list[RenderingRecord]) -> list[NewEntry]:
    exchange_of = dict(s.execute(sa.select(DocumentRecord.id, DocumentRecord.exchange_id).where(
        DocumentRecord.id.in_({r.document_id for r in rows}))).all()) if rows else {}
    return [NewEntry("rendering", r.payload_key, -1, f"rendering:{r.id}", exchange_id=exchange_of.get(r.document_id),
                     document_id=r.document_id) for r in rows]


# name: (model, the time a row last changed, what excludes a row, its entries)
SOURCES: dict[str, tuple] = {
    "exchanges": (Exchange, Exchange.updated_at, Exchange.refused.is_(False), _exchange_entries),
    "renderings": (RenderingRecord, RenderingRecord.created_at, sa.true(), _rendering_entries),
}


def _batch(gw, name: str, now: datetime) -> tuple[int, bool]:
    """One batch of one source in one transaction: (entries added, whether more is waiting)."""
    model, changed, keep, entries_of = SOURCES[name]
    with gw.session() as s:
        cursor = s.get(ArchiveCursor, name) or ArchiveCursor(source=name, at=EPOCH, last_id=0)
        rows = s.scalars(sa.select(model).where(keep, sa.or_(
            changed > cursor.at, sa.and_(changed == cursor.at, model.id > cursor.last_id)))
            .order_by(changed, model.id).limit(BATCH)).all()
        if not rows:
            return 0, False
        wanted = entries_of(s, rows)
        owners = {e.owner for e in wanted}
        have = set(s.execute(sa.select(ArchiveEntry.kind, ArchiveEntry.owner, ArchiveEntry.sha256)
                             .where(ArchiveEntry.owner.in_(owners))).all()) if owners else set()
        new = []
        for e in wanted:
            if (e.kind, e.owner, e.sha256) in have:
                continue
            have.add((e.kind, e.owner, e.sha256))
            try:
                size = gw.payloads.size(e.sha256)
            except PayloadNotFound:
                log.warning("archive: %s names payload %s (%s), which the store does not hold", e.owner, e.sha256,
                            e.kind)
                continue
            new.append(NewEntry(e.kind, e.sha256, size, e.owner, e.exchange_id, e.document_id))
        append(s, new, at=now)
        last = rows[-1]
        last_at = getattr(last, changed.key)
        limit = now - LAG
        if last_at < limit:
            cursor.at, cursor.last_id = last_at, last.id
        elif cursor.at < limit:
            cursor.at, cursor.last_id = limit, 0
        s.merge(cursor)
        return len(new), len(rows) == BATCH and last_at < limit


def catch_up(gw, *, now: Optional[datetime] = None, max_batches: int = 40,
             sources: Optional[list[str]] = None) -> int:
    """Append what the records name and the chain lacks; the number of entries added. A race
    with another worker appending (the same sequence number) leaves the rest to the next run."""
    now = now or datetime.now(timezone.utc)
    added = 0
    for name in sources or list(SOURCES):
        for _ in range(max_batches):
            try:
                n, more = _batch(gw, name, now)
            except IntegrityError:
                log.info("archive catch-up of %s met another writer; the next sweep goes on", name)
                return added
            added += n
            if not more:
                break
    return added


def reset(gw) -> None:
    """Read every record again from the start (``edigate archive catch-up --all``)."""
    with gw.session() as s:
        s.execute(sa.delete(ArchiveCursor))


