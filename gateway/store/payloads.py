"""The payload store: every byte we receive or send, content-addressed on local disk.

``put()`` streams its input in chunks into a temporary file under ``.tmp/``
(same filesystem as the payloads), hashing and counting as it goes, then
``fsync``s the file, renames it to ``ab/cd/<sha256>`` (``os.replace``, atomic)
and ``fsync``s the directory; only then does it return. A caller that
acknowledges after ``put()`` returned therefore acknowledges bytes that
survive a crash or a power cut, and no partial file is ever visible under a
content key: a payload is either absent or complete.

* Idempotent: the same content gives the same key and is not written twice (a
  stored copy that no longer matches its key is replaced: a put repairs).
* Size limit enforced while streaming: the write stops at the first byte over,
  raises ``PayloadTooLarge`` and leaves nothing behind.
* Reads can verify the hash (``get(key)`` does by default; ``open(key, verify=True)``
  checks at end of stream) and raise ``PayloadCorrupt`` on a mismatch.
* ``put_file(path)`` stores a file that is already durable (an SFTP upload,
  fsync'd on close) without copying it: the payload becomes a second name of
  the same file (a hard link), so one directory ``fsync`` makes it stored
  instead of writing and syncing the bytes again. The file must never be
  written again (the SFTP server makes a counted upload read-only, and
  replaces it with a new file, never in place). Across file systems, or where
  links are refused, it is copied as ``put()`` does.
* Temporary files of a crashed writer are swept when a store opens (each writer
  holds a lock on its temporary file; a file nobody holds whose writer is gone,
  or that is older than ``stale_after`` seconds, is removed).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import re
import secrets
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Optional, Union

from gateway.model.errors import EdigateError
from .fsync import fsync_dir

CHUNK_SIZE = 1024 * 1024
TMP_DIR = ".tmp"
_KEY = re.compile(r"^[0-9a-f]{64}$")
_TMP_NAME = re.compile(r"^put-(\d+)-[0-9a-f]+@(.*)\.tmp$")

Source = Union[bytes, bytearray, memoryview, BinaryIO, Iterable[bytes]]


class PayloadError(EdigateError):
    """Base of the payload store's errors."""


class PayloadTooLarge(PayloadError):
    def __init__(self, limit: int):
        super().__init__(f"payload larger than the limit of {limit} bytes")
        self.limit = limit


class PayloadCorrupt(PayloadError):
    """The bytes on disk no longer hash to their key."""


class PayloadNotFound(PayloadError, LookupError):
    pass


@dataclass(frozen=True)
class PayloadRef:
    key: str      # SHA-256 of the content, lower-case hex
    size: int     # bytes


def _chunks(data: Source) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        for i in range(0, len(view), CHUNK_SIZE):
            yield view[i:i + CHUNK_SIZE]
        return
    if isinstance(data, str):
        raise TypeError("payloads are bytes: encode text first")
    read = getattr(data, "read", None)
    if read is not None:
        while True:
            chunk = read(CHUNK_SIZE)
            if not chunk:
                return
            if isinstance(chunk, str):
                raise TypeError("payload stream must be opened in binary mode")
            yield chunk
        return
    for chunk in data:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"payload chunks must be bytes, got {type(chunk).__name__}")
        yield chunk


class _VerifyingReader(io.RawIOBase):
    """Reads a payload and raises ``PayloadCorrupt`` at end of stream if it does not hash to its key."""

    def __init__(self, f: BinaryIO, key: str):
        self._f, self._key, self._hash, self._checked = f, key, hashlib.sha256(), False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._f.readinto(buffer)
        if n:
            self._hash.update(memoryview(buffer)[:n])
        elif not self._checked:
            self._checked = True
            if self._hash.hexdigest() != self._key:
                raise PayloadCorrupt(f"payload {self._key}: content hashes to {self._hash.hexdigest()}")
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


