"""SFTP, both directions: our server for partners, our client to theirs.

Inbound, on our server (``SftpInbox``): a partner's root is ``<home>/sftp/<username>/``
with ``inbound/`` (it uploads) and ``outbound/`` (it picks up). A complete upload
(closed, or renamed from a temporary name) is stored durably and recorded as an
acknowledged exchange before the partner's ``close`` (or ``rename``) returns. The
file then stays in ``inbound/``, read-only and marked taken, for
``EDIGATE_SFTP_UPLOAD_GRACE_MINUTES`` (10): clients follow an upload with calls on it
(set its times, stat it, look it up after a rename) and report a failure if it
vanished. The periodic sweep removes it after that; the partner may remove it, or
replace it with a new upload of the same name, sooner. Restarts: the idempotency
key is the account, the path and the content's SHA-256, so a file taken twice
becomes nothing new. ``rescan`` at start takes only files counted but not marked
taken (a stop between the transport's "delivered" mark and the record); taken
files lying in ``inbound/`` during their grace period are left alone.

Inbound, from their server (``poll_remote``): a partner's ``poll_dir`` fetched on its
schedule; each file is stored and recorded (``flow.receive.receive_file``) before it
is deleted or archived on their side. The idempotency key is the remote, the name
and the content's SHA-256: a poll cut between our store and their delete fetches
the file again and records nothing new.

Outbound (``deliver``, the channel's sender once an ``sftp`` exchange is claimed): a
partner with an ``SftpRemote`` gets the file pushed (temporary name, size checked,
renamed); a partner with an ``SftpAccount`` on our server finds it in its
``outbound/``, and its download or removal acknowledges the delivery. Failures
follow the same bounded retries as every channel.
"""
from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Optional

import sqlalchemy as sa

from gateway.db import Delivery, Exchange, SftpAccount, SftpRemote, compare_and_set, utcnow
from gateway.db.sftp import key_lines
from gateway.delivery.attempts import settle_failure
from gateway.delivery.outbound import FileChannel
from gateway.delivery.state import follow_document, set_status
from gateway.flow.receive import DuplicateUpload, receive_file, receive_stored
from gateway.store.fsync import fsync_dir
from gateway.transports.sftp import (HOST_KEY_FILENAME, Account, SftpServer, authorized_key_matches,
                                     ensure_host_key, host_key_fingerprint, is_delivered, is_taken, mark_taken,
                                     remove_expired_uploads, stale_partial_files)
from gateway.transports.sftp.client import (RemoteFileExists, SftpError, SftpRemote as RemoteSettings,
                                            connect, poll, push)

log = logging.getLogger("edigate.sftp")

TEMPORARY_SUFFIXES = (".part", ".tmp", ".filepart")
PARTIAL_UPLOAD_MAX_AGE = timedelta(hours=24)
DEFAULT_UPLOAD_GRACE = timedelta(minutes=10)    # settings.sftp_upload_grace_minutes


def accounts_root(gw) -> Path:
    return gw.settings.home / "sftp"


def pickup_message_id(username: str, name: str) -> str:
    return f"sftp-pickup:{username}/outbound/{name}"


