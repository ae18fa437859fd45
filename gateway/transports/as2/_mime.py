"""Small MIME and HTTP helpers shared by the inbound, outbound and MDN sides."""
from __future__ import annotations

import re
import socket
import threading
from typing import Optional

from . import compat  # noqa: F401
from pyas2lib.utils import unquote_as2name

def header_items(headers) -> list[tuple[str, str]]:
    """(name, value) pairs from a Mapping, a list of pairs, or a requests/werkzeug header object."""
    if hasattr(headers, "items"):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def lower_headers(headers) -> dict[str, str]:
    return {k.lower(): v.strip() for k, v in header_items(headers)}


def _encode_header(text: str) -> bytes:
    try:
        return text.encode("latin-1")        # what HTTP/WSGI decoded it from
    except UnicodeEncodeError:
        return text.encode("utf-8")


def raw_message(headers, body: bytes) -> bytes:
    """Header block + CRLF + body: the form pyas2lib parses and the one kept for non-repudiation.
    Header values may not carry line breaks (a header injected that way is dropped)."""
    lines = []
    for k, v in header_items(headers):
        if "\r" in k or "\n" in k or ":" in k or not k:
            continue
        v = v.replace("\r", " ").replace("\n", " ")
        lines.append(_encode_header(f"{k}: {v}\r\n"))
    return b"".join(lines) + b"\r\n" + body


def as2_name(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    return unquote_as2name(value.strip())


def strip_msgid(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    return value.strip().lstrip("<").rstrip(">").strip()


_BOUNDARY_RE = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.I)


def boundary_of(content_type: str) -> Optional[str]:
    m = _BOUNDARY_RE.search(content_type or "")
    return (m.group(1) or m.group(2)) if m else None


def first_part(body: bytes, boundary: str) -> Optional[bytes]:
    """The exact bytes of the first body part of a multipart body (RFC 1847 signed content):
    after the first delimiter line, up to (not including) the CRLF before the next delimiter."""
    delim = b"--" + boundary.encode("latin-1")
    pos = 0
    while True:
        i = body.find(delim, pos)
        if i < 0:
            return None
        if i == 0 or body[i - 1:i] == b"\n":
            break
        pos = i + 1
    eol = body.find(b"\n", i)
    if eol < 0:
        return None
    start = eol + 1
    for sep in (b"\r\n" + delim, b"\n" + delim):
        j = body.find(sep, start)
        if j >= 0:
            return body[start:j]
    return None


def looks_like_mdn(headers, body: bytes) -> bool:
    """An MDN is a multipart/report, or a multipart/signed whose first part is one."""
    ct = lower_headers(headers).get("content-type", "").lower()
    if ct.startswith("multipart/report"):
        return True
    if ct.startswith("multipart/signed"):
        b = boundary_of(ct)
        part = first_part(body[:65536], b) if b else None
        head = (part or b"")[:2048].lower()
        return b"multipart/report" in head.split(b"\r\n\r\n")[0].split(b"\n\n")[0]
    return False


class _Sessions(threading.local):
    session = None


_sessions = _Sessions()


def http_session():
    """A requests session per thread: connection pool with HTTP keep-alive, TCP keep-alive and
    TCP_NODELAY on every socket, no automatic retries (retrying is the caller's decision)."""
    if _sessions.session is None:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.connection import HTTPConnection

        opts = list(HTTPConnection.default_socket_options)     # TCP_NODELAY
        opts.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
            if hasattr(socket, name):
                opts.append((socket.IPPROTO_TCP, getattr(socket, name), value))

        class _Adapter(HTTPAdapter):
            def init_poolmanager(self, *args, **kwargs):
                kwargs["socket_options"] = opts
                super().init_poolmanager(*args, **kwargs)

        s = requests.Session()
        adapter = _Adapter(pool_connections=8, pool_maxsize=8, max_retries=0)
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        _sessions.session = s
    return _sessions.session


def excerpt(data: bytes | str, n: int = 300) -> str:
    if isinstance(data, bytes):
        data = data[:n].decode("utf-8", "replace")
    return data[:n].replace("\r", " ").replace("\n", " ").strip()

