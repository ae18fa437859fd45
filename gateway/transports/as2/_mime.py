"""Small MIME and HTTP helpers shared by the inbound, outbound and MDN sides."""
from __future__ import annotations

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


def looks_like_mdn(headers, body: bytes) -> bool:
    """An MDN is a multipart/report, or a multipart/signed whose first part is one. The boundary
    is taken as written (boundaries are case-sensitive: ``----=_Part_…`` is not ``----=_part_…``)."""
    from .. import mime

    try:
        entity = mime.parse(raw_message(headers, b""))
    except mime.MimeError:
        return False
    ct = entity.content_type
    if ct == "multipart/report":
        return True
    if ct != "multipart/signed" or not entity.param("boundary"):
        return False
    try:
        parts = mime.split_multipart(body[:65536], entity.param("boundary"), max_parts=4)
        return bool(parts) and mime.parse(parts[0][:4096]).content_type == "multipart/report"
    except mime.MimeError:
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