class SftpInbox:
    def __init__(self, gw):
        self.gw = gw
        self.root = accounts_root(gw)

    # --- authentication --------------------------------------------------------------
    def authenticate(self, username: str, password: Optional[str] = None,
                     public_key=None) -> Optional[Account]:
        with self.gw.session() as s:
            acc = s.scalar(sa.select(SftpAccount).where(SftpAccount.username == username))
            if acc is None or not acc.active or not acc.partner.active:
                return None
            if password is not None:
                ok = acc.check_password(password)
            elif public_key is not None:
                ok = authorized_key_matches(public_key, key_lines(acc.authorized_keys))
            else:
                ok = False
            if not ok:
                return None
            if password is not None:      # a key login asks twice; record the password one only
                acc.last_login_at = utcnow()
            return Account(username=acc.username, root=self.root / acc.username,
                           ref=(acc.id, acc.partner_id))

    # --- uploads ---------------------------------------------------------------------
    def on_upload(self, account: Account, relative_path: str, absolute_path: Path) -> None:
        """Store and record the file, leaving it in place (the transport marks it taken; the
        sweep removes it after the grace period). Raising makes the partner's close fail.

        The transport fsync'd the file and made it read-only: the payload store takes it as it
        is, by a second name (``put_file``), and the exchange is committed with whatever other
        sessions are recording at the same time (``receive_stored``)."""
        ref = self.gw.payloads.put_file(absolute_path)
        _, partner_id = account.ref
        key = f"sftp:{account.username}/{relative_path}:{ref.key}"
        try:
            ex = receive_stored(self.gw, ref, channel="sftp", partner_id=partner_id,
                                filename=Path(relative_path).name, message_id=key)
            log.info("SFTP upload %s/%s: exchange %s (%d bytes)", account.username, relative_path, ex.id, ref.size)
        except DuplicateUpload as dup:
            log.info("SFTP upload %s/%s: already received as exchange %s", account.username, relative_path,
                     dup.exchange_id)

    def rescan(self) -> int:
        """Complete files a stopped process counted but did not mark taken (it stopped during
        ``on_upload``: the partner's close then failed, but the file is whole): take them now,
        and mark them. Taken files, kept for their grace period, are not read again."""
        n = 0
        if not self.root.is_dir():
            return 0
        with self.gw.session() as s:
            accounts = {a.username: (a.id, a.partner_id) for a in s.scalars(sa.select(SftpAccount))}
        for username, ref in accounts.items():
            inbound = self.root / username / "inbound"
            if not inbound.is_dir():
                continue
            for path in sorted(inbound.rglob("*")):
                if not path.is_file() or path.is_symlink() or path.name.startswith(".") \
                        or path.name.endswith(TEMPORARY_SUFFIXES):
                    continue
                st = os.lstat(path)
                if not is_delivered(st) or is_taken(st):
                    continue        # a cut upload is never taken, a taken one not twice
                acc = Account(username=username, root=self.root / username, ref=ref)
                self.on_upload(acc, str(path.relative_to(self.root / username)), path)
                mark_taken(path)
                n += 1
        return n

    def upload_grace(self) -> timedelta:
        minutes = getattr(self.gw.settings, "sftp_upload_grace_minutes", None)
        return DEFAULT_UPLOAD_GRACE if minutes is None else timedelta(minutes=minutes)

    def sweep_taken(self, older_than: Optional[timedelta] = None, *,
                    now: Optional[float] = None) -> list[Path]:
        """Remove taken uploads kept in ``inbound/`` for ``older_than`` (default: the grace
        setting): the gateway has them; their clients' follow-up calls are long over."""
        older_than = self.upload_grace() if older_than is None else older_than
        removed = []
        if not self.root.is_dir():
            return removed
        for account_root in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()):
            for path in remove_expired_uploads(account_root, older_than, now=now):
                log.info("SFTP: removed taken upload %s (kept for %s)", path, older_than)
                removed.append(path)
        return removed

    def sweep_partials(self, older_than: timedelta = PARTIAL_UPLOAD_MAX_AGE, *,
                       now: Optional[float] = None) -> list[Path]:
        """Delete cut uploads (never closed, or temporary names never renamed) untouched for
        ``older_than``: nothing was acknowledged for them, the partner's client saw a failure."""
        removed = []
        if not self.root.is_dir():
            return removed
        for account_root in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()):
            for path in stale_partial_files(account_root, older_than, now=now):
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                log.info("SFTP: removed cut upload %s (untouched for %s)", path, older_than)
                removed.append(path)
        return removed

    # --- pickups ---------------------------------------------------------------------
    def _picked_up(self, account: Account, relative_path: str, how: str) -> None:
        name = Path(relative_path).name
        with self.gw.session() as s:
            ex = s.scalar(sa.select(Exchange).where(
                Exchange.direction == "out", Exchange.channel == "sftp",
                Exchange.message_id == pickup_message_id(account.username, name)))
            if ex is None:
                return
            for d in s.scalars(sa.select(Delivery).where(Delivery.exchange_id == ex.id)):
                if d.status == "delivered":
                    d.set_status("acknowledged", f"{how} by {account.username} over SFTP")
                    follow_document(d.document)
            ex.note(f"{how} by {account.username} over SFTP")

    def on_download(self, account: Account, relative_path: str) -> None:
        self._picked_up(account, relative_path, "downloaded")

    def on_remove(self, account: Account, relative_path: str) -> None:
        self._picked_up(account, relative_path, "removed after pickup")

    # --- the server ------------------------------------------------------------------
    def server(self, host: str, port: int) -> SftpServer:
        key = ensure_host_key(self.gw.settings.certs_dir / HOST_KEY_FILENAME)
        return SftpServer(host, port, key, self.authenticate, self.on_upload,
                          on_download=self.on_download, on_remove=self.on_remove,
                          max_upload_bytes=self.gw.settings.max_inbound_size)


