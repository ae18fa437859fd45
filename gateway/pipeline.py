"""The one path every received document takes: detect → read → validate → route → write → deliver.

``process_exchange`` works on an inbound exchange that is ``acknowledged`` (its
bytes are durable). The slow, pure part (reading, checking, writing each
recipient's format, storing renderings in the content-addressed store) runs
outside any transaction; then one short transaction claims the exchange
(compare-and-set ``acknowledged`` → ``processed``) and records documents,
renderings, deliveries and the outbound exchanges together. A crash anywhere
before that commit leaves the exchange ``acknowledged`` for the sweep; a second
worker racing the first finds the claim taken and records nothing: a file is
never processed twice.

Outcomes are on record, never only in a log: an unreadable file makes the
exchange ``rejected`` with the reason and its place in the file; a document
with fatal findings is ``invalid`` with every finding (rule id, business
terms, location); a document nobody is known by is ``held`` with the
identifiers that were tried; a same seller + number + year as an earlier valid
document is ``duplicate`` (an invalid one was never accepted: its corrected resend
under the same number goes through).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Optional

import sqlalchemy as sa

from .db import Delivery, DocumentRecord, Exchange, ExchangeEvent, Partner, RenderingRecord, utcnow
from .errors import EdigateError
from .filenames import safe_filename
from .findings import FATAL, Finding
from .formats import EXTENSIONS, read_documents, validate_document, write_document
from .routing import resolve

log = logging.getLogger("edigate.pipeline")

DEFAULT_FORMAT = "ubl"        # what a recipient gets when it has not said
DEFAULT_CHANNEL = "as2"
DELIVERABLE_CHANNELS = ("as2", "sftp")


@dataclass
class _Planned:
    """One document of the file, understood and (when deliverable) written for its recipient."""
    position: int
    doc: object
    findings: list[Finding]
    recipient_id: Optional[int] = None
    route_reason: str = ""
    format: Optional[str] = None
    channel: Optional[str] = None
    rendering: object = None
    rendering_key: Optional[str] = None
    rendering_error: Optional[str] = None
    extra_findings: list[Finding] = field(default_factory=list)


def awaiting_processing(gw, *, before: datetime) -> list[int]:
    """Inbound exchanges acknowledged before ``before`` and still unprocessed (for the sweep)."""
    with gw.session() as s:
        return list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "in", Exchange.status == "acknowledged", Exchange.status_at < before)))


def _claim(s, exchange_id: int, status: str, reason: str, now: datetime) -> bool:
    n = s.execute(sa.update(Exchange)
                  .where(Exchange.id == exchange_id, Exchange.status == "acknowledged")
                  .values(status=status, status_at=now, reason=reason)
                  .execution_options(synchronize_session=False)).rowcount
    if n != 1:
        return False
    s.add(ExchangeEvent(exchange_id=exchange_id, status=status, at=now, reason=reason))
    return True


def _filename(number: Optional[str], syntax: str, fallback: str) -> str:
    return safe_filename(number, fallback) + EXTENSIONS.get(syntax, ".dat")


def _plan(gw, docs) -> list[_Planned]:
    """Check every document, find its recipient, write it in the recipient's format (pure work,
    plus content-addressed payload puts, which are idempotent)."""
    planned = [_Planned(i, d, validate_document(d)) for i, d in enumerate(docs)]
    with gw.session() as s:
        for p in planned:
            if any(f.severity == FATAL for f in p.findings):
                continue
            route = resolve(s, p.doc.invoice)
            p.route_reason = route.reason
            if route.partner is not None:
                p.recipient_id = route.partner.id
                p.format = route.partner.preferred_format or DEFAULT_FORMAT
                p.channel = route.partner.preferred_channel or DEFAULT_CHANNEL
    for p in planned:
        if p.recipient_id is None:
            continue
        try:
            r = write_document(p.doc.invoice, p.format, validate=True)
        except Exception as e:
            p.rendering_error = f"cannot write {p.format}: {type(e).__name__}: {e}"
            continue
        if any(f.severity == FATAL for f in r.findings):
            p.rendering_error = f"the {p.format} written does not pass its checks: " + \
                "; ".join(f"{f.rule}: {f.message}" for f in r.findings if f.severity == FATAL)[:1000]
        p.rendering, p.rendering_key = r, gw.payloads.put(r.data).key
    return planned


def process_exchange(gw, exchange_id: int) -> Optional[str]:
    """Process one acknowledged inbound exchange; returns its final status, or None when it was
    not ours to process (already done, not inbound, not acknowledged)."""
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex is None or ex.direction != "in" or ex.status != "acknowledged":
            return None
        content_key, filename = ex.content_sha256, ex.filename
    now = utcnow()
    try:
        data = gw.payloads.get(content_key)
        docs = read_documents(data)
        if not docs:
            raise EdigateError("the file holds no invoice")
    except EdigateError as e:
        where = f" in {PurePosixPath(filename).name}" if filename else ""
        with gw.session() as s:
            if _claim(s, exchange_id, "rejected", f"unreadable{where}: {e}", now):
                return "rejected"
        return None
    except Exception as e:          # a bug of ours: keep the exchange for an operator's retry
        log.exception("processing exchange %s failed", exchange_id)
        with gw.session() as s:
            if _claim(s, exchange_id, "failed", f"internal error while reading: {type(e).__name__}: {e}", now):
                return "failed"
        return None

    try:
        planned = _plan(gw, docs)
    except Exception as e:          # a bug of ours while checking/routing/writing: on record, retryable
        log.exception("processing exchange %s failed", exchange_id)
        with gw.session() as s:
            if _claim(s, exchange_id, "failed", f"internal error while checking or routing: "
                                                 f"{type(e).__name__}: {e}", now):
                return "failed"
        return None

    sends: list[int] = []
    with gw.session() as s:
        fatal_of = [sum(1 for f in p.findings if f.severity == FATAL) for p in planned]
        accepted = sum(1 for n in fatal_of if n == 0)
        if accepted == 0:
            status = "rejected"
            first = next((f for p in planned for f in p.findings if f.severity == FATAL), None)
            reason = (f"{len(planned)} document(s), none valid: {sum(fatal_of)} fatal finding(s)"
                      + (f", first {first.rule}: {first.message}" if first else ""))
        else:
            status = "processed"
            reason = f"{len(planned)} document(s): {accepted} valid, {len(planned) - accepted} invalid"
        if not _claim(s, exchange_id, status, reason[:2000], now):
            s.rollback()
            return None
        ex = s.get(Exchange, exchange_id)
        records = [(p, DocumentRecord.from_invoice(p.doc.invoice, syntax=p.doc.syntax, mapping=p.doc.mapping,
                                                   exchange=ex, findings=p.findings, position=p.position))
                   for p in planned]
        s.add_all([rec for _, rec in records])
        for p, rec in records:
            if not rec.valid:
                continue
            s.flush()
            earlier = s.scalar(DocumentRecord.duplicates_of(rec).where(DocumentRecord.valid.is_(True))
                               .limit(1)) if rec.duplicate_key else None
            if earlier is not None:
                rec.status, rec.duplicate_of = "duplicate", earlier
                rec.findings = rec.findings + [Finding(
                    "DUPLICATE", f"same seller, number {rec.number} and year as document {earlier.id}",
                    terms=("BT-1", "BT-2"), severity="warning").as_dict()]
                continue
            if p.recipient_id is None:
                rec.status = "held"
                rec.findings = rec.findings + [Finding("ROUTE", p.route_reason, severity="warning",
                                                       terms=("BT-49", "BT-46", "BT-47", "BT-48")).as_dict()]
                continue
            recipient = s.get(Partner, p.recipient_id)
            rec.recipient = recipient
            delivery = Delivery.new(rec, recipient, format=p.format, channel=p.channel, at=now)
            s.add(delivery)
            if p.rendering is None or p.rendering_error:
                if p.rendering is not None:
                    delivery.rendering = RenderingRecord.from_rendering(
                        p.rendering, payload_key=p.rendering_key, size=len(p.rendering.data), document=rec)
                delivery.set_status("failed", p.rendering_error, at=now)
                rec.status = "failed"
                continue
            rendering = RenderingRecord.from_rendering(p.rendering, payload_key=p.rendering_key,
                                                       size=len(p.rendering.data), document=rec)
            delivery.rendering = rendering
            rec.status = "routed"
            if p.channel not in DELIVERABLE_CHANNELS:
                delivery.note(f"{p.route_reason}; channel {p.channel} has no sender yet: waiting", at=now)
                continue
            out = Exchange.outbound(p.channel, partner_id=recipient.id, at=now,
                                    filename=_filename(rec.number, p.format, f"document-{exchange_id}-{p.position}"),
                                    content_type=p.rendering.media_type,
                                    content_sha256=p.rendering_key, content_size=len(p.rendering.data))
            s.add(out)
            s.flush()
            delivery.exchange_id = out.id
            delivery.note(f"{p.route_reason}; as {p.format} over {p.channel} (exchange {out.id})", at=now)
            sends.append(out.id)
    for out_id in sends:
        gw.jobs.send(out_id)
    return status
