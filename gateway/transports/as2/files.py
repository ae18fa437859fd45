"""MIME entities whose bytes lie in a file, read in bounded chunks (AS2 messages too large to hold).

``mime.Entity`` reads an entity from a buffer; a message of a gigabyte is spooled to
disk instead, and its layers are opened from there: ``FileRange`` is a span of
a file, ``FileEntity`` an entity whose headers are parsed from the head of its
span (bounded as ``mime`` bounds them) and whose body is a span again. Splitting
a multipart finds the delimiter lines the way ``mime.split_multipart`` does,
scanning a chunk at a time; base64 bodies are decoded into a new file a chunk at
a time. Nothing here holds more than a few chunks in memory.
"""
from __future__ import annotations

import binascii
import fcntl
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from .. import mime

CHUNK = 1 << 20
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_B64 = bytes(b for b in range(256) if b not in _B64)


@dataclass(frozen=True)
class FileRange:
    """Bytes ``start`` to ``end`` of the file at ``path``."""

    path: Path
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def sub(self, start: int, end: Optional[int] = None) -> "FileRange":
        """A span inside this one (offsets relative to its start)."""
        return FileRange(self.path, self.start + start, self.start + (len(self) if end is None else end))

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        with open(self.path, "rb", buffering=0) as f:
            f.seek(self.start)
            left = len(self)
            while left > 0:
                chunk = f.read(min(size, left))
                if not chunk:
                    raise mime.MimeError("the spooled message is shorter than expected")
                left -= len(chunk)
                yield chunk

    def read(self, limit: int) -> bytes:
        """The whole span, which must be at most ``limit`` bytes (a signature, a header block)."""
        if len(self) > limit:
            raise mime.MimeError(f"part of {len(self)} bytes where at most {limit} are expected")
        return b"".join(self.chunks())

    def head(self, n: int) -> bytes:
        return self.sub(0, min(n, len(self))).read(n)

    def digest(self, *names: str) -> dict[str, bytes]:
        hs = {n: hashlib.new(n) for n in names}
        for chunk in self.chunks():
            for h in hs.values():
                h.update(chunk)
        return {n: h.digest() for n, h in hs.items()}


class Scratch:
    """Temporary files of one message, in one directory (the payload store's temporary folder,
    so that a file becomes a payload by a link); all removed by ``cleanup``. Each is named and
    locked as the store's own writers name and lock theirs: its sweep leaves them alone while
    they are in use, and removes them once their process is gone."""

    def __init__(self, directory: os.PathLike | str):
        self.directory = Path(directory)
        self.paths: list[Path] = []
        self._locks: list[int] = []
        self._host = socket.gethostname()

    def new(self) -> tuple[Path, "os.FileIO"]:
        path = self.directory / f"put-{os.getpid()}-{secrets.token_hex(8)}@{self._host}.tmp"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        lock = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        fcntl.flock(lock, fcntl.LOCK_EX)
        self.paths.append(path)
        self._locks.append(lock)
        return path, open(fd, "wb", buffering=0)

    def cleanup(self) -> None:
        for p in self.paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        for fd in self._locks:
            os.close(fd)
        self.paths.clear()
        self._locks.clear()


