"""Receive: every inbound byte on record before anyone is told we have it.

AS2 (through the transport's ``As2Endpoint``) and file uploads (API, later SFTP)
end here. The order is the promise made to partners:

1. the raw message and its business content go to the payload store (fsync'd);
2. the exchange row is committed (``stored``); the unique (direction, partner,
   Message-ID) makes a second copy a duplicate, whatever the number of processes;
3. only then is the acknowledgement produced (MDN, HTTP 2xx), recorded with the
   exchange (``acknowledged``), and processing is queued.

A crash between 2 and 3 leaves a ``stored`` row: the sender, without an MDN,
sends again and is answered ``duplicate-document``; the sweep processes it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.db import Exchange, Partner, utcnow
from gateway.model.errors import EdigateError
from gateway.transports.as2 import (As2Endpoint, As2SendError, DuplicateMessage, InboundResult, OutgoingMdn,
                                    mdn_url_policy, send_async_mdn)

log = logging.getLogger("edigate.inbox")

ASYNC_MDN_DELAY = timedelta(seconds=1)       # let the sender record that it awaits the MDN
ASYNC_MDN_BACKOFF = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5),
                     timedelta(minutes=30), timedelta(hours=2))
STORED_GRACE = timedelta(seconds=10)


class DuplicateUpload(EdigateError):
    """The same upload (same partner and idempotency key) was received before."""

    def __init__(self, exchange_id: int):
        super().__init__(f"already received as exchange {exchange_id}")
        self.exchange_id = exchange_id


# --- files (API uploads, SFTP) -------------------------------------------------------------
def _upload_seen(s, channel: str, partner_id: Optional[int], message_id: str) -> Optional[int]:
    """The exchange that already came in with this idempotency key, if any."""
    return s.scalar(sa.select(Exchange.id).where(
        Exchange.direction == "in", Exchange.channel == channel, Exchange.message_id == message_id,
        Exchange.partner_id.is_(None) if partner_id is None else Exchange.partner_id == partner_id))


def receive_file(gw, data: bytes, *, channel: str, partner_id: Optional[int] = None,
                 filename: Optional[str] = None, message_id: Optional[str] = None,
                 content_type: Optional[str] = None) -> Exchange:
    """Store ``data`` durably, record it as an acknowledged inbound exchange and queue its
    processing. ``message_id`` (an idempotency key) makes a repeat raise ``DuplicateUpload``."""
    if message_id is not None:           # a repeat is answered without storing anything again
        with gw.session() as s:
            seen = _upload_seen(s, channel, partner_id, message_id)
        if seen is not None:
            raise DuplicateUpload(seen)
    ref = gw.payloads.put(data)
    with gw.session() as s:
        ex = Exchange.inbound(channel, partner_id=partner_id, message_id=message_id, filename=filename,
                              content_type=content_type, payload_key=ref.key, payload_size=ref.size,
                              content_sha256=ref.key, content_size=ref.size)
        ex.set_status("stored")
        ex.set_status("acknowledged", f"accepted over {channel}")
        s.add(ex)
        try:
            s.flush()
        except IntegrityError:
            s.rollback()
            with gw.session() as s2:
                seen = _upload_seen(s2, channel, partner_id, message_id)
            if seen is None:
                raise
            raise DuplicateUpload(seen) from None
    gw.jobs.process(ex.id)
    return ex


# --- AS2 ------------------------------------------------------------------------------
class As2Inbox:
    """The database side of our AS2 endpoint: store, duplicates, MDN records, async MDNs."""

    def __init__(self, gw):
        self.gw = gw
        self.directory = gw.directory

    def endpoint(self) -> As2Endpoint:
        from gateway.delivery.attempts import As2Outbox
        outbox = As2Outbox(self.gw, self.directory)
        return As2Endpoint(identities=self.directory.identities, partners=self.directory.partners,
                           store=self.store, is_duplicate=self.is_duplicate,
                           find_outbound=outbox.find_outbound, on_mdn=outbox.record_mdn,
                           on_inbound=self.on_inbound, async_mdn_sender=self._no_direct_send,
                           max_bytes=self.gw.settings.max_inbound_size)

    @staticmethod
    def _no_direct_send(mdn: OutgoingMdn) -> None:
        """Async MDNs go through the durable job queued by ``on_inbound``, not from the request."""

    def _partner_id(self, s, as2_from: Optional[str]) -> Optional[int]:
        return s.scalar(sa.select(Partner.id).where(Partner.as2_id == as2_from))

    def is_duplicate(self, message_id: str) -> bool:
        # The authoritative check is the unique constraint in store(); this one only spares
        # the payload store a write for a resend we already hold.
        return False

    def store(self, payload: bytes, meta: dict) -> None:
        raw = self.gw.payloads.put(meta["raw_message"])
        content = self.gw.payloads.put(payload)
        headers = meta.get("headers") or {}
        with self.gw.session() as s:
            partner_id = self._partner_id(s, meta["as2_from"])
            ex = Exchange.inbound(
                "as2", at=meta.get("received_at"), partner_id=partner_id,
                as2_from=meta["as2_from"], as2_to=meta["as2_to"], message_id=meta["message_id"],
                filename=meta.get("filename"), content_type=meta.get("content_type"),
                payload_key=raw.key, payload_size=raw.size,
                content_sha256=content.key, content_size=content.size,
                mdn_mode=meta.get("mdn_mode"), mic=meta.get("mic"), mic_algorithm=meta.get("mic_alg"),
                mdn_url=meta.get("mdn_url") if meta.get("mdn_mode") == "async" else None)
            flags = ", ".join(k for k in ("signed", "encrypted", "compressed") if meta.get(k)) or "plain"
            if meta.get("encryption"):
                flags += f"; {meta['encryption']}, key transport {meta.get('key_transport')}"
            ex.set_status("stored", f"{content.size} bytes ({flags})")
            if meta.get("mdn_url_refused"):
                ex.note(f"asynchronous MDN URL {headers.get('receipt-delivery-option')} refused "
                        f"({meta['mdn_url_refused']}): the MDN went back in the HTTP response")
            s.add(ex)
            try:
                s.flush()
            except IntegrityError:
                raise DuplicateMessage(meta["message_id"]) from None

    def on_inbound(self, result: InboundResult) -> None:
        """Record the acknowledgement (or refusal) we are about to send, and queue what follows."""
        if not result.message_id or result.status in ("unknown-recipient", "bad-request", "too-large",
                                                      "store-failed"):
            return
        mdn = result.mdn
        mdn_ref = self.gw.payloads.put(mdn.raw) if mdn is not None else None
        now = utcnow()
        process_id = mdn_job = None
        with self.gw.session() as s:
            partner_id = self._partner_id(s, result.as2_from)
            ex = s.scalar(sa.select(Exchange).where(
                Exchange.direction == "in", Exchange.message_id == result.message_id,
                Exchange.refused.is_(False),
                Exchange.partner_id.is_(None) if partner_id is None else Exchange.partner_id == partner_id))
            if result.status == "processed" and ex is not None and ex.status == "stored":
                self._record_mdn(ex, mdn, mdn_ref, result.disposition, now)
                ex.set_status("acknowledged", result.disposition)
                process_id = ex.id
            elif result.status == "duplicate" and ex is not None:
                ex.note(f"sent again (duplicate); answered {result.disposition}")
                if ex.status == "stored":      # our first MDN was never recorded as sent
                    self._record_mdn(ex, mdn, mdn_ref, result.disposition, now)
                    ex.set_status("acknowledged", "acknowledged on a resend")
                    process_id = ex.id
            elif result.status in ("refused", "unknown-partner"):
                # Nothing acknowledged, but the attempt and its bytes are on record.
                raw = self.gw.payloads.put(result.raw_message) if result.raw_message else None
                rec = Exchange.inbound("as2", partner_id=partner_id, as2_from=result.as2_from,
                                       as2_to=result.as2_to, message_id=result.message_id, refused=True,
                                       filename=result.filename, content_type=result.content_type,
                                       payload_key=raw.key if raw else None,
                                       payload_size=raw.size if raw else None)
                rec.set_status("rejected", f"{result.disposition or result.status}: {result.error}")
                self._record_mdn(rec, mdn, mdn_ref, result.disposition, now)
                s.add(rec)
                s.flush()
                ex = rec
            if ex is not None and mdn is not None and mdn.mode == "async" and ex.mdn_at is None:
                ex.mdn_url = mdn.url
                ex.next_attempt_at = now + ASYNC_MDN_DELAY
                mdn_job = ex.id
        if mdn_job is not None:
            self.gw.jobs.send_mdn(mdn_job, at=now + ASYNC_MDN_DELAY)
        if process_id is not None:
            self.gw.jobs.process(process_id)

    @staticmethod
    def _record_mdn(ex: Exchange, mdn: Optional[OutgoingMdn], ref, disposition: Optional[str],
                    now: datetime) -> None:
        if mdn is None:
            return
        ex.mdn_message_id = mdn.message_id
        ex.mdn_payload_key = ref.key if ref else None
        ex.mdn_disposition = disposition
        ex.mdn_mode = mdn.mode
        if mdn.mode == "sync":
            ex.mdn_at = now


def _split_raw(raw: bytes) -> tuple[dict, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    msg = BytesParser(policy=HTTP).parsebytes(head + b"\r\n\r\n", headersonly=True)
    return {k: str(v) for k, v in msg.items()}, body


def send_owed_mdn(gw, exchange_id: int) -> bool:
    """Post the asynchronous MDN we owe for an inbound exchange; retried with backoff. The URL
    is judged again by the partner's current profile (it may have changed since)."""
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex is None or ex.mdn_at is not None or not ex.mdn_url or not ex.mdn_payload_key:
            return False
        partner = gw.directory.partner_for(ex.partner) if ex.partner is not None and ex.partner.as2_id else None
        problem, allow_private = (mdn_url_policy(ex.mdn_url, partner) if partner is not None
                                  else ("the sender is not a known partner", False))
        if problem:
            ex.mdn_url, ex.next_attempt_at = None, None
            ex.note(f"asynchronous MDN not sent: {problem}")
            return False
        headers, body = _split_raw(gw.payloads.get(ex.mdn_payload_key))
        mdn = OutgoingMdn(message_id=ex.mdn_message_id or "", original_message_id=ex.message_id or "",
                          headers=headers, body=body, mode="async", url=ex.mdn_url,
                          allow_private=allow_private)
    try:
        code = send_async_mdn(mdn)
        error = None
    except As2SendError as e:
        code, error = None, e
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if error is None:
            ex.mdn_at = now
            ex.next_attempt_at = None
            ex.note(f"asynchronous MDN delivered to {ex.mdn_url} (HTTP {code})")
            return True
        ex.attempts = (ex.attempts or 0) + 1
        if error.retryable and ex.attempts <= len(ASYNC_MDN_BACKOFF):
            ex.next_attempt_at = now + ASYNC_MDN_BACKOFF[ex.attempts - 1]
            ex.note(f"asynchronous MDN to {ex.mdn_url} failed ({error}); next attempt "
                    f"{ex.next_attempt_at:%Y-%m-%d %H:%M:%S}Z")
            at = ex.next_attempt_at
        else:
            ex.next_attempt_at = None
            ex.note(f"asynchronous MDN to {ex.mdn_url} given up after {ex.attempts} attempts: {error}")
            at = None
    if at is not None:
        gw.jobs.send_mdn(exchange_id, at=at)
    return False


def owed_mdns(gw, *, now: datetime) -> list[int]:
    """Inbound exchanges whose asynchronous MDN is due and not yet delivered."""
    with gw.session() as s:
        return list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "in", Exchange.mdn_mode == "async", Exchange.mdn_at.is_(None),
            Exchange.mdn_url.is_not(None), Exchange.mdn_payload_key.is_not(None),
            Exchange.next_attempt_at.is_not(None), Exchange.next_attempt_at <= now)))


def recover_stored(gw, *, now: datetime, grace: timedelta = STORED_GRACE) -> list[int]:
    """Exchanges stored but never marked acknowledged (a crash between store and MDN):
    we hold the bytes, so they are processed; the sender's resend gets ``duplicate-document``."""
    with gw.session() as s:
        rows = s.scalars(sa.select(Exchange).where(
            Exchange.direction == "in", Exchange.status == "stored",
            Exchange.status_at <= now - grace)).all()
        for ex in rows:
            ex.set_status("acknowledged", "recovered: stored, acknowledgement not on record "
                                          "(interrupted before the MDN went out)")
        return [ex.id for ex in rows]
