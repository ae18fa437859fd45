"""Receive: every inbound byte on record before anyone is told we have it.

Every channel's inbound side ends here or keeps the same promise (AS2 through its
endpoint in ``gateway.channels.as2``; SFTP uploads and polls, API uploads through
``receive_file``). The order is the promise made to partners:

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
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.db import Exchange
from gateway.model.errors import EdigateError

log = logging.getLogger("edigate.inbox")

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