def fsync_file(path: os.PathLike | str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Spool:
    """A request written to a file as it arrived: the raw message (header block, empty line,
    body), fsync'd; ``body`` its body. The raw message becomes a payload by a link."""

    path: Path
    body_start: int
    scratch: Scratch

    @property
    def size(self) -> int:
        return self.path.stat().st_size - self.body_start

    @property
    def raw(self) -> FileRange:
        return FileRange(self.path, 0, self.path.stat().st_size)

    @property
    def body(self) -> FileRange:
        return self.raw.sub(self.body_start)


def spool(head: bytes, chunks, limit: int, scratch: Scratch) -> Optional[Spool]:
    """``head`` then the body's ``chunks`` into a new file of ``scratch``, fsync'd; None when the
    body is over ``limit`` bytes (then nothing is kept)."""
    path, out = scratch.new()
    size = 0
    with out:
        out.write(head)
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                return None
            out.write(chunk)
        os.fsync(out.fileno())
    return Spool(path, len(head), scratch)


def copy_range(rng: FileRange, scratch: Scratch) -> FileRange:
    """The span as a file of its own (a payload is a whole file)."""
    path, out = scratch.new()
    with out:
        for chunk in rng.chunks():
            out.write(chunk)
    return FileRange(path, 0, len(rng))


def b64decode_range(rng: FileRange, scratch: Scratch) -> FileRange:
    """A base64 body decoded into a new file, a chunk at a time (characters outside the alphabet
    skipped, as ``binascii.a2b_base64`` skips line breaks): whole groups of four per chunk."""
    path, out = scratch.new()
    size, carry = 0, b""
    try:
        with out:
            for chunk in rng.chunks():
                data = carry + chunk.translate(None, _NOT_B64)
                whole = len(data) - len(data) % 4
                decoded = binascii.a2b_base64(data[:whole])
                carry = data[whole:]
                out.write(decoded)
                size += len(decoded)
            if carry.strip(b"="):
                decoded = binascii.a2b_base64(carry)
                out.write(decoded)
                size += len(decoded)
    except (binascii.Error, ValueError) as e:
        raise mime.MimeError(f"bad base64 body: {e}") from None
    return FileRange(path, 0, size)


def _delimiters(rng: FileRange, boundary: bytes, max_parts: int) -> list[tuple[int, int, bool]]:
    """(start, end, is_close) of each delimiter line, relative to the span: ``--boundary`` at the
    start of a line, then ``--`` or only spaces and tabs to the end of the line or of the span."""
    delim = b"--" + boundary
    found: list[tuple[int, int, bool]] = []
    tail = len(delim) + 1024                         # what follows a delimiter, read with it
    pos = 0
    with open(rng.path, "rb", buffering=0) as f:
        while pos < len(rng):
            back = 1 if pos else 0                   # the byte before: is this a line start?
            f.seek(rng.start + pos - back)
            window = f.read(back + min(CHUNK + tail, len(rng) - pos))
            limit = back + min(CHUNK, len(rng) - pos)
            i = window.find(delim, back)
            while 0 <= i < limit:
                at = pos + i - back
                if at == 0 or window[i - 1:i] == b"\n":
                    after = window[i + len(delim):]
                    if after.startswith(b"--"):
                        found.append((at, at + len(delim) + 2, True))
                        return found
                    rest = after.lstrip(b" \t")
                    ws = len(after) - len(rest)
                    at_end = at + len(delim) + ws + len(rest) == len(rng)
                    eol = 2 if rest.startswith(b"\r\n") else 1 if rest.startswith(b"\n") else None
                    if eol is None and at_end and rest in (b"", b"\r"):
                        eol = len(rest)
                    if eol is not None:
                        found.append((at, at + len(delim) + ws + eol, False))
                        if len(found) > max_parts + 1:
                            raise mime.MimeError(f"multipart with more than {max_parts} parts")
                i = window.find(delim, i + 1)
            pos += limit - back
    return found


def split_multipart(rng: FileRange, boundary: str, max_parts: int = mime.MAX_PARTS) -> list[FileRange]:
    """``mime.split_multipart`` on a span of a file: each body part's exact bytes, as spans."""
    found = _delimiters(rng, boundary.encode("latin-1", "replace"), max_parts)
    if not found:
        raise mime.MimeError("multipart body without its boundary")
    parts: list[FileRange] = []
    for n, (_start, end, close) in enumerate(found):
        if close:
            break
        following = found[n + 1] if n + 1 < len(found) else None
        stop = len(rng) if following is None else following[0]
        if following is not None and stop > end:
            before = rng.sub(stop - 2, stop).read(2) if stop - 2 >= end else rng.sub(stop - 1, stop).read(1)
            if before.endswith(b"\n"):
                stop -= 1
                if stop > end and before.endswith(b"\r\n"):
                    stop -= 1
        parts.append(rng.sub(end, max(stop, end)))
        if len(parts) > max_parts:
            raise mime.MimeError(f"multipart with more than {max_parts} parts")
    return parts


@dataclass(frozen=True)
class FileEntity(mime.Entity):
    """A MIME entity in a file: ``raw`` and ``body`` are ``FileRange``s. ``decoded`` writes a
    base64 body out to a new file of ``scratch``."""

    scratch: Optional[Scratch] = None

    @property
    def body(self) -> FileRange:       # type: ignore[override]
        return self.raw.sub(self.body_offset)

    def decoded(self) -> FileRange:    # type: ignore[override]
        cte = (self.get("content-transfer-encoding") or "7bit").lower()
        if cte in ("7bit", "8bit", "binary"):
            return self.body
        if cte == "base64":
            return b64decode_range(self.body, self.scratch)
        raise mime.MimeError(f"Content-Transfer-Encoding {cte!r} is not read on messages this large")

    def parts(self, max_parts: int = mime.MAX_PARTS) -> list["FileEntity"]:   # type: ignore[override]
        if not self.content_type.startswith("multipart/"):
            raise mime.MimeError(f"{self.content_type} is not multipart")
        boundary = self.param("boundary")
        if not boundary:
            raise mime.MimeError(f"{self.content_type} without a boundary")
        return [parse(p, self.scratch) for p in split_multipart(self.body, boundary, max_parts)]


def parse(rng: FileRange, scratch: Optional[Scratch]) -> FileEntity:
    """``mime.parse`` on a span: the header block read from its head (bounded), the body a span."""
    head = rng.head(mime.MAX_HEADER_BYTES + 4)
    head_end, body_start = mime._header_end(memoryview(head))
    if head_end == len(head) and len(rng) > len(head):
        raise mime.MimeError(f"no end of the MIME headers within {mime.MAX_HEADER_BYTES} bytes")
    from email.parser import BytesHeaderParser
    from email.policy import compat32
    headers = BytesHeaderParser(policy=compat32).parsebytes(head[:head_end])
    return FileEntity(headers=headers, raw=rng, body_offset=body_start, scratch=scratch)  # type: ignore[arg-type]


def header_only(content_type: str, rng: FileRange, scratch: Optional[Scratch]) -> FileEntity:
    entity = mime.header_only(content_type, b"")
    return FileEntity(headers=entity.headers, raw=rng, body_offset=0, scratch=scratch)  # type: ignore[arg-type]
