"""Bytes written once and then read at will, in memory while small and in a temporary file beyond.

An AS4 request can be as large as ``EDIGATE_MAX_INBOUND_SIZE``, and what it carries
larger still once inflated. So the request body is spooled as it is read
(``Spooled``), its MIME parts are found by scanning it a window at a time
(``part_ranges``: no copy of the body, no whole-body regular expression), each
attachment is decrypted and inflated as a stream into another ``Spooled``, and
what is kept (the raw message, the payload) is handed on as objects that read in
chunks. Peak memory is then a few windows and the SOAP header, whatever the size;
messages under ``MEMORY`` bytes never touch the disk.
"""
from __future__ import annotations

import hashlib
import re
import tempfile
from typing import BinaryIO, Iterator, Optional, Union

MEMORY = 1 << 20               # spooled in memory up to this, in a temporary file beyond
CHUNK = 1 << 20                # read and written this much at a time
MAX_PADDING = 1024             # white space after a MIME delimiter looked for (RFC 2046 allows "transport padding")


class Spooled:
    """Bytes appended with ``write`` (counted, SHA-256 hashed), then read: ``read_at``, ``chunks``,
    ``reader()`` (a fresh binary stream, e.g. for the payload store), ``read()`` (all of it, for
    a caller that needs bytes). ``Spooled.of(data)`` wraps bytes already in memory, uncopied."""

    def __init__(self, memory: int = MEMORY, directory: Optional[str] = None):
        self._f: BinaryIO = tempfile.SpooledTemporaryFile(max_size=memory, dir=directory)
        self._data: Optional[memoryview] = None
        self._hash = hashlib.sha256()
        self.size = 0

    @classmethod
    def of(cls, data: Union[bytes, bytearray, memoryview]) -> "Spooled":
        s = cls.__new__(cls)
        s._f, s._data, s._hash = None, memoryview(data).cast("B"), None
        s.size = len(s._data)
        return s

    def write(self, data) -> None:
        if self._data is not None:
            raise ValueError("a Spooled made of bytes is read-only")
        self._f.seek(0, 2)
        self._f.write(data)
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        if self._hash is None:
            return hashlib.sha256(self._data).hexdigest()
        return self._hash.hexdigest()

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the end)."""
        if offset >= self.size or n <= 0:
            return b""
        if self._data is not None:
            return bytes(self._data[offset:offset + n])
        self._f.seek(offset)
        return self._f.read(n)

    def chunks(self, start: int = 0, end: Optional[int] = None, step: int = CHUNK) -> Iterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        pos = start
        while pos < end:
            chunk = self.read_at(pos, min(step, end - pos))
            if not chunk:
                return
            pos += len(chunk)
            yield chunk

    def reader(self, start: int = 0, end: Optional[int] = None) -> "Reader":
        return Reader(self, start, self.size if end is None else end)

    def read(self, start: int = 0, end: Optional[int] = None) -> bytes:
        return b"".join(self.chunks(start, end))

    def __bytes__(self) -> bytes:
        return self.read()

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<Spooled {self.size} bytes>"

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


class Reader:
    """A read-only binary stream over a range of a ``Spooled`` (its own position)."""

    def __init__(self, spooled: Spooled, start: int, end: int):
        self._s, self._pos, self._end = spooled, start, end

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._pos
        if n is None or n < 0 or n > left:
            n = left
        data = self._s.read_at(self._pos, n)
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True


class RawMessage:
    """The message as received (header lines, an empty line, the body), read in chunks: what is
    kept for non-repudiation of receipt. Iterating gives its bytes; ``bytes()`` all at once."""

    def __init__(self, head: bytes, body: Spooled):
        self.head, self.body = head, body

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        yield from self.body.chunks()

    def __len__(self) -> int:
        return len(self.head) + self.body.size

    def __bool__(self) -> bool:
        return True

    def __bytes__(self) -> bytes:
        return b"".join(self)

    def endswith(self, suffix: bytes) -> bool:
        return bytes(self).endswith(suffix)


def part_ranges(body: Spooled, boundary: str, max_parts: int, window: int = CHUNK) -> list[tuple[int, int]]:
    """(start, end) of each body part of a multipart ``body`` (RFC 2046 §5.1.1), the same parts as
    ``gateway.transports.mime.split_multipart`` finds, found a window at a time. A delimiter
    followed by more than ``MAX_PADDING`` bytes of white space is not recognised. Raises
    ``ValueError`` (the caller's refusal) for a body without its boundary or with too many parts."""
    delim = b"--" + boundary.encode("latin-1", "replace")
    pattern = re.compile(rb"(?:\A|(?<=\n))" + re.escape(delim) + rb"(?:(--)|[ \t]*(?:\r?\n|\r?\Z))")
    overlap = len(delim) + MAX_PADDING
    found: list[tuple[int, int, bool]] = []          # (delimiter start, its end, is the close delimiter)
    pos, last = 0, -1
    while True:
        data = body.read_at(pos, window + overlap)
        at_eof = pos + len(data) >= body.size
        closed = False
        for m in pattern.finditer(data):
            start = pos + m.start()
            if start <= last:
                continue                              # seen in the previous window's overlap
            if m.start() == 0 and pos > 0 and body.read_at(pos - 1, 1) != b"\n":
                continue                              # \A of a window is no start of a line
            if m.end() == len(data) and not at_eof:
                continue                              # may be cut by the window's end: the next one sees it
            found.append((start, pos + m.end(), m.group(1) is not None))
            last = start
            if m.group(1) is not None:
                closed = True
                break
            if len(found) > max_parts + 1:
                raise ValueError(f"multipart with more than {max_parts} parts")
        if closed or at_eof:
            break
        pos += window
    if not found:
        raise ValueError("multipart body without its boundary")
    parts: list[tuple[int, int]] = []
    for i, (_, begin, close) in enumerate(found):
        if close:
            break
        following = found[i + 1] if i + 1 < len(found) else None
        end = body.size if following is None else following[0]
        if following is not None and end > begin:
            tail = body.read_at(max(begin, end - 2), end - max(begin, end - 2))
            if tail.endswith(b"\n"):
                end -= 1
                if end > begin and tail[:-1].endswith(b"\r"):
                    end -= 1
        parts.append((begin, max(end, begin)))
        if len(parts) > max_parts:
            raise ValueError(f"multipart with more than {max_parts} parts")
    return parts
