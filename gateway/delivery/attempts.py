"""Send: an outbound exchange is a durable job that ends acknowledged, or failed with its reason.

``send_exchange`` claims a due exchange (compare-and-set ``queued``/``retrying`` →
``sending``, so two workers never send it at once), builds the AS2 message (the
Message-ID is fixed at the first attempt and reused by every retry: a receiver
that has it answers ``duplicate-document``), keeps the raw message, posts it
and judges the MDN. Failures that may pass (network, 5xx, no MDN in time) are
retried with backoff up to a bound; the rest fail at once. Never "sent" on a
failure, never "acknowledged" without a signed MDN proving our MIC.
The same claim, retries and backoff carry SFTP (``sftp_outbox.deliver``) and e-mail
(``channels.email.deliver``); an e-mail a dead worker may already have handed to the
SMTP server is failed with that reason instead of being resent unasked (``due_sends``).

Per-partner switches live in ``Partner.as2_options``: ``retry_backoff_seconds``
(list), ``max_attempts``, ``mdn_timeout_minutes`` (async), ``duplicate_unproven``
(``fail`` — default — or ``accept``): what a ``duplicate-document`` MDN without
our MIC means (django-pyas2 answers so even when the first copy had failed).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Optional

import sqlalchemy as sa

from gateway.channels.email import handed_off
from gateway.db import Delivery, DocumentRecord, Exchange, Partner, utcnow
from gateway.partners.as2_settings import Directory
from gateway.transports.as2 import As2SendError, AwaitingAsyncMdn, MdnResult, build, send

log = logging.getLogger("edigate.outbox")

BACKOFF_SECONDS = (60, 300, 900, 3600, 14400)
MAX_ATTEMPTS = 6
MDN_TIMEOUT_MINUTES = 60.0
SENDING_LEASE = timedelta(minutes=15)      # a "sending" row older than this lost its worker

# Exchange status → the status its delivery follows with.
_DELIVERY_STATUS = {"sending": "sending", "awaiting_mdn": "awaiting_ack", "acknowledged": "acknowledged",
                    "sent": "delivered", "retrying": "retrying", "failed": "failed", "rejected": "failed",
                    "queued": "pending"}


def _options(partner: Optional[Partner]) -> dict:
    return dict(partner.as2_options or {}) if partner is not None else {}


def _backoff(partner: Optional[Partner], attempt: int) -> timedelta:
    steps = _options(partner).get("retry_backoff_seconds") or BACKOFF_SECONDS
    return timedelta(seconds=float(steps[min(attempt - 1, len(steps) - 1)]))


def _max_attempts(partner: Optional[Partner]) -> int:
    return int(_options(partner).get("max_attempts") or MAX_ATTEMPTS)


def set_status(ex: Exchange, status: str, reason: Optional[str] = None, *, at: Optional[datetime] = None) -> None:
    """Set the exchange status and let its deliveries and documents follow."""
    ex.set_status(status, reason, at=at)
    s = sa.orm.object_session(ex)
    follow = _DELIVERY_STATUS.get(status)
    if s is None or follow is None:
        return
    for d in s.scalars(sa.select(Delivery).where(Delivery.exchange_id == ex.id)):
        if d.status != follow and follow in d.TRANSITIONS.get(d.status, ()):
            d.set_status(follow, reason, at=at)
            d.attempts = ex.attempts
            follow_document(d.document)


def follow_document(doc: DocumentRecord) -> None:
    """The document's status from its deliveries'; the first delivery to reach its recipient
    makes the document ``received`` in its life cycle."""
    statuses = {d.status for d in doc.deliveries}
    if statuses and statuses <= {"acknowledged", "delivered"}:
        doc.status = "delivered"
    elif "failed" in statuses:
        doc.status = "failed"
    elif doc.status in ("delivered", "failed"):
        doc.status = "routed"
    reached = next((d for d in doc.deliveries if d.status in ("delivered", "acknowledged")), None)
    session = sa.orm.object_session(doc)
    if reached is not None and session is not None and doc.business_status in (None, "deposited"):
        from gateway.delivery.state import mark_received
        mark_received(session, doc, reached, at=reached.status_at)


def claim(gw, exchange_id: int, *, now: Optional[datetime] = None) -> bool:
    """Compare-and-set a due outbound exchange to ``sending``; False if someone else has it or
    it is not due yet (a prompt that comes early sends nothing)."""
    now = now or utcnow()
    with gw.session() as s:
        n = s.execute(sa.update(Exchange)
                      .where(Exchange.id == exchange_id, Exchange.direction == "out",
                             Exchange.status.in_(("queued", "retrying")),
                             sa.or_(Exchange.next_attempt_at.is_(None), Exchange.next_attempt_at <= now))
                      .values(status="sending", status_at=now, attempts=Exchange.attempts + 1,
                              reason=None)
                      .execution_options(synchronize_session=False)).rowcount
        if n != 1:
            return False
        ex = s.get(Exchange, exchange_id)
        ex.history.append(ex._event("sending", now, f"attempt {ex.attempts}"))
        for d in s.scalars(sa.select(Delivery).where(Delivery.exchange_id == ex.id)):
            if "sending" in d.TRANSITIONS.get(d.status, ()):
                d.set_status("sending", f"attempt {ex.attempts}", at=now)
    return True


def send_exchange(gw, exchange_id: int, *, now: Optional[datetime] = None) -> Optional[str]:
    """One attempt at an outbound exchange; returns its status afterwards (None: not ours to send:
    taken by another worker, settled, or not due ``now``). The channel decides how: AS2 here,
    SFTP in ``sftp_outbox``, e-mail in ``channels.email``."""
    if not claim(gw, exchange_id, now=now):
        return None
    with gw.session() as s:
        channel = s.get(Exchange, exchange_id).channel
    if channel == "as2":
        return _send_as2(gw, exchange_id)
    if channel == "sftp":
        from gateway.channels.sftp_out import deliver
        return deliver(gw, exchange_id)
    if channel == "email":
        from gateway.channels.email import deliver as deliver_mail
        return deliver_mail(gw, exchange_id)
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        set_status(ex, "failed", f"channel {channel} has no sender")
        return ex.status


def settle_failure(gw, exchange_id: int, message: str, *, retryable: bool) -> str:
    """After a failed attempt: ``retrying`` with the partner's backoff while attempts remain and
    the failure may pass, else ``failed`` with the reason. Schedules the next attempt."""
    now = utcnow()
    retry_at = None
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        attempts, max_attempts = ex.attempts, _max_attempts(ex.partner)
        if retryable and attempts < max_attempts:
            retry_at = now + _backoff(ex.partner, attempts)
            ex.next_attempt_at = retry_at
            set_status(ex, "retrying", f"attempt {attempts} of {max_attempts}: {message}; "
                                 f"next at {retry_at:%Y-%m-%d %H:%M:%S}Z", at=now)
        else:
            why = "not retryable" if not retryable else f"after {attempts} attempts"
            set_status(ex, "failed", f"{message} ({why})", at=now)
        status = ex.status
    if retry_at is not None:
        gw.jobs.send(exchange_id, at=retry_at)
    return status


def _send_as2(gw, exchange_id: int) -> str:
    directory = gw.directory
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        partner = ex.partner
        try:
            if partner is None or not partner.as2_id:
                raise ValueError("no AS2 partner for this exchange")
            if not partner.as2_url:
                raise ValueError(f"partner {partner.name} has no AS2 URL")
            lib_partner = directory.partner_for(partner)
            identity = directory.identity_for(partner.as2_identity)
            content = gw.payloads.get(ex.content_sha256)
            message = build(content, ex.filename, ex.content_type or "application/octet-stream",
                            identity=identity, partner=lib_partner, message_id=ex.message_id,
                            subject=f"{ex.filename or 'document'} from {identity.as2_name}")
        except Exception as e:                      # configuration: retrying will not help
            set_status(ex, "failed", f"cannot build the AS2 message: {type(e).__name__}: {e}")
            return ex.status
        raw = gw.payloads.put(message.raw)
        ex.message_id, ex.as2_from, ex.as2_to = message.message_id, identity.as2_name, lib_partner.as2_name
        ex.payload_key, ex.payload_size = raw.key, raw.size
        ex.mic, ex.mic_algorithm, ex.mdn_mode = message.mic, message.mic_alg, message.mdn_mode
        opts = _options(partner)
    # The HTTP exchange happens outside any transaction (it may take minutes).
    try:
        outcome = send(message)
    except As2SendError as e:
        return settle_failure(gw, exchange_id, str(e), retryable=e.retryable)
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if isinstance(outcome, AwaitingAsyncMdn):
            minutes = float(opts.get("mdn_timeout_minutes") or MDN_TIMEOUT_MINUTES)
            ex.mdn_due_at = now + timedelta(minutes=minutes)
            set_status(ex, "awaiting_mdn", f"HTTP {outcome.http_status}; asynchronous MDN due by "
                                     f"{ex.mdn_due_at:%Y-%m-%d %H:%M:%S}Z", at=now)
        else:
            _judge(gw, ex, outcome, opts, now)
        return ex.status


def _judge(gw, ex: Exchange, result: MdnResult, opts: dict, now: datetime) -> None:
    """Record an MDN (sync or async) on its exchange and settle the status."""
    if result.raw:
        ex.mdn_payload_key = gw.payloads.put(result.raw).key
    ex.mdn_message_id = result.mdn_message_id
    ex.mdn_disposition = str(result.disposition) if result.disposition else None
    ex.mdn_at = now
    ex.mdn_due_at = None
    status = result.status
    if status == "delivered":
        set_status(ex, "acknowledged", f"MDN {ex.mdn_disposition}"
                                 + (", MIC verified" if result.mic_matches else ""), at=now)
    elif status == "refused":
        set_status(ex, "rejected", f"partner refused: {result.disposition}"
                             + (f" ({result.text.strip()[:300]})" if result.text else ""), at=now)
    elif status == "duplicate-unproven" and opts.get("duplicate_unproven") == "accept":
        set_status(ex, "acknowledged", "duplicate-document without MIC, accepted by partner policy "
                                 "(duplicate_unproven=accept)", at=now)
    elif status == "duplicate-unproven":
        set_status(ex, "failed", "partner answered duplicate-document without our MIC: it has seen this "
                           "Message-ID but nothing proves it holds this content; check with the partner, "
                           "then retry (or set duplicate_unproven=accept for it)", at=now)
    else:
        set_status(ex, "failed", f"invalid MDN: {result.error}", at=now)


class As2Outbox:
    """Asynchronous MDNs posted to our endpoint, matched with what we sent."""

    def __init__(self, gw, directory: Directory):
        self.gw, self.directory = gw, directory

    def find_outbound(self, message_id: str):
        with self.gw.session() as s:
            ex = s.scalar(sa.select(Exchange).where(Exchange.direction == "out",
                                                    Exchange.message_id == message_id))
            if ex is None or ex.partner is None:
                return None
            return SimpleNamespace(message_id=ex.message_id, mic=ex.mic, mic_alg=ex.mic_algorithm,
                                   partner=self.directory.partner_for(ex.partner),
                                   require_signed_mdn=ex.partner.as2_mdn_signed, exchange_id=ex.id)

    def record_mdn(self, result: MdnResult) -> None:
        if not result.known_original:
            log.warning("async MDN for unknown message %s: %s", result.original_message_id, result.error)
            return
        now = utcnow()
        with self.gw.session() as s:
            ex = s.scalar(sa.select(Exchange).where(Exchange.direction == "out",
                                                    Exchange.message_id == result.original_message_id))
            if ex is None:
                return
            if ex.status not in ("awaiting_mdn", "sending", "retrying"):
                ex.note(f"late asynchronous MDN ignored ({result.disposition}); status stays {ex.status}")
                return
            if ex.status == "retrying":          # it came after all: no need for the resend
                ex.set_status("sending", "asynchronous MDN arrived while waiting to resend", at=now)
            _judge(self.gw, ex, result, _options(ex.partner), now)


def due_sends(gw, *, now: datetime) -> list[int]:
    """Outbound exchanges due now, plus those whose sender died mid-send (lease expired)."""
    with gw.session() as s:
        stale = s.scalars(sa.select(Exchange).where(
            Exchange.direction == "out", Exchange.status == "sending",
            Exchange.status_at < now - SENDING_LEASE)).all()
        for ex in stale:
            if ex.channel == "email" and handed_off(s, ex):
                # SMTP cannot tell us whether it took the mail: never send it twice unasked.
                set_status(ex, "failed", "the sending worker stopped while handing the mail to the SMTP server: "
                                         "it may have been sent; check with the recipient, then retry "
                                         "(the same message, same Message-ID)", at=now)
                continue
            ex.next_attempt_at = now
            set_status(ex, "retrying", "the sending worker stopped mid-send; sending again (same Message-ID)", at=now)
        return list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "out", Exchange.status.in_(("queued", "retrying")),
            Exchange.next_attempt_at <= now)))


def expire_async_mdns(gw, *, now: datetime) -> int:
    """Async MDNs overdue: resend (same Message-ID) while attempts remain, else fail."""
    n = 0
    with gw.session() as s:
        for ex in s.scalars(sa.select(Exchange).where(
                Exchange.direction == "out", Exchange.status == "awaiting_mdn",
                Exchange.mdn_due_at < now)).all():
            n += 1
            if ex.attempts < _max_attempts(ex.partner):
                ex.next_attempt_at = now
                set_status(ex, "retrying", f"no asynchronous MDN by {ex.mdn_due_at:%Y-%m-%d %H:%M:%S}Z; "
                                     "sending again", at=now)
            else:
                set_status(ex, "failed", f"no asynchronous MDN by {ex.mdn_due_at:%Y-%m-%d %H:%M:%S}Z "
                                   f"after {ex.attempts} attempts", at=now)
    return n


def queue_file(gw, data: bytes, *, partner_id: int, filename: Optional[str] = None,
               content_type: str = "application/octet-stream") -> Exchange:
    """A new outbound AS2 exchange carrying ``data`` (stored first), due now."""
    ref = gw.payloads.put(data)
    ex = Exchange.outbound("as2", partner_id=partner_id, filename=filename, content_type=content_type,
                           content_sha256=ref.key, content_size=ref.size)
    with gw.session() as s:
        s.add(ex)
    gw.jobs.send(ex.id)
    return ex
