"""AS2 (RFC 4130), both directions: our endpoint for partners' messages and MDNs, our sends.

Inbound: ``As2Inbox`` is the database side of the transport's endpoint (mounted on
the web port at ``/as2``): every message is stored and its exchange committed
before the MDN goes out (``gateway.flow.receive`` says why), duplicates are caught
by the unique Message-ID, a refused attempt is kept on record, and an asynchronous
MDN we owe goes out as a durable job (``send_mdn``), retried with backoff.

Outbound: ``send`` builds the message for the partner's settings (the Message-ID
is fixed at the first attempt and reused by every retry: a receiver that has it
answers ``duplicate-document``), keeps the raw message, posts it and judges the
MDN: never "acknowledged" without a signed MDN proving our MIC; an asynchronous
MDN not come by ``mdn_timeout_minutes`` counts as a failed attempt (``due``).

Per-partner switches live in ``Partner.as2_options``: ``mdn_timeout_minutes``
(async), ``duplicate_unproven`` (``fail`` — default — or ``accept``): what a
``duplicate-document`` MDN without our MIC means (django-pyas2 answers so even when
the first copy had failed); the retry policy is ``gateway.delivery.attempts``'.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from types import SimpleNamespace
from typing import Any, Callable, Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.db import Exchange, Partner, utcnow
from gateway.delivery.attempts import options, retry_policy, settle_failure
from gateway.delivery.outbound import FileChannel
from gateway.delivery.retry import RetryPolicy
from gateway.delivery.state import set_status
from gateway.partners.as2_settings import Directory
from gateway.transports.as2 import (As2Endpoint, As2SendError, AwaitingAsyncMdn, DuplicateMessage, InboundResult,
                                    MdnResult, OutgoingMdn, build, mdn_url_policy, send, send_async_mdn,
                                    wsgi_app)

log = logging.getLogger("edigate.as2")

PATH = "/as2"
MDN_TIMEOUT_MINUTES = 60.0
ASYNC_MDN_DELAY = timedelta(seconds=1)       # let the sender record that it awaits the MDN
ASYNC_MDN_RETRY = RetryPolicy(steps=(timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5),
                                     timedelta(minutes=30), timedelta(hours=2)),
                              max_attempts=6)     # a wait after each of the first five, given up after the sixth


# --- inbound ------------------------------------------------------------------------------
_writers = ThreadPoolExecutor(max_workers=6, thread_name_prefix="as2-store")
_queuer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="as2-jobs")


def _put_all(store, items: list) -> list:
    """Each item (bytes; a path: a durable file, linked; None: skipped) put in the payload store, all at once: every put ends
    in fsyncs, and fsyncs issued together share the journal commits of the file system."""
    futures = [None if item is None else
               _writers.submit(store.put_file if isinstance(item, os.PathLike) else store.put, item)
               for item in items]
    return [f.result() if f is not None else None for f in futures]


class As2Inbox:
    """The database side of our AS2 endpoint: store, duplicates, MDN records, async MDNs."""

    def __init__(self, gw):
        self.gw = gw
        self.directory = gw.directory

    def endpoint(self) -> As2Endpoint:
        outbox = As2Outbox(self.gw, self.directory)
        return As2Endpoint(identities=self.directory.identities, partners=self.directory.partners,
                           store=self.store, is_duplicate=self.is_duplicate,
                           find_outbound=outbox.find_outbound, on_mdn=outbox.record_mdn,
                           on_inbound=self.on_inbound, async_mdn_sender=self._no_direct_send,
                           max_bytes=self.gw.settings.max_inbound_size, spool_dir=self.gw.payloads.tmp,
                           on_answered=self.on_answered)

    @staticmethod
    def _no_direct_send(mdn: OutgoingMdn) -> None:
        """Async MDNs go through the durable job queued by ``on_inbound``, not from the request."""

    def _partner_id(self, s, as2_from: Optional[str]) -> Optional[int]:
        return s.scalar(sa.select(Partner.id).where(Partner.as2_id == as2_from))

    def is_duplicate(self, message_id: str) -> bool:
        # The authoritative check is the unique constraint in store(); this one only spares
        # the payload store a write for a resend we already hold.
        return False

    def store(self, payload, meta: dict) -> int:
        """The raw message, its content and the MDN we are about to send, durable, then the exchange
        committed as acknowledged with that MDN on record: one commit. The three files are written
        side by side (their fsyncs share the file system's journal commits). Returns the exchange id."""
        mdn: Optional[OutgoingMdn] = meta.get("mdn")
        raw, content, mdn_ref = _put_all(self.gw.payloads, [meta["raw_message"], payload,
                                                             mdn.raw if mdn is not None else None])
        headers = meta.get("headers") or {}
        now = utcnow()
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
            self._record_mdn(ex, mdn, mdn_ref, "processed", now)
            ex.set_status("acknowledged", "processed")
            if mdn is not None and mdn.mode == "async":
                ex.mdn_url = mdn.url
                ex.next_attempt_at = now + ASYNC_MDN_DELAY
            s.add(ex)
            try:
                s.flush()
            except IntegrityError:
                raise DuplicateMessage(meta["message_id"]) from None
            return ex.id

    def on_inbound(self, result: InboundResult) -> None:
        """Record the acknowledgement (or refusal) we are about to send, and queue what follows."""
        if not result.message_id or result.status in ("unknown-recipient", "bad-request", "too-large",
                                                      "store-failed"):
            return
        if result.status == "processed" and isinstance(result.store_ref, int):
            return      # store() recorded the exchange, acknowledged, with its MDN: on_answered queues the rest
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
            if result.status == "duplicate" and ex is not None:
                ex.note(f"sent again (duplicate); answered {result.disposition}")
                if ex.status == "stored":      # our first MDN was never recorded as sent
                    self._record_mdn(ex, mdn, mdn_ref, result.disposition, now)
                    ex.set_status("acknowledged", "acknowledged on a resend")
                    process_id = ex.id
            elif result.status in ("refused", "unknown-partner"):
                # Nothing acknowledged, but the attempt and its bytes are on record.
                raw = (self.gw.payloads.put_file(result.raw_path) if result.raw_path is not None
                       else self.gw.payloads.put(result.raw_message) if result.raw_message else None)
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
            self.gw.jobs.prompt("send_mdn", mdn_job, at=now + ASYNC_MDN_DELAY)
        if process_id is not None:
            self.gw.jobs.process(process_id)

    def on_answered(self, result: InboundResult) -> None:
        """Once the answer is on its way: the stored message's jobs (processing, our asynchronous
        MDN). Queuing is a write of its own; a crash before it loses nothing: the sweep finds
        acknowledged exchanges left unprocessed and asynchronous MDNs still owed."""
        if result.status != "processed" or not isinstance(result.store_ref, int):
            return
        # From a thread of its own: the web server sends a small answer only once the request's
        # work, this hook included, is over.
        _queuer.submit(self._queue, result.store_ref, result.mdn is not None and result.mdn.mode == "async")

    def _queue(self, exchange_id: int, async_mdn: bool) -> None:
        try:
            if async_mdn:
                self.gw.jobs.prompt("send_mdn", exchange_id, at=utcnow() + ASYNC_MDN_DELAY)
            self.gw.jobs.process(exchange_id)
        except Exception:
            log.exception("AS2 in: queuing the jobs of exchange %d failed (the sweep will find it)", exchange_id)

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
        if error.retryable and not ASYNC_MDN_RETRY.exhausted(ex.attempts):
            ex.next_attempt_at = now + ASYNC_MDN_RETRY.delay(ex.attempts)
            ex.note(f"asynchronous MDN to {ex.mdn_url} failed ({error}); next attempt "
                    f"{ex.next_attempt_at:%Y-%m-%d %H:%M:%S}Z")
            at = ex.next_attempt_at
        else:
            ex.next_attempt_at = None
            ex.note(f"asynchronous MDN to {ex.mdn_url} given up after {ex.attempts} attempts: {error}")
            at = None
    if at is not None:
        gw.jobs.prompt("send_mdn", exchange_id, at=at)
    return False


def owed_mdns(gw, *, now: datetime) -> list[int]:
    """Inbound exchanges whose asynchronous MDN is due and not yet delivered."""
    with gw.session() as s:
        return list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "in", Exchange.mdn_mode == "async", Exchange.mdn_at.is_(None),
            Exchange.mdn_url.is_not(None), Exchange.mdn_payload_key.is_not(None),
            Exchange.next_attempt_at.is_not(None), Exchange.next_attempt_at <= now)))



