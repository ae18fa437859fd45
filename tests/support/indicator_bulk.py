"""A large record for the indicators, written fast: exchanges, documents, deliveries and their
events, life-cycle events, inserted in bulk (Core ``insert`` with many rows at once, one
transaction) into a database the real migrations made.

The pipeline would take hours for 200,000 invoices; the indicators only read the record, so
this writes rows of the shapes the pipeline writes (an inbound exchange per document, a
delivery with ``pending`` then ``delivered`` events, ``accepted`` then ``paid`` for some, a few
refused or disputed, a few held, unreadable files as rejected exchanges without a document;
the columns the pipeline records once for the indicators: a document's channel, a delivery's
``received_at`` and ``reached_at``),
spread over ``days`` days up to ``today``. Deterministic for a seed, so a test can compare the
indicators with its own count of the same rows. Used by tests/integration/test_indicators_scale.py
and bench/indicators.py.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from gateway.db import (Delivery, DeliveryEvent, DocumentRecord, DocumentStatusEvent, Exchange, ExchangeEvent,
                        Partner)

UTC = timezone.utc
CHANNELS = ("api", "sftp", "as2", "peppol")
SYNTAXES = ("ubl", "cii", "edifact-d96a", "facturx")
CHUNK = 5_000


@dataclass
class Filled:
    partners: list[int]
    documents: int
    unreadable: int


def _chunks(rows: list[dict[str, Any]]):
    for i in range(0, len(rows), CHUNK):
        yield rows[i:i + CHUNK]


def fill(gw, n: int, *, today: date, days: int = 90, partners: int = 20, seed: int = 7) -> Filled:
    """``n`` received documents over the ``days`` days up to ``today`` (and n/50 unreadable files)."""
    rnd = random.Random(seed)
    with gw.session() as s:
        base = s.scalar(sa.select(sa.func.coalesce(sa.func.max(Partner.id), 0)))
        s.execute(sa.insert(Partner.__table__), [{"name": f"Bulk partner {base + i + 1}", "active": True}
                                                  for i in range(partners)])
        ids = list(s.scalars(sa.select(Partner.id).where(Partner.name.like("Bulk partner %")).order_by(Partner.id)))
        ex_start = s.scalar(sa.select(sa.func.coalesce(sa.func.max(Exchange.id), 0))) + 1
        doc_start = s.scalar(sa.select(sa.func.coalesce(sa.func.max(DocumentRecord.id), 0))) + 1
        dl_start = s.scalar(sa.select(sa.func.coalesce(sa.func.max(Delivery.id), 0))) + 1
        first = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)
        span = days * 86400 - 1
        exchanges, ex_events, documents, deliveries, dl_events, status_events = [], [], [], [], [], []
        unreadable = n // 50
        for i in range(n + unreadable):
            ex_id = ex_start + i
            at = first + timedelta(seconds=rnd.randrange(span))
            sender, recipient = rnd.choice(ids), rnd.choice(ids)
            readable = i < n
            ex_status = "processed" if readable else "rejected"
            channel = rnd.choice(CHANNELS)
            exchanges.append({"id": ex_id, "direction": "in", "channel": channel, "partner_id": sender,
                              "message_id": f"bulk-{ex_id}", "refused": False, "status": ex_status,
                              "status_at": at, "attempts": 0, "created_at": at, "updated_at": at})
            ex_events.append({"exchange_id": ex_id, "status": ex_status, "at": at})
            if not readable:
                continue
            doc_id = doc_start + i
            valid = rnd.random() >= 0.05
            held = valid and rnd.random() < 0.01
            issued = at.date() - timedelta(days=rnd.randrange(1, 20))
            due = issued + timedelta(days=30)
            business = None
            if valid and not held:
                roll = rnd.random()
                business = ("paid" if roll < 0.3 else "refused" if roll < 0.33 else "disputed" if roll < 0.34
                            else "accepted" if roll < 0.6 else None)
            business_at = at + timedelta(days=rnd.randrange(0, 40)) if business else None
            documents.append({
                "id": doc_id, "exchange_id": ex_id, "channel": channel, "position": 0, "syntax": rnd.choice(SYNTAXES), "mapping": "bulk",
                "number": f"B-{doc_id}", "type_code": "380", "issue_date": issued, "due_date": due, "currency": "EUR",
                "line_count": 1, "sender_partner_id": sender, "recipient_partner_id": recipient, "valid": valid,
                "fatal_count": 0 if valid else 1, "warning_count": 0, "findings": [], "validation_profile": "en16931",
                "status": "held" if held else ("delivered" if valid else "invalid"), "business_status": business,
                "business_status_at": business_at, "created_at": at, "updated_at": at})
            if business == "paid":
                status_events.append({"document_id": doc_id, "status": "accepted", "at": business_at,
                                      "set_by": "bulk"})
            if business:
                status_events.append({"document_id": doc_id, "status": business, "at": business_at, "set_by": "bulk"})
            if valid and not held:
                dl_id = dl_start + len(deliveries)
                reached = at + timedelta(seconds=rnd.randrange(5, 7200))
                deliveries.append({"id": dl_id, "document_id": doc_id, "recipient_partner_id": recipient,
                                   "format": "ubl", "channel": rnd.choice(CHANNELS), "status": "delivered",
                                   "status_at": reached, "attempts": 1, "created_at": at, "updated_at": reached,
                                   "received_at": at, "reached_at": reached})
                dl_events.append({"delivery_id": dl_id, "status": "pending", "at": at})
                dl_events.append({"delivery_id": dl_id, "status": "delivered", "at": reached})
        for table, rows in ((Exchange, exchanges), (ExchangeEvent, ex_events), (DocumentRecord, documents),
                            (Delivery, deliveries), (DeliveryEvent, dl_events),
                            (DocumentStatusEvent, status_events)):
            for part in _chunks(rows):
                s.execute(sa.insert(table.__table__), part)
    return Filled(ids, n, unreadable)
