"""MIME entities read from a stranger's bytes, one layer at a time and bounded.

Python's email parser reads a whole message tree at once, recursing into every
nested multipart (2,000 nested parts end in ``RecursionError``), and rewrites
what it parses. AS2 needs neither: a message has a few known layers (encrypted,
compressed, signed, payload), and a signature covers the exact bytes of its
first part. So this module reads one entity at a time: its header block with the
standard library (headers only, bounded in size), its body kept as the bytes
received. A multipart body is split by its boundary as written: boundaries are
case-sensitive (RFC 2045 §5.1, RFC 2046 §5.1.1), so nothing here lower-cases a
Content-Type before taking its parameters. Whoever descends into parts does so
one level per call, so the depth is the caller's loop, never the sender's.
"""
from __future__ import annotations

import base64
import binascii
import quopri
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Optional

MAX_HEADER_BYTES = 64 * 1024        # one entity's header block
MAX_PARTS = 32                      # parts of one multipart (AS2 uses two)


class MimeError(ValueError):
    """The bytes are not a MIME entity we can read (the message says why)."""


def _header_end(data: bytes) -> tuple[int, int]:
    """(end of the header block, start of the body): the first empty line, CRLF or bare LF."""
    if data.startswith(b"\r\n"):
        return 0, 2
    if data.startswith(b"\n"):
        return 0, 1
    limit = min(len(data), MAX_HEADER_BYTES + 4)
    crlf = data.find(b"\r\n\r\n", 0, limit)
    lf = data.find(b"\n\n", 0, limit)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 2, crlf + 4
    if lf >= 0:
        return lf + 1, lf + 2
    if len(data) > MAX_HEADER_BYTES:
        raise MimeError(f"no end of the MIME headers within {MAX_HEADER_BYTES} bytes")
    return len(data), len(data)         # headers only, empty body


@dataclass(frozen=True)
class Entity:
    """One MIME entity: its headers (parsed), its body and its whole text, as received."""

    headers: Message
    body: bytes
    raw: bytes

    @property
    def content_type(self) -> str:
        """``type/subtype`` in lower case (``text/plain`` when absent, as RFC 2045 says)."""
        return self.headers.get_content_type()

    def param(self, name: str) -> Optional[str]:
        """A Content-Type parameter's value exactly as written (boundaries keep their case)."""
        value = self.headers.get_param(name)
        if isinstance(value, tuple):            # RFC 2231 encoded
            value = value[2]
        return None if value is None else str(value)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        value = self.headers.get(name)
        return default if value is None else str(value).strip()

    @property
    def filename(self) -> Optional[str]:
        return self.headers.get_filename()

    def decoded(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone."""
        cte = (self.get("content-transfer-encoding") or "7bit").lower()
        if cte in ("7bit", "8bit", "binary"):
            return self.body
        if cte == "base64":
            try:
                return base64.b64decode(b"".join(self.body.split()), validate=False)
            except (binascii.Error, ValueError) as e:
                raise MimeError(f"bad base64 body: {e}") from None
        if cte == "quoted-printable":
            return quopri.decodestring(self.body)
        raise MimeError(f"unknown Content-Transfer-Encoding {cte!r}")

    def parts(self, max_parts: int = MAX_PARTS) -> list[Entity]:
        """The body parts of a multipart entity (one level), each as received."""
        if not self.content_type.startswith("multipart/"):
            raise MimeError(f"{self.content_type} is not multipart")
        boundary = self.param("boundary")
        if not boundary:
            raise MimeError(f"{self.content_type} without a boundary")
        return [parse(p) for p in split_multipart(self.body, boundary, max_parts)]


def parse(data: bytes) -> Entity:
    """One entity: the header block parsed (headers only), the body as the bytes that follow."""
    data = bytes(data)
    head_end, body_start = _header_end(data)
    if head_end > MAX_HEADER_BYTES:
        raise MimeError(f"MIME headers over {MAX_HEADER_BYTES} bytes")
    headers = BytesHeaderParser(policy=compat32).parsebytes(data[:head_end])
    return Entity(headers=headers, body=data[body_start:], raw=data)


def _delimiter_at(body: bytes, i: int, delim: bytes) -> bool:
    """Is ``body[i:]`` a delimiter line: the delimiter, then ``--`` or only white space to the end of line?"""
    after = i + len(delim)
    if body.startswith(b"--", after):
        return True
    eol = body.find(b"\n", after)
    rest = body[after:] if eol < 0 else body[after:eol]
    return not rest.rstrip(b"\r").strip(b" \t")


def _next_delimiter(body: bytes, pos: int, delim: bytes) -> int:
    """Index of the next delimiter that starts a line at or after ``pos``, or -1."""
    if pos == 0 and body.startswith(delim) and _delimiter_at(body, 0, delim):
        return 0
    needle = b"\n" + delim
    i = body.find(needle, max(pos - 1, 0))
    while i >= 0:
        if _delimiter_at(body, i + 1, delim):
            return i + 1
        i = body.find(needle, i + 1)
    return -1


def split_multipart(body: bytes, boundary: str, max_parts: int = MAX_PARTS) -> list[bytes]:
    """The exact bytes of each body part (RFC 2046 §5.1.1): what lies between delimiter lines,
    without the line break that belongs to the next delimiter. A missing close delimiter ends
    the last part at the end of the body (senders get this wrong; nothing is lost)."""
    delim = b"--" + boundary.encode("latin-1", "replace")
    j = _next_delimiter(body, 0, delim)
    if j < 0:
        raise MimeError("multipart body without its boundary")
    parts: list[bytes] = []
    while True:
        after = j + len(delim)
        if body.startswith(b"--", after):
            return parts
        eol = body.find(b"\n", after)
        if eol < 0:
            return parts                        # a delimiter at the very end: nothing follows
        start = eol + 1
        k = _next_delimiter(body, start, delim)
        end = len(body) if k < 0 else k
        if k >= 0 and end > start and body[end - 1:end] == b"\n":
            end -= 1
            if end > start and body[end - 1:end] == b"\r":
                end -= 1
        parts.append(body[start:max(end, start)])
        if len(parts) > max_parts:
            raise MimeError(f"multipart with more than {max_parts} parts")
        if k < 0:
            return parts
        j = k
