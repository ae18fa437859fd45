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
import threading
import weakref
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.db import Exchange, ExchangeEvent
from gateway.db.writer_lock import ahead
from gateway.model.errors import EdigateError
from gateway.store.payloads import PayloadRef

log = logging.getLogger("edigate.inbox")

STORED_GRACE = timedelta(seconds=10)


class DuplicateUpload(EdigateError):
    """The same upload (same partner and idempotency key) was received before."""

    def __init__(self, exchange_id: int):
        super().__init__(f"already received as exchange {exchange_id}")
        self.exchange_id = exchange_id


# --- files (API uploads, SFTP) -------------------------------------------------------------
#
# Files are recorded by a group commit: what concurrent receptions (SFTP sessions, API requests)
# bring while a commit is under way is recorded together by the next one, in one transaction,
# so one fsync of the database serves them all. Each caller still returns only once its own
# exchange is committed: nothing is acknowledged before it is on disk.

def _upload_seen(s, channel: str, partner_id: Optional[int], message_id: str) -> Optional[int]:
    """The exchange that already came in with this idempotency key, if any."""
    return s.scalar(sa.select(Exchange.id).where(
        Exchange.direction == "in", Exchange.channel == channel, Exchange.message_id == message_id,
        Exchange.partner_id.is_(None) if partner_id is None else Exchange.partner_id == partner_id))


class _Receipt:
    """One file to record: its exchange (built, not yet stored) and, once committed, the outcome."""
    __slots__ = ("exchange", "done", "error")

    def __init__(self, exchange: Exchange):
        self.exchange, self.done, self.error = exchange, False, None


_EXCHANGE_COLUMNS = ("direction", "channel", "partner_id", "message_id", "filename", "content_type",
                     "payload_key", "payload_size", "content_sha256", "content_size", "status", "status_at",
                     "reason", "attempts", "refused", "created_at", "updated_at")


class GroupCommit:
    """Records received files, many per transaction when they arrive together.

    The first caller to find no commit under way commits everything waiting (its own receipt and
    whatever others queued meanwhile); the others wait for that commit, then find their receipt
    done, or lead the next one. One transaction per group: the exchanges (in one statement where
    the database returns inserted ids in order, PostgreSQL; one each on SQLite), then all their
    histories in one statement. A duplicate idempotency key anywhere in a group makes each receipt of that group
    be recorded on its own, so only the repeat is refused."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._queue: list[_Receipt] = []
        self._queue_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def record(self, exchange: Exchange) -> int:
        """Commit ``exchange`` (with its history); its id. ``IntegrityError`` for a repeated key."""
        receipt = _Receipt(exchange)
        with self._queue_lock:
            self._queue.append(receipt)
        with self._commit_lock:
            if not receipt.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit(group)
        if receipt.error is not None:
            raise receipt.error
        return receipt.exchange.id

    def _commit(self, group: list[_Receipt]) -> None:
        try:
            self._insert(group)
        except IntegrityError:
            if len(group) == 1:
                self._settle(group, IntegrityError)
                return
            for receipt in group:                  # find the repeat: each on its own
                self._commit([receipt])
            return
        except BaseException as e:                 # the database failed them all: each caller hears it
            self._settle(group, e)
            if not isinstance(e, Exception):
                raise
            return
        self._settle(group, None)

    @staticmethod
    def _settle(group: list[_Receipt], error) -> None:
        for receipt in group:
            if error is IntegrityError:
                receipt.error = IntegrityError("exchange", None, Exception("idempotency key seen before"))
            else:
                receipt.error = error
            receipt.done = True

    def _insert(self, group: list[_Receipt]) -> None:
        exchanges = [r.exchange for r in group]
        rows = [{c: getattr(ex, c) for c in _EXCHANGE_COLUMNS} for ex in exchanges]
        with ahead(), self.engine.begin() as conn:     # a partner waits: before the jobs' writes
            ids = conn.execute(sa.insert(Exchange).returning(Exchange.id, sort_by_parameter_order=True),
                               rows).scalars().all()
            events = [{"exchange_id": id_, "status": ev.status, "at": ev.at, "reason": ev.reason}
                      for ex, id_ in zip(exchanges, ids) for ev in ex.history]
            conn.execute(sa.insert(ExchangeEvent), events)
        for ex, id_ in zip(exchanges, ids):
            ex.id = id_


_groups: "weakref.WeakKeyDictionary[object, GroupCommit]" = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def _group_commit(gw) -> GroupCommit:
    with _groups_lock:
        group = _groups.get(gw)
        if group is None or group.engine is not gw.engine:
            group = _groups[gw] = GroupCommit(gw.engine)
        return group


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
    return receive_stored(gw, gw.payloads.put(data), channel=channel, partner_id=partner_id,
                          filename=filename, message_id=message_id, content_type=content_type)


def receive_stored(gw, ref: PayloadRef, *, channel: str, partner_id: Optional[int] = None,
                   filename: Optional[str] = None, message_id: Optional[str] = None,
                   content_type: Optional[str] = None) -> Exchange:
    """Record content already in the payload store (``ref``: ``put`` or ``put_file`` returned)
    as an acknowledged inbound exchange, committed with whatever else is being received at the
    same time, and queue its processing. A repeated ``message_id`` raises ``DuplicateUpload``
    (the content is stored already: storing is idempotent). With a partner, the unique index
    on (direction, partner, Message-ID) finds a repeat at the insert; without one (NULLs are
    all distinct to an index) it is looked for first."""
    if message_id is not None and partner_id is None:
        with gw.session() as s:
            seen = _upload_seen(s, channel, None, message_id)
        if seen is not None:
            raise DuplicateUpload(seen)
    ex = Exchange.inbound(channel, partner_id=partner_id, message_id=message_id, filename=filename,
                          content_type=content_type, payload_key=ref.key, payload_size=ref.size,
                          content_sha256=ref.key, content_size=ref.size, refused=False, attempts=0)
    ex.set_status("stored")
    ex.set_status("acknowledged", f"accepted over {channel}")
    ex.updated_at = ex.status_at
    try:
        _group_commit(gw).record(ex)
    except IntegrityError:
        with gw.session() as s:
            seen = _upload_seen(s, channel, partner_id, message_id) if message_id is not None else None
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
