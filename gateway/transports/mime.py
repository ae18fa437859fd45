"""MIME entities read from a stranger's bytes, one layer at a time and bounded (AS2, returned mail).

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

import binascii
import quopri
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Optional, Union

MAX_HEADER_BYTES = 64 * 1024        # one entity's header block
MAX_PARTS = 32                      # parts of one multipart (AS2 uses two)


class MimeError(ValueError):
    """The bytes are not a MIME entity we can read (the message says why)."""


def _header_end(data: memoryview) -> tuple[int, int]:
    """(end of the header block, start of the body): the first empty line, CRLF or bare LF."""
    head = bytes(data[:MAX_HEADER_BYTES + 4])
    if head.startswith(b"\r\n"):
        return 0, 2
    if head.startswith(b"\n"):
        return 0, 1
    crlf = head.find(b"\r\n\r\n")
    lf = head.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 2, crlf + 4
    if lf >= 0:
        return lf + 1, lf + 2
    if len(data) > MAX_HEADER_BYTES:
        raise MimeError(f"no end of the MIME headers within {MAX_HEADER_BYTES} bytes")
    return len(data), len(data)         # headers only, empty body


Bytes = Union[bytes, bytearray, memoryview]


@dataclass(frozen=True)
class Entity:
    """One MIME entity: its headers (parsed) and its whole text as received. ``raw`` and ``body``
    are views into the buffer the entity was read from: a 100 MB part is never copied to be
    looked at, split or hashed."""

    headers: Message
    raw: memoryview
    body_offset: int

    @property
    def body(self) -> memoryview:
        return self.raw[self.body_offset:]

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

    def decoded(self) -> Bytes:
        """The body with its Content-Transfer-Encoding undone (a view when there was none)."""
        cte = (self.get("content-transfer-encoding") or "7bit").lower()
        if cte in ("7bit", "8bit", "binary"):
            return self.body
        if cte == "base64":
            try:
                return binascii.a2b_base64(self.body)     # skips line breaks and stray characters
            except (binascii.Error, ValueError) as e:
                raise MimeError(f"bad base64 body: {e}") from None
        if cte == "quoted-printable":
            return quopri.decodestring(bytes(self.body))
        raise MimeError(f"unknown Content-Transfer-Encoding {cte!r}")

    def parts(self, max_parts: int = MAX_PARTS) -> list[Entity]:
        """The body parts of a multipart entity (one level), each as received."""
        if not self.content_type.startswith("multipart/"):
            raise MimeError(f"{self.content_type} is not multipart")
        boundary = self.param("boundary")
        if not boundary:
            raise MimeError(f"{self.content_type} without a boundary")
        return [parse(p) for p in split_multipart(self.body, boundary, max_parts)]


def parse(data: Bytes) -> Entity:
    """One entity: the header block parsed (headers only), the body the bytes that follow."""
    view = data if isinstance(data, memoryview) else memoryview(data)
    head_end, body_start = _header_end(view)
    if head_end > MAX_HEADER_BYTES:
        raise MimeError(f"MIME headers over {MAX_HEADER_BYTES} bytes")
    headers = BytesHeaderParser(policy=compat32).parsebytes(bytes(view[:head_end]))
    return Entity(headers=headers, raw=view, body_offset=body_start)


def header_only(content_type: str, data: Bytes) -> Entity:
    """An entity for content that came without MIME headers (the bytes are all body)."""
    headers = Message()
    headers["Content-Type"] = content_type
    view = data if isinstance(data, memoryview) else memoryview(data)
    return Entity(headers=headers, raw=view, body_offset=0)


def split_multipart(body: Bytes, boundary: str, max_parts: int = MAX_PARTS) -> list[memoryview]:
    """The exact bytes of each body part (RFC 2046 §5.1.1), as views: what lies between
    delimiter lines, without the line break that belongs to the next delimiter. A delimiter is
    ``--boundary`` at the start of a line followed by ``--`` or only white space to the end of
    the line. A missing close delimiter ends the last part at the end of the body (senders get
    this wrong; nothing is lost)."""
    view = body if isinstance(body, memoryview) else memoryview(body)
    delim = re.escape(b"--" + boundary.encode("latin-1", "replace"))
    pattern = re.compile(rb"(?:\A|(?<=\n))" + delim + rb"(?:(--)|[ \t]*(?:\r?\n|\r?\Z))")
    matches = pattern.finditer(view)
    first = next(matches, None)
    if first is None:
        raise MimeError("multipart body without its boundary")
    parts: list[memoryview] = []
    current = first
    while current.group(1) is None:             # not the close delimiter
        start = current.end()
        following = next(matches, None)
        end = len(view) if following is None else following.start()
        if following is not None and end > start and view[end - 1] == 0x0A:
            end -= 1
            if end > start and view[end - 1] == 0x0D:
                end -= 1
        parts.append(view[start:max(end, start)])
        if len(parts) > max_parts:
            raise MimeError(f"multipart with more than {max_parts} parts")
        if following is None:
            break
        current = following
    return parts