def place_for_pickup(gw, account: SftpAccount, data: bytes, filename: str) -> str:
    """Write ``data`` into the account's ``outbound/`` atomically (hidden temporary name, fsync,
    rename): the partner never lists a partial file. Returns the name used (unique)."""
    outbound = accounts_root(gw) / account.username / "outbound"
    outbound.mkdir(parents=True, exist_ok=True)
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""
    name, n = filename, 1
    while (outbound / name).exists():
        n += 1
        name = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
    tmp = outbound / f".{name}.part"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, outbound / name)
    fsync_dir(outbound)
    return name


# --- outbound and polls ---------------------------------------------------------------------



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
        n = compare_and_set(s, SftpRemote,
                            SftpRemote.id == remote_id,
                            sa.or_(SftpRemote.last_poll_at.is_(None), SftpRemote.last_poll_at <= due),
                            last_poll_at=now)
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


# --- the channel ----------------------------------------------------------------------------

class SftpService:
    """Our SFTP server as ``edigate serve`` runs it: started, then what a stopped process left
    counted but not taken is taken (``rescan``)."""

    def __init__(self, gw: Any):
        self.inbox = SftpInbox(gw)
        self.server = self.inbox.server(gw.settings.host, gw.settings.sftp_port)

    def start(self) -> None:
        self.server.start()
        self.inbox.rescan()

    def stop(self) -> None:
        self.server.stop()

    def describe(self) -> tuple[str, str]:
        from gateway import i18n          # the banner's words: the command line's language
        return (i18n.N_("SFTP server"), f"sftp://{self.server.host}:{self.server.port}  " + i18n.gettext(
            i18n.cli_language(), i18n.N_("(partner accounts under %(root)s; host key %(fingerprint)s)"), root=self.inbox.root,
            fingerprint=host_key_fingerprint(self.server.host_key)))


class SftpChannel(FileChannel):
    name, label = "sftp", "SFTP"
    self_service = True
    carries_status = True

    def send(self, gw: Any, exchange_id: int) -> str:
        return deliver(gw, exchange_id)

    def tasks(self) -> dict[str, Callable[..., Any]]:
        return {"poll_sftp": _poll_task}

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        counts = {"sftp_polls": 0}
        for remote_id in due_polls(gw, now=now):       # the poll itself claims its turn
            gw.jobs.prompt("poll_sftp", remote_id)
            counts["sftp_polls"] += 1
        inbox = SftpInbox(gw)
        counts["sftp_partials_removed"] = len(inbox.sweep_partials())
        counts["sftp_taken_removed"] = len(inbox.sweep_taken())
        return counts

    def services(self, gw: Any) -> list[Any]:
        return [SftpService(gw)]

    def reaches(self, session: Any, partner: Any) -> bool:
        remote = session.scalar(sa.select(SftpRemote.id).where(SftpRemote.partner_id == partner.id,
                                                               SftpRemote.active.is_(True),
                                                               SftpRemote.push_dir.is_not(None)))
        account = session.scalar(sa.select(SftpAccount.id).where(SftpAccount.partner_id == partner.id,
                                                                 SftpAccount.active.is_(True)).limit(1))
        return remote is not None or account is not None


def _poll_task(gw: Any, remote_id: int) -> None:
    counts = poll_remote(gw, remote_id)
    if counts.get("files"):
        log.info("SFTP remote %d polled: %s", remote_id, counts)


channel = SftpChannel()
