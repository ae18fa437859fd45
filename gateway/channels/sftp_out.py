"""SFTP out of the gateway: push to a partner's server, place for pickup on ours, poll theirs.

* ``deliver`` (called by ``outbox.send_exchange`` once it claimed an ``sftp``
  exchange): a partner with an ``SftpRemote`` gets the file pushed (temporary
  name, size checked, renamed); a partner with an ``SftpAccount`` on our server
  finds it in its ``outbound/``. Failures follow the same bounded retries as AS2.
* ``poll_remote``: a partner's ``poll_dir`` fetched on its schedule; each file is
  stored and recorded (``inbox.receive_file``) before it is deleted or archived
  on their side. The idempotency key is the remote, the name and the content's
  SHA-256: a poll cut between our store and their delete fetches the file again
  and records nothing new.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa

from gateway.db import Exchange, SftpAccount, SftpRemote, utcnow
from gateway.flow.receive import DuplicateUpload, receive_file
from gateway.delivery.attempts import set_status, settle_failure
from gateway.channels.sftp_in import pickup_message_id, place_for_pickup
from gateway.transports.sftp.client import (RemoteFileExists, SftpError, SftpRemote as RemoteSettings,
                                            connect, poll, push)

log = logging.getLogger("edigate.sftp")


def remote_settings(row: SftpRemote) -> RemoteSettings:
    return RemoteSettings(host=row.host, port=row.port, username=row.username,
                          private_key=row.private_key_ref, host_key=row.host_key)


def deliver(gw, exchange_id: int) -> str:
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        remote = s.scalar(sa.select(SftpRemote).where(SftpRemote.partner_id == ex.partner_id,
                                                      SftpRemote.active.is_(True)))
        account = s.scalar(sa.select(SftpAccount).where(SftpAccount.partner_id == ex.partner_id,
                                                        SftpAccount.active.is_(True)))
        data = gw.payloads.get(ex.content_sha256)
        filename = ex.filename or f"document-{ex.id}"
        if remote is not None and remote.push_dir:
            settings, push_dir = remote_settings(remote), remote.push_dir
        elif account is not None:
            name = place_for_pickup(gw, account, data, filename)
            ex.message_id = pickup_message_id(account.username, name)
            set_status(ex, "sent", f"placed for pickup in {account.username}/outbound/{name}")
            return ex.status
        else:
            set_status(ex, "failed", "the partner has neither an SFTP account on our server nor an "
                                     "SFTP server of its own to push to (edigate sftp …)")
            return ex.status
    try:
        with connect(settings) as session:
            try:
                result = push(session, data, push_dir, filename)
            except RemoteFileExists:
                # An earlier attempt may have pushed it before we could record it: the same bytes
                # there are a delivery, other bytes a conflict for a person to look at.
                theirs = session.sftp.open(f"{push_dir.rstrip('/')}/{filename}", "rb").read()
                if hashlib.sha256(theirs).digest() != hashlib.sha256(data).digest():
                    return settle_failure(gw, exchange_id, f"{push_dir}/{filename} exists on "
                                          f"{settings.endpoint} with other content", retryable=False)
                result = None
    except SftpError as e:
        return settle_failure(gw, exchange_id, f"SFTP push to {settings.endpoint}: {e}", retryable=e.retryable)
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        where = f"{settings.endpoint}:{push_dir.rstrip('/')}/{filename}"
        ex.message_id = f"sftp-push:{where}"
        if result is None:
            set_status(ex, "sent", f"already on {where} with the same content (an earlier attempt)")
        else:
            set_status(ex, "sent", f"pushed to {where}, {result.size} bytes, size checked")
        return ex.status


def claim_poll(gw, remote_id: int, now: datetime) -> bool:
    """Compare-and-set ``last_poll_at``: one poll of a remote at a time, none before it is due."""
    with gw.session() as s:
        row = s.get(SftpRemote, remote_id)
        if row is None or not row.active or not row.poll_dir:
            return False
        due = now - timedelta(seconds=row.poll_interval_seconds)
        n = s.execute(sa.update(SftpRemote)
                      .where(SftpRemote.id == remote_id,
                             sa.or_(SftpRemote.last_poll_at.is_(None), SftpRemote.last_poll_at <= due))
                      .values(last_poll_at=now)
                      .execution_options(synchronize_session=False)).rowcount
        return n == 1


def poll_remote(gw, remote_id: int, *, force: bool = False, settle_seconds: float = 2.0) -> dict:
    """Fetch what the partner left for us; returns counts. ``force``: ignore the schedule."""
    now = utcnow()
    if not force and not claim_poll(gw, remote_id, now):
        return {"polled": False}
    with gw.session() as s:
        row = s.get(SftpRemote, remote_id)
        settings, poll_dir, archive = remote_settings(row), row.poll_dir, row.archive_dir
        partner_id = row.partner_id
        if force:                         # claim_poll recorded it otherwise
            row.last_poll_at = now
    counts = {"polled": True, "files": 0, "new": 0, "again": 0}

    def store(name: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        key = f"sftp-poll:{settings.endpoint}:{poll_dir}/{name}:{digest}"
        counts["files"] += 1
        try:
            receive_file(gw, data, channel="sftp", partner_id=partner_id, filename=name, message_id=key)
            counts["new"] += 1
        except DuplicateUpload:
            counts["again"] += 1           # fetched before, its delete was cut short

    error: Optional[str] = None
    try:
        with connect(settings) as session:
            poll(session, poll_dir, store=store, archive_dir=archive, settle_seconds=settle_seconds)
    except SftpError as e:
        error = f"{type(e).__name__}: {e}"
        log.warning("SFTP poll of %s failed: %s", settings.endpoint, error)
    with gw.session() as s:
        s.get(SftpRemote, remote_id).last_poll_error = error
    counts["error"] = error
    return counts


def due_polls(gw, *, now: datetime) -> list[int]:
    with gw.session() as s:
        rows = s.execute(sa.select(SftpRemote.id, SftpRemote.last_poll_at, SftpRemote.poll_interval_seconds)
                         .where(SftpRemote.active.is_(True), SftpRemote.poll_dir.is_not(None))).all()
    return [r.id for r in rows
            if r.last_poll_at is None or r.last_poll_at <= now - timedelta(seconds=r.poll_interval_seconds)]