# --- outbound -----------------------------------------------------------------------------

def send_exchange(gw, exchange_id: int) -> str:
    """One attempt at a claimed outbound AS2 exchange; its status afterwards."""
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
        opts = options(partner)
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
            _judge(self.gw, ex, result, options(ex.partner), now)




def expire_async_mdns(gw, *, now: datetime) -> int:
    """Async MDNs overdue: resend (same Message-ID) while attempts remain, else fail."""
    n = 0
    with gw.session() as s:
        for ex in s.scalars(sa.select(Exchange).where(
                Exchange.direction == "out", Exchange.status == "awaiting_mdn",
                Exchange.mdn_due_at < now)).all():
            n += 1
            if not retry_policy(ex.partner).exhausted(ex.attempts):
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


# --- the channel ----------------------------------------------------------------------------

class As2Channel(FileChannel):
    """AS2: the partner's AS2 settings live on its record (``Partner.as2_*``), not in a profile."""

    name, label = "as2", "AS2"
    public_paths = (PATH,)
    self_service = True
    carries_status = True

    def implied_by(self, partner: Any) -> bool:
        # A partner with AS2 settings on record has chosen AS2 in all but name (what edigate
        # did before channels existed).
        return bool(partner.as2_id and partner.as2_url)

    def implied_why(self) -> str:
        return "no channel chosen; AS2 settings on record: AS2"

    def send(self, gw: Any, exchange_id: int) -> str:
        return send_exchange(gw, exchange_id)

    def tasks(self) -> dict[str, Callable[..., Any]]:
        return {"send_mdn": send_owed_mdn}

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        counts = {"mdn_timeouts": expire_async_mdns(gw, now=now), "mdn": 0}
        for exchange_id in owed_mdns(gw, now=now):
            gw.jobs.prompt("send_mdn", exchange_id)
            counts["mdn"] += 1
        return counts

    def wsgi_mounts(self, gw: Any) -> dict[str, Callable]:
        return {PATH: wsgi_app(As2Inbox(gw).endpoint())}

    def reaches(self, session: Any, partner: Any) -> bool:
        return bool(partner.as2_id)


channel = As2Channel()
