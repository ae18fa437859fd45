"""Our SFTP server's side of the gateway: accounts from the database, uploads into the pipeline,
pickups settling deliveries.

A partner's root is ``<home>/sftp/<username>/`` with ``inbound/`` (it uploads)
and ``outbound/`` (it picks up). A complete upload (closed, or renamed from a
temporary name) is stored durably and recorded as an acknowledged exchange
before the partner's ``close`` (or ``rename``) returns. The file then stays in
``inbound/``, read-only and marked taken, for ``EDIGATE_SFTP_UPLOAD_GRACE_MINUTES``
(10): clients follow an upload with calls on it (set its times, stat it, look it
up after a rename) and report a failure if it vanished. The periodic sweep
removes it after that; the partner may remove it, or replace it with a new
upload of the same name, sooner.

Restarts: the idempotency key is the account, the path and the content's
SHA-256, so a file taken twice becomes nothing new. ``rescan`` at start takes
only files counted but not marked taken (a stop between the transport's
"delivered" mark and the record); taken files lying in ``inbound/`` during
their grace period are left alone.
"""
from __future__ import annotations

import hashlib
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Optional

import sqlalchemy as sa

from gateway.db import Delivery, Exchange, SftpAccount, utcnow
from gateway.db.sftp import key_lines
from gateway.flow.receive import DuplicateUpload, receive_file
from gateway.delivery.attempts import follow_document
from gateway.store.fsync import fsync_dir
from gateway.transports.sftp import (HOST_KEY_FILENAME, Account, SftpServer, authorized_key_matches,
                                     ensure_host_key, is_delivered, is_taken, mark_taken,
                                     remove_expired_uploads, stale_partial_files)

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
        sweep removes it after the grace period). Raising makes the partner's close fail."""
        data = Path(absolute_path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        _, partner_id = account.ref
        key = f"sftp:{account.username}/{relative_path}:{digest}"
        try:
            ex = receive_file(self.gw, data, channel="sftp", partner_id=partner_id,
                              filename=Path(relative_path).name, message_id=key)
            log.info("SFTP upload %s/%s: exchange %s (%d bytes)", account.username, relative_path, ex.id, len(data))
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