class PayloadStore:
    """Content-addressed payloads under ``root`` (``root/ab/cd/<sha256>``)."""

    def __init__(self, root: Union[str, os.PathLike], *, max_size: Optional[int] = None,
                 sweep: bool = True, stale_after: float = 3600.0):
        self.root = Path(root)
        self.max_size = max_size
        self.stale_after = stale_after
        self.tmp = self.root / TMP_DIR
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname()
        self._durable_dirs: set[Path] = set()
        if sweep:
            self.sweep()

    # --- keys and paths -----------------------------------------------------------
    @staticmethod
    def check_key(key: str) -> str:
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"not a payload key (64 lower-case hex digits): {key!r}")
        return key

    def path(self, key: str) -> Path:
        self.check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise PayloadNotFound(key) from None

    def keys(self) -> Iterator[str]:
        for a in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for f in sorted(a.glob("[0-9a-f][0-9a-f]/*")):
                if _KEY.match(f.name):
                    yield f.name

    # --- writing -------------------------------------------------------------------
    def put(self, data: Source, *, max_size: Optional[int] = None) -> PayloadRef:
        """Store ``data`` (bytes, a binary stream, or an iterable of byte chunks) durably."""
        limit = self.max_size if max_size is None else max_size
        name = f"put-{os.getpid()}-{secrets.token_hex(8)}@{self._host}.tmp"
        tmp = self.tmp / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with open(fd, "wb", buffering=CHUNK_SIZE) as f:
                fcntl.flock(fd, fcntl.LOCK_EX)        # "being written": the sweeper leaves it alone
                digest, size = hashlib.sha256(), 0
                for chunk in _chunks(data):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise PayloadTooLarge(limit)
                    digest.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fchmod(fd, 0o444)                  # payloads are immutable
                os.fsync(fd)
                key = digest.hexdigest()
                final = self.path(key)
                self._make_dirs(final.parent)
                try:
                    existing = final.stat().st_size
                except FileNotFoundError:
                    existing = None
                if existing == size and self._intact(final, key):
                    os.unlink(tmp)                     # already stored: no rewrite
                else:                                  # new, or the stored copy is damaged: (re)place it
                    os.replace(tmp, final)
                fsync_dir(final.parent)
            return PayloadRef(key, size)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def put_file(self, path: Union[str, os.PathLike], *, max_size: Optional[int] = None) -> PayloadRef:
        """Store the regular file at ``path``, whose content is already on disk (fsync'd) and will
        not change, by linking it under its key; a copy (``put``) where it cannot be linked."""
        limit = self.max_size if max_size is None else max_size
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise PayloadError(f"{path}: not a regular file")
            if limit is not None and st.st_size > limit:
                raise PayloadTooLarge(limit)
            digest, size = hashlib.sha256(), 0
            while chunk := os.read(fd, CHUNK_SIZE):
                size += len(chunk)
                if limit is not None and size > limit:
                    raise PayloadTooLarge(limit)
                digest.update(chunk)
            if size != os.fstat(fd).st_size:
                raise PayloadError(f"{path}: changed while it was being stored")
            key = digest.hexdigest()
            final = self.path(key)
            self._make_dirs(final.parent)
            try:
                os.link(path, final, follow_symlinks=False)
            except FileExistsError:
                if not (self.size(key) == size and self._intact(final, key)):   # damaged: replace it
                    os.lseek(fd, 0, os.SEEK_SET)
                    with os.fdopen(os.dup(fd), "rb") as f:
                        return self.put(f, max_size=max_size)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                os.lseek(fd, 0, os.SEEK_SET)          # another file system, or no links: a copy
                with os.fdopen(os.dup(fd), "rb") as f:
                    return self.put(f, max_size=max_size)
            fsync_dir(final.parent)
            return PayloadRef(key, size)
        finally:
            os.close(fd)

    @staticmethod
    def _intact(path: Path, key: str) -> bool:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK_SIZE):
                    digest.update(chunk)
        except FileNotFoundError:
            return False
        return digest.hexdigest() == key

    def _make_dirs(self, leaf: Path) -> None:
        """Create ``ab/cd`` if needed; make sure each level's entry is on disk once per process."""
        if leaf in self._durable_dirs:
            return
        for parent, child in ((self.root, leaf.parent), (leaf.parent, leaf)):
            try:
                os.mkdir(child)
            except FileExistsError:
                pass
            fsync_dir(parent)
        self._durable_dirs.add(leaf)

    # --- reading -------------------------------------------------------------------
    def open(self, key: str, *, verify: bool = False) -> BinaryIO:
        """A binary file of the payload; ``verify=True`` raises ``PayloadCorrupt`` at end of
        stream if the content does not hash to ``key``."""
        try:
            f = open(self.path(key), "rb")
        except FileNotFoundError:
            raise PayloadNotFound(key) from None
        if not verify:
            return f
        return io.BufferedReader(_VerifyingReader(f, key), CHUNK_SIZE)  # type: ignore[return-value]

    def get(self, key: str, *, verify: bool = True) -> bytes:
        with self.open(key, verify=verify) as f:
            return f.read()

    def verify(self, key: str) -> None:
        """Raise ``PayloadCorrupt`` unless the payload hashes to its key."""
        with self.open(key, verify=True) as f:
            while f.read(CHUNK_SIZE):
                pass

    # --- housekeeping ----------------------------------------------------------------
    def remove(self, key: str) -> bool:
        """Delete a payload for good (the archive's purge, after its retention, once the chain
        records the deletion); whether there was one. The directory entry is made durable."""
        path = self.path(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)
        return True

    def sweep(self, *, now: Optional[float] = None) -> int:
        """Remove temporary files left by writers that died; the number removed."""
        now = time.time() if now is None else now
        removed = 0
        for entry in os.scandir(self.tmp):
            path = Path(entry.path)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        continue                       # a writer holds it
                    raise
                if self._stale(path.name, os.fstat(fd), now):
                    try:
                        os.unlink(path)
                        removed += 1
                    except FileNotFoundError:
                        pass
            finally:
                os.close(fd)
        return removed

    def _stale(self, name: str, st: os.stat_result, now: float) -> bool:
        old = now - st.st_mtime > self.stale_after
        m = _TMP_NAME.match(name)
        if not m or not stat.S_ISREG(st.st_mode):
            return old
        pid, host = int(m.group(1)), m.group(2)
        if host != self._host:
            return old                                 # another machine on a shared volume
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True                                # its writer is gone
        except PermissionError:
            pass
        return old                                     # alive (or the pid was reused): only when old
