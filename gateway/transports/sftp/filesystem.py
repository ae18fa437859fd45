"""A partner's root as SFTP shows it: what it may do where, and when an upload counts.

Rules (anything else: ``SFTP_PERMISSION_DENIED`` and a log line on ``edigate.sftp``):

* ``/`` lists ``inbound`` and ``outbound`` only; nothing can be written there.
* ``inbound/``: upload, read back, list, ``mkdir``/``rmdir``, ``rename`` within it, and
  ``rm`` of files not delivered (partial or temporary ones) or already taken (below).
* ``outbound/``: read, list, ``rm`` (the partner acknowledges a pickup). No uploads,
  unless ``Account.may_write_outbound``. Temporary names there (a file we are still
  writing) are invisible to partners.
* never: symbolic links (``symlink``, ``readlink``), ownership or size changes; mode
  changes are ignored (modes mark delivered files, below); times may be set.

When an upload counts: on the client's close of a file written in ``inbound/`` whose
name is final (not ``.x``, ``x.part``, ``x.tmp``, ``x.filepart``: configurable), or
when a file with a temporary name is renamed to a final one. Then the file's content
is fsynced and the file marked delivered (mode 0440: no longer writable, removable or
renamable by the partner), then ``on_upload(account, relative_path, absolute_path)``
runs; only if it returns is the client told OK, and the file is marked taken (mode
0400). Its name in ``inbound/`` is the partner's copy and is not synced: what the
gateway keeps, ``on_upload`` makes durable (the inbox links the file into the payload
store and syncs that directory), so a close costs one fsync of the content, not
one more of the directory. If it raises, the client's close (or rename, which is undone) fails, the mark
is taken off, and the file stays for the partner to retry or remove. A session that
ends without closing a file never counts it: the partial file stays writable until
``stale_partial_files`` finds it. So after a crash, ``os.lstat(f)`` tells a whole
file whose ``on_upload`` may not have finished (``is_delivered`` and not
``is_taken``: take it), one already taken (``is_taken``: leave it) and a cut upload
(not delivered: never take it).

A taken file stays in ``inbound/``, read-only, because clients follow an upload
with more calls on it: they set its times (rclone, WinSCP, FileZilla by default),
stat it, or rename it from a temporary name and then look it up; a file that
vanished makes them report the upload as failed and send it again. So on a
delivered file ``stat``/``get`` work, ``setstat``/``fsetstat`` apply times and
accept modes that grant no write (ignored), while size, owner and write-granting
modes are refused. It is never renamed. Once taken, it is the partner's copy of
what the gateway already has: ``rm`` removes it, and a new upload of the same name
(create and truncate, or a ``posix-rename`` from a temporary name) replaces it and
counts on its own (the gateway de-duplicates identical content); appending to it
or opening it with ``O_EXCL`` fails. Left alone, ``remove_expired_uploads``
removes it once its grace period has passed (the gateway's periodic sweep).

``on_upload`` runs in the session's thread while the client waits for its answer:
it should take the bytes (store them durably, enqueue work) and return, leaving the
file in place (the transport marks it taken).
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Union

from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED

from .account import AREAS, INBOUND, OUTBOUND, Account
from .jail import Jail, JailError, JailPath

log = logging.getLogger("edigate.sftp")

OnUpload = Callable[[Account, str, Path], None]
OnDownload = Callable[[Account, str], None]
OnRemove = Callable[[Account, str], None]

DEFAULT_TEMPORARY_PREFIXES: tuple[str, ...] = (".",)
DEFAULT_TEMPORARY_SUFFIXES: tuple[str, ...] = (".part", ".tmp", ".filepart")

_NEW_FILE_MODE = 0o640
_NEW_DIR_MODE = 0o750
_DELIVERED_MODE = 0o440     # counted: on_upload running, or cut short by a crash
_TAKEN_MODE = 0o400         # on_upload returned: the gateway has it


def is_delivered(st: os.stat_result) -> bool:
    """A regular file the partner finished uploading (closed, or renamed to a final name), so
    counted, or being counted: the server makes it read-only before calling ``on_upload``.
    A cut upload (never closed) stays writable."""
    return stat.S_ISREG(st.st_mode) and not st.st_mode & 0o200


def is_taken(st: os.stat_result) -> bool:
    """A delivered file whose ``on_upload`` returned: a rescan after a crash leaves it alone
    (a delivered file that is not taken is one to take again)."""
    return is_delivered(st) and stat.S_IMODE(st.st_mode) == _TAKEN_MODE


def mark_taken(path: Union[str, os.PathLike, int]) -> None:
    """Mark a delivered file (path or open descriptor) taken, after its ``on_upload`` returned.
    Not fsynced: should the mark be lost, a rescan takes the file again, which the gateway
    de-duplicates."""
    if isinstance(path, int):
        os.fchmod(path, _TAKEN_MODE)
    else:
        os.chmod(path, _TAKEN_MODE)


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive ``flock`` on a directory: sessions replacing or removing a taken upload and
    the sweep removing expired ones (possibly another process) take turns, so a sweep never
    unlinks a new upload that took the name between its check and its unlink."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)        # releases the lock


@dataclass
class Rules:
    """What all sessions of one server share: the callbacks, the naming policy, and the
    files being written right now (a file is not renamed away under its writer)."""

    on_upload: OnUpload
    on_download: Optional[OnDownload] = None
    on_remove: Optional[OnRemove] = None
    temporary_prefixes: Sequence[str] = DEFAULT_TEMPORARY_PREFIXES
    temporary_suffixes: Sequence[str] = DEFAULT_TEMPORARY_SUFFIXES
    max_upload_bytes: Optional[int] = None
    _writing: dict = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_temporary(self, name: str) -> bool:
        low = name.lower()
        return (any(name.startswith(p) for p in self.temporary_prefixes)
                or any(low.endswith(s.lower()) for s in self.temporary_suffixes))

    def writing_started(self, real: Path) -> None:
        with self.lock:
            self._writing[real] = self._writing.get(real, 0) + 1

    def writing_ended(self, real: Path) -> None:
        with self.lock:
            n = self._writing.get(real, 0) - 1
            if n > 0:
                self._writing[real] = n
            else:
                self._writing.pop(real, None)

    def being_written(self, real: Path) -> bool:
        """Whether ``real``, or anything below it, is open for writing in some session."""
        with self.lock:
            return any(w == real or real in w.parents for w in self._writing)


def stale_partial_files(root: Union[str, os.PathLike], older_than: Union[float, timedelta], *,
                        now: Optional[float] = None) -> list[Path]:
    """Files under ``root/inbound`` never delivered (cut uploads, temporary names never
    renamed) and untouched for ``older_than`` seconds: what a sweep may delete.
    Links are neither followed nor listed."""
    if isinstance(older_than, timedelta):
        older_than = older_than.total_seconds()
    limit = (time.time() if now is None else now) - older_than
    out = []
    for dirpath, _dirs, files in os.walk(Path(root) / INBOUND, followlinks=False):
        for name in files:
            p = Path(dirpath, name)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode) and not is_delivered(st) and st.st_mtime <= limit:
                out.append(p)
    return sorted(out)


def remove_expired_uploads(root: Union[str, os.PathLike], older_than: Union[float, timedelta], *,
                           now: Optional[float] = None) -> list[Path]:
    """Remove the taken uploads under ``root/inbound`` kept for ``older_than`` seconds; the
    removed paths. The clock is the file's ctime: set when it was marked taken, moved on by a
    partner setting its times (which the partner cannot set back). Links are ignored."""
    if isinstance(older_than, timedelta):
        older_than = older_than.total_seconds()
    limit = (time.time() if now is None else now) - older_than
    removed = []
    for dirpath, _dirs, files in os.walk(Path(root) / INBOUND, followlinks=False):
        for name in sorted(files):
            p = Path(dirpath, name)
            st = _lstat(p)
            if st is None or not is_taken(st) or st.st_ctime > limit:
                continue
            try:
                with _directory_lock(p.parent):
                    st = _lstat(p)          # again, now that no session can replace it
                    if st is None or not is_taken(st) or st.st_ctime > limit:
                        continue
                    os.unlink(p)
            except FileNotFoundError:
                continue
            removed.append(p)
    return sorted(removed)


def _lstat(p: Path) -> Optional[os.stat_result]:
    try:
        return os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None


class PartnerFilesystem(SFTPServerInterface):
    """paramiko's per-channel filesystem, for one logged-in account.

    ``session`` (the SSH session's ``ServerInterface``) carries ``account``, ``jail`` and
    ``rules``. Every method answers with an SFTP status code on refusal, never raises for
    an ordinary refusal (``canonicalize`` excepted: paramiko has no status for it there).
    """

    def __init__(self, session, *args, **kwargs):
        super().__init__(session, *args, **kwargs)
        self.account: Account = session.account
        self.jail: Jail = session.jail
        self.rules: Rules = session.rules

    # -- rights -----------------------------------------------------------------------------

    def _deny(self, op: str, path, reason: str) -> int:
        log.warning("sftp %s: %s %r refused: %s", self.account.username, op, path, reason)
        return SFTP_PERMISSION_DENIED

    def _resolve(self, path) -> Optional[JailPath]:
        try:
            return self.jail.resolve(path)
        except JailError:
            return None     # logged by the jail

    @staticmethod
    def _visible(p: JailPath) -> bool:
        return not p.parts or p.area in AREAS

    def _writable(self, p: JailPath) -> bool:
        return len(p.parts) >= 2 and (
            p.area == INBOUND or (p.area == OUTBOUND and self.account.may_write_outbound))

    def _hidden(self, p: JailPath) -> bool:
        """Temporary names in outbound/: files the gateway is still writing."""
        return (p.area == OUTBOUND and not self.account.may_write_outbound
                and any(self.rules.is_temporary(n) for n in p.parts[1:]))

    # -- files ------------------------------------------------------------------------------

    def open(self, path, flags, attr):
        p = self._resolve(path)
        if p is None:
            return SFTP_PERMISSION_DENIED
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        if writing:
            if not self._writable(p):
                return self._deny("upload", path, "uploads go to /inbound")
            st = _lstat(p.real)
            if st is not None and p.area == INBOUND and is_delivered(st):
                return self._replace(p, path, flags)
        else:
            if not self._visible(p) or len(p.parts) < 2:
                return self._deny("read", path, "outside /inbound and /outbound")
            if self._hidden(p):
                return SFTP_NO_SUCH_FILE
        try:
            fd = os.open(p.real, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, _NEW_FILE_MODE)
        except OSError as e:
            if e.errno == errno.ELOOP:
                return self._deny("open", path, "symlink")
            return SFTPServer.convert_errno(e.errno)
        return self._handle(p, fd, flags, writing)

    def _handle(self, p: JailPath, fd: int, flags: int, writing: bool):
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return SFTP_FAILURE if stat.S_ISDIR(st.st_mode) else SFTP_NO_SUCH_FILE
        return FileHandle(self, p, fd, flags, writing, st.st_size)

    def _replace(self, p: JailPath, path, flags: int):
        """A new upload (create and truncate) to the name of a taken file: the old one goes, the
        new one is a new file. Anything else on a delivered file would change what was counted."""
        new_upload = flags & os.O_CREAT and flags & os.O_TRUNC and not flags & (os.O_EXCL | os.O_APPEND)
        with _directory_lock(p.real.parent):
            st = _lstat(p.real)
            if st is not None and is_delivered(st):
                if not new_upload or not is_taken(st):
                    return self._deny("upload", path, "a file of that name was already delivered"
                                      + ("" if new_upload else " (only a new upload may replace it)"))
                os.unlink(p.real)
                log.info("sftp %s: %s replaces the taken upload of that name",
                         self.account.username, p.virtual)
            try:
                fd = os.open(p.real, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, _NEW_FILE_MODE)
            except OSError as e:
                return SFTPServer.convert_errno(e.errno)
        return self._handle(p, fd, flags, True)

    def upload_closed(self, p: JailPath, fd: int) -> int:
        """The client closed a file it wrote: make it durable, and count it if its name is final."""
        try:
            os.fsync(fd)
        except OSError as e:
            log.error("sftp %s: fsync of %s failed: %s", self.account.username, p.virtual, e)
            return SFTP_FAILURE
        if p.area != INBOUND or self.rules.is_temporary(p.name):
            log.debug("sftp %s: %s written (not counted: %s)", self.account.username, p.virtual,
                      "temporary name" if p.area == INBOUND else p.area)
            return SFTP_OK
        return self._count(p, fd)

    def _count(self, p: JailPath, fd: int) -> int:
        # Marked delivered before on_upload: should we die during it, a rescan can tell this
        # whole file from a cut upload (still writable). Unmarked again if it is refused.
        user = self.account.username
        try:
            os.fchmod(fd, _DELIVERED_MODE)
        except OSError as e:
            log.error("sftp %s: could not mark %s delivered: %s", user, p.virtual, e)
            return SFTP_FAILURE
        try:
            self.rules.on_upload(self.account, p.relative, p.real)
        except Exception:
            log.exception("sftp %s: upload %s not accepted (on_upload failed); the client is told",
                          user, p.virtual)
            try:
                os.fchmod(fd, _NEW_FILE_MODE)
            except OSError:
                pass
            return SFTP_FAILURE
        try:
            mark_taken(fd)
        except OSError as e:        # still delivered: a rescan takes it again, de-duplicated
            log.error("sftp %s: could not mark %s taken: %s", user, p.virtual, e)
        log.info("sftp %s: upload complete: %s", user, p.virtual)
        return SFTP_OK

    def download_closed(self, p: JailPath, complete: bool) -> None:
        if p.area != OUTBOUND or not complete:
            return
        log.info("sftp %s: download complete: %s", self.account.username, p.virtual)
        if self.rules.on_download is not None:
            try:
                self.rules.on_download(self.account, p.relative)
            except Exception:
                log.exception("sftp %s: on_download failed for %s", self.account.username, p.virtual)

    def remove(self, path):
        p = self._resolve(path)
        if p is None:
            return SFTP_PERMISSION_DENIED
        if len(p.parts) < 2 or p.area not in AREAS:
            return self._deny("remove", path, "only files in /inbound and /outbound")
        if self._hidden(p):
            return SFTP_NO_SUCH_FILE
        st = _lstat(p.real)
        if st is None:
            return SFTP_NO_SUCH_FILE
        if not stat.S_ISREG(st.st_mode):
            return SFTP_FAILURE
        try:
            if p.area == INBOUND and is_delivered(st):
                with _directory_lock(p.real.parent):
                    st = _lstat(p.real)
                    if st is not None and is_delivered(st) and not is_taken(st):
                        return self._deny("remove", path, "delivered, being taken")
                    os.unlink(p.real)
            else:
                os.unlink(p.real)
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        log.info("sftp %s: removed %s", self.account.username, p.virtual)
        if p.area == OUTBOUND and self.rules.on_remove is not None:
            try:
                self.rules.on_remove(self.account, p.relative)
            except Exception:
                log.exception("sftp %s: on_remove failed for %s", self.account.username, p.virtual)
        return SFTP_OK

    def rename(self, oldpath, newpath):
        return self._rename(oldpath, newpath, overwrite=False)

    def posix_rename(self, oldpath, newpath):
        return self._rename(oldpath, newpath, overwrite=True)

    def _rename(self, oldpath, newpath, overwrite: bool) -> int:
        old, new = self._resolve(oldpath), self._resolve(newpath)
        if old is None or new is None:
            return SFTP_PERMISSION_DENIED
        if not (self._writable(old) and self._writable(new) and old.area == new.area):
            return self._deny("rename", f"{oldpath} -> {newpath}", "only within /inbound")
        st = _lstat(old.real)
        if st is None:
            return SFTP_NO_SUCH_FILE
        if old.area == INBOUND and is_delivered(st):
            return self._deny("rename", oldpath, "already delivered")
        if self.rules.being_written(old.real):
            log.warning("sftp %s: rename %r refused: still being written", self.account.username, oldpath)
            return SFTP_FAILURE
        try:    # no two sessions race for the same target name, nor a sweep for a taken one
            with self.rules.lock, _directory_lock(new.real.parent):
                target = _lstat(new.real)
                if target is not None:
                    if not overwrite or not stat.S_ISREG(target.st_mode):
                        return SFTP_FAILURE
                    if new.area == INBOUND and is_delivered(target) and not is_taken(target):
                        return self._deny("rename", newpath, "a file of that name was already delivered")
                os.rename(old.real, new.real)
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        counts = (new.area == INBOUND and stat.S_ISREG(st.st_mode)
                  and self.rules.is_temporary(old.name) and not self.rules.is_temporary(new.name))
        if not counts:
            return SFTP_OK
        fd = os.open(new.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            status = self._count(new, fd)
        finally:
            os.close(fd)
        if status != SFTP_OK:       # the client is told the rename failed: make that true
            try:
                os.rename(new.real, old.real)
            except OSError as e:
                log.error("sftp %s: could not undo rename %s -> %s: %s", self.account.username,
                          old.virtual, new.virtual, e)
        return status

    # -- directories ------------------------------------------------------------------------

    def mkdir(self, path, attr):
        p = self._resolve(path)
        if p is None:
            return SFTP_PERMISSION_DENIED
        if not self._writable(p):
            return self._deny("mkdir", path, "directories only under /inbound")
        try:
            os.mkdir(p.real, _NEW_DIR_MODE)
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        return SFTP_OK

    def rmdir(self, path):
        p = self._resolve(path)
        if p is None:
            return SFTP_PERMISSION_DENIED
        if not self._writable(p):
            return self._deny("rmdir", path, "directories only under /inbound")
        try:
            os.rmdir(p.real)
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        return SFTP_OK

    def list_folder(self, path):
        p = self._resolve(path)
        if p is None:
            return SFTP_PERMISSION_DENIED
        if not self._visible(p):
            return self._deny("list", path, "outside /inbound and /outbound")
        if self._hidden(p):
            return SFTP_NO_SUCH_FILE
        out = []
        try:
            with os.scandir(p.real) as entries:
                for e in entries:
                    if not p.parts and e.name not in AREAS:
                        continue
                    st = e.stat(follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        log.warning("sftp %s: symlink %s/%s not listed", self.account.username,
                                    p.virtual.rstrip("/"), e.name)
                        continue
                    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                        continue
                    if self._hidden(JailPath(p.parts + (e.name,), Path(e.path))):
                        continue
                    out.append(SFTPAttributes.from_stat(st, e.name))
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        return out

    # -- attributes -------------------------------------------------------------------------

    def stat(self, path):
        p = self._resolve(path)
        if p is None:
            return SFTP_PERMISSION_DENIED
        if not self._visible(p):
            return self._deny("stat", path, "outside /inbound and /outbound")
        if self._hidden(p):
            return SFTP_NO_SUCH_FILE
        st = _lstat(p.real)
        if st is None or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            return SFTP_NO_SUCH_FILE
        return SFTPAttributes.from_stat(st, p.name)

    lstat = stat        # no links are ever visible: both are the same

    def chattr(self, path, attr):
        p = self._resolve(path)
        if p is None:
            return SFTP_PERMISSION_DENIED
        st = _lstat(p.real)
        if not self._writable(p):
            return self._deny("setstat", path, "attributes only of uploads in /inbound")
        if st is None:
            return SFTP_NO_SUCH_FILE
        delivered = p.area == INBOUND and is_delivered(st)
        return self.set_attributes(path, attr, p.real, delivered=delivered)

    def set_attributes(self, path, attr: SFTPAttributes, target, *, delivered: bool = False) -> int:
        """Times are applied; permissions ignored (they mark delivered files); size and
        owner refused. On a delivered file a mode granting write is refused too: it cannot
        become writable, and a client asking for that means to change it."""
        if attr._flags & (attr.FLAG_SIZE | attr.FLAG_UIDGID):
            return self._deny("setstat", path, "size or owner change")
        if delivered and attr._flags & attr.FLAG_PERMISSIONS and attr.st_mode & 0o222:
            return self._deny("setstat", path, "already delivered: it stays read-only")
        if attr._flags & attr.FLAG_AMTIME:
            try:
                os.utime(target, (attr.st_atime, attr.st_mtime))
            except OSError as e:
                return SFTPServer.convert_errno(e.errno)
        return SFTP_OK

    def canonicalize(self, path):
        return self.jail.resolve(path).virtual      # JailError: paramiko answers SFTP_FAILURE

    def readlink(self, path):
        return self._deny("readlink", path, "links are not served")

    def symlink(self, target_path, path):
        return self._deny("symlink", f"{path} -> {target_path}", "links cannot be made")


class FileHandle(SFTPHandle):
    """An open file. ``finish()`` is the client's close (may count an upload, may fail);
    ``close()`` is paramiko's clean-up at the end of a session (never counts anything)."""

    def __init__(self, fs: PartnerFilesystem, p: JailPath, fd: int, flags: int, writing: bool,
                 size: int):
        super().__init__(flags)
        self.fs, self.p, self.fd, self.writing = fs, p, fd, writing
        self.append = bool(flags & os.O_APPEND)
        self.size_at_open = size
        self._read_to = 0               # bytes [0, _read_to) were served
        self._read_ahead: dict[int, int] = {}   # out-of-order reads: offset -> end
        self._over_limit = False
        if writing:
            fs.rules.writing_started(p.real)

    def read(self, offset, length):
        if self.fd is None:
            return SFTP_FAILURE
        try:
            data = os.pread(self.fd, length, offset)
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        if data:
            self._served(offset, offset + len(data))
        return data

    def _served(self, start: int, end: int) -> None:
        if start > self._read_to:
            self._read_ahead[start] = max(end, self._read_ahead.get(start, 0))
            return
        self._read_to = max(self._read_to, end)
        while True:
            ready = [s for s in self._read_ahead if s <= self._read_to]
            if not ready:
                return
            for s in ready:
                self._read_to = max(self._read_to, self._read_ahead.pop(s))

    def write(self, offset, data):
        if self.fd is None:
            return SFTP_FAILURE
        if not self.writing:
            return SFTP_PERMISSION_DENIED
        limit = self.fs.rules.max_upload_bytes
        try:
            end = (os.fstat(self.fd).st_size if self.append else offset) + len(data)
            if limit is not None and end > limit:
                if not self._over_limit:
                    log.warning("sftp %s: upload %s refused: larger than %d bytes",
                                self.fs.account.username, self.p.virtual, limit)
                    self._over_limit = True
                return SFTP_FAILURE
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view) if self.append else os.pwrite(self.fd, view, offset)
                view, offset = view[n:], offset + n
        except OSError as e:
            return SFTPServer.convert_errno(e.errno)
        return SFTP_OK

    def stat(self):
        if self.fd is None:
            return SFTP_FAILURE
        return SFTPAttributes.from_stat(os.fstat(self.fd), self.p.name)

    def chattr(self, attr):
        if self.fd is None:
            return SFTP_FAILURE
        if self.writing:
            return self.fs.set_attributes(self.p.virtual, attr, self.fd)
        if self.p.area == INBOUND and is_delivered(os.fstat(self.fd)):     # one's own upload, read
            return self.fs.set_attributes(self.p.virtual, attr, self.fd, delivered=True)
        return self.fs._deny("fsetstat", self.p.virtual, "attributes only of files being uploaded")

    def finish(self) -> int:
        fd, self.fd = self.fd, None
        if fd is None:
            return SFTP_FAILURE
        try:
            if self.writing:
                if self._over_limit:
                    return SFTP_FAILURE
                return self.fs.upload_closed(self.p, fd)
            self.fs.download_closed(self.p, self._read_to >= self.size_at_open)
            return SFTP_OK
        finally:
            os.close(fd)
            if self.writing:
                self.fs.rules.writing_ended(self.p.real)

    def close(self):
        fd, self.fd = self.fd, None
        if fd is None:
            return
        os.close(fd)
        if self.writing:
            self.fs.rules.writing_ended(self.p.real)
            log.warning("sftp %s: %s was still open when the session ended: not counted",
                        self.fs.account.username, self.p.virtual)

